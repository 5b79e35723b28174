"""The sim board's OS-model options, shared by `fwemu inject` and `fwemu daemon`."""

from __future__ import annotations

from ..errors import UsageError
from ..records import kernel_profile
from ._target import finite, in_range

MAX_OS_DELAY = 3600.0


def add_os_model_options(p) -> None:
    """The sim board's OS model knobs (the same options `fwemu inject` takes)."""
    sim = p.add_argument_group("sim board OS model")
    sim.add_argument("--os-delay", type=finite, default=0.0, metavar="S",
                     help=f"seconds the OS waits before handling a notification (0 .. {MAX_OS_DELAY:g})")
    sim.add_argument("--os-deaf", action="store_true", help="the OS ignores notifications and does not poll")
    sim.add_argument("--mask-pe", type=int, action="append", default=[], metavar="N",
                     help="PE index that never unmasks SDEI (repeatable; 0 .. the board's PE count - 1)")
    sim.add_argument("--sei-mode", choices=("walk", "mainline"), default="walk",
                     help="walk: walk every SEI source on an SError; mainline: refuse SEI sources at probe")
    sim.add_argument("--no-ratelimit", action="store_true", help="the OS prints every record (Linux: 2 per 5 s)")
    sim.add_argument("--os-kernel", default=None, metavar="VERSION",
                     help=f"kernel version the OS model follows where versions differ: "
                          f"{', '.join(kernel_profile.names())} (default "
                          f"{kernel_profile.DEFAULT.name}; docs/kernel-profiles.md)")


def os_model_options(args) -> dict:
    return {"delay": args.os_delay, "deaf": args.os_deaf, "masked_pes": args.mask_pe,
            "sei_mode": args.sei_mode, "ratelimit": not args.no_ratelimit,
            "kernel": args.os_kernel}     # None: the default profile


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
    if args.os_kernel is not None:
        given.append("--os-kernel")
    return given


def check_os_model_options(board, args) -> None:
    """What needs the board: OS model options only on sim, --mask-pe a PE the board has."""
    from ..targets import Cap, backend_for

    given = os_model_options_given(args)
    if given and Cap.OS_MODEL not in backend_for(board).caps:
        raise UsageError(given[0], f"OS model options only apply to the sim board, not {board.name!r}")
    in_range("--os-delay", args.os_delay, 0, MAX_OS_DELAY, " seconds")
    if args.os_kernel is not None:
        try:
            kernel_profile.get(args.os_kernel)
        except UsageError as exc:
            raise UsageError("--os-kernel", exc.reason) from None
    for pe in args.mask_pe:
        if not 0 <= pe < board.pes.count:
            raise UsageError("--mask-pe", f"PE {pe} does not exist: board {board.name!r} has "
                                          f"{board.pes.count} PEs (0 .. {board.pes.count - 1})")
