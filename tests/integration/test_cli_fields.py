"""Every field of the ARM, PCIe, processor generic and firmware reference sections from the
command line (issue 14 item 5): the built block's bytes at the offsets of cper-layouts.md
§6-§9, packed here with struct; a bad value is one line naming the option (exit 2); a
campaign step takes the same fields."""

from __future__ import annotations

import json
import struct
import uuid

import pytest

SEC = 20 + 72          # GESB header + a revision-0x300 GDE header: the section's offset
P = "{1}[Hardware Error]:   "


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def build(cli_run, tmp_path, *argv) -> bytes:
    out = tmp_path / "rec.bin"
    rc, _o, err = cli_run("record", "build", *argv, "--timestamp", "none", "-o", str(out))
    assert rc == 0, err
    data = out.read_bytes()
    assert struct.unpack_from("<I", data, 20 + 24)[0] == len(data) - SEC   # error_data_length
    return data[SEC:]


def test_arm_entries_contexts_and_header(cli_run, tmp_path):
    regs = bytes(range(16))
    (tmp_path / "el1.bin").write_bytes(regs)
    sec = build(cli_run, tmp_path, "arm-cache-ue",
                "--arm-info", "type=cache,pa=0x1000",
                "--arm-info", "type=tlb+micro-arch,flags=last+overflow,multiple-error=3,info=0x12,"
                              "va=0x2000,pa=none,valid=0x1f,version=1",
                "--arm-context", f"type=aarch64-el1,regs=@{tmp_path / 'el1.bin'}",
                "--arm-context", "type=8,version=2,regs=aabb",
                "--context-align", "1", "--validation-bits", "0x5", "--mpidr", "0x81000100",
                "--affinity-level", "2", "--midr", "0x411fd0c0", "--running-state", "0",
                "--psci-state", "0x10")
    length = 40 + 2 * 32 + (8 + 16) + (8 + 2)
    assert sec[:40] == struct.pack("<IHHIB3xQQII", 0x5, 2, 2, length, 2, 0x81000100, 0x411FD0C0, 0, 0x10)
    # entry 1: the scenario's error info (data access, generic read, level 1), flags first,
    # the given PA: validation bits flags, error info, PA
    assert sec[40:72] == struct.pack("<BBHBHBQQQ", 0, 32, 0x16, 0x02, 0, 0x1, 0x450017, 0, 0x1000)
    assert sec[72:104] == struct.pack("<BBHBHBQQQ", 1, 32, 0x1F, 0x14, 3, 0x0A, 0x12, 0x2000, 0)
    assert sec[104:128] == struct.pack("<HHI", 0, 5, 16) + regs
    assert sec[128:138] == struct.pack("<HHI", 2, 8, 2) + b"\xaa\xbb"
    assert len(sec) == length


def test_arm_one_entry_options_fill_what_an_entry_leaves_out(cli_run, tmp_path):
    sec = build(cli_run, tmp_path, "arm-tlb", "--arm-type", "bus", "--error-info", "0x99",
                "--virt-address", "0x7000", "--address", "0x60002000", "--multiple-error", "1",
                "--arm-info", "flags=0", "--arm-info", "type=cache,flags=none")
    assert struct.unpack_from("<HH", sec, 4) == (2, 0)
    assert sec[40:72] == struct.pack("<BBHBHBQQQ", 0, 32, 0x1F, 0x08, 1, 0, 0x99, 0x7000, 0x60002000)
    assert sec[72:104] == struct.pack("<BBHBHBQQQ", 0, 32, 0x1D, 0x02, 1, 0, 0x99, 0x7000, 0x60002000)


def test_arm_context_default_alignment_pads_to_16(cli_run, tmp_path):
    sec = build(cli_run, tmp_path, "arm-cache-ue", "--arm-context", "type=aarch64-gpr,regs=0102030405")
    # 8-byte header + 5 register bytes, zero-padded to 16 (UEFI N.2.4.4)
    assert struct.unpack_from("<HHI", sec, 4) == (1, 1, 40 + 32 + 16)
    assert sec[72:88] == struct.pack("<HHI", 0, 4, 5) + bytes.fromhex("0102030405") + bytes(3)


def test_arm_contexts_in_the_kernel_words(cli_run):
    rc, out, err = cli_run("inject", "arm-tlb", "--arm-context", "type=aarch64-el2,regs=" + "11" * 8,
                           "--arm-info", "type=tlb", "--arm-info", "type=bus,pa=none",
                           "--json", "--journal", "none")
    assert rc == 0, err
    log = json.loads(out)["os_log"]
    assert P + "Error info structure 1:" in log and P + "Error info structure 0:" in log
    assert any(line.endswith("register context type: AArch64 EL2 context registers") for line in log)


def test_pcie_every_field(cli_run, tmp_path):
    aer = bytes((k * 7) & 0xFF for k in range(96))
    (tmp_path / "aer.bin").write_bytes(aer)
    cap = bytes.fromhex("10004200") + bytes(range(1, 21))
    sec = build(cli_run, tmp_path, "pcie-ue", "--port-type", "4", "--pcie-version", "5.2",
                "--pci-command", "0x0547", "--pci-status", "0x4010", "--vendor-id", "0x1234",
                "--device-id", "0x5678", "--class-code", "0x060400", "--bdf", "0012:34:1f.7",
                "--secondary-bus", "0x35", "--slot", "0x0038", "--serial", "0x1122334455667788",
                "--bridge-status", "0x2000", "--bridge-control", "0x0003", "--capability", cap.hex(),
                "--aer-info", f"@{tmp_path / 'aer.bin'}", "--aer-cor-status", "0x40",
                "--validation-bits", "0xfb")
    assert len(sec) == 208
    assert struct.unpack_from("<QIBB2xHH", sec, 0) == (0xFB, 4, 2, 5, 0x0547, 0x4010)
    assert sec[24:40] == struct.pack("<HH", 0x1234, 0x5678) + (0x060400).to_bytes(3, "little") + \
        struct.pack("<BBHBBHx", 7, 0x1F, 0x12, 0x34, 0x35, 0x38)
    assert struct.unpack_from("<IIHH", sec, 40) == (0x55667788, 0x11223344, 0x2000, 0x0003)
    assert sec[52:112] == cap.ljust(60, b"\0")
    assert sec[112:208] == aer[:16] + struct.pack("<I", 0x40) + aer[20:]


@pytest.mark.parametrize("kind, at", [("pcie-ue", 31), ("cxl-protocol", 16), ("pci-device", 23)])
def test_device_and_function_numbers_a_bdf_cannot_name(cli_run, tmp_path, kind, at):
    # function then device, one byte each, at the section's offsets (UEFI N.2.7, CXL 3.x, N.2.13)
    sec = build(cli_run, tmp_path, kind, "--bdf", "02:05:1f.7", "--device-number", "0x3f",
                "--function-number", "0xff")
    assert sec[at:at + 2] == bytes((0xFF, 0x3F))
    sec = build(cli_run, tmp_path, kind, "--bdf", "02:05:1f.7", "--function-number", "9")
    assert sec[at:at + 2] == bytes((9, 0x1F))            # the device from --bdf


def test_pcie_bridge_and_capability_set_their_validation_bits(cli_run, tmp_path):
    plain = build(cli_run, tmp_path, "pcie-ce")
    assert struct.unpack_from("<Q", plain)[0] == 0x8F        # port, version, command, device id, AER
    sec = build(cli_run, tmp_path, "pcie-ce", "--bridge-control", "0x40", "--capability", "01")
    assert struct.unpack_from("<Q", sec)[0] == 0x8F | 0x20 | 0x40
    assert struct.unpack_from("<HH", sec, 48) == (0, 0x40) and sec[52:54] == b"\x01\x00"


def test_processor_generic_every_field(cli_run, tmp_path):
    sec = build(cli_run, tmp_path, "generic-cpu", "--proc-type", "ia32-x64", "--proc-isa", "x64",
                "--proc-error-type", "tlb,bus", "--operation", "instruction", "--proc-flags",
                "precise-ip,overflow", "--level", "3", "--cpu-version", "0x50654", "--cpu-brand",
                "Neoverse N2", "--proc-id", "0x80000101", "--address", "0x8000", "--requestor-id",
                "0x11", "--responder-id", "0x22", "--ip", "0xffff800010001000")
    assert len(sec) == 192
    assert struct.unpack_from("<QBBBBBB2xQ", sec) == (0x1FFF, 0, 2, 0x06, 3, 0x06, 3, 0x50654)
    assert sec[24:152] == b"Neoverse N2".ljust(128, b"\0")
    assert struct.unpack_from("<5Q", sec, 152) == (0x80000101, 0x8000, 0x11, 0x22, 0xFFFF800010001000)
    masked = build(cli_run, tmp_path, "generic-cpu", "--validation-bits", "0x3")
    assert struct.unpack_from("<Q", masked)[0] == 0x3


def test_processor_generic_in_the_kernel_words(cli_run):
    rc, out, err = cli_run("inject", "generic-cpu", "--proc-error-type", "bus", "--operation", "data-write",
                           "--requestor-id", "0x42", "--json", "--journal", "none")
    assert rc == 0, err
    log = json.loads(out)["os_log"]
    assert P + "operation: 2, data write" in log and P + "bus error" in log
    assert P + "requestor_id: 0x0000000000000042" in log


def test_firmware_reference_fields(cli_run, tmp_path):
    g = "3e6e6a1c-57a7-4ba3-9e1a-2a4b6d7f8091"
    sec = build(cli_run, tmp_path, "firmware-ref", "--ref-type", "soc-type1", "--ref-revision", "2",
                "--ref-id", "0x1122334455667788", "--ref-guid", g, "--ref-trailing", "c0ffee")
    assert sec == struct.pack("<BB6xQ", 1, 2, 0x1122334455667788) + uuid.UUID(g).bytes_le + b"\xc0\xff\xee"
    default = build(cli_run, tmp_path, "firmware-ref")
    assert default == struct.pack("<BB6xQ", 2, 2, 0) + bytes(16)


def test_firmware_reference_scenario_on_sim(cli_run):
    rc, out, err = cli_run("inject", "firmware-ref", "--ref-type", "0", "--ref-revision", "0",
                           "--ref-id", "0xabcdef", "--json", "--journal", "none")
    assert rc == 0, err
    log = json.loads(out)["os_log"]
    i = log.index(P + "section_type: Firmware Error Record Reference")
    assert log[i + 1:i + 4] == [P + "Firmware Error Record Type: IPF SAL Error Record", P + "Revision: 0",
                                P + "Record Identifier: 00abcdef"]


@pytest.mark.parametrize("kind, value, spans", [
    ("arm-tlb", "0xabcdef", [(13, "efcdab")]),
    ("pcie-ce", "0x11223344556677", [(14, "7766"), (20, "55443322"), (39, "11")]),
    ("generic-cpu", "0xbeef", [(14, "efbe")]),
    ("firmware-ref", "0x010203040506", [(2, "060504030201")]),
])
def test_section_reserved_bytes(cli_run, tmp_path, kind, value, spans):
    plain = build(cli_run, tmp_path, kind)
    sec = build(cli_run, tmp_path, kind, "--section-reserved", value)
    want = bytearray(plain)
    for off, hexbytes in spans:
        assert plain[off:off + len(hexbytes) // 2] == bytes(len(hexbytes) // 2)
        want[off:off + len(hexbytes) // 2] = bytes.fromhex(hexbytes)
    assert sec == bytes(want)


def test_memory_reserved_bits_of_the_extended_byte(cli_run, tmp_path):
    sec = build(cli_run, tmp_path, "memory-ue", "--section-reserved", "5", "--chip-id", "3")
    assert sec[73] == 3 << 5 | 5 << 2          # chip id bits 7:5, reserved bits 4:2


@pytest.mark.parametrize("argv, message", [
    (["memory-ue", "--section-reserved", "8"], "--section-reserved: 8 is outside 0 .. 0x7"),
    (["arm-tlb", "--section-reserved", "0x1000000"], "--section-reserved: 0x1000000 is outside 0 .. 0xffffff"),
    (["generic-cpu", "--section-reserved", "0x10000"], "--section-reserved: 0x10000 is outside 0 .. 0xffff"),
    (["arm-tlb", "--arm-info", "type=cache,foo=1"], "--arm-info: entry 1: unknown key 'foo'"),
    (["arm-tlb", "--arm-info", "type=cache;pa"], "--arm-info: entry 2: 'pa' is not KEY=VALUE"),
    (["arm-tlb", "--arm-info", "multiple-error=0x10000"],
     "--arm-info: entry 1: multiple-error: 0x10000 is outside 0 .. 0xffff"),
    (["arm-tlb", "--arm-info", "type=cache+l2"], "--arm-info: entry 1: type: unknown type 'l2'"),
    (["arm-tlb", "--arm-info", "flags=first+later"], "--arm-info: entry 1: flags: unknown flag 'later'"),
    (["arm-tlb", "--arm-context", "regs=00"], "--arm-context: block 1: needs type="),
    (["arm-tlb", "--arm-context", "type=el9,regs=00"],
     "--arm-context: block 1: type: unknown register context type 'el9'"),
    (["arm-tlb", "--arm-context", "type=4,regs=0g"], "--arm-context: block 1: regs: must be hex bytes"),
    (["arm-tlb", "--context-align", "8"], "--context-align: must be 16 or 1"),
    (["arm-tlb", "--validation-bits", "0x100000000"], "--validation-bits: 0x100000000 is outside 0 .. 0xffffffff"),
    (["pcie-ue", "--pcie-version", "3"], "--pcie-version: '3' is not MAJOR.MINOR"),
    (["pcie-ue", "--pcie-version", "3.256"], "--pcie-version: 256 is outside 0 .. 0xff"),
    (["pcie-ue", "--pci-command", "0x10000"], "--pci-command: 0x10000 is outside 0 .. 0xffff"),
    (["pcie-ue", "--secondary-bus", "256"], "--secondary-bus: 256 is outside 0 .. 0xff"),
    (["pcie-ue", "--slot", "0x10000"], "--slot: 0x10000 is outside 0 .. 0xffff"),
    (["pcie-ue", "--bridge-status", "-1"], "--bridge-status: -1 is outside 0 .. 0xffff"),
    (["pcie-ue", "--bridge-control", "x"], "--bridge-control: 'x' is not a number"),
    (["pcie-ue", "--aer-info", "00" * 97], "--aer-info: is 97 bytes; the field holds 96"),
    (["pcie-ue", "--capability", "00" * 61], "--capability: is 61 bytes; the field holds 60"),
    (["pcie-ue", "--class-code", "0x1000000"], "--class-code: 0x1000000 is outside 0 .. 0xffffff"),
    (["generic-cpu", "--proc-type", "riscv"], "--proc-type: unknown processor type 'riscv'"),
    (["generic-cpu", "--proc-isa", "0x100"], "--proc-isa: unknown ISA '0x100'"),
    (["generic-cpu", "--proc-error-type", "cache,l3"], "--proc-error-type: unknown error type 'l3'"),
    (["generic-cpu", "--operation", "prefetch"], "--operation: unknown operation 'prefetch'"),
    (["generic-cpu", "--proc-flags", "fatal"], "--proc-flags: unknown flag 'fatal'"),
    (["generic-cpu", "--level", "256"], "--level: 256 is outside 0 .. 0xff"),
    (["generic-cpu", "--cpu-brand", "x" * 129], "--cpu-brand: is 129 bytes; the field holds at most 128"),
    (["generic-cpu", "--proc-id", "0x1" + "0" * 16], "--proc-id: 0x10000000000000000 is outside"),
    (["firmware-ref", "--ref-type", "crashlog"], "--ref-type: unknown record type 'crashlog'"),
    (["firmware-ref", "--ref-revision", "256"], "--ref-revision: 256 is outside 0 .. 0xff"),
    (["firmware-ref", "--ref-guid", "nope"], "--ref-guid: 'nope' is not a GUID"),
    (["firmware-ref", "--ref-id", "-1"], "--ref-id: -1 is outside"),
    (["firmware-ref", "--ref-trailing", "zz"], "--ref-trailing: must be hex bytes"),
    (["pcie-ue", "--device-number", "256"], "--device-number: 256 is outside 0 .. 0xff"),
    (["pci-device", "--function-number", "x"], "--function-number: 'x' is not a number"),
    (["memory-ue", "--function-number", "1"], "--function-number: does not apply to memory-ue"),
    (["cxl-protocol", "--agent-type", "rch-dp", "--device-number", "1"],
     "--device-number: an rch-dp agent is named by its RCRB address (--rcrb), not a bus/device/function"),
    (["pcie-ue", "--arm-info", "type=cache"], "--arm-info: does not apply to pcie-ue"),
    (["arm-tlb", "--slot", "1"], "--slot: does not apply to arm-tlb"),
    (["memory-ue", "--cpu-brand", "x"], "--cpu-brand: does not apply to memory-ue"),
    (["generic-cpu", "--ref-id", "1"], "--ref-id: does not apply to generic-cpu"),
])
def test_bad_values_are_one_line(cli_run, argv, message):
    rc, out, err = cli_run("record", "build", *argv)
    assert rc == 2 and message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_help_lists_the_new_options(cli_run, capsys):
    try:
        out = cli_run("record", "build", "--help")[1]
    except SystemExit:
        out = capsys.readouterr().out
    for flag in ("--arm-info", "--arm-context", "--context-align", "--validation-bits", "--pcie-version",
                 "--pci-command", "--bridge-control", "--aer-info", "--proc-isa", "--cpu-brand",
                 "--ref-guid", "--ref-trailing"):
        assert flag in out
    assert "processor generic error section (generic-cpu)" in out


def test_campaign_step_takes_the_new_fields(cli_run, tmp_path):
    (tmp_path / "gpr.bin").write_bytes(bytes(range(32)))
    f = tmp_path / "c.toml"
    f.write_text(f"""
[[step]]
scenario = "arm-cache-ue"
count = 2
[step.fields]
arm_info = "type=cache,pa=0x60003000;type=tlb,pa=none,flags=last"
arm_context = "type=aarch64-gpr,regs=@{tmp_path / 'gpr.bin'}"
midr = 0x410fd0c0

[[step]]
scenario = "firmware-ref"
fields = {{ ref_revision = 0, ref_id = 0x1234, ref_type = "soc-type1" }}
""")
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("campaign", "run", str(f), "--journal", str(j))
    assert rc == 0, err + out
    recs = [json.loads(line) for line in j.read_text().splitlines()]
    finals = [r for r in recs if r.get("state") == "consumed"]
    assert [r["scenario"] for r in finals] == ["arm-cache-ue", "arm-cache-ue", "firmware-ref"]
    arm = bytes.fromhex(finals[0]["record"])[SEC:]
    # the 40-byte context block zero-padded to 48 (the default 16-byte alignment)
    assert struct.unpack_from("<IHHI", arm) == (0x7, 2, 1, 40 + 64 + 48)
    assert struct.unpack_from("<Q", arm, 24)[0] == 0x410FD0C0
    assert arm[40:72] == struct.pack("<BBHBHBQQQ", 0, 32, 0x16, 0x02, 0, 1, 0x450017, 0, 0x60003000)
    assert arm[72:104] == struct.pack("<BBHBHBQQQ", 0, 32, 0x06, 0x04, 0, 2, 0x450017, 0, 0)
    assert arm[104:] == struct.pack("<HHI", 0, 4, 32) + bytes(range(32)) + bytes(8)
    ref = bytes.fromhex(finals[2]["record"])[SEC:]
    assert ref == struct.pack("<BB6xQ", 1, 0, 0x1234) + bytes(16)


def test_campaign_entries_as_a_list_of_text_and_sweeps_of_new_numbers(cli_run, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[[step]]\nscenario = "pcie-ce"\ncount = 2\n'
                 'fields = { slot = [0x8, 0x10], bridge_control = "0x1:0x3:0x1" }\n'
                 '[[step]]\nscenario = "arm-tlb"\n'
                 'fields = { arm_info = ["type=tlb", "type=bus,pa=none", "type=cache,va=0x10"] }\n')
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("campaign", "run", str(f), "--journal", str(j))
    assert rc == 0, err + out
    finals = [json.loads(x) for x in j.read_text().splitlines() if '"consumed"' in x]
    pcie = [bytes.fromhex(r["record"])[SEC:] for r in finals[:2]]
    assert [struct.unpack_from("<H", r, 37)[0] for r in pcie] == [0x8, 0x10]
    assert [struct.unpack_from("<HH", r, 48) for r in pcie] == [(0, 1), (0, 2)]
    arm = bytes.fromhex(finals[2]["record"])[SEC:]
    assert struct.unpack_from("<H", arm, 4)[0] == 3
    assert [arm[40 + 32 * k + 4] for k in range(3)] == [0x04, 0x08, 0x02]
    assert finals[2]["fields"]["arm_info"] == "type=tlb;type=bus,pa=none;type=cache,va=0x10"


def test_campaign_check_names_the_step_and_field(cli_run, tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text('[[step]]\nscenario = "arm-tlb"\nfields = { arm_info = "type=cache,pa=1;type=dram" }\n')
    rc, _o, err = cli_run("campaign", "check", str(f))
    assert rc == 2 and "step 1 (arm-tlb): arm-info: entry 2: type: unknown type 'dram'" in err, err


def test_a_daemon_gets_the_files_read_here(cli_run, tmp_path, sim_daemon, monkeypatch):
    # a relative @FILE inside an entry: the daemon runs elsewhere, so the client reads it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "el3.bin").write_bytes(bytes(range(100, 116)))
    rc, out, err = cli_run("--json", "inject", "arm-cache-ue", "--arm-context", "type=aarch64-el3,regs=@el3.bin",
                           "--arm-info", "type=bus,pa=none", "--timestamp", "none")
    assert rc == 0, err
    assert json.loads(out)["via"] == "daemon"
    line = [json.loads(x) for x in sim_daemon.read_text().splitlines() if '"consumed"' in x][-1]
    assert line["fields"]["arm_context"] == "type=aarch64-el3,regs=" + bytes(range(100, 116)).hex()
    sec = bytes.fromhex(line["record"])[SEC:]
    assert sec[72:96] == struct.pack("<HHI", 0, 7, 16) + bytes(range(100, 116))
