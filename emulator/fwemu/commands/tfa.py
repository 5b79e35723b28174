"""`fwemu tfa up|down|status|console`: the tfa-qemu machine (QEMU virt, secure=on, real TF-A
with the fwemu agent in BL31, edk2, Debian's kernel). Injection goes through the ordinary
agent path (`fwemu --board tfa-qemu inject ...`). Guide: docs/tfa-qemu.md."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..board import load_board
from ..errors import UnreachableError, UsageError
from ..output import Output
from ..qemu.console import Console
from ..tfa.guest import TfaGuest, firmware_info, missing_prerequisites
from .qemu import print_kernel_log


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tfa", parents=[common], help="start, stop and inspect the tfa-qemu machine",
                       description="QEMU virt (secure=on) running TF-A with the fwemu agent in BL31, "
                                   "edk2 and Debian's arm64 kernel, for agent boards such as "
                                   "tfa-qemu (docs/tfa-qemu.md). Build the firmware once with "
                                   "scripts/build-tfa-qemu.sh.")
    tsub = p.add_subparsers(dest="tfa_command", metavar="ACTION")
    up = tsub.add_parser("up", parents=[common], help="boot the machine and wait until Linux is ready")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the ready marker")
    up.set_defaults(func=cmd_up)
    down = tsub.add_parser("down", parents=[common], help="stop the machine")
    down.set_defaults(func=cmd_down)
    st = tsub.add_parser("status", parents=[common], help="machine state and firmware build")
    st.set_defaults(func=cmd_status)
    con = tsub.add_parser("console", parents=[common],
                          help="run a command in the guest's shell, or print its kernel log")
    con.add_argument("--log", action="store_true", help="print the kernel lines from the console log")
    con.add_argument("--timeout", type=float, default=30.0, help="seconds COMMAND may run")
    con.add_argument("command", nargs="*", metavar="COMMAND")
    con.set_defaults(func=cmd_console)
    p.set_defaults(func=cmd_missing)


def cmd_missing(args: argparse.Namespace, out: Output) -> int:
    raise UsageError("tfa", "missing action (up, down, status, console)")


def _guest(args: argparse.Namespace) -> TfaGuest:
    name = getattr(args, "board", None) or os.environ.get("FWEMU_BOARD") or "tfa-qemu"
    board = load_board(name)
    if board.target.kind != "agent" or not board.target.console:
        raise UsageError("--board", f"board {board.name!r} is not a tfa-qemu machine (it needs "
                         'target.kind = "agent" and a target.console)')
    return TfaGuest(board)


def cmd_up(args: argparse.Namespace, out: Output) -> int:
    missing = missing_prerequisites()
    if missing:
        raise UnreachableError("cannot boot the tfa-qemu machine: " + "; ".join(missing))
    guest = _guest(args)
    info = guest.start(timeout=args.timeout)
    fw = firmware_info()
    info["firmware"] = fw
    out.set(guest={k: v for k, v in info.items() if k != "command"})
    out.line(f"tfa-qemu up in {info['boot_s']:.1f} s (QEMU {info['qemu_version']}, TF-A "
             f"{fw.get('tf_a', '?')} + fwemu agent, edk2 {fw.get('edk2', '?')}, kernel "
             f"{info['kernel_release']}, pid {info['pid']}); run dir {info['run_dir']}")
    out.line(f"agent UART: {guest.board.target.url}  console: socket://127.0.0.1:{info['serial_port']}"
             f"  log: {guest.serial_log}")
    return 0


def cmd_down(args: argparse.Namespace, out: Output) -> int:
    guest = _guest(args)
    info = guest.info()
    stopped = guest.stop()
    out.set(stopped=stopped, run_dir=guest.run_dir)
    out.line(f"stopped QEMU pid {info.get('pid')} ({guest.run_dir})" if stopped
             else f"no tfa-qemu machine running in {guest.run_dir}")
    return 0


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    guest = _guest(args)
    info = guest.info()
    alive = guest.alive()
    res: dict[str, Any] = {"run_dir": guest.run_dir, "running": alive, "firmware": firmware_info(),
                           "missing": missing_prerequisites(),
                           "guest": {k: v for k, v in info.items() if k != "command"} if info else None}
    out.line(f"run dir {guest.run_dir}: " + (f"running (pid {info.get('pid')}, booted in "
                                             f"{info.get('boot_s')} s)" if alive else "not running"))
    if not alive and info:
        res["exit_reason"] = guest.exit_reason()
        if res["exit_reason"]:
            out.line(f"last run ended with a kernel panic: {res['exit_reason']}")
    fw = res["firmware"]
    out.line(f"firmware: TF-A {fw.get('tf_a', '(not built)')}, edk2 {fw.get('edk2', '-')}, key {fw.get('key', '-')}")
    for m in res["missing"]:
        out.line(f"missing: {m}")
    out.set(**res)
    return 0


def cmd_console(args: argparse.Namespace, out: Output) -> int:
    guest = _guest(args)
    if args.log:
        return print_kernel_log(guest.serial_log, out)
    if not guest.alive():
        raise UnreachableError(f"no tfa-qemu machine running in {guest.run_dir} (`fwemu tfa up`)")
    if not args.command:
        raise UsageError("console", "give a COMMAND to run in the guest's shell, or --log")
    info = guest.info()
    con = Console(info["serial_port"], guest.serial_log).connect()
    try:
        text = con.run(" ".join(args.command), timeout=args.timeout)
    finally:
        con.close()
    out.set(output=text)
    if not out.as_json:
        sys.stdout.write(text)
    return 0
