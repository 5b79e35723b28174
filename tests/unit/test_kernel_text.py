"""kernel_text: the status block as Linux 6.1.192 prints it, asserted line for line.

Expected lines come from the verbatim kernel output in shared/reference/qemu-linux.md (§5,
§7) or were written by hand from the kernel's format strings (cper.c, cper-arm.c, ghes.c)."""

import struct
import uuid

import pytest

from fwemu.records.kernel_text import arm_error_type_names, format_estatus, severity_name
from fwemu.records.model import (
    ArmContext, ArmErrorInfo, ArmSection, Entry, FirmwareRefSection, MemorySection, PcieSection,
    ProcessorGenericSection, RawSection, StatusBlock, Timestamp,
)

ARM_GUID = "E19E3D16-BC11-11E4-9CAA-C2051D5D46B0"
MEM_GUID = "A5BC1114-6F64-4EDE-B863-3E83ED7C83B1"


def lines(*entries, source=0, seq=1, **kw):
    return format_estatus(StatusBlock(list(entries)), source, seq, **kw)


def P(seq=1):
    return f"{{{seq}}}[Hardware Error]: "


# ---- (1) qemu-linux.md §5: recoverable memory error, PA 0x60000000 -------------------------

def test_memory_recoverable_matches_observed_kernel_output():
    assert lines(Entry(MemorySection(physical_address=0x60000000, error_type=0))) == [
        "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{1}[Hardware Error]: event severity: recoverable",
        "{1}[Hardware Error]:  Error 0, type: recoverable",
        "{1}[Hardware Error]:   section_type: memory error",
        "{1}[Hardware Error]:   physical_address: 0x0000000060000000",
        "{1}[Hardware Error]:   error_type: 0, unknown",
    ]


# ---- (2) qemu-linux.md §7(b): ARM cache error --------------------------------------------

def test_arm_cache_error_matches_observed_kernel_output():
    sec = ArmSection(mpidr=0x80000000, affinity_level=0, running_state=1, midr=0xF0510,
                     error_info=[ArmErrorInfo(type=0x02, flags=1, error_info=0x450017,
                                              physical_fault_addr=0x60001000)])
    assert lines(Entry(sec), seq=2) == [
        "{2}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{2}[Hardware Error]: event severity: recoverable",
        "{2}[Hardware Error]:  Error 0, type: recoverable",
        "{2}[Hardware Error]:   section_type: ARM processor error",
        "{2}[Hardware Error]:   MIDR: 0x00000000000f0510",
        "{2}[Hardware Error]:   Multiprocessor Affinity Register (MPIDR): 0x0000000080000000",
        "{2}[Hardware Error]:   error affinity level: 0",
        "{2}[Hardware Error]:   running state: 0x1",
        "{2}[Hardware Error]:   Power State Coordination Interface state: 0",
        "{2}[Hardware Error]:   Error info structure 0:",
        "{2}[Hardware Error]:   num errors: 1",
        "{2}[Hardware Error]:    first error captured",
        "{2}[Hardware Error]:    error_type: 0x02: cache error",
        "{2}[Hardware Error]:    error_info: 0x0000000000450017",
        "{2}[Hardware Error]:     transaction type: Data Access",
        "{2}[Hardware Error]:     cache error, operation type: Generic read (type of instruction"
        " or data request cannot be determined)",
        "{2}[Hardware Error]:     cache level: 1",
        "{2}[Hardware Error]:     the error has not been corrected",
        "{2}[Hardware Error]:    physical fault address: 0x0000000060001000",
    ]


def test_arm_type_zero_prints_empty_name_and_no_decode():
    sec = ArmSection(error_info=[ArmErrorInfo(type=0, error_info=0x450017)], midr=1)
    assert lines(Entry(sec))[4:] == [
        "{1}[Hardware Error]:   MIDR: 0x0000000000000001",
        "{1}[Hardware Error]:   Error info structure 0:",
        "{1}[Hardware Error]:   num errors: 1",
        "{1}[Hardware Error]:    error_type: 0x00: ",
        "{1}[Hardware Error]:    error_info: 0x0000000000450017",
        "{1}[Hardware Error]:     transaction type: Data Access",
        "{1}[Hardware Error]:     the error has not been corrected",
    ]


def test_arm_bus_error_full_decode_contexts_and_vendor_bytes():
    info = (0xFFF | 2 << 16 | 4 << 18 | 2 << 22 | 1 << 25 | 1 << 26 | 1 << 28 | 1 << 29 | 1 << 31
            | 3 << 32 | 0x1A5 << 34 | 1 << 43)
    sec = ArmSection(
        midr=0x410FD0C1,
        error_info=[ArmErrorInfo(type=0x08, multiple_error=2, flags=0x0E, error_info=info,
                                 virt_fault_addr=0xFFFF12340000),
                    ArmErrorInfo(type=0x14, error_info=0x450017),
                    ArmErrorInfo(type=0x03)],
        context=[ArmContext(type=5, registers=(0x0123456789ABCDEF).to_bytes(8, "little")),
                 ArmContext(type=0, registers=bytes([1, 2, 3, 4, 5, 6]))],
        vendor=b"VEND\x00\x01", context_align=1)   # back to back: the layout 6.1 reads
    p3, p4, p5 = P() + "  ", P() + "   ", P() + "    "
    assert lines(Entry(sec))[4:] == [
        p3 + "MIDR: 0x00000000410fd0c1",
        p3 + "Error info structure 0:",
        p3 + "num errors: 3",
        p4 + "last error captured",
        p4 + "propagated error captured",
        p4 + "overflow occurred, error info is incomplete",
        p4 + "error_type: 0x08: bus error",
        p4 + "error_info: 0x00000e97b6920fff",
        p5 + "transaction type: Generic",
        p5 + "bus error, operation type: Data write",
        p5 + "affinity level at which the bus error occurred: 2",
        p5 + "processor context corrupted",
        p5 + "the error has been corrected",
        p5 + "PC is imprecise",
        p5 + "Program execution can be restarted reliably at the PC associated with the error.",
        p5 + "participation type: Local processor responded to request",
        p5 + "request timed out",
        p5 + "address space: Device Memory Access",
        p5 + "memory access attributes:0x1a5",
        p5 + "access mode: normal",
        p4 + "virtual fault address: 0x0000ffff12340000",
        p3 + "Error info structure 1:",
        p3 + "num errors: 1",
        p4 + "error_type: 0x14: TLB error|micro-architectural error",
        p4 + "error_info: 0x0000000000450017",
        p3 + "Error info structure 2:",
        p3 + "num errors: 1",
        p4 + "error_type: 0x03: cache error with reserved bit(s)",
        p3 + "Context info structure 0:",
        p4 + "register context type: AArch64 EL1 context registers",
        p4 + "00000000: 89abcdef 01234567",
        p3 + "Context info structure 1:",
        p4 + "register context type: AArch32 general purpose registers",
        p4 + "00000000: 01 02 03 04 05 06",
        p3 + "Vendor specific error info has 6 bytes:",
        p4 + "00000000: 56 45 4e 44 00 01" + " " * 32 + "VEND..",
    ]
    assert info == 0x00000E97B6920FFF


def test_arm_invalid_context_type_stops_before_vendor_bytes():
    sec = ArmSection(context=[ArmContext(type=9, registers=b"")], vendor=b"x")
    assert lines(Entry(sec))[-2:] == [
        "{1}[Hardware Error]:   Context info structure 0:",
        "{1}[Hardware Error]:    Invalid context type: 9 (max: 8)",
    ]


def test_arm_section_length_too_small_for_its_error_info_count():
    header = struct.pack("<IHHIB3xQQII", 0, 1, 0, 40, 0, 0, 0x10, 0, 0)
    assert lines(Entry(RawSection(guid=ARM_GUID, data=header)))[3:] == [
        "{1}[Hardware Error]:   section_type: ARM processor error",
        "{1}[Hardware Error]:   MIDR: 0x0000000000000010",
        "{1}[Hardware Error]:   section length: 40",
        "{1}[Hardware Error]:   section length is too small",
        "{1}[Hardware Error]:   firmware-generated error record is incorrect",
        "{1}[Hardware Error]:   ERR_INFO_NUM is 1",
    ]
    assert lines(Entry(RawSection(guid=ARM_GUID, data=header[:39])))[3:] == [
        "{1}[Hardware Error]:   section_type: ARM processor error",
        "[Firmware Warn]: error section length is too small",
    ]


# ---- (3) corrected memory --------------------------------------------------------------

def test_memory_corrected_adds_the_corrected_line():
    e = Entry(MemorySection(physical_address=0x60002000, error_type=2), severity="corrected")
    assert lines(e, source=1, seq=4) == [
        "{4}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1",
        "{4}[Hardware Error]: It has been corrected by h/w and requires no further action",
        "{4}[Hardware Error]: event severity: corrected",
        "{4}[Hardware Error]:  Error 0, type: corrected",
        "{4}[Hardware Error]:   section_type: memory error",
        "{4}[Hardware Error]:   physical_address: 0x0000000060002000",
        "{4}[Hardware Error]:   error_type: 2, single-bit ECC",
    ]


# ---- (4) memory with every field, plus the GDE header fields ---------------------------------

FULL_MEM = dict(
    error_status=0x0400, physical_address=0x123456000, physical_address_mask=0xFFFFFFFFFFFFF000,
    node=1, card=2, module=3, device=7, row=0x12345, column=9, bit_position=10,
    requestor_id=0x11, responder_id=0x22, target_id=0x33, error_type=3, rank=4, card_handle=0x10,
    module_handle=0x1234, chip_id=5)


def test_memory_every_field_and_entry_header_fields():
    e = Entry(MemorySection(bank_group=5, bank_address=6, **FULL_MEM),
              fru_id=uuid.UUID("12345678-9ABC-DEF0-1234-56789ABCDEF0"), fru_text=b"DIMM_A0",
              timestamp=Timestamp(2026, 3, 14, 15, 9, 26, precise=True))
    assert lines(e, source=3, seq=7) == [
        "{7}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 3",
        "{7}[Hardware Error]: event severity: recoverable",
        "{7}[Hardware Error]:  precise tstamp: 2026-03-14 15:09:26",
        "{7}[Hardware Error]:  Error 0, type: recoverable",
        "{7}[Hardware Error]:  fru_id: 12345678-9abc-def0-1234-56789abcdef0",
        "{7}[Hardware Error]:  fru_text: DIMM_A0",
        "{7}[Hardware Error]:   section_type: memory error",
        "{7}[Hardware Error]:    error_status: Storage error in DRAM memory (0x0000000000000400)",
        "{7}[Hardware Error]:   physical_address: 0x0000000123456000",
        "{7}[Hardware Error]:   physical_address_mask: 0xfffffffffffff000",
        "{7}[Hardware Error]:   node:1 card:2 module:3 rank:4 bank_group:5 bank_address:6 device:7 "
        "row:74565 column:9 bit_position:10 requestor_id:0x0000000000000011 "
        "responder_id:0x0000000000000022 target_id:0x0000000000000033 chip_id:5 ",
        "{7}[Hardware Error]:   error_type: 3, multi-bit ECC",
        "{7}[Hardware Error]:   DIMM location: not present. DMI handle: 0x1234 ",
    ]


def test_memory_plain_bank_resolved_dimm_and_imprecise_timestamp():
    e = Entry(MemorySection(bank=8, **{**FULL_MEM, "error_status": 0x1A00, "row": 3}),
              timestamp=Timestamp(1999, 12, 31, 23, 59, 58, precise=False), fru_text=b"A\x01B")
    out = lines(e, dimm_names={0x1234: ("BANK 0", "DIMM 0")})
    assert out[2:5] == ["{1}[Hardware Error]:  imprecise tstamp: 1999-12-31 23:59:58",
                        "{1}[Hardware Error]:  Error 0, type: recoverable",
                        "{1}[Hardware Error]:  fru_text: A\\x01B"]
    assert out[6] == ("{1}[Hardware Error]:    error_status: A read was issued to data that has "
                      "been poisoned (0x0000000000001a00)")
    assert out[9:] == [
        "{1}[Hardware Error]:   node:1 card:2 module:3 rank:4 bank:8 device:7 row:3 column:9 "
        "bit_position:10 requestor_id:0x0000000000000011 responder_id:0x0000000000000022 "
        "target_id:0x0000000000000033 chip_id:5 ",
        "{1}[Hardware Error]:   error_type: 3, multi-bit ECC",
        "{1}[Hardware Error]:   DIMM location: BANK 0 DIMM 0 ",
    ]


def test_memory_short_and_uefi_2_1_sized_sections():
    body = bytearray(73)
    body[0:8] = (0x4002).to_bytes(8, "little")
    body[16:24] = (0x60000000).to_bytes(8, "little")
    body[72] = 5
    assert lines(Entry(RawSection(guid=MEM_GUID, data=bytes(body))))[3:] == [
        "{1}[Hardware Error]:   section_type: memory error",
        "{1}[Hardware Error]:   physical_address: 0x0000000060000000",
        "{1}[Hardware Error]:   error_type: 5, multi-symbol chipkill ECC",
    ]
    body[0:8] = (0xC002).to_bytes(8, "little")  # RANK_NUMBER: beyond a 73-byte section
    assert lines(Entry(RawSection(guid=MEM_GUID, data=bytes(body))))[4:] == [
        "[Firmware Warn]: valid bits set for fields beyond structure"]
    assert lines(Entry(RawSection(guid=MEM_GUID, data=bytes(body[:72]))))[4:] == [
        "[Firmware Warn]: error section length is too small"]


# ---- (5) unknown section GUID: hex dump ------------------------------------------------------

def test_unknown_guid_hexdump():
    data = b"ABCDEFGHIJKLMNOP" + b"\x00\x01\x7f\xff" + b"xyz"
    e = Entry(RawSection(guid="61EC04FC-48E6-D813-25C9-8DAA44750B12", data=data), severity=3)
    assert lines(e) == [
        "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{1}[Hardware Error]: event severity: info",
        "{1}[Hardware Error]:  Error 0, type: info",
        "{1}[Hardware Error]:   section type: unknown, 61ec04fc-48e6-d813-25c9-8daa44750b12",
        "{1}[Hardware Error]:   section length: 0x17",
        "{1}[Hardware Error]:   00000000: 44434241 48474645 4c4b4a49 504f4e4d  ABCDEFGHIJKLMNOP",
        # 7 bytes: not a multiple of 4, so single bytes; ascii column at 16*2+16+1 = 49
        "{1}[Hardware Error]:   00000010: 00 01 7f ff 78 79 7a" + " " * 29 + "....xyz",
    ]


def test_unknown_guid_short_rows_and_empty_body():
    data = bytes(range(0x30, 0x48))  # 24 bytes: the short row stays in 4-byte groups
    out = lines(Entry(RawSection(guid="00000000-0000-0000-0000-000000000001", data=data)))
    assert out[3:] == [
        "{1}[Hardware Error]:   section type: unknown, 00000000-0000-0000-0000-000000000001",
        "{1}[Hardware Error]:   section length: 0x18",
        "{1}[Hardware Error]:   00000000: 33323130 37363534 3b3a3938 3f3e3d3c  0123456789:;<=>?",
        "{1}[Hardware Error]:   00000010: 43424140 47464544" + " " * 20 + "@ABCDEFG",
    ]
    out = lines(Entry(RawSection(guid="00000000-0000-0000-0000-000000000001", data=b"")))
    assert out[4:] == ["{1}[Hardware Error]:   section length: 0"]  # C's %#x of 0


# ---- (6) PCIe and processor generic -----------------------------------------------------

def _pcie(**kw):
    aer = bytearray(96)
    struct.pack_into("<4I", aer, 0, 0x15010001, 0x00100000, 0, 0x00062030)
    struct.pack_into("<4I", aer, 28, 0x4A000001, 0x0100000F, 0x12345678, 0x9ABCDEF0)
    return PcieSection(port_type=4, version_major=3, version_minor=0, command=0x0547,
                       status=0x4010, vendor_id=0x8086, device_id=0x1234, class_code=0x060400,
                       function=1, device=2, segment=0, bus=0x3A, secondary_bus=0x3B,
                       slot=5 << 3, serial_number=0x1_00ABCDEF, bridge_secondary_status=0x2000,
                       bridge_control=0x0003, aer_info=bytes(aer), **kw)


PCIE_LINES = [
    "{1}[Hardware Error]:   section_type: PCIe error",
    "{1}[Hardware Error]:   port_type: 4, root port",
    "{1}[Hardware Error]:   version: 3.0",
    "{1}[Hardware Error]:   command: 0x0547, status: 0x4010",
    "{1}[Hardware Error]:   device_id: 0000:3a:02.1",
    "{1}[Hardware Error]:   slot: 5",
    "{1}[Hardware Error]:   secondary_bus: 0x3b",
    "{1}[Hardware Error]:   vendor_id: 0x8086, device_id: 0x1234",
    "{1}[Hardware Error]:   class_code: 060400",
    "{1}[Hardware Error]:   serial number: 0xabcdef, 0x0001",
    "{1}[Hardware Error]:   bridge: secondary_status: 0x2000, control: 0x0003",
]


def test_pcie_fatal_prints_aer_registers():
    assert lines(Entry(_pcie(), severity="fatal")) == [
        "{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
        "{1}[Hardware Error]: event severity: fatal",
        "{1}[Hardware Error]:  Error 0, type: fatal",
        *PCIE_LINES,
        "{1}[Hardware Error]:   aer_uncor_status: 0x00100000, aer_uncor_mask: 0x00000000",
        "{1}[Hardware Error]:   aer_uncor_severity: 0x00062030",
        "{1}[Hardware Error]:   TLP Header: 4a000001 0100000f 12345678 9abcdef0",
    ]


def test_pcie_recoverable_has_no_aer_lines_and_unknown_port_type():
    assert lines(Entry(_pcie()))[3:] == PCIE_LINES
    sec = PcieSection(port_type=12)
    assert lines(Entry(sec))[3:] == ["{1}[Hardware Error]:   section_type: PCIe error",
                                     "{1}[Hardware Error]:   port_type: 12, unknown"]


def test_processor_generic_every_field_with_bit_lists():
    sec = ProcessorGenericSection(
        proc_type=2, proc_isa=4, proc_error_type=0x0F, operation=1, flags=0x09, level=2,
        cpu_version=0x410FD0C0, cpu_brand=b"Neoverse-N1", proc_id=0x80000001,
        target_addr=0x60002000, requestor_id=1, responder_id=2, ip=0xFFFF800008000000)
    assert lines(Entry(sec))[3:] == [
        "{1}[Hardware Error]:   section_type: general processor error",
        "{1}[Hardware Error]:   processor_type: 2, ARM",
        "{1}[Hardware Error]:   processor_isa: 4, ARM A64",
        "{1}[Hardware Error]:   error_type: 0x0f",
        # cper_print_bits wraps once prefix (+2 log-level bytes) and names pass 80 columns
        "{1}[Hardware Error]:   cache error, TLB error, bus error",
        "{1}[Hardware Error]:   micro-architectural error",
        "{1}[Hardware Error]:   operation: 1, data read",
        "{1}[Hardware Error]:   flags: 0x09",
        "{1}[Hardware Error]:   restartable, corrected",
        "{1}[Hardware Error]:   level: 2",
        "{1}[Hardware Error]:   version_info: 0x00000000410fd0c0",
        "{1}[Hardware Error]:   processor_id: 0x0000000080000001",
        "{1}[Hardware Error]:   target_address: 0x0000000060002000",
        "{1}[Hardware Error]:   requestor_id: 0x0000000000000001",
        "{1}[Hardware Error]:   responder_id: 0x0000000000000002",
        "{1}[Hardware Error]:   IP: 0xffff800008000000",
    ]


def test_processor_generic_unknown_values():
    sec = ProcessorGenericSection(proc_type=7, proc_isa=9, operation=4)
    assert lines(Entry(sec))[4:] == ["{1}[Hardware Error]:   processor_type: 7, unknown",
                                     "{1}[Hardware Error]:   processor_isa: 9, unknown",
                                     "{1}[Hardware Error]:   operation: 4, unknown"]


# ---- firmware error record reference, several entries, helper functions ------------------------

def test_firmware_record_reference_revisions():
    rev0 = FirmwareRefSection(record_type=1, revision=0, record_identifier=0xABC)
    assert lines(Entry(rev0))[3:] == [
        "{1}[Hardware Error]:   section_type: Firmware Error Record Reference",
        "{1}[Hardware Error]:   Firmware Error Record Type: SOC Firmware Error Record Type1 "
        "(Legacy CrashLog Support)",
        "{1}[Hardware Error]:   Revision: 0",
        "{1}[Hardware Error]:   Record Identifier: 00000abc",
        "{1}[Hardware Error]:   00000000: 00000000 00000000 00000000 00000000  ................",
    ]
    guid = uuid.UUID("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")
    rev2 = FirmwareRefSection(record_type=5, revision=2, record_identifier_guid=guid,
                              trailing=b"TAIL")
    assert lines(Entry(rev2))[4:] == [
        "{1}[Hardware Error]:   Firmware Error Record Type: unknown",
        "{1}[Hardware Error]:   Revision: 2",
        "{1}[Hardware Error]:   Record Identifier: 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        "{1}[Hardware Error]:   00000000: 4c494154" + " " * 29 + "TAIL",
    ]


def test_two_entries_are_numbered_and_block_severity_drives_the_header():
    blk = StatusBlock([Entry(MemorySection(physical_address=0x1000), severity="fatal"),
                       Entry(RawSection(guid=MEM_GUID, data=bytes(80)), severity=7)], severity=9)
    assert format_estatus(blk, 5, 12) == [
        "{12}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 5",
        "{12}[Hardware Error]: event severity: unknown",
        "{12}[Hardware Error]:  Error 0, type: fatal",
        "{12}[Hardware Error]:   section_type: memory error",
        "{12}[Hardware Error]:   physical_address: 0x0000000000001000",
        "{12}[Hardware Error]:  Error 1, type: unknown",
        "{12}[Hardware Error]:   section_type: memory error",
    ]


def test_arm_error_type_names():
    assert [arm_error_type_names(t) for t in (0x00, 0x02, 0x04, 0x08, 0x10, 0x14, 0x1E, 0x03,
                                              0x21)] == [
        "", "cache error", "TLB error", "bus error", "micro-architectural error",
        "TLB error|micro-architectural error",
        "cache error|TLB error|bus error|micro-architectural error",
        "cache error with reserved bit(s)", " with reserved bit(s)"]


def test_severity_name():
    assert [severity_name(s) for s in range(6)] == [
        "recoverable", "fatal", "corrected", "info", "unknown", "unknown"]


def test_decoded_block_prints_the_same_as_the_model_it_came_from():
    codec = __import__("pytest").importorskip("fwemu.records.codec")
    blk = StatusBlock([
        Entry(MemorySection(bank_group=5, bank_address=6, **FULL_MEM), fru_text=b"DIMM_A0",
              fru_id=uuid.UUID(int=7), timestamp=Timestamp(2026, 1, 2, 3, 4, 5)),
        Entry(ArmSection(midr=4, error_info=[ArmErrorInfo(type=8, error_info=0xFFF)],
                         context=[ArmContext(type=4, registers=bytes(range(13)))], vendor=b"v")),
        Entry(_pcie(), severity="fatal"), Entry(ProcessorGenericSection(proc_error_type=0xF)),
        Entry(FirmwareRefSection(revision=1, trailing=b"abc")),
        Entry(RawSection(guid=uuid.UUID(int=3), data=b"raw bytes"))])
    assert format_estatus(codec.decode(codec.encode(blk)), 0) == format_estatus(blk, 0)


# ---- combined ARM error types (UEFI 2.9A bitmap): the bus-only fields ------------------------

_BUS_INFO = (0x1 | 0x2 | 0x4 | 0x80 | 0x100 | 0x200 | 0x400 | 0x800 | 1 << 16 | 1 << 18 | 1 << 22
             | 1 << 31 | 3 << 32 | 0x1A5 << 34 | 1 << 43)
_BUS_ONLY = ("participation type:", "request timed out", "address space:",
             "memory access attributes:", "access mode:")


@pytest.mark.parametrize("etype", [0x0A, 0x0C, 0x0E, 0x09])
def test_combined_types_stop_before_the_bus_only_fields(etype):
    """cper_print_arm_err_info() prints the per-type operation and level lines for each bit,
    then returns unless the type is exactly CPER_ARM_BUS_ERROR (observed on 6.1.192 for 0x0a)."""
    sec = ArmSection(midr=1, error_info=[ArmErrorInfo(type=etype, error_info=_BUS_INFO)])
    out = lines(Entry(sec))
    assert P() + "    bus error, operation type: Generic read (type of instruction or data request " \
                 "cannot be determined)" in out
    assert P() + "    affinity level at which the bus error occurred: 1" in out
    assert not [ln for ln in out if any(ln.startswith(P() + "    " + b) for b in _BUS_ONLY)]


def test_bus_type_alone_prints_the_bus_only_fields():
    sec = ArmSection(midr=1, error_info=[ArmErrorInfo(type=0x08, error_info=_BUS_INFO)])
    assert lines(Entry(sec))[-5:] == [
        P() + "    participation type: Local processor originated request",
        P() + "    request timed out",
        P() + "    address space: Device Memory Access",
        P() + "    memory access attributes:0x1a5",
        P() + "    access mode: normal"]
