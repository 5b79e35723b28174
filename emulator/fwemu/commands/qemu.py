"""`fwemu qemu up|down|status|console`: the qemu-virt guest (QEMU arm64 virt running Debian's
arm64 kernel) that boards with `target.kind = "qemu"` drive. Guide: docs/qemu.md."""

from __future__ import annotations

import argparse
import os
import select
import sys
from typing import Any

from ..board import Board, load_board
from ..errors import UnreachableError, UsageError
from ..qemu import acpi
from ..qemu.console import Console, kernel_lines
from ..qemu.image import find_image, missing_prerequisites
from ..qemu.launcher import RAM_BASE, Guest, default_run_dir, parse_size
from ..output import Output
from ..qemu.qmp import Qmp


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("qemu", parents=[common], help="start, stop and inspect the qemu-virt guest",
                       description="The QEMU arm64 virt guest running Debian's arm64 kernel that "
                                   "the qemu-virt board drives (docs/qemu.md). Build its image "
                                   "once with scripts/fetch-qemu-linux.sh.")
    qsub = p.add_subparsers(dest="qemu_command", metavar="ACTION")

    def run_dir_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--run", metavar="DIR", default=None,
                       help=f"the guest's run directory (default $FWEMU_QEMU_RUN, else {default_run_dir()})")

    up = qsub.add_parser("up", parents=[common], help="boot the guest and wait until it is ready")
    run_dir_arg(up)
    up.add_argument("--memory", default=None, help="guest RAM (default: the board's ram window, 1G)")
    up.add_argument("--smp", type=int, default=None, help="CPUs (default: the board's pes.count)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the ready marker")
    up.set_defaults(func=cmd_up)

    down = qsub.add_parser("down", parents=[common], help="stop the guest (only the QEMU this run directory started)")
    run_dir_arg(down)
    down.set_defaults(func=cmd_down)

    st = qsub.add_parser("status", parents=[common], help="guest state, QEMU capabilities and the discovered error sources")
    run_dir_arg(st)
    st.set_defaults(func=cmd_status)

    con = qsub.add_parser("console", parents=[common],
                          help="run a command in the guest, print its kernel log, or attach interactively",
                          description="With COMMAND: run it in the guest's shell and print its output. "
                                      "With --log: print the kernel's console lines. With neither: "
                                      "an interactive console (Ctrl-] leaves).")
    run_dir_arg(con)
    con.add_argument("--log", action="store_true", help="print the kernel lines from the console log")
    con.add_argument("--timeout", type=float, default=30.0, help="seconds COMMAND may run")
    con.add_argument("command", nargs="*", metavar="COMMAND")
    con.set_defaults(func=cmd_console)
    p.set_defaults(func=cmd_missing)


def cmd_missing(args: argparse.Namespace, out: Output) -> int:
    raise UsageError("qemu", "missing action (up, down, status, console)")


def _board(args: argparse.Namespace) -> Board:
    name = getattr(args, "board", None) or os.environ.get("FWEMU_BOARD") or "qemu-virt"
    board = load_board(name)
    if board.target.kind != "qemu":
        board = load_board("qemu-virt")
    return board


def _guest(args: argparse.Namespace, board: Board | None = None) -> Guest:
    board = board or _board(args)
    ram = next((w for w in board.windows if w.name == "ram"), None)
    size = parse_size(args.memory) if getattr(args, "memory", None) else (ram.size if ram else 1 << 30)
    smp = getattr(args, "smp", None) or board.pes.count
    return Guest(args.run, ram_size=size, smp=smp, ram_base=ram.base if ram else RAM_BASE)


def cmd_up(args: argparse.Namespace, out: Output) -> int:
    missing = missing_prerequisites()
    if missing:
        raise UnreachableError("cannot boot the guest: " + "; ".join(missing))
    guest = _guest(args)
    info = guest.start(timeout=args.timeout)
    out.set(guest=_public(info))
    out.line(f"guest up in {info['boot_s']:.1f} s (QEMU {info['qemu_version']}, kernel "
             f"{info['kernel_release']}, pid {info['pid']}); run dir {info['run_dir']}")
    out.line(f"console: socket://127.0.0.1:{info['serial_port']}  QMP: {info['qmp']}  "
             f"RAM: {info['ram_file']}")
    out.line("GPIO/HED injection: " + ("yes (QMP inject-ghes-v2-error)" if info["qmp_inject"]
                                       else "no (this QEMU has no inject-ghes-v2-error; SEA only)"))
    return 0


def cmd_down(args: argparse.Namespace, out: Output) -> int:
    guest = Guest(args.run)
    info = guest.info()
    stopped = guest.stop()
    out.set(stopped=stopped, run_dir=guest.run_dir)
    if stopped:
        out.line(f"stopped QEMU pid {info.get('pid')} ({guest.run_dir}); removed its RAM file")
    else:
        out.line(f"no guest running in {guest.run_dir}")
    return 0


def _public(info: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in info.items() if k != "command"}


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    guest = Guest(args.run)
    info = guest.info()
    alive = guest.alive()
    image = find_image()
    res: dict[str, Any] = {"run_dir": guest.run_dir, "running": alive,
                           "guest": _public(info) if info else None,
                           "image": image.__dict__ | {"qemu_version": image.version_text},
                           "missing": missing_prerequisites()}
    out.line(f"run dir {guest.run_dir}: " + (f"guest running (pid {info.get('pid')}, QEMU "
                                             f"{info.get('qemu_version')}, booted in {info.get('boot_s')} s)"
                                             if alive else "no guest running"))
    if not alive and info:
        why = guest.exit_reason()
        res["exit_reason"] = why
        if why:
            out.line(f"last guest ended with a kernel panic: {why}")
    for m in res["missing"]:
        out.line(f"missing: {m}")
    if alive:
        with open(guest.serial_log, "rb") as fh:
            log = fh.read().decode(errors="replace")
        with acpi.GuestRam(info["ram_file"], info["ram_base"], info["ram_size"]) as ram:
            disc = acpi.discover(ram, log)
        res["discovery"] = disc.to_dict()
        out.line(f"RSDP {disc.rsdp.address:#x} (found by {disc.how}), XSDT {disc.xsdt.address:#x}, "
                 f"HEST {disc.hest.address:#x} ({disc.hest.length} bytes, {disc.hest.oem_id} "
                 f"{disc.hest.oem_table_id})")
        for s in disc.sources:
            out.line("  " + s.describe())
        with Qmp(guest.qmp_path) as q:
            res["qmp_status"] = q.execute("query-status")
        out.line(f"GPIO/HED injection: {'yes' if info.get('qmp_inject') else 'no (SEA only)'}; "
                 f"VM {res['qmp_status'].get('status')}")
    out.set(**res)
    return 0


def print_kernel_log(path: str, out: Output) -> int:
    """`console --log`: the kernel's lines from a console log (qemu and tfa machines)."""
    with open(path, "rb") as fh:
        text = fh.read().decode(errors="replace").replace("\r", "")
    lines = kernel_lines(text)
    out.set(kernel_log=[{"t": t, "line": s} for t, s in lines])
    for t, s in lines:
        out.line(f"[{t:12.6f}] {s}")
    return 0


def cmd_console(args: argparse.Namespace, out: Output) -> int:
    guest = Guest(args.run)
    info = guest.info()
    if args.log:
        return print_kernel_log(guest.serial_log, out)
    if not guest.alive():
        raise UnreachableError(f"no guest running in {guest.run_dir} (`fwemu qemu up`)")
    holder = guest.console_client()
    if holder:
        raise UnreachableError(f"the guest's console already has a client ({holder}); QEMU "
                               "serves one at a time (a running fwemu daemon or session?)")
    con = Console(info["serial_port"], guest.serial_log).connect()
    try:
        if args.command:
            text = con.run(" ".join(args.command), timeout=args.timeout)
            out.set(output=text)
            if not out.as_json:
                sys.stdout.write(text)
            return 0
        return _interactive(con)
    finally:
        con.close()


def _interactive(con: Console) -> int:
    """Pass the terminal through to the guest console until Ctrl-]."""
    import termios
    import tty

    if not sys.stdin.isatty():
        raise UsageError("console", "interactive use needs a terminal (or give a COMMAND)")
    sys.stderr.write("[fwemu: guest console; Ctrl-] leaves]\n")
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    pos = con.log_size()
    try:
        tty.setraw(fd)
        while True:
            r, _, _ = select.select([fd], [], [], 0.05)
            text_bytes = b""
            try:
                with open(con.log_path, "rb") as fh:
                    fh.seek(pos)
                    text_bytes = fh.read()
            except OSError:
                pass
            if text_bytes:
                pos += len(text_bytes)
                os.write(sys.stdout.fileno(), text_bytes)
            if r:
                data = os.read(fd, 1024)
                if b"\x1d" in data:
                    break
                con.send(data.decode(errors="replace"))
            if not con.connected:
                break
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stderr.write("\n")
    return 0
