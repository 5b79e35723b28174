"""Pure-Python reference encoder for GHES error status blocks (tests only).

Written from shared/reference/cper-layouts.md alone, with `struct.pack`, so it is an
independent second implementation of what the C core (csrc/) does. It does not use the
model's `validation_bits` properties either: every validation bit is re-derived here from
the field tables of the layout document.

    oracle_encode(block: StatusBlock) -> bytes
"""

from __future__ import annotations

import struct
import uuid

from fwemu.records.model import (
    ArmSection, Entry, FirmwareRefSection, MemorySection, PcieSection, ProcessorGenericSection,
    RawSection, Section, StatusBlock,
)

__all__ = ["oracle_encode", "oracle_entry", "oracle_section", "GESB_LEN"]

GESB_LEN = 20  # cper-layouts.md §1

# ---------------------------------------------------------------------------------------
# §5 Platform memory error section — 80 bytes
# ---------------------------------------------------------------------------------------
# (model field, validation bit) straight from the §5 table.
_MEM_BITS = {
    "error_status": 0, "physical_address": 1, "physical_address_mask": 2, "node": 3,
    "card": 4, "module": 5, "bank": 6, "device": 7, "row": 8, "column": 9,
    "bit_position": 10, "requestor_id": 11, "responder_id": 12, "target_id": 13,
    "error_type": 14, "rank": 15, "card_handle": 16, "module_handle": 17,
    # 18 ROW_EXT: derived from row > 0xFFFF below
    "bank_group": 19, "bank_address": 20, "chip_id": 21,
}
_MEM_ROW_EXT = 18
_MEM_FMT = "<QQQQHHHHHHHHQQQBBHHH"
assert struct.calcsize(_MEM_FMT) == 80


def _v(x):
    return 0 if x is None else x


def _bits(s, derived: int) -> int:
    """A model's explicit validation bits (written as given) win over the derived ones."""
    return derived if s.explicit_validation_bits is None else s.explicit_validation_bits


def _put_reserved(body: bytes, spans, value: int) -> bytes:
    """Reserved bytes of a layout (cper-layouts.md: PCIe 14-15, 20-23, 39; processor
    generic 14-15; ARM 13-15; firmware-ref 2-7) as the model keeps them."""
    out = bytearray(body)
    for off, n in spans:
        out[off:off + n] = (value & ((1 << 8 * n) - 1)).to_bytes(n, "little")
        value >>= 8 * n
    return bytes(out)


def _memory(s: MemorySection) -> bytes:
    bits = 0
    for name, bit in _MEM_BITS.items():
        if getattr(s, name) is not None:
            bits |= 1 << bit
    row = _v(s.row)
    extended = 0
    if row > 0xFFFF:
        bits |= 1 << _MEM_ROW_EXT
        extended |= (row >> 16) & 0x3           # extended bits 0-1 = row bits 16-17
    if s.chip_id is not None:
        extended |= (s.chip_id & 0x7) << 5      # extended bits 5-7 = chip id
    extended |= (row >> 16) & 0x3               # row bits 16-17 are written even without ROW_EXT
    extended |= s.reserved << 2                 # bits 2-4 reserved
    bits = _bits(s, bits)
    if s.bank is not None:                      # (bank_group/address, if given, agree with it)
        bank = s.bank
    else:                                       # bank[15:8] group, bank[7:0] address
        bank = (_v(s.bank_group) << 8) | _v(s.bank_address)
    return struct.pack(
        _MEM_FMT, bits, _v(s.error_status), _v(s.physical_address),
        _v(s.physical_address_mask), _v(s.node), _v(s.card), _v(s.module), bank,
        _v(s.device), row & 0xFFFF, _v(s.column), _v(s.bit_position), _v(s.requestor_id),
        _v(s.responder_id), _v(s.target_id), _v(s.error_type), extended, _v(s.rank),
        _v(s.card_handle), _v(s.module_handle))


# ---------------------------------------------------------------------------------------
# §6 ARM processor error section
# ---------------------------------------------------------------------------------------
_ARM_HDR_FMT = "<IHHIB3xQQII"
_ARM_INFO_FMT = "<BBHBHBQQQ"
_ARM_CTX_FMT = "<HHI"
assert struct.calcsize(_ARM_HDR_FMT) == 40
assert struct.calcsize(_ARM_INFO_FMT) == 32
assert struct.calcsize(_ARM_CTX_FMT) == 8


def _arm(s: ArmSection) -> bytes:
    infos = b""
    for e in s.error_info:
        ibits = ((e.multiple_error is not None) << 0 | (e.flags is not None) << 1
                 | (e.error_info is not None) << 2 | (e.virt_fault_addr is not None) << 3
                 | (e.physical_fault_addr is not None) << 4)
        infos += struct.pack(_ARM_INFO_FMT, e.version, e.length, _bits(e, ibits), e.type,
                             _v(e.multiple_error), _v(e.flags), _v(e.error_info),
                             _v(e.virt_fault_addr), _v(e.physical_fault_addr))
    ctx = b""
    for c in s.context:
        blk = struct.pack(_ARM_CTX_FMT, c.version, c.type, len(c.registers)) + c.registers
        # §6 / UEFI N.2.4.4: each block padded with zeros to a multiple of 16 bytes
        # (context_align 1: back to back); explicit padding bytes are written as given
        if c.padding is not None:
            blk += c.padding
        elif s.context_align == 16:
            blk += bytes(-len(blk) % 16)
        ctx += blk
    vendor = bytes(s.vendor)
    bits = ((s.mpidr is not None) << 0 | (s.affinity_level is not None) << 1
            | (s.running_state is not None) << 2 | (len(vendor) > 0) << 3)
    section_length = 40 + len(infos) + len(ctx) + len(vendor)
    hdr = struct.pack(_ARM_HDR_FMT, _bits(s, bits), len(s.error_info), len(s.context),
                      section_length, _v(s.affinity_level), _v(s.mpidr), s.midr,
                      _v(s.running_state), s.psci_state)
    return _put_reserved(hdr, ((13, 3),), s.reserved) + infos + ctx + vendor


# ---------------------------------------------------------------------------------------
# §7 PCIe error section — 208 bytes
# ---------------------------------------------------------------------------------------
_PCIE_FMT = ("<Q"      # 0 validation_bits
             "I"       # 8 port_type
             "BB2x"    # 12 version minor, major, reserved
             "HH"      # 16 command, 18 status
             "4x"      # 20 reserved
             "HH3sBBHBBHx"  # 24 device id block (16 bytes)
             "Q"       # 40 serial number (lower u32, upper u32)
             "HH"      # 48 bridge secondary_status, control
             "60s"     # 52 capability structure
             "96s")    # 112 AER info
assert struct.calcsize(_PCIE_FMT) == 208

_PCIE_GROUP_KEYS = ("port_type", "version_major", "command", "vendor_id", "serial_number",
                    "bridge_secondary_status", "capability", "aer_info")  # bits 0..7


def _pcie(s: PcieSection) -> bytes:
    bits = sum(1 << i for i, k in enumerate(_PCIE_GROUP_KEYS) if getattr(s, k) is not None)
    return _put_reserved(struct.pack(
        _PCIE_FMT, _bits(s, bits), _v(s.port_type), _v(s.version_minor), _v(s.version_major),
        _v(s.command), _v(s.status), _v(s.vendor_id), _v(s.device_id),
        _v(s.class_code).to_bytes(3, "little"), _v(s.function), _v(s.device), _v(s.segment),
        _v(s.bus), _v(s.secondary_bus), _v(s.slot), _v(s.serial_number),
        _v(s.bridge_secondary_status), _v(s.bridge_control),
        (s.capability or b"").ljust(60, b"\0"), (s.aer_info or b"").ljust(96, b"\0")),
        ((14, 2), (20, 4), (39, 1)), s.reserved)


# ---------------------------------------------------------------------------------------
# §8 Processor generic error section — 192 bytes
# ---------------------------------------------------------------------------------------
_PROC_FMT = "<QBBBBBB2xQ128sQQQQQ"
assert struct.calcsize(_PROC_FMT) == 192
_PROC_ORDER = ("proc_type", "proc_isa", "proc_error_type", "operation", "flags", "level",
               "cpu_version", "cpu_brand", "proc_id", "target_addr", "requestor_id",
               "responder_id", "ip")  # validation bits 0..12


def _proc(s: ProcessorGenericSection) -> bytes:
    bits = sum(1 << i for i, k in enumerate(_PROC_ORDER) if getattr(s, k) is not None)
    return _put_reserved(struct.pack(
        _PROC_FMT, _bits(s, bits), _v(s.proc_type), _v(s.proc_isa), _v(s.proc_error_type),
        _v(s.operation), _v(s.flags), _v(s.level), _v(s.cpu_version),
        (s.cpu_brand or b"").ljust(128, b"\0"), _v(s.proc_id), _v(s.target_addr),
        _v(s.requestor_id), _v(s.responder_id), _v(s.ip)), ((14, 2),), s.reserved)


# ---------------------------------------------------------------------------------------
# §9 Firmware error record reference — 32 bytes + trailing
# ---------------------------------------------------------------------------------------
_FWREF_FMT = "<BB6xQ16s"
assert struct.calcsize(_FWREF_FMT) == 32


def _fwref(s: FirmwareRefSection) -> bytes:
    return _put_reserved(struct.pack(_FWREF_FMT, s.record_type, s.revision, s.record_identifier,
                                     s.record_identifier_guid.bytes_le), ((2, 6),),
                         s.reserved) + bytes(s.trailing)


# ---------------------------------------------------------------------------------------
# Known GUIDs (§4), to pick a section's type independently of the model class attributes
# ---------------------------------------------------------------------------------------
GUIDS = {
    MemorySection: uuid.UUID("A5BC1114-6F64-4EDE-B863-3E83ED7C83B1"),
    ArmSection: uuid.UUID("E19E3D16-BC11-11E4-9CAA-C2051D5D46B0"),
    PcieSection: uuid.UUID("D995E954-BBC1-430F-AD91-B44DCB3C6F35"),
    ProcessorGenericSection: uuid.UUID("9876CCAD-47B4-4BDB-B65E-16F193C4F3DB"),
    FirmwareRefSection: uuid.UUID("81212A96-09ED-4996-9471-8D729C8E69ED"),
}


def oracle_section(s: Section) -> tuple[uuid.UUID, bytes]:
    """(section type GUID, body bytes) of one section."""
    if isinstance(s, RawSection):
        return s.guid, bytes(s.data)
    body = {MemorySection: _memory, ArmSection: _arm, PcieSection: _pcie,
            ProcessorGenericSection: _proc, FirmwareRefSection: _fwref}[type(s)](s)
    return GUIDS[type(s)], body


# ---------------------------------------------------------------------------------------
# §2 Generic Error Data Entry — 64 bytes, 72 with revision >= 0x0300
# ---------------------------------------------------------------------------------------
_GDE_FMT = "<16sIHBBI16s20s"
assert struct.calcsize(_GDE_FMT) == 64


def oracle_entry(e: Entry) -> bytes:
    guid, body = oracle_section(e.section)
    bits = ((e.fru_id is not None) << 0 | (e.fru_text is not None) << 1
            | (e.timestamp is not None) << 2)
    length = len(body) if e.error_data_length is None else e.error_data_length
    hdr = struct.pack(_GDE_FMT, guid.bytes_le, int(e.severity), e.revision, _bits(e, bits), e.flags,
                      length, (e.fru_id or uuid.UUID(int=0)).bytes_le,
                      (e.fru_text or b"").ljust(20, b"\0"))
    if e.revision >> 8 >= 3:
        if e.timestamp is None:
            ts = 0
        elif isinstance(e.timestamp, int):      # raw wire bytes kept verbatim
            ts = e.timestamp
        else:                                   # BCD date (checked by hand in test_golden)
            ts = e.timestamp.to_u64()
        hdr += struct.pack("<Q", ts)
    return hdr + body


# ---------------------------------------------------------------------------------------
# §1 Generic Error Status Block
# ---------------------------------------------------------------------------------------

def oracle_encode(block: StatusBlock) -> bytes:
    """The status block's bytes: 20-byte header, the entries, then the raw data.

    Raw data sits right after the entries; `raw_data_offset` says so (20 + the entries'
    real length) unless the model overrides it, and is 0 without raw data. The
    `data_length` / `raw_data_offset` / `error_data_length` overrides change only the
    header fields, never where bytes are placed."""
    data = b"".join(oracle_entry(e) for e in block.entries)
    raw = bytes(block.raw_data)
    data_length = len(data) if block.data_length is None else block.data_length
    if block.raw_data_offset is not None:
        raw_off = block.raw_data_offset
    else:
        raw_off = GESB_LEN + len(data) if raw else 0
    hdr = struct.pack("<IIIII", block.block_status, raw_off, len(raw), data_length,
                      int(block.severity))
    return hdr + data + bytes(block.raw_gap) + raw
