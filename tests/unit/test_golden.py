"""Byte-exact golden vectors, worked out by hand from shared/reference/cper-layouts.md.

Every vector is written out field by field (offsets in the comments are from the start of
the status block, or `+n` from the start of the section body). Each test checks the same
bytes three ways: the pure-Python oracle (tests/oracle.py), the C core
(`fwemu.records.encode`), and the C decoder (`decode(golden) == model`).

Hex notation of `H()`: whitespace-separated bytes, `#` starts a comment, `00*16` is sixteen
zero bytes, `"text"` (no spaces inside) is its ASCII bytes.
"""

from __future__ import annotations

import re
import uuid

import pytest

from fwemu import records
from fwemu.records import (
    ArmContext, ArmErrorInfo, ArmSection, Entry, FirmwareRefSection, MemorySection, PcieSection,
    ProcessorGenericSection, RawSection, StatusBlock, Timestamp,
)
from oracle import oracle_encode


def H(text: str) -> bytes:
    out = bytearray()
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for tok in line.split():
            if tok.startswith('"') and tok.endswith('"'):
                out += tok[1:-1].encode("ascii")
            elif "*" in tok:
                byte, count = tok.split("*")
                out += bytes([int(byte, 16)]) * int(count)
            else:
                assert re.fullmatch(r"[0-9a-fA-F]{2}", tok), tok
                out.append(int(tok, 16))
    return bytes(out)


def first_difference(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at offset {i:#x}: expected {x:02x}, got {y:02x}"
    return f"lengths differ: expected {len(a)}, got {len(b)}"


def assert_golden(golden: bytes, model: StatusBlock):
    oracle = oracle_encode(model)
    assert oracle == golden, "oracle: " + first_difference(golden, oracle)
    core = records.encode(model)
    assert core == golden, "C core: " + first_difference(golden, core)
    assert records.decode(golden) == model
    assert records.check(golden).valid


# ---------------------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------------------

# Real bytes from QEMU (qemu-linux.md §6, "Reference payload"), rows as printed there;
# the rows the document elides ("00 …") are all zero.
QEMU_REFERENCE_ROWS = {
    0x00: "11 00 00 00 00 00 00 00 00 00 00 00 98 00 00 00",
    0x10: "00 00 00 00 14 11 bc a5 64 6f de 4e b8 63 3e 83",
    0x20: "ed 7c 83 b1 00 00 00 00 00 03 00 01 50 00 00 00",
    0x50: "00 00 00 00 00 00 00 00 00 00 00 00 02 40 00 00",
    0x60: "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 60",
}
QEMU_REFERENCE_LEN = 172

MEM_UE_PA_ONLY = H("""
    11 00 00 00      # 0x00 block_status 0x11: uncorrectable valid | 1 entry << 4
    00 00 00 00      # 0x04 raw_data_offset 0 (no raw data)
    00 00 00 00      # 0x08 raw_data_length 0
    98 00 00 00      # 0x0c data_length 152 = 72 (GDE v3) + 80 (memory)
    00 00 00 00      # 0x10 error_severity 0 recoverable
    14 11 bc a5 64 6f de 4e b8 63 3e 83 ed 7c 83 b1   # 0x14 section_type: memory GUID
    00 00 00 00      # 0x24 GDE error_severity recoverable
    00 03            # 0x28 revision 0x0300 (72-byte header)
    00               # 0x2a validation_bits: no FRU id / text / timestamp
    01               # 0x2b flags: primary
    50 00 00 00      # 0x2c error_data_length 80
    00*16            # 0x30 fru_id
    00*20            # 0x40 fru_text
    00*8             # 0x54 timestamp
    02 40 00 00 00 00 00 00   # 0x5c +0  validation 0x4002: PA | ERROR_TYPE
    00*8                      # 0x64 +8  error_status
    00 00 00 60 00 00 00 00   # 0x6c +16 physical_addr 0x60000000
    00*8                      # 0x74 +24 physical_addr_mask
    00*16                     # 0x7c +32 node card module bank device row column bit_pos
    00*24                     # 0x8c +48 requestor_id responder_id target_id
    00                        # 0xa4 +72 error_type 0 (unknown), valid
    00                        # 0xa5 +73 extended
    00*6                      # 0xa6 +74 rank, card handle, module handle
""")


def test_memory_ue_pa_only_matches_qemu_reference():
    model = StatusBlock([Entry(MemorySection(physical_address=0x60000000, error_type=0))])
    # the hand-made golden agrees with what QEMU really wrote
    assert len(MEM_UE_PA_ONLY) == QEMU_REFERENCE_LEN
    for off, row in QEMU_REFERENCE_ROWS.items():
        assert MEM_UE_PA_ONLY[off:off + 16] == H(row), hex(off)
    elided = set(range(QEMU_REFERENCE_LEN)) - {o + i for o in QEMU_REFERENCE_ROWS for i in range(16)}
    assert all(MEM_UE_PA_ONLY[i] == 0 for i in elided)
    assert_golden(MEM_UE_PA_ONLY, model)


MEM_ALL_BITS = H("""
    11 00 00 00      # 0x00 block_status 0x11
    00 00 00 00      # 0x04 raw_data_offset
    00 00 00 00      # 0x08 raw_data_length
    98 00 00 00      # 0x0c data_length 152
    01 00 00 00      # 0x10 error_severity 1 fatal (worst entry)
    14 11 bc a5 64 6f de 4e b8 63 3e 83 ed 7c 83 b1   # 0x14 section_type: memory
    01 00 00 00      # 0x24 GDE severity fatal
    00 03            # 0x28 revision 0x0300
    00               # 0x2a validation_bits
    01               # 0x2b flags primary
    50 00 00 00      # 0x2c error_data_length 80
    00*16 00*20 00*8 # 0x30 fru_id, fru_text, timestamp
    bf ff 3f 00 00 00 00 00   # +0  validation 0x3fffbf: bits 0-21 except 6 (BANK)
    00 04 00 00 00 00 00 00   # +8  error_status 0x400
    00 70 56 34 12 00 00 00   # +16 physical_addr 0x1234567000
    00 f0 ff ff ff ff 00 00   # +24 physical_addr_mask 0xfffffffff000
    01 01                     # +32 node 0x0101
    02 02                     # +34 card 0x0202
    03 03                     # +36 module 0x0303
    06 05                     # +38 bank: bank_group 5 << 8 | bank_address 6
    07 07                     # +40 device 0x0707
    88 88                     # +42 row bits 15:0 of 0x38888
    09 09                     # +44 column 0x0909
    0a 0a                     # +46 bit_pos 0x0a0a
    0b*8                      # +48 requestor_id 0x0b0b0b0b0b0b0b0b
    0c*8                      # +56 responder_id
    0d*8                      # +64 target_id
    03                        # +72 error_type 3 multi-bit ECC
    a3                        # +73 extended: chip id 5 << 5 | row bits 17:16 = 3
    0f 0f                     # +74 rank 0x0f0f
    10 10                     # +76 mem_array_handle (card handle) 0x1010
    12 12                     # +78 mem_dev_handle (module handle) 0x1212
""")


def test_memory_all_validation_bits_bank_group():
    """Every validation bit the model can set at once: bits 0-21 minus BANK (6), which
    excludes BANK_GROUP/BANK_ADDRESS (19/20) because they share the wire bank field.
    ROW_EXT (18) comes from row > 0xFFFF."""
    sec = MemorySection(
        error_status=0x400, physical_address=0x1234567000, physical_address_mask=0xFFFFFFFFF000,
        node=0x0101, card=0x0202, module=0x0303, bank_group=5, bank_address=6, device=0x0707,
        row=0x38888, column=0x0909, bit_position=0x0A0A, requestor_id=0x0B0B0B0B0B0B0B0B,
        responder_id=0x0C0C0C0C0C0C0C0C, target_id=0x0D0D0D0D0D0D0D0D, error_type=3,
        rank=0x0F0F, card_handle=0x1010, module_handle=0x1212, chip_id=5)
    assert sec.validation_bits == 0x3FFFBF
    assert_golden(MEM_ALL_BITS, StatusBlock([Entry(sec, severity=1)]))


MEM_ALL_BITS_BANK = H("""
    11 00 00 00 00 00 00 00 00 00 00 00 98 00 00 00 00 00 00 00   # GESB: 0x11, data 152, recoverable
    14 11 bc a5 64 6f de 4e b8 63 3e 83 ed 7c 83 b1   # 0x14 section_type: memory
    00 00 00 00 00 03 00 01 50 00 00 00              # 0x24 sev 0, rev 0x0300, valid 0, primary, len 80
    00*16 00*20 00*8                                 # 0x30 fru_id, fru_text, timestamp
    ff ff 23 00 00 00 00 00   # +0  validation 0x23ffff: bits 0-17 and 21 (no ROW_EXT, no 19/20)
    00 04 00 00 00 00 00 00   # +8  error_status 0x400
    00 70 56 34 12 00 00 00   # +16 physical_addr 0x1234567000
    00 f0 ff ff ff ff 00 00   # +24 physical_addr_mask
    01 01 02 02 03 03         # +32 node, card, module
    34 12                     # +38 bank 0x1234 (plain BANK)
    07 07                     # +40 device
    34 12                     # +42 row 0x1234 (fits 16 bits: ROW only)
    09 09 0a 0a               # +44 column, bit_pos
    0b*8 0c*8 0d*8            # +48 requestor, responder, target
    03                        # +72 error_type 3
    e0                        # +73 extended: chip id 7 << 5, no row bits
    0f 0f 10 10 12 12         # +74 rank, card handle, module handle
""")


def test_memory_all_validation_bits_plain_bank():
    sec = MemorySection(
        error_status=0x400, physical_address=0x1234567000, physical_address_mask=0xFFFFFFFFF000,
        node=0x0101, card=0x0202, module=0x0303, bank=0x1234, device=0x0707, row=0x1234,
        column=0x0909, bit_position=0x0A0A, requestor_id=0x0B0B0B0B0B0B0B0B,
        responder_id=0x0C0C0C0C0C0C0C0C, target_id=0x0D0D0D0D0D0D0D0D, error_type=3,
        rank=0x0F0F, card_handle=0x1010, module_handle=0x1212, chip_id=7)
    assert_golden(MEM_ALL_BITS_BANK, StatusBlock([Entry(sec)]))


# ---------------------------------------------------------------------------------------
# ARM
# ---------------------------------------------------------------------------------------

ARM_FULL = H("""
    11 00 00 00      # 0x00 block_status 0x11
    00 00 00 00      # 0x04 raw_data_offset
    00 00 00 00      # 0x08 raw_data_length
    14 01 00 00      # 0x0c data_length 276 = 72 + 204
    00 00 00 00      # 0x10 severity recoverable
    16 3d 9e e1 11 bc e4 11 9c aa c2 05 1d 5d 46 b0   # 0x14 section_type: ARM processor
    00 00 00 00      # 0x24 GDE severity
    00 03 00 01      # 0x28 revision 0x0300, validation 0, flags primary
    cc 00 00 00      # 0x2c error_data_length 204
    00*16 00*20 00*8 # 0x30 fru_id, fru_text, timestamp
    # ARM header at 0x5c
    0f 00 00 00               # +0  validation: MPIDR | affinity | running state | vendor info
    04 00                     # +4  err_info_num 4
    01 00                     # +6  context_info_num 1
    cc 00 00 00               # +8  section_length 204 = 40 + 4*32 + (8+16+8 padding) + 4
    01                        # +12 affinity_level 1
    00 00 00                  # +13 reserved
    00 01 00 80 00 00 00 00   # +16 mpidr 0x80000100
    c1 d0 0f 41 00 00 00 00   # +24 midr 0x410fd0c1
    01 00 00 00               # +32 running_state 1
    00 00 00 00               # +36 psci_state 0
    # error info 0 at +40: cache
    00 20                     # version 0, length 32
    16 00                     # validation 0x16: flags | error info | physical fault addr
    02                        # type 0x02 cache (UEFI 2.9A bitmap)
    00 00                     # multiple_error (not valid)
    01                        # flags: first
    17 00 45 00 00 00 00 00   # error_info 0x450017
    00*8                      # virt_fault_addr
    00 00 00 60 00 00 00 00   # physical_fault_addr 0x60000000
    # error info 1 at +72: TLB
    00 20
    09 00                     # validation 0x09: multiple error | virtual fault addr
    04                        # type 0x04 TLB
    01 00                     # multiple_error 1
    00                        # flags (not valid)
    00*8                      # error_info (not valid)
    00 50 34 12 00 00 ff ff   # virt_fault_addr 0xffff000012345000
    00*8                      # physical_fault_addr
    # error info 2 at +104: bus
    00 20
    06 00                     # validation 0x06: flags | error info
    08                        # type 0x08 bus
    00 00                     # multiple_error
    0a                        # flags: last | overflow
    03 02 00 80 01 00 00 00   # error_info 0x180000203
    00*8 00*8
    # error info 3 at +136: micro-architectural
    00 20
    1f 00                     # validation 0x1f: all five
    10                        # type 0x10 micro-architectural
    02 01                     # multiple_error 0x0102
    04                        # flags: propagated
    11 00 00 00 00 00 00 00   # error_info 0x11
    00 20 00 00 00 00 00 00   # virt_fault_addr 0x2000
    00 30 00 00 00 00 00 00   # physical_fault_addr 0x3000
    # context block at +168
    00 00                     # version 0
    05 00                     # register context type 5 (AArch64 EL1)
    10 00 00 00               # size 16
    00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f   # registers
    00*8                      # zeros: the block padded to a multiple of 16 (UEFI N.2.4.4)
    # vendor bytes at +200
    de ad be ef
""")


def test_arm_all_info_types_context_vendor():
    sec = ArmSection(
        error_info=[
            ArmErrorInfo(type=0x02, flags=1, error_info=0x450017, physical_fault_addr=0x60000000),
            ArmErrorInfo(type=0x04, multiple_error=1, virt_fault_addr=0xFFFF000012345000),
            ArmErrorInfo(type=0x08, flags=0x0A, error_info=0x180000203),
            ArmErrorInfo(type=0x10, multiple_error=0x0102, flags=0x04, error_info=0x11,
                         virt_fault_addr=0x2000, physical_fault_addr=0x3000),
        ],
        mpidr=0x80000100, affinity_level=1, running_state=1, psci_state=0, midr=0x410FD0C1,
        context=[ArmContext(type=5, registers=bytes(range(16)))], vendor=b"\xde\xad\xbe\xef")
    assert_golden(ARM_FULL, StatusBlock([Entry(sec)]))


ARM_QEMU_VARIANT = H("""
    11 00 00 00 00 00 00 00 00 00 00 00   # 0x00 block_status 0x11, no raw data
    90 00 00 00                           # 0x0c data_length 144 = 72 + 72
    00 00 00 00                           # 0x10 recoverable
    16 3d 9e e1 11 bc e4 11 9c aa c2 05 1d 5d 46 b0   # 0x14 ARM GUID
    00 00 00 00 00 03 00 01 48 00 00 00   # 0x24 sev 0, rev 0x0300, valid 0, primary, len 72
    00*16 00*20 00*8
    07 00 00 00               # +0  validation 7: MPIDR | affinity | running state
    01 00 00 00               # +4  err_info_num 1, context_info_num 0
    48 00 00 00               # +8  section_length 72
    00 00 00 00               # +12 affinity_level 0, reserved
    00 00 00 80 00 00 00 00   # +16 mpidr 0x80000000
    10 05 0f 00 00 00 00 00   # +24 midr 0xf0510
    01 00 00 00 00 00 00 00   # +32 running_state 1, psci_state 0
    00 20 16 00 02 00 00 01   # +40 info: version 0, len 32, valid 0x16, type cache, multi 0, flags first
    17 00 45 00 00 00 00 00   # +48 error_info 0x450017
    00*8                      # +56 virt_fault_addr
    00 00 00 60 00 00 00 00   # +64 physical_fault_addr 0x60000000
""")


def test_arm_qemu_variant():
    """The ARM record qemu-linux.md §6 describes (PA chosen as 0x60000000)."""
    sec = ArmSection(error_info=[ArmErrorInfo(type=0x02, flags=1, error_info=0x450017,
                                              physical_fault_addr=0x60000000)],
                     mpidr=0x80000000, affinity_level=0, running_state=1, midr=0xF0510)
    assert_golden(ARM_QEMU_VARIANT, StatusBlock([Entry(sec)]))


# ---------------------------------------------------------------------------------------
# PCIe
# ---------------------------------------------------------------------------------------

PCIE_ALL = H("""
    11 00 00 00      # 0x00 block_status 0x11
    00 00 00 00 00 00 00 00   # 0x04 raw_data_offset, raw_data_length
    18 01 00 00      # 0x0c data_length 280 = 72 + 208
    01 00 00 00      # 0x10 severity fatal
    54 e9 95 d9 c1 bb 0f 43 ad 91 b4 4d cb 3c 6f 35   # 0x14 section_type: PCIe
    01 00 00 00      # 0x24 GDE severity fatal
    00 03            # 0x28 revision 0x0300
    00               # 0x2a validation_bits
    05               # 0x2b flags: primary | reset
    d0 00 00 00      # 0x2c error_data_length 208
    00*16 00*20 00*8
    ff 00 00 00 00 00 00 00   # +0   validation 0xff: all 8 groups
    04 00 00 00               # +8   port_type 4 root port
    01 02 00 00               # +12  version: minor 1, major 2, reserved
    47 05                     # +16  command 0x0547
    10 40                     # +18  status 0x4010
    00 00 00 00               # +20  reserved
    b5 13                     # +24  vendor_id 0x13b5
    ef 0d                     # +26  device_id 0x0def
    00 04 06                  # +28  class_code 0x060400: prog-if 00, subclass 04, base 06
    01                        # +31  function 1
    02                        # +32  device 2
    03 00                     # +33  segment 3
    04                        # +35  bus 4
    05                        # +36  secondary_bus 5
    38 00                     # +37  slot 0x38 (slot number 7 in bits 15:3)
    00                        # +39  reserved
    77 66 55 44 33 22 11 00   # +40  serial: lower 0x44556677, upper 0x00112233
    00 20                     # +48  bridge secondary_status 0x2000
    03 00                     # +50  bridge control 0x0003
    10 00 42 00 00*56         # +52  capability (60): cap id 0x10, version 2 | root port << 4
    01 00 01 14               # +112 AER (96): ext cap header id 1, v1, next 0x140
    20 00 00 00               # +116 uncorrectable error status 0x20 (surprise down)
    00*88
""")


def test_pcie_all_groups():
    sec = PcieSection(
        port_type=4, version_major=2, version_minor=1, command=0x0547, status=0x4010,
        vendor_id=0x13B5, device_id=0x0DEF, class_code=0x060400, function=1, device=2,
        segment=3, bus=4, secondary_bus=5, slot=0x38, serial_number=0x0011223344556677,
        bridge_secondary_status=0x2000, bridge_control=0x0003,
        capability=bytes.fromhex("10004200"), aer_info=bytes.fromhex("0100011420000000"))
    assert sec.validation_bits == 0xFF
    assert_golden(PCIE_ALL, StatusBlock([Entry(sec, severity=1, flags=0x05)]))


# ---------------------------------------------------------------------------------------
# Processor generic (with a revision 0x0200, 64-byte GDE and a FRU text)
# ---------------------------------------------------------------------------------------

PROC_GENERIC = H("""
    11 00 00 00 00 00 00 00 00 00 00 00   # 0x00 block_status 0x11, no raw data
    00 01 00 00      # 0x0c data_length 256 = 64 (GDE v2) + 192
    00 00 00 00      # 0x10 recoverable
    ad cc 76 98 b4 47 db 4b b6 5e 16 f1 93 c4 f3 db   # 0x14 section_type: processor generic
    00 00 00 00      # 0x24 GDE severity
    00 02            # 0x28 revision 0x0200: 64-byte header, no timestamp
    02               # 0x2a validation_bits: FRU text
    01               # 0x2b flags primary
    c0 00 00 00      # 0x2c error_data_length 192
    00*16            # 0x30 fru_id
    "CPU0" 00*16     # 0x40 fru_text, NUL padded to 20
    # section at 0x54
    ff 1f 00 00 00 00 00 00   # +0   validation 0x1fff: bits 0-12
    02                        # +8   proc_type ARM
    04                        # +9   proc_isa ARM A64
    01                        # +10  proc_error_type cache
    01                        # +11  operation data read
    02                        # +12  flags precise IP
    01                        # +13  level 1
    00 00                     # +14  reserved
    c1 d0 0f 41 00 00 00 00   # +16  cpu_version 0x410fd0c1
    "ARM" 20 "Neoverse-N1" 00*113   # +24 cpu_brand (128)
    01 01 00 00 00 00 00 00   # +152 proc_id 0x101
    00 10 00 60 00 00 00 00   # +160 target_addr 0x60001000
    01 00 00 00 00 00 00 00   # +168 requestor_id 1
    02 00 00 00 00 00 00 00   # +176 responder_id 2
    34 12 00 10 00 80 ff ff   # +184 ip 0xffff800010001234
""")


def test_processor_generic_v2_header():
    sec = ProcessorGenericSection(
        proc_type=2, proc_isa=4, proc_error_type=0x01, operation=1, flags=0x02, level=1,
        cpu_version=0x410FD0C1, cpu_brand=b"ARM Neoverse-N1", proc_id=0x101,
        target_addr=0x60001000, requestor_id=1, responder_id=2, ip=0xFFFF800010001234)
    assert_golden(PROC_GENERIC, StatusBlock([Entry(sec, revision=0x0200, fru_text=b"CPU0")]))


# ---------------------------------------------------------------------------------------
# Firmware error record reference (informational block: CE bit)
# ---------------------------------------------------------------------------------------

FWREF = H("""
    12 00 00 00      # 0x00 block_status 0x12: correctable valid (info) | 1 entry
    00 00 00 00 00 00 00 00   # 0x04 raw_data_offset, raw_data_length
    6d 00 00 00      # 0x0c data_length 109 = 72 + 37
    03 00 00 00      # 0x10 severity 3 informational
    96 2a 21 81 ed 09 96 49 94 71 8d 72 9c 8e 69 ed   # 0x14 section_type: firmware error record ref
    03 00 00 00      # 0x24 GDE severity info
    00 03 00 01      # 0x28 revision 0x0300, validation 0, flags primary
    25 00 00 00      # 0x2c error_data_length 37 = 32 + 5 trailing
    00*16 00*20 00*8
    02                        # +0  record_type 2 (SOC type 2)
    02                        # +1  revision 2
    00*6                      # +2  reserved
    88 77 66 55 44 33 22 11   # +8  record_identifier 0x1122334455667788
    0d 0b 0a 0c 34 12 78 56 9a bc de f0 12 34 56 78   # +16 record_identifier_guid 0C0A0B0D-1234-5678-9ABC-DEF012345678
    01 02 03 04 05            # +32 trailing data
""")


def test_firmware_error_record_reference():
    sec = FirmwareRefSection(record_type=2, revision=2, record_identifier=0x1122334455667788,
                             record_identifier_guid=uuid.UUID("0C0A0B0D-1234-5678-9ABC-DEF012345678"),
                             trailing=b"\x01\x02\x03\x04\x05")
    assert_golden(FWREF, StatusBlock([Entry(sec, severity=3)]))


# ---------------------------------------------------------------------------------------
# Raw vendor section
# ---------------------------------------------------------------------------------------

RAW_VENDOR = H("""
    11 00 00 00 00 00 00 00 00 00 00 00   # 0x00 block_status 0x11, no raw data
    52 00 00 00      # 0x0c data_length 82 = 72 + 10
    00 00 00 00      # 0x10 recoverable
    fc 04 ec 61 e6 48 13 d8 25 c9 8d aa 44 75 0b 12   # 0x14 section_type: platform memory 2 (edk2)
    00 00 00 00      # 0x24 GDE severity
    00 03            # 0x28 revision
    00               # 0x2a validation
    20               # 0x2b flags: latent only (not primary)
    0a 00 00 00      # 0x2c error_data_length 10
    00*16 00*20 00*8
    "fwemu" 00 01 02 03 04    # body verbatim
""")


def test_raw_vendor_section():
    sec = RawSection(guid=uuid.UUID("61EC04FC-48E6-D813-25C9-8DAA44750B12"), data=b"fwemu\0\1\2\3\4")
    assert_golden(RAW_VENDOR, StatusBlock([Entry(sec, flags=0x20)]))


# ---------------------------------------------------------------------------------------
# Two entries and raw data
# ---------------------------------------------------------------------------------------

WITH_RAW_DATA = H("""
    25 00 00 00      # 0x00 block_status 0x25: UE | multiple UE | 2 entries << 4 (ACPI 6.5 Table 18.11)
    f8 00 00 00      # 0x04 raw_data_offset 248 = 20 + 228
    08 00 00 00      # 0x08 raw_data_length 8
    e4 00 00 00      # 0x0c data_length 228 = (72 + 80) + (72 + 4)
    00 00 00 00      # 0x10 recoverable
    # entry 0 at 0x14: memory
    14 11 bc a5 64 6f de 4e b8 63 3e 83 ed 7c 83 b1
    00 00 00 00 00 03 00 01 50 00 00 00   # sev 0, rev 0x0300, valid 0, primary, len 80
    00*16 00*20 00*8
    02 00 00 00 00 00 00 00   # +0  validation 0x2: PA
    00*8                      # +8  error_status
    00 00 00 80 00 00 00 00   # +16 physical_addr 0x80000000
    00*56                     # +24 rest
    # entry 1 at 0xac: vendor raw
    c3 d0 e1 f2 a5 b4 87 96 78 69 5a 4b 3c 2d 1e 0f   # F2E1D0C3-B4A5-9687-7869-5A4B3C2D1E0F
    00 00 00 00 00 03 00 00 04 00 00 00   # sev 0, rev 0x0300, valid 0, flags 0, len 4
    00*16 00*20 00*8
    01 02 03 04
    # raw data at 0xf8
    "RAWDATA!"
""")


def test_two_entries_with_raw_data():
    blk = StatusBlock(
        [Entry(MemorySection(physical_address=0x80000000)),
         Entry(RawSection(guid=uuid.UUID("F2E1D0C3-B4A5-9687-7869-5A4B3C2D1E0F"), data=b"\1\2\3\4"),
               flags=0)],
        raw_data=b"RAWDATA!")
    assert len(WITH_RAW_DATA) == 256
    assert_golden(WITH_RAW_DATA, blk)


# ---------------------------------------------------------------------------------------
# Corrected block with FRU id, FRU text and timestamp
# ---------------------------------------------------------------------------------------

CORRECTED = H("""
    12 00 00 00      # 0x00 block_status 0x12: correctable valid | 1 entry
    00 00 00 00 00 00 00 00   # 0x04 no raw data
    98 00 00 00      # 0x0c data_length 152
    02 00 00 00      # 0x10 severity 2 corrected
    14 11 bc a5 64 6f de 4e b8 63 3e 83 ed 7c 83 b1   # 0x14 memory
    02 00 00 00      # 0x24 GDE severity corrected
    00 03            # 0x28 revision 0x0300
    07               # 0x2a validation: FRU id | FRU text | timestamp
    09               # 0x2b flags: primary | error threshold exceeded
    50 00 00 00      # 0x2c error_data_length 80
    4b 3c 1d 2f 69 5a 88 47 9a ab bc cd de ef f0 01   # 0x30 fru_id 2F1D3C4B-5A69-4788-9AAB-BCCDDEEFF001
    "DIMM" 20 "A1" 00*13      # 0x40 fru_text "DIMM A1"
    53 26 09 01 14 03 25 20   # 0x54 timestamp: 53 s, 26 min, 09 h, precise, day 14, month 03, year 25, century 20
    0e 40 02 00 00 00 00 00   # +0  validation 0x2400e: PA | PA mask | node | error type | module handle
    00*8                      # +8  error_status
    00 10 00 80 00 00 00 00   # +16 physical_addr 0x80001000
    c0 ff ff ff ff ff ff ff   # +24 physical_addr_mask 0xffffffffffffffc0
    00 00                     # +32 node 0 (valid, value 0)
    00*14                     # +34 card .. bit_pos
    00*24                     # +48 requestor, responder, target
    02                        # +72 error_type 2 single-bit ECC
    00                        # +73 extended
    00 00 00 00               # +74 rank, card handle
    23 00                     # +78 module handle 0x23
""")


def test_corrected_with_fru_and_timestamp():
    e = Entry(MemorySection(physical_address=0x80001000, physical_address_mask=0xFFFFFFFFFFFFFFC0,
                            node=0, error_type=2, module_handle=0x23),
              severity=2, flags=0x09, fru_id=uuid.UUID("2F1D3C4B-5A69-4788-9AAB-BCCDDEEFF001"),
              fru_text=b"DIMM A1", timestamp=Timestamp(2025, 3, 14, 9, 26, 53, precise=True))
    blk = StatusBlock([e])
    assert blk.severity == 2 and blk.block_status == 0x12
    assert_golden(CORRECTED, blk)


@pytest.mark.parametrize("ts,wire", [
    (Timestamp(2025, 3, 14, 9, 26, 53), "53 26 09 01 14 03 25 20"),
    # imprecise, sequence 5 in flag bits 7:1 -> flags byte 0x0a
    (Timestamp(1999, 12, 31, 23, 59, 58, precise=False, sequence=5), "58 59 23 0a 31 12 99 19"),
    (Timestamp(0, 0, 0, 0, 0, 0, precise=True), "00 00 00 01 00 00 00 00"),
    (Timestamp(9999, 99, 99, 99, 99, 99, precise=True, sequence=127), "99 99 99 ff 99 99 99 99"),
])
def test_timestamp_bcd(ts, wire):
    """§2: byte 0 seconds, 1 minutes, 2 hours, 3 flags, 4 day, 5 month, 6 year, 7 century."""
    blk = StatusBlock([Entry(RawSection(guid=uuid.UUID(int=9)), timestamp=ts)])
    golden = H(f"""
        11 00 00 00 00 00 00 00 00 00 00 00 48 00 00 00 00 00 00 00  # UE, 1 entry, data 72, recoverable
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 09   # GUID 00000000-0000-0000-0000-000000000009
        00 00 00 00 00 03 04 01 00 00 00 00               # sev 0, rev 0x0300, valid: timestamp, primary, len 0
        00*16 00*20
        {wire}                                            # 0x54 timestamp
    """)
    assert_golden(golden, blk)


def test_empty_block():
    """No entries: data_length 0 is legal for Linux; severity defaults to info (CE bit)."""
    golden = H("02 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00  03 00 00 00")
    assert_golden(golden, StatusBlock())


ALL_GOLDEN = {
    "mem_ue_pa_only": MEM_UE_PA_ONLY, "mem_all_bits": MEM_ALL_BITS,
    "mem_all_bits_bank": MEM_ALL_BITS_BANK, "arm_full": ARM_FULL,
    "arm_qemu_variant": ARM_QEMU_VARIANT, "pcie_all": PCIE_ALL, "proc_generic": PROC_GENERIC,
    "fwref": FWREF, "raw_vendor": RAW_VENDOR, "with_raw_data": WITH_RAW_DATA,
    "corrected": CORRECTED,
}


@pytest.mark.parametrize("name", sorted(ALL_GOLDEN))
def test_golden_reencodes_after_decode(name):
    golden = ALL_GOLDEN[name]
    assert records.encode(records.decode(golden)) == golden
    v = records.check(golden)
    assert (v.valid, v.length, v.entries) == (True, len(golden), golden[0] >> 4)
