"""The sim board's OS-model options, shared by `fwemu inject` and `fwemu daemon`."""

from __future__ import annotations


def add_os_model_options(p) -> None:
    """The sim board's OS model knobs (the same options `fwemu inject` takes)."""
    sim = p.add_argument_group("sim board OS model")
    sim.add_argument("--os-delay", type=float, default=0.0, help="seconds the OS waits before handling a notification")
    sim.add_argument("--os-deaf", action="store_true", help="the OS ignores notifications and does not poll")
    sim.add_argument("--mask-pe", type=int, action="append", default=[], help="PE that never unmasks SDEI")
    sim.add_argument("--sei-mode", choices=("walk", "mainline"), default="walk",
                     help="walk: walk every SEI source on an SError; mainline: refuse SEI sources at probe")
    sim.add_argument("--no-ratelimit", action="store_true", help="the OS prints every record (Linux: 2 per 5 s)")


def os_model_options(args) -> dict:
    return {"delay": args.os_delay, "deaf": args.os_deaf, "masked_pes": args.mask_pe,
            "sei_mode": args.sei_mode, "ratelimit": not args.no_ratelimit}


def os_model_options_given(args) -> list[str]:
    """The OS model options given on the command line (flags, for messages)."""
    given = []
    if args.os_delay:
        given.append("--os-delay")
    if args.os_deaf:
        given.append("--os-deaf")
    if args.mask_pe:
        given.append("--mask-pe")
    if args.sei_mode != "walk":
        given.append("--sei-mode")
    if args.no_ratelimit:
        given.append("--no-ratelimit")
    return given
