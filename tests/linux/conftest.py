"""Real Linux as the consumer: one qemu-virt guest (QEMU arm64 virt + Debian's arm64 kernel)
booted once for the whole session, in a private run directory.

Prerequisites (scripts/fetch-qemu-linux.sh installs and builds them): qemu-system-aarch64
>= 10.0, qemu-efi-aarch64, the guest image in the cache, pyserial. Missing ones skip these
tests, except with FWEMU_REQUIRE_LINUX=1 (CI), where they fail.

The numbers (boot time, inject→consumed latency) and every sim-vs-real difference are
printed in the terminal summary.
"""

from __future__ import annotations

import pytest

from qemu_helpers import REPORT, need_linux

@pytest.fixture(scope="session")
def qemu_target(tmp_path_factory):
    need_linux()
    from fwemu.board import load_board
    from fwemu.targets.qemu import QemuTarget

    run = tmp_path_factory.mktemp("qemu-run")
    target = QemuTarget(load_board("qemu-virt"), run_dir=str(run), start=True, boot_timeout=120)
    REPORT["boot_s"].append(target.started_info["boot_s"])
    REPORT["qemu"] = f"QEMU {target.info.get('qemu_version')}, kernel {target.info.get('kernel_release')}"
    try:
        yield target
    finally:
        target.close()


class PaAllocator:
    """A fresh guest page per injection (memory_failure really offlines pages; a repeated
    PA only gives 'already hardware poisoned'). Pages from 0x60000000 up are free buddy
    pages in a 1 GiB guest running only the busybox initramfs."""

    def __init__(self, base: int = 0x60000000):
        self.next = base

    def __call__(self) -> int:
        pa, self.next = self.next, self.next + 0x1000
        return pa


@pytest.fixture(scope="session")
def fresh_pa():
    return PaAllocator()


@pytest.fixture(scope="session")
def pacer():
    from qemu_helpers import Pacer
    return Pacer()


@pytest.fixture
def real(qemu_target):
    """A fresh firmware model over the session's guest (restarted first if a previous
    test left it down)."""
    from qemu_helpers import session_on

    if not qemu_target.os_state()["up"]:
        qemu_target.reset()
        REPORT["boot_s"].append(qemu_target.started_info["boot_s"])
    return session_on(qemu_target)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not (REPORT["boot_s"] or REPORT["latency_ms"] or REPORT["diffs"]):
        return
    tr = terminalreporter
    tr.section("qemu-virt: real Linux as the consumer")
    if "qemu" in REPORT:
        tr.write_line(REPORT["qemu"])
    if REPORT["boot_s"]:
        tr.write_line("boot to ready (QEMU start -> init marker): "
                      + ", ".join(f"{b:.2f} s" for b in REPORT["boot_s"]))
    for kind, items in REPORT["latency_ms"].items():
        vals = sorted(v for _n, v in items)
        tr.write_line(f"inject->consumed ({kind}): " + ", ".join(f"{n} {v:.1f} ms" for n, v in items)
                      + f"; median {vals[len(vals) // 2]:.1f} ms")
    if REPORT["diffs"]:
        tr.write_line("sim OS model vs real dmesg (compared lines differing; known reasons in docs/qemu.md):")
        for scenario, pairs in REPORT["diffs"].items():
            if not pairs:
                tr.write_line(f"  {scenario}: identical")
                continue
            tr.write_line(f"  {scenario}:")
            for s, r, why in pairs:
                tr.write_line(f"    sim : {s!r}")
                tr.write_line(f"    real: {r!r}")
                tr.write_line(f"    why : {why}")
    for note in REPORT["notes"]:
        tr.write_line(note)
