"""The newer section kinds through the CLI: scenario injection on the sim board shows the
modelled kernel's lines (per --os-kernel), and `record build|decode` give the bytes and the
typed fields."""

from __future__ import annotations

import json

import pytest

P = "{1}[Hardware Error]:   "


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


@pytest.fixture
def fwemu(cli_run):
    return cli_run


def inject(fwemu, *argv) -> list[str]:
    rc, out, err = fwemu("inject", *argv, "--json", "--journal", "none")
    assert rc == 0, err
    return json.loads(out)["os_log"]


def test_cxl_protocol_on_6_1_is_an_unknown_section(fwemu):
    log = inject(fwemu, "cxl-protocol")                      # the default kernel: Debian 6.1
    assert P + "section type: unknown, 80b9efb4-52b5-4de3-a777-68784b771048" in log
    assert P + "section length: 0xcc" in log                  # 116 + 88-byte RAS capability
    assert log[-1].startswith("[sim] GHES: cxl-protocol section 80b9efb4-")


def test_cxl_protocol_from_6_2_is_printed(fwemu):
    log = inject(fwemu, "cxl-protocol", "--os-kernel", "6.6", "--bdf", "0002:0c:01.3",
                 "--ras-uncor-status", "0x400", "--serial", "0xabcdef0012345678")
    i = log.index(P + "section_type: CXL Protocol Error")
    assert log[i + 1:i + 4] == [P + " agent_type: 2, CXL Device", P + " agent_address: 0002:0c:01.3",
                                P + " slot: 0"]
    assert P + " lower_dw: 0x12345678, upper_dw: 0xabcdef00" in log
    assert P + " cxl_ras_uncor_status: 0x00000400" in log
    assert P + " cap_control: 0x0000000a" in log             # first error pointer: bit 10
    assert "not a standard section" in log[-1]                # GHES: not handled before v6.15


def test_cxl_protocol_on_mainline_goes_to_the_cxl_driver(fwemu):
    log = inject(fwemu, "cxl-protocol", "--os-kernel", "mainline", "--agent-type", "rch-dp",
                 "--rcrb", "0xfed00000")
    assert P + " rcrb_base_address: 0x00000000fed00000" in log
    assert log[-1] == ("[sim] GHES: CXL protocol error for the CXL driver's kfifo: no CXL driver "
                       "registered (cxl_cper_prot_err_work is NULL), dropped")


@pytest.mark.parametrize("kind, event", [("cxl-general-media", "general media"), ("cxl-dram", "DRAM"),
                                         ("cxl-memory-module", "memory module")])
def test_cxl_events_per_kernel(fwemu, kind, event):
    old = inject(fwemu, kind, "--os-kernel", "6.6")
    new = inject(fwemu, kind, "--os-kernel", "6.12")
    for log in (old, new):      # no kernel prints them
        assert any(line.startswith(P + "section type: unknown, ") for line in log)
        assert P + "section length: 0x90" in log
    assert any("not a standard section" in line for line in old)
    assert (f"[sim] GHES: CXL CPER {event} event for the CXL driver's kfifo: no CXL driver "
            "registered (cxl_cper_work is NULL), dropped") in new


def test_cxl_general_media_fields(fwemu):
    log = inject(fwemu, "cxl-general-media", "--dpa", "0x7000", "--channel", "3", "--rank", "1",
                 "--bdf", "0000:0d:00.0")
    # +64 DPA 0x7000; +72 descriptor 1 (uncorrectable), event type 0, transaction 1 (host
    # read), validity flags 0x0003 low byte; +76 its high byte, channel 3, rank 1, device 0
    assert P + "00000040: 00007000 00000000 03010001 00010300  .p.............." in log


def test_pci_bus_fields_in_the_hex_dump(fwemu):
    log = inject(fwemu, "pci-bus", "--bus", "5", "--segment", "1", "--error-type", "4",
                 "--address", "0x40001000")
    assert P + "section type: unknown, c5753963-3b84-4095-bf78-eddad3f9c9dd" in log
    assert P + "00000010: 01050004 00000000 40001000 00000000  ...........@...." in log


def test_x86_on_sea_sends_sigbus(fwemu):
    log = inject(fwemu, "x86-proc", "--source", "2")
    assert "GHES: sim-task:1000: synchronous unrecoverable error (SIGBUS)" in log
    assert P + "section type: unknown, dc3ea0b0-a144-4797-b95b-53fa242b6e1d" in log


def test_pci_device_registers(fwemu, tmp_path):
    out = tmp_path / "dev.bin"
    rc, _o, err = fwemu("record", "build", "pci-device", "--mem-regs", "0x10=0x20,0x30=0x40",
                        "--io-regs", "0xcf8=1", "-o", str(out))
    assert rc == 0, err
    rc, o, err = fwemu("record", "decode", str(out), "--json")
    assert rc == 0, err
    sec = json.loads(o)["record"]["entries"][0]["section"]
    assert sec["kind"] == "pci-device"
    assert (sec["memory_number"], sec["io_number"]) == (2, 1)
    assert sec["registers"] == [[0x10, 0x20], [0x30, 0x40], [0xCF8, 1]]


def test_record_decode_json_gives_typed_fields_and_builds_back(fwemu, tmp_path):
    out = tmp_path / "dram.bin"
    rc, _o, err = fwemu("record", "build", "cxl-dram", "--row", "0x12345", "--bank-group", "2",
                        "--bank", "7", "--column", "0x3ff", "--timestamp", "none", "-o", str(out))
    assert rc == 0, err
    rc, o, err = fwemu("record", "decode", str(out), "--json", "--kernel", "6.12")
    assert rc == 0, err
    doc = json.loads(o)
    sec = doc["record"]["entries"][0]["section"]
    assert sec["kind"] == "cxl-dram" and doc["kernel"] == "6.12"
    assert (sec["row"], sec["bank_group"], sec["bank"], sec["column"]) == (0x12345, 2, 7, 0x3FF)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(doc["record"]))
    rc, o, err = fwemu("record", "build", "cxl-dram", "--from-json", str(model), "--json")
    assert rc == 0, err
    assert bytes.fromhex(json.loads(o)["hex"]) == out.read_bytes()


@pytest.mark.parametrize("argv, message", [
    (["cxl-dram", "--row", "0x1000000"], "--row: 0x1000000 is outside 0 .. 0xffffff"),
    (["memory-ue", "--row", "0x40000"], "--row: 0x40000 is outside 0 .. 0x3ffff"),
    (["cxl-dram", "--bank", "0x100"], "--bank: 0x100 is outside 0 .. 0xff"),
    (["pci-bus", "--dpa", "1"], "--dpa: does not apply to pci-bus"),
    (["cxl-protocol", "--rcrb", "1"], "--rcrb: only an rch-dp agent"),
    (["cxl-protocol", "--agent-type", "gpu"], "--agent-type: unknown agent type 'gpu'"),
    (["pci-device", "--bdf", "0100:01:00.0"], "--bdf: segment 0x100 does not fit"),
    (["x86-proc", "--check-type", "cpu"], "--check-type: 'cpu': one of cache, tlb, bus, ms or a GUID"),
    (["pci-device", "--mem-regs", "0x10"], "--mem-regs: '0x10' is not ADDR=VALUE"),
    (["nvidia", "--signature", "A" * 17], "--signature: is 17 characters; the signature holds 16"),
    (["memory2", "--rank", "0x100000000"], "--rank: 0x100000000 is outside 0 .. 0xffffffff"),
    (["memory-ue", "--rank", "0x10000"], "--rank: 0x10000 is outside 0 .. 0xffff"),
    (["arm-ras", "--component-type", "dram"], "--component-type: unknown component type 'dram'"),
    (["arm-ras", "--pa-mask", "1"], "--pa-mask: does not apply to arm-ras"),
])
def test_field_option_errors(fwemu, argv, message):
    rc, _o, err = fwemu("record", "build", *argv)
    assert rc == 2 and message in err and "Traceback" not in err


def test_every_new_scenario_builds_a_valid_record(fwemu):
    from fwemu import scenarios
    for kind in scenarios.NEWER:
        rc, o, err = fwemu("record", "build", kind, "--json")
        assert rc == 0, err
        doc = json.loads(o)
        assert doc["verdict"]["valid"] and doc["record"]["entries"][0]["section"]["kind"] == kind


def test_nvidia_fields(fwemu, tmp_path):
    out = tmp_path / "nv.bin"
    rc, _o, err = fwemu("record", "build", "nvidia", "--signature", "HSS-IDLE", "--socket", "3",
                        "--regs", "0x4f10008=0x2019", "-o", str(out))
    assert rc == 0, err
    rc, o, err = fwemu("record", "decode", str(out), "--json", "--kernel", "mainline")
    assert rc == 0, err
    doc = json.loads(o)
    sec = doc["record"]["entries"][0]["section"]
    assert sec["kind"] == "nvidia" and bytes.fromhex(sec["signature"]).rstrip(b"\0") == b"HSS-IDLE"
    assert sec["socket"] == 3 and sec["registers"] == [[0x4F10008, 0x2019]]
    rc, o, err = fwemu("record", "decode", str(out), "--kernel", "mainline")
    assert rc == 0 and P + "section type: unknown, 6d5244f2-2712-11ec-bea7-cb3fdb95c786" in o.splitlines()


def test_memory2_over_sea_is_not_a_memory_failure(fwemu):
    """Linux knows only the memory error section's GUID: section 2 prints as unknown, never
    reaches memory_failure(), and on SEA the task gets its SIGBUS."""
    log = inject(fwemu, "memory2", "--address", "0x60002000")
    assert P + "section type: unknown, 61ec04fc-48e6-d813-25c9-8daa44750b12" in log
    assert P + "00000010: 60002000 00000000 00000000 00000000  . .`............" in log
    assert not any(line.startswith("Memory failure") for line in log)
    assert "GHES: sim-task:1000: synchronous unrecoverable error (SIGBUS)" in log


def test_arm_ras_build_and_decode(fwemu, tmp_path):
    out = tmp_path / "ras.bin"
    rc, _o, err = fwemu("record", "build", "arm-ras", "--component-type", "memory", "--user-data", "DMC0",
                        "--err-status", "0xc2000000", "-o", str(out))
    assert rc == 0, err
    rc, o, err = fwemu("record", "decode", str(out), "--json")
    assert rc == 0, err
    sec = json.loads(o)["record"]["entries"][0]["section"]
    assert sec["kind"] == "arm-ras" and sec["component_type"] == 1
    assert bytes.fromhex(sec["user_data"]).rstrip(b"\0") == b"DMC0"
    assert sec["error_syndromes"][0]["err_status"] == 0xC2000000
    rc, o, err = fwemu("record", "decode", str(out), "--kernel", "mainline")
    assert rc == 0 and P + "section type: unknown, bf32d4d5-b427-4025-8495-8a9e5d4030e4" in o.splitlines()


def test_a_sweep_is_held_to_the_scenarios_own_field_width(fwemu):
    """--chip-id is 3 bits in the memory section and 8 in section 2: a sweep past the
    scenario's width is refused before anything is posted."""
    rc, out, err = fwemu("inject", "memory-ue", "--count", "3", "--chip-id", "0:9:1", "--journal", "none")
    assert rc == 2 and "--chip-id: 9 is outside 0 .. 0x8" in err and "#1" not in out
    rc, out, err = fwemu("inject", "memory2", "--count", "3", "--chip-id", "250:253:1", "--json",
                         "--journal", "none")
    assert rc == 0, err
    doc = json.loads(out)
    assert [i["state"] for i in doc["injections"]] == ["consumed"] * 3
    assert [i["fields"]["chip_id"] for i in doc["injections"]] == ["0xfa", "0xfb", "0xfc"]
