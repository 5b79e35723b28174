"""Processes on this machine, named so that a later process can tell whether one still runs:
the machine's boot id, a process's start time, and whether the process a (pid, start time)
names is alive. A run registers the three (recovery.py's run file); the next run, and
`fwemu journal list`, ask whether it is still there.

A pid alone is not a name: it is reused once its process is gone. With its start time (in
clock ticks since boot) it names one process within one boot; with the boot id, across
reboots too (after one, the start time of a new process can repeat an old one's).
"""

from __future__ import annotations

import os


def boot_id() -> str | None:
    """This boot of the machine (the kernel's random boot id); None where it cannot be read.
    Monotonic instants of two runs compare only within one boot of the machine."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with
    the pid it names one process, even after the pid is reused. None where it cannot be
    read (no such process, no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return data[data.rfind(b")") + 2:].split()[19].decode()
    except (OSError, IndexError):
        return None


def alive(pid: int, start: object) -> bool:
    """The process `pid` is alive and is the one that started at `start` (start_time()'s
    value when it registered): a pid reused by another process is not it. When the start
    time cannot be read now, a live pid counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                # alive, another user's
    except OSError:
        return False
    now = start_time(pid)
    return now is None or now == start
