"""fwemu.procs: a process named by (boot id, pid, start time), as the run file records it and
recovery and `fwemu journal list` ask whether it still runs."""

from __future__ import annotations

import os
import subprocess
import sys

from fwemu import procs


def test_boot_id_is_the_kernels():
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert procs.boot_id() == f.read().strip()


def test_start_time_is_field_22_and_none_for_no_process():
    with open(f"/proc/{os.getpid()}/stat", "rb") as f:
        data = f.read()
    assert procs.start_time(os.getpid()) == data[data.rfind(b")") + 2:].split()[19].decode()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert procs.start_time(child.pid) is None


def test_alive_takes_the_pid_and_its_start_time():
    me = os.getpid()
    assert procs.alive(me, procs.start_time(me))
    assert not procs.alive(me, "1")          # the pid reused: another process
    assert not procs.alive(me, None)         # registered without its start time
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not procs.alive(child.pid, None)  # gone
