"""fwemu's records, posted into a real Linux kernel (Debian's arm64 6.1) under QEMU virt.

Each test asserts what the kernel printed on its console and what it wrote back into guest
RAM (Read Ack, block_status), and what fwemu reported. The scenario tests also run the same
injection (same source, PA and timestamp) on the sim board and compare the OS log lines;
a difference fails unless it is a known one (KNOWN below, with its reason).

One boot for the session; the fatal test panics the guest and restarts it (a second boot).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

import qemu_helpers as h
from qemu_helpers import REPORT, need_linux

FIELDS_TS = {"timestamp": h.FIXED_TIMESTAMP}

# Differences between the sim's OS model and the real kernel that are understood: (sim line
# pattern or None, real line pattern or None, reason). A pair matching one is reported, not
# failed. The sim's model is not edited from here (the lead owns it).
KNOWN = [
    (r"GHES: sim-task:<pid>: synchronous unrecoverable error \(SIGBUS\)",
     r"GHES: \S+:<pid>: synchronous unrecoverable error \(SIGBUS\)",
     "the task that took the synchronous abort: busybox devmem in the guest, the sim's "
     "stand-in task 'sim-task' on the sim board (same line otherwise: 6.1.y >= 6.1.164 "
     "SIGBUSes it when a SEA-notified record queues no memory_failure)"),
    (r"Memory failure: (0x[0-9a-f]+): recovery action for free buddy page: Recovered",
     r"Memory failure: (0x[0-9a-f]+): recovery action for .+: Recovered",
     "the page's state is the real kernel's (a free buddy page here in most runs, sometimes a "
     "dirty LRU page); the sim's RAM holds no workload, so its pages are always free"),
]


def _known(sim: str | None, real: str | None) -> str | None:
    for ps, pr, why in KNOWN:
        if (ps is None) != (sim is None) or (pr is None) != (real is None):
            continue
        if (ps is None or re.fullmatch(ps, sim)) and (pr is None or re.fullmatch(pr, real)):
            return why
    return None


def both(real, qemu_target, scenario, fields=None, *, record=None, notify=None, timeout=10.0,
         knobs=None):
    """Inject on the guest, then the same on the sim board; return the real result and the
    differences [(sim, real, reason-or-None)]."""
    r = h.inject(real, scenario, fields, record=record, notify=notify, timeout=timeout)
    s = h.run_sim(qemu_target.board, scenario, fields, record=record, notify=notify, knobs=knobs)
    pairs = [(a, b, _known(a, b)) for a, b in h.compare(s["os_log"], r["os_log"])]
    return r, s, pairs


def check_same_as_sim(name: str, pairs) -> None:
    REPORT["diffs"][name] = [(a, b, why or "UNEXPLAINED") for a, b, why in pairs]
    unexplained = [(a, b) for a, b, why in pairs if why is None]
    assert not unexplained, f"{name}: sim and real kernel differ:\n" + h.format_diff(unexplained)


def note_latency(kind: str, name: str, inj: dict) -> None:
    REPORT["latency_ms"].setdefault(kind, []).append((name, inj["latency_ms"]))


def hw_lines(lines):
    """The {N}[Hardware Error] lines with the record number removed."""
    return [re.sub(r"^\{\d+\}\[Hardware Error\]: ", "", ln) for ln in lines if re.match(r"^\{\d+\}\[Hardware Error\]", ln)]


def sea_source(qemu_target):
    return next(s for s in qemu_target.board.sources if s.notify == "sea")


def assert_acked(qemu_target, src):
    assert qemu_target.read_reg(src.read_ack.address, src.read_ack.width) == 1, "Read Ack not back to 1"
    assert qemu_target.read_reg(src.block, 32) == 0, "block_status not back to 0"


# ---------------------------------------------------------------------------------------
# discovery


def test_discovery_from_guest_memory(qemu_target):
    from fwemu.qemu import acpi

    t = qemu_target
    d = t.discovery
    src = sea_source(t)
    assert src.type == "ghesv2" and src.block_length == 1024
    assert src.read_ack.preserve == 0xFFFFFFFFFFFFFFFE and src.read_ack.write == 1
    # the block is where the ESA register points, now
    assert t.read_reg(src.esa, 64) == src.block
    assert_acked(t, src)                                   # QEMU starts Read Ack at 1
    # the table the XSDT walk found is the one the kernel logged and exposes in sysfs
    assert d.kernel_hest == d.hest.address
    import hashlib
    out = t.run("md5sum /sys/firmware/acpi/tables/HEST; ls /sys/bus/platform/drivers/GHES/")
    assert hashlib.md5(d.hest.data).hexdigest() in out
    assert "GHES.0" in out
    # without the boot log, a RAM scan finds the same sources (no address is known up front)
    info = t.info
    with acpi.GuestRam(info["ram_file"], info["ram_base"], info["ram_size"]) as ram:
        scanned = acpi.discover(ram, "")
    assert "scan" in scanned.how
    assert [s.__dict__ for s in scanned.sources] == [s.__dict__ for s in d.sources]
    # fwemu may touch only the pages of the discovered registers and blocks
    for w in t.board.windows:
        assert w.size <= 0x10000 and w.path == info["ram_file"]


def test_cli_status_sees_the_guest(qemu_target):
    env = dict(os.environ, FWEMU_QEMU_RUN=qemu_target.guest.run_dir)
    p = subprocess.run([sys.executable, "-m", "fwemu", "--json", "qemu", "status"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["running"] is True
    assert st["discovery"]["hest"] == qemu_target.discovery.hest.address
    # the session's target holds the console: a second console client is refused clearly
    p = subprocess.run([sys.executable, "-m", "fwemu", "qemu", "console", "true"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode != 0 and "already has a client" in p.stderr


# ---------------------------------------------------------------------------------------
# scenarios over SEA, compared with the sim


def test_memory_ue_recovered(real, qemu_target, fresh_pa, pacer):
    pa = fresh_pa()
    pacer.before(corrected=False)
    r, s, pairs = both(real, qemu_target, "memory-ue", {**FIELDS_TS, "address": hex(pa)})
    inj = r["injection"]
    assert inj["state"] == "consumed" and inj["latency_ms"] > 0
    note_latency("SEA", "memory-ue", inj)
    src = qemu_target.board.source(inj["source"])
    assert hw_lines(r["os_log"]) == [
        f"Hardware error from APEI Generic Hardware Error Source: {src.id}",
        "event severity: recoverable",
        " precise tstamp: 2025-05-20 12:34:56",
        " Error 0, type: recoverable",
        "  section_type: memory error",
        f"  physical_address: 0x{pa:016x}",
        "  error_type: 3, multi-bit ECC",
    ]
    assert any(re.fullmatch(rf"Memory failure: {pa >> 12:#x}: recovery action for .+: Recovered", ln)
               for ln in r["os_log"]), r["os_log"]
    assert_acked(qemu_target, src)
    assert "HardwareCorrupted" in qemu_target.run("grep HardwareCorrupted /proc/meminfo")
    check_same_as_sim("memory-ue", pairs)


def test_memory_ce_decoded_not_offlined(real, qemu_target, fresh_pa, pacer):
    pa = fresh_pa()
    pacer.before(corrected=True)
    r, s, pairs = both(real, qemu_target, "memory-ce", {**FIELDS_TS, "address": hex(pa)})
    inj = r["injection"]
    assert inj["state"] == "consumed"
    note_latency("SEA", "memory-ce", inj)
    hw = hw_lines(r["os_log"])
    assert hw[:3] == ["Hardware error from APEI Generic Hardware Error Source: 0",
                      "It has been corrected by h/w and requires no further action",
                      "event severity: corrected"]
    assert f"  physical_address: 0x{pa:016x}" in hw and "  error_type: 2, single-bit ECC" in hw
    assert not any(ln.startswith("Memory failure") for ln in r["os_log"]), "corrected: no memory_failure"
    assert_acked(qemu_target, qemu_target.board.source(inj["source"]))
    check_same_as_sim("memory-ce", pairs)


def test_arm_cache_ue_memory_failure(real, qemu_target, fresh_pa, pacer):
    pa = fresh_pa()
    pacer.before(corrected=False)
    r, s, pairs = both(real, qemu_target, "arm-cache-ue", {**FIELDS_TS, "address": hex(pa)})
    inj = r["injection"]
    assert inj["state"] == "consumed"
    note_latency("SEA", "arm-cache-ue", inj)
    hw = hw_lines(r["os_log"])
    for want in ("  section_type: ARM processor error", "   error_type: 0x02: cache error",
                 "    cache error, operation type: Generic read (type of instruction or data "
                 "request cannot be determined)", "    cache level: 1",
                 f"   physical fault address: 0x{pa:016x}"):
        assert want in hw, (want, hw)
    assert any(re.fullmatch(rf"Memory failure: {pa >> 12:#x}: recovery action for .+: Recovered", ln)
               for ln in r["os_log"]), r["os_log"]
    check_same_as_sim("arm-cache-ue", pairs)


# A two-context ARM record (UEFI layout: each context block zero-padded to a multiple of 16)
# and the same contexts back to back. Debian's 6.1 steps from block to block by 8 + size
# (the v6.14 fix, d6a2d02aa060, is not in it), so it misreads the UEFI layout from the
# second block on; the sim's OS model (default kernel profile 6.1) prints the same lines.
_ARM2_HEAD = [
    "Hardware error from APEI Generic Hardware Error Source: 0",
    "event severity: recoverable",
    " precise tstamp: 2025-05-20 12:34:56",
    " Error 0, type: recoverable",
    "  section_type: ARM processor error",
    "  MIDR: 0x00000000410fd0c0",
    "  Multiprocessor Affinity Register (MPIDR): 0x0000000080000000",
    "  Error info structure 0:",
    "  num errors: 1",
    "   error_type: 0x0a: cache error|bus error",
    "   error_info: 0x0000080000450a87",
    "    transaction type: Data Access",
    "    cache error, operation type: Generic read (type of instruction or data request cannot be determined)",
    "    bus error, operation type: Generic read (type of instruction or data request cannot be determined)",
    "    cache level: 1",
    "    affinity level at which the bus error occurred: 1",
    # no participation type / address space / access mode: 0x0a is not exactly "bus error"
    "  Context info structure 0:",
    "   register context type: AArch64 EL1 context registers",
    "   00000000: 14131211 18171615 1c1b1a19 201f1e1d",
    "   00000010: 24232221",
    "  Context info structure 1:",
]
_ARM2_TAIL = {
    16: ["   section length is too small", "  firmware-generated error record is incorrect"],
    1: ["   register context type: AArch64 general purpose registers",
        "   00000000: a4a3a2a1 a8a7a6a5 acabaaa9 b0afaead"],
}


def _arm_two_contexts(context_align: int, second: int) -> bytes:
    from fwemu.records import encode
    from fwemu.records.model import ArmContext, ArmErrorInfo, ArmSection, Entry, StatusBlock, Timestamp

    sec = ArmSection(mpidr=0x80000000, midr=0x410FD0C0, context_align=context_align,
                     error_info=[ArmErrorInfo(type=0x0A, error_info=0x0000080000450A87)],
                     context=[ArmContext(type=5, registers=bytes(range(0x11, 0x25))),
                              ArmContext(type=4, registers=bytes(range(0xA1, 0xB1)))])
    return encode(StatusBlock([Entry(sec, timestamp=Timestamp(2025, 5, 20, 12, 34, second))]))


@pytest.mark.parametrize("context_align", [16, 1])
def test_arm_two_contexts_as_6_1_reads_them(real, qemu_target, pacer, context_align):
    pacer.before(corrected=False)
    rec = _arm_two_contexts(context_align, second=56)
    r, s, pairs = both(real, qemu_target, "raw", record=rec)
    inj = r["injection"]
    assert inj["state"] == "consumed"
    assert hw_lines(r["os_log"]) == _ARM2_HEAD + _ARM2_TAIL[context_align]
    # no cache type + PA: GHES leaves it to the task (and names the combined type)
    assert "[Firmware Warn]: GHES: Unhandled processor error type 0x0a: cache error|bus error" in r["os_log"]
    assert_acked(qemu_target, qemu_target.board.source(inj["source"]))
    check_same_as_sim(f"arm two contexts, context_align {context_align}", pairs)


def test_pcie_ue_decoded(real, qemu_target, pacer):
    pacer.before(corrected=False)
    r, s, pairs = both(real, qemu_target, "pcie-ue", dict(FIELDS_TS))
    inj = r["injection"]
    assert inj["state"] == "consumed"
    note_latency("SEA", "pcie-ue", inj)
    hw = hw_lines(r["os_log"])
    for want in ("event severity: recoverable", "  section_type: PCIe error",
                 "  port_type: 0, PCIe end point", "  version: 3.0", "  device_id: 0000:01:00.0",
                 "  vendor_id: 0x13b5, device_id: 0x0100", "  class_code: 020000"):
        assert want in hw, (want, hw)
    # aer_recover_queue ran (the guest has no such device)
    assert "AER: no pci_dev for 0000:01:00.0" in r["os_log"]
    check_same_as_sim("pcie-ue", pairs)


# ---------------------------------------------------------------------------------------
# the newer section kinds (records/sections/): Debian's 6.1 knows none of them, so it prints
# each as an unknown section with a hex dump, and the sim's OS model (profile 6.1) the same;
# over SEA no memory_failure is queued, so both SIGBUS the task (docs/kernel-profiles.md)

_NEWER_LEN = {"cxl-protocol": "0xcc", "cxl-general-media": "0x90", "cxl-dram": "0x90",
              "cxl-memory-module": "0x90", "pci-bus": "0x48", "pci-device": "0x28", "x86-proc": "0x80",
              "nvidia": "0x20", "memory2": "0x60", "arm-ras": "0x98"}


@pytest.mark.parametrize("scenario", list(_NEWER_LEN))
def test_newer_section_kinds_are_unknown_to_6_1(real, qemu_target, pacer, scenario):
    from fwemu.records import sections

    sev = {"cxl-dram": "corrected", "cxl-memory-module": "info"}.get(scenario, "recoverable")
    pacer.before(corrected=sev != "recoverable")
    r, s, pairs = both(real, qemu_target, scenario, dict(FIELDS_TS))
    inj = r["injection"]
    assert inj["state"] == "consumed"
    hw = hw_lines(r["os_log"])
    guid = sections.CLASSES[scenario].GUID
    i = hw.index(f"  section type: unknown, {guid}")
    assert hw[i - 1] == f" Error 0, type: {sev}" and hw[i + 1] == f"  section length: {_NEWER_LEN[scenario]}"
    assert re.fullmatch(r"  00000000: [0-9a-f]{8}( [0-9a-f]{8}){3}  .{16}", hw[i + 2]), hw[i + 2]
    assert any("synchronous unrecoverable error (SIGBUS)" in ln for ln in r["os_log"])
    assert_acked(qemu_target, qemu_target.board.source(inj["source"]))
    check_same_as_sim(scenario, pairs)


# ---------------------------------------------------------------------------------------
# fault injection against the OS


def test_invalid_block_length_rejected(real, qemu_target, fresh_pa):
    rec = h.with_data_length(h.record_bytes("memory-ue", {**FIELDS_TS, "address": hex(fresh_pa())}), 2000)
    r, s, pairs = both(real, qemu_target, "raw", record=rec)
    inj = r["injection"]
    assert inj.get("forged") is True
    assert "[Firmware Warn]: GHES: Invalid error status block length!" in r["os_log"]
    assert not hw_lines(r["os_log"])
    assert inj["state"] == "consumed"                 # the kernel clears and acks a bad block
    assert_acked(qemu_target, qemu_target.board.source(inj["source"]))
    check_same_as_sim("invalid data_length", pairs)


def test_invalid_entry_length_rejected(real, qemu_target, fresh_pa):
    rec = h.with_entry_length(h.record_bytes("memory-ue", {**FIELDS_TS, "address": hex(fresh_pa())}), 200)
    r, s, pairs = both(real, qemu_target, "raw", record=rec)
    inj = r["injection"]
    assert "[Firmware Warn]: GHES: Failed to read error status block!" in r["os_log"]
    assert not hw_lines(r["os_log"])
    assert inj["state"] == "consumed"
    check_same_as_sim("invalid error_data_length", pairs)


def test_entry_revision_0201_as_the_kernel_reads_it(real, qemu_target, fresh_pa, pacer):
    """--entry-revision 0x0201: the 64-byte entry header (no timestamp); the kernel finds
    the section 64 bytes after the entry and handles it as the sim does."""
    pa = fresh_pa()
    pacer.before(corrected=False)
    fields = {"entry_revision": "0x0201", "address": hex(pa)}
    r, s, pairs = both(real, qemu_target, "memory-ue", fields)
    inj = r["injection"]
    assert inj["state"] == s["injection"]["state"] == "consumed", inj
    assert "  section_type: memory error" in hw_lines(r["os_log"])
    assert not any("precise tstamp" in ln for ln in hw_lines(r["os_log"]))
    assert any(ln.startswith(f"Memory failure: {pa >> 12:#x}:") for ln in r["os_log"])
    check_same_as_sim("entry revision 0x0201", pairs)


def test_header_length_options_dropped_on_sim_acked_by_the_kernel(real, qemu_target, fresh_pa):
    """--data-length / --error-data-length as written: the kernel warns, clears and acks,
    as the sim does; the sim (which sees the OS throw it away) journals it dropped."""
    for fields, warning in (({"data_length": "2000"}, "Invalid error status block length!"),
                            ({"error_data_length": "200"}, "Failed to read error status block!")):
        r, s, pairs = both(real, qemu_target, "memory-ue", {**fields, "address": hex(fresh_pa())})
        assert f"[Firmware Warn]: GHES: {warning}" in r["os_log"]
        assert not hw_lines(r["os_log"])
        assert r["injection"]["state"] == "consumed"        # the ack is all a real target shows
        assert s["injection"]["state"] == "dropped" and warning in s["injection"]["reason"]
        assert_acked(qemu_target, qemu_target.board.source(r["injection"]["source"]))
        check_same_as_sim(f"as written: {fields}", pairs)


def test_block_status_zero_times_out(real, qemu_target, fresh_pa, pacer):
    src = sea_source(qemu_target)
    rec = h.with_block_status(h.record_bytes("memory-ue", {**FIELDS_TS, "address": hex(fresh_pa())}), 0)
    r = h.inject(real, "raw", record=rec, timeout=3.0)
    inj = r["injection"]
    assert inj["state"] == "timed-out", inj            # never consumed: not reported as success
    assert inj["consumed"] is None and inj["latency_ms"] is None
    assert inj["left_in_memory"] == {"block_status": 0, "read_ack": 0}
    assert not hw_lines(r["os_log"])
    # Linux never acks it, so the source is wedged; with shared RAM fwemu can re-arm it
    qemu_target.withdraw(src)
    assert_acked(qemu_target, src)
    pa = fresh_pa()
    pacer.before(corrected=False)
    again = h.inject(h.session_on(qemu_target), "memory-ue", {"address": hex(pa)})
    assert again["injection"]["state"] == "consumed"
    assert any(ln.startswith(f"Memory failure: {pa >> 12:#x}:") for ln in again["os_log"])


# ---------------------------------------------------------------------------------------
# one record per abort (issue 15 item 1), no stale notification (item 2)


def test_sea_burst_one_record_per_abort(real, qemu_target, fresh_pa, pacer):
    """Two records submitted back to back: the second is posted only after the first
    devmem has exited, so each is consumed by its own abort (before: the first devmem's
    retried load took the second record '0.005 ms after' its notification, and the second
    devmem found an empty block)."""
    pas = [fresh_pa(), fresh_pa()]
    for _ in pas:
        pacer.before(corrected=False)
    mark = qemu_target.log_mark()
    fw = real.firmware
    injs = [fw.submit("memory-ue", {"address": hex(pa)}, timeout=10) for pa in pas]
    fw.wait_all(injs)
    lines, _ = qemu_target.os_log(mark)
    text, _ = qemu_target.console.read_log(mark)
    for inj in injs:
        assert inj.state == "consumed", inj.to_json()
        # typed -> Read Ack: at least the guest shell forking devmem (tens of ms under TCG)
        assert inj.latency is not None and inj.latency > 0.005, inj.to_json()
        note_latency("SEA", "burst", inj.to_json())
    for pa in pas:
        assert any(ln.startswith(f"Memory failure: {pa >> 12:#x}: recovery action") for ln in lines), lines
    # every devmem took exactly its own record: each ended in one unclaimed abort (Bus error)
    # AFTER its record's lines, none expired
    assert text.count("Bus error") == 2 and "__FWEMU_LATE" not in text, text
    first_bus = text.index("Bus error")
    assert f"physical_address: 0x{pas[0]:016x}" in text[:first_bus]
    assert f"physical_address: 0x{pas[1]:016x}" in text[first_bus:], text


def test_stalled_guest_leaves_no_stale_notification(real, qemu_target, fresh_pa):
    """The guest stops running (QEMU stopped with SIGSTOP: the guest's clock, which follows
    the host's, keeps going) while a SEA is typed; the injection times out; the fwemu that
    typed it goes away. When the guest runs again the command must not load (its deadline
    has passed): the record journaled timed-out is never consumed, and the next fwemu gets
    the console."""
    import signal

    src = sea_source(qemu_target)
    pa = fresh_pa()
    pid = qemu_target.guest.pid()
    mark = qemu_target.log_mark()
    os.kill(pid, signal.SIGSTOP)
    try:
        inj = real.firmware.submit("memory-ue", {"address": hex(pa)}, timeout=3.0)
        real.firmware.wait_all([inj])
        assert inj.state == "timed-out", inj.to_json()
        qemu_target._detach()                      # that fwemu exits
    finally:
        os.kill(pid, signal.SIGCONT)
    qemu_target._attach()                          # the next one gets the console
    out = qemu_target.run("echo fresh")           # and its commands are not garbled
    assert out.strip().endswith("fresh"), out
    time.sleep(1.0)
    assert qemu_target.read_reg(src.read_ack.address, src.read_ack.width) == 0, "stale devmem consumed the record"
    text, _ = qemu_target.console.read_log(mark)
    assert f"0x{pa:016x}" not in text, text
    qemu_target.withdraw(src)                      # re-arm for the tests that follow
    assert_acked(qemu_target, src)


# ---------------------------------------------------------------------------------------
# page state: PA 0, kernel text, reserved (issue 15 item 4), compared with the sim


def _page_case(real, qemu_target, pacer, name, pa):
    info = qemu_target.info
    iomem = qemu_target.run("cat /proc/iomem")
    knobs_memory = h.iomem_memory(iomem, info["ram_base"], info["ram_size"])
    from fwemu.targets.linux_model import OsKnobs

    pacer.before(corrected=False)
    r, s, pairs = both(real, qemu_target, "memory-ue", {**FIELDS_TS, "address": hex(pa)},
                       knobs=OsKnobs(memory=knobs_memory))
    assert r["injection"]["state"] == "consumed", r["injection"]
    check_same_as_sim(name, pairs)
    return [ln for ln in r["os_log"] if ln.startswith(("Memory failure", "GHES: ", "[Firmware"))]


def test_page_state_pa0(real, qemu_target, pacer):
    assert _page_case(real, qemu_target, pacer, "memory-ue PA 0", 0) == [
        "Memory failure: 0x0: memory outside kernel control"]


def test_page_state_kernel_text(real, qemu_target, pacer):
    code = re.search(r"([0-9a-f]+)-[0-9a-f]+ : Kernel code", qemu_target.run("cat /proc/iomem"))
    pa = int(code.group(1), 16) + 0x10000
    pfn = pa >> 12
    assert _page_case(real, qemu_target, pacer, "memory-ue kernel text", pa) == [
        f"Memory failure: {pfn:#x}: unhandlable page.",
        f"Memory failure: {pfn:#x}: recovery action for unknown page: Ignored"]


def test_page_state_reserved_acpi(real, qemu_target, pacer):
    pa = qemu_target.discovery.hest.address & ~0xFFF          # the ACPI tables' page
    pfn = pa >> 12
    assert _page_case(real, qemu_target, pacer, "memory-ue reserved (ACPI tables)", pa) == [
        f"Memory failure: {pfn:#x}: unhandlable page.",
        f"Memory failure: {pfn:#x}: recovery action for unknown page: Ignored"]


# ---------------------------------------------------------------------------------------
# GPIO / HED through QMP (QEMU >= 10.2)


def test_gpio_via_qmp(real, qemu_target, fresh_pa, pacer):
    if not qemu_target.qmp_inject:
        pytest.skip(f"QEMU {qemu_target.info.get('qemu_version')} ({qemu_target.info.get('qemu')}) "
                    "has no QMP inject-ghes-v2-error: the GPIO/HED path needs QEMU >= 10.2 "
                    "(point FWEMU_QEMU at one)")
    pa = fresh_pa()
    pacer.before(corrected=False)
    r, s, pairs = both(real, qemu_target, "memory-ue", {**FIELDS_TS, "address": hex(pa)}, notify="gpio")
    inj = r["injection"]
    assert inj["state"] == "consumed" and inj["notify"] == "gpio"
    note_latency("GPIO", "memory-ue", inj)
    # QEMU writes the block when it raises the event: posted (fwemu's hand-over) -> consumed
    REPORT["notes"].append(f"GPIO post->consumed {(inj['consumed'] - inj['posted']) * 1000:.1f} ms, "
                           f"notified->consumed {inj['latency_ms']:.1f} ms")
    src = qemu_target.board.source(inj["source"])
    assert f"Hardware error from APEI Generic Hardware Error Source: {src.id}" in hw_lines(r["os_log"])
    assert any(ln.startswith(f"Memory failure: {pa >> 12:#x}:") for ln in r["os_log"])
    check_same_as_sim("memory-ue (GPIO)", pairs)


def test_gpio_refused_without_qmp_injection(qemu_target):
    from fwemu.board import Source

    if qemu_target.qmp_inject:
        pytest.skip("this QEMU has inject-ghes-v2-error")
    assert not any(s.notify == "gpio" for s in qemu_target.board.sources)   # 10.0.2: SEA only
    gpio = Source(id=1, type="ghesv2", notify="gpio", esa=0, block=0, block_length=1024)
    why = qemu_target.notify_refusal(gpio, 0)
    assert why and "cannot raise a GPIO notification" in why and "inject-ghes-v2-error" in why
    why = qemu_target.notify_kind_refusal("gpio")
    assert why and why.startswith(f"this QEMU ({qemu_target.info['qemu_version']}) cannot raise GPIO")
    # and it is what `fwemu inject --notify gpio` prints (the session's console is lent to it)
    env = dict(os.environ, FWEMU_QEMU_RUN=qemu_target.guest.run_dir)
    qemu_target._detach()
    try:
        p = subprocess.run([sys.executable, "-m", "fwemu", "--board", "qemu-virt", "inject",
                            "memory-ue", "--notify", "gpio"], capture_output=True, text=True,
                           env=env, timeout=60)
    finally:
        qemu_target._attach()
    assert p.returncode == 2 and why in p.stderr, (p.returncode, p.stderr)


# ---------------------------------------------------------------------------------------
# fatal: the kernel panics, fwemu reports the OS down, and restarts the guest


def test_memory_fatal_panics_and_restarts(real, qemu_target, fresh_pa):
    pa = fresh_pa()
    r, s, pairs = both(real, qemu_target, "memory-fatal", {**FIELDS_TS, "address": hex(pa)})
    inj = r["injection"]
    assert inj["state"] == "consumed"                 # __ghes_panic clears and acks first
    note_latency("SEA", "memory-fatal", inj)
    deadline = time.monotonic() + 20
    while qemu_target.os_state()["qemu_running"] and time.monotonic() < deadline:
        time.sleep(0.1)
    state = qemu_target.os_state()
    assert state["up"] is False and state["panic"] == "GHES: Fatal hardware error", state
    lines, _ = qemu_target.os_log(0)
    hw = hw_lines(lines)
    assert "event severity: fatal" in hw and f"  physical_address: 0x{pa:016x}" in hw
    assert "Kernel panic - not syncing: GHES: Fatal hardware error" in lines
    check_same_as_sim("memory-fatal", [(a, b, _known(a, b)) for a, b in h.compare(s["os_log"], r["os_log"])])
    # a down guest refuses further notifications, with the reason
    after = h.inject(h.session_on(qemu_target), "memory-ue", {"address": hex(fresh_pa())}, timeout=3)
    assert after["injection"]["state"] == "refused"
    assert "guest is down" in after["injection"]["reason"] and "Fatal hardware error" in after["injection"]["reason"]
    # restart: a new boot, the same discovered sources, and it consumes again
    before = [x.to_dict() for x in qemu_target.board.sources]
    qemu_target.reset()
    REPORT["boot_s"].append(qemu_target.started_info["boot_s"])
    assert qemu_target.os_state()["up"] is True
    assert [x.to_dict() for x in qemu_target.board.sources] == before
    pa = fresh_pa()
    again = h.inject(h.session_on(qemu_target), "memory-ue", {"address": hex(pa)})
    assert again["injection"]["state"] == "consumed"
    note_latency("SEA", "memory-ue after restart", again["injection"])


# ---------------------------------------------------------------------------------------
# the CLI's own guest: up, console, down (a second, short-lived guest)


def test_cli_up_console_down(tmp_path):
    need_linux()
    env = dict(os.environ, FWEMU_QEMU_RUN=str(tmp_path / "run"))

    def fwemu(*args, timeout=180):
        return subprocess.run([sys.executable, "-m", "fwemu", *args], capture_output=True,
                              text=True, env=env, timeout=timeout)

    p = fwemu("--json", "qemu", "up")
    try:
        assert p.returncode == 0, p.stderr
        up = json.loads(p.stdout)["guest"]
        REPORT["notes"].append(f"`fwemu qemu up` (second guest, while the first ran): {up['boot_s']:.2f} s")
        assert os.path.exists(up["ram_file"])
        c = fwemu("qemu", "console", "uname -r")
        assert c.returncode == 0 and up["kernel_release"] in c.stdout, c.stderr
    finally:
        d = fwemu("qemu", "down")
    assert d.returncode == 0 and "stopped QEMU pid" in d.stdout, d.stdout + d.stderr
    assert not os.path.exists(up["ram_file"])
    assert _gone(up["pid"]), f"QEMU pid {up['pid']} still running after `fwemu qemu down`"


def _gone(pid: int, wait: float = 5.0) -> bool:
    """The process exited (absent, or a zombie its new parent has not reaped yet)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.1)
    return False
