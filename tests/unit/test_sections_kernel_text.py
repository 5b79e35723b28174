"""The kernel's wording for the newer section kinds, per kernel profile, and what GHES does
with them (the sim OS model's ghes_do_proc lines).

Expected lines are written from the kernel sources, not from fwemu's printer:
  * drivers/firmware/efi/cper_cxl.c `cper_print_prot_err()` (abdbf1a25daf + 2fb6999dd06f,
    v6.2; the v6.15 rename to cxl_cper_print_prot_err() prints the same): every field is
    `pr_info("%s <field>", pfx)` with pfx the section prefix, so one space more than the
    `section_type:` line; the hex dumps are `print_hex_dump(pfx, "", DUMP_PREFIX_OFFSET,
    16, 4, ..., 0)` (no ASCII column);
  * drivers/firmware/efi/cper.c `cper_estatus_print_section()`: an unknown GUID prints
    `section type: unknown, %pUl`, `section length: %#x` and a hex dump with ASCII;
  * drivers/acpi/apei/ghes.c `cxl_cper_post_event()` (5e4a264bf8b5, v6.10) and
    ghes_helpers.c `cxl_cper_sec_prot_err_valid()` (mainline) for the GHES-side checks.
"""

from __future__ import annotations

import pytest

from fwemu.records import kernel_profile
from fwemu.records import sections as S
from fwemu.records.kernel_text import format_estatus
from fwemu.records.model import Entry, RawSection, StatusBlock

P = "{1}[Hardware Error]:   "          # the section prefix (entry prefix + one space)
HEAD = ["{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{1}[Hardware Error]: event severity: recoverable",
        "{1}[Hardware Error]:  Error 0, type: recoverable"]


def printed(sec, profile: str) -> list[str]:
    out = format_estatus(StatusBlock([Entry(sec)]), 0, profile=kernel_profile.get(profile))
    assert out[:3] == HEAD
    return out[3:]


def ras(**kw) -> bytes:
    return S.RasCapability(**kw).to_bytes()


FULL = S.CxlProtocolSection(
    agent_type=2, agent_segment=1, agent_bus=2, agent_device=3, agent_function=4,
    vendor_id=0x8086, device_id=0x0D93, subsystem_vendor_id=0x1234, subsystem_id=0x5678,
    class_code=0x0502, slot=5 << 3, serial_number=0x1122334455667788, capability=bytes(range(60)),
    dvsec=bytes.fromhex("deadbeef"),
    error_log=ras(uncor_status=0x80, uncor_severity=0x62030, cor_mask=0x7F, cap_control=7,
                  header_log=bytes(range(0x40, 0x80))))

FULL_LINES = [
    P + "section_type: CXL Protocol Error",
    P + " agent_type: 2, CXL Device",
    P + " agent_address: 0001:02:03.4",
    P + " slot: 5",
    P + " vendor_id: 0x8086, device_id: 0x0d93",
    P + " sub_vendor_id: 0x1234, sub_device_id: 0x5678",
    P + " class_code: 0502",
    P + " lower_dw: 0x55667788, upper_dw: 0x11223344",
    P + "00000000: 03020100 07060504 0b0a0908 0f0e0d0c",
    P + "00000010: 13121110 17161514 1b1a1918 1f1e1d1c",
    P + "00000020: 23222120 27262524 2b2a2928 2f2e2d2c",
    P + "00000030: 33323130 37363534 3b3a3938",
    P + " DVSEC length: 0x0004",
    P + " CXL DVSEC:",
    P + "00000000: efbeadde",
    P + " Error log length: 0x0058",
    P + " CXL Error Log:",
    P + " cxl_ras_uncor_status: 0x00000080",
    P + " cxl_ras_uncor_mask: 0x00000000",
    P + " cxl_ras_uncor_severity: 0x00062030",
    P + " cxl_ras_cor_status: 0x00000000",
    P + " cxl_ras_cor_mask: 0x0000007f",
    P + " cap_control: 0x00000007",
    P + " Header Log Registers:",
    P + "00000000: 43424140 47464544 4b4a4948 4f4e4d4c",
    P + "00000010: 53525150 57565554 5b5a5958 5f5e5d5c",
    P + "00000020: 63626160 67666564 6b6a6968 6f6e6d6c",
    P + "00000030: 73727170 77767574 7b7a7978 7f7e7d7c",
]


@pytest.mark.parametrize("profile", ["6.6", "6.12", "6.14", "mainline"])
def test_cxl_protocol_every_field(profile):
    assert printed(FULL, profile) == FULL_LINES


def test_cxl_protocol_is_unknown_to_6_1():
    out = printed(FULL, "6.1")
    assert out[:2] == [P + "section type: unknown, 80b9efb4-52b5-4de3-a777-68784b771048",
                       P + "section length: 0xd0"]
    assert out[2] == P + "00000000: 0000007f 00000000 00000002 00000000  ................"
    assert len(out) == 2 + 13       # 208 bytes: 13 rows


def test_cxl_protocol_rch_downstream_port():
    """An RCH downstream port: the RCRB address; device id, serial and capability are
    printed only for the S:B:D.F agent types (serial: CXL devices only)."""
    sec = S.CxlProtocolSection(agent_type=1, rcrb_base_address=0xFED00000, vendor_id=1,
                               serial_number=2, capability=bytes(60))
    assert printed(sec, "6.6") == [P + "section_type: CXL Protocol Error",
                                   P + " agent_type: 1, Restricted CXL Host Downstream Port",
                                   P + " rcrb_base_address: 0x00000000fed00000"]


def test_cxl_protocol_root_port_prints_no_serial():
    sec = S.CxlProtocolSection(agent_type=5, agent_bus=0x0C, serial_number=7)
    assert printed(sec, "6.6") == [P + "section_type: CXL Protocol Error",
                                   P + " agent_type: 5, CXL Root Port",
                                   P + " agent_address: 0000:0c:00.0"]


def test_cxl_protocol_unknown_agent_type():
    sec = S.CxlProtocolSection(agent_type=9, agent_bus=1, vendor_id=1)
    assert printed(sec, "6.12") == [P + "section_type: CXL Protocol Error",
                                    P + " agent_type: 9, unknown"]


def test_cxl_protocol_too_short_for_the_kernel():
    sec = RawSection(guid=S.cxl_protocol.GUID, data=bytes(100))
    assert printed(sec, "6.6") == [P + "section_type: CXL Protocol Error",
                                   "[Firmware Warn]: error section length is too small"]


PCI_BUS = S.PciBusSection(error_status=0x41000, error_type=6, segment=2, bus=3, bus_address=0x60000000,
                          bus_data=0xDEADBEEF, bus_command=1 << 56 | 6, requestor_id=7, completer_id=8,
                          target_id=9)


@pytest.mark.parametrize("profile", ["6.1", "6.6", "6.12", "6.14", "mainline"])
def test_pci_bus_is_an_unknown_section_everywhere(profile):
    assert printed(PCI_BUS, profile) == [
        P + "section type: unknown, c5753963-3b84-4095-bf78-eddad3f9c9dd",
        P + "section length: 0x48",
        P + "00000000: 000001ff 00000000 00041000 00000000  ................",
        P + "00000010: 02030006 00000000 60000000 00000000  ...........`....",
        P + "00000020: deadbeef 00000000 00000006 01000000  ................",
        P + "00000030: 00000007 00000000 00000008 00000000  ................",
        P + "00000040: 00000009 00000000                    ........",
    ]


@pytest.mark.parametrize("profile", ["6.1", "6.12", "mainline"])
@pytest.mark.parametrize("sec, guid, length", [
    (S.CxlGeneralMediaSection(), "fbcd0a77-c260-417f-85a9-088b1621eba6", "0x90"),
    (S.CxlDramSection(), "601dcbb3-9c06-4eab-b8af-4e9bfb5c9624", "0x90"),
    (S.CxlMemoryModuleSection(), "fe927475-dd59-4339-a586-79bab113b774", "0x90"),
    (S.PciDeviceSection(vendor_id=1), "eb5e4685-ca66-4769-b6a2-26068b001326", "0x28"),
    (S.X86ProcessorSection(), "dc3ea0b0-a144-4797-b95b-53fa242b6e1d", "0x80"),
    (S.NvidiaSection(signature="HSS-IDLE"), "6d5244f2-2712-11ec-bea7-cb3fdb95c786", "0x20"),
], ids=["gen-media", "dram", "mem-module", "pci-device", "x86", "nvidia"])
def test_no_kernel_prints_these(profile, sec, guid, length):
    out = printed(sec, profile)
    assert out[:2] == [P + f"section type: unknown, {guid}", P + f"section length: {length}"]


def test_cxl_event_hex_dump_starts_with_its_header():
    """The first row is what Jonathan Cameron's report of the unknown-section print shows
    for a QEMU general media event (54ce1927eb78's commit message): length 0x90, bits 0-2,
    vendor 0x8086, device 0x0d93."""
    sec = S.CxlGeneralMediaSection(vendor_id=0x8086, device_id=0x0D93, segment=0, bus=0, device=0,
                                   function=0, slot=0, serial_number=0)
    assert printed(sec, "6.12")[2] == P + "00000000: 00000090 00000007 00000000 0d938086  ................"


# ---- GHES (ghes_do_proc) ----------------------------------------------------------------------

def ghes(sec, profile: str) -> list[str]:
    body = sec.encode() if not isinstance(sec, bytes) else sec
    guid = S.cxl_protocol.GUID if isinstance(sec, bytes) else sec.GUID
    return S.ghes_proc(guid.bytes_le, body, len(body), 0, kernel_profile.get(profile))


NON_STANDARD = "not a standard section for this kernel"
PROT_OK = S.CxlProtocolSection(agent_type=2, agent_bus=1, serial_number=1, error_log=ras())


@pytest.mark.parametrize("profile", ["6.1", "6.6", "6.12", "6.14"])
def test_cxl_protocol_before_6_15_is_non_standard(profile):
    lines = ghes(PROT_OK, profile)
    assert len(lines) == 1 and lines[0].startswith("[sim] ") and NON_STANDARD in lines[0]


@pytest.mark.parametrize("kw, first", [
    ({}, None),
    ({"explicit_validation_bits": 0x49}, "CXL CPER invalid agent type"),           # no bit 1
    ({"error_log": None}, "CXL CPER invalid protocol error log"),
    ({"error_log": ras()[:64]}, "CXL CPER invalid RAS Cap size (64)"),
    ({"serial_number": None}, "[Firmware Warn]: CXL CPER no device serial number"),
    ({"serial_number": None, "agent_type": 5}, None),       # a root port has no serial number
])
def test_cxl_protocol_mainline_checks(kw, first):
    sec = S.CxlProtocolSection(**{**dict(agent_type=2, agent_bus=1, serial_number=1,
                                         error_log=ras()), **kw})
    lines = ghes(sec, "mainline")
    if first is None:
        assert len(lines) == 1 and "no CXL driver registered" in lines[0]
    else:
        assert lines[0] == first
    if first and first.startswith("[Firmware Warn]"):       # a warning: still queued
        assert "no CXL driver registered" in lines[1]


EVENT_KINDS = [S.CxlGeneralMediaSection, S.CxlDramSection, S.CxlMemoryModuleSection]


@pytest.mark.parametrize("cls", EVENT_KINDS)
def test_cxl_events_before_6_10_are_non_standard(cls):
    for profile in ("6.1", "6.6"):
        lines = ghes(cls(), profile)
        assert len(lines) == 1 and NON_STANDARD in lines[0]


@pytest.mark.parametrize("cls", EVENT_KINDS)
@pytest.mark.parametrize("kw, line", [
    ({}, None),
    ({"length": 32}, "[Firmware Warn]: CXL CPER Invalid section length (32)"),
    ({"length": 145}, "[Firmware Warn]: CXL CPER Invalid section length (145)"),
    ({"trailing": b"\0"}, "[Firmware Warn]: CXL CPER Invalid section length (145)"),
    ({"length": 33}, None),
    ({"explicit_validation_bits": 0x3}, "[Firmware Warn]: CXL CPER invalid event"),
])
def test_cxl_events_from_6_10(cls, kw, line):
    for profile in ("6.12", "6.14", "mainline"):
        lines = ghes(cls(**kw), profile)
        if line is None:
            assert len(lines) == 1 and lines[0].startswith("[sim] ") and "no CXL driver" in lines[0]
        else:
            assert lines == [line]


@pytest.mark.parametrize("sec", [S.PciBusSection(), S.PciDeviceSection(), S.X86ProcessorSection(),
                                 S.NvidiaSection()], ids=["pci-bus", "pci-device", "x86", "nvidia"])
def test_pci_x86_nvidia_are_non_standard_everywhere(sec):
    for profile in kernel_profile.names():
        lines = ghes(sec, profile)
        assert len(lines) == 1 and NON_STANDARD in lines[0]
