"""Model ⇄ bytes through the C core, and the kernel's verdict on any byte string."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._corelib import ffi, lib
from ..errors import CoreError, RecordError, UsageError
from . import model as m
from . import packer, sections
from .sections import arm, firmware_ref, memory, pcie, processor_generic

S = TypeVar("S", m.Section, m.Entry)   # what carries explicit_validation_bits

_BUF = 1 << 17  # an encoded block is at most 64 KiB + raw data; bigger is refused below


def _guid(g: uuid.UUID) -> dict[str, list[int]]:
    return {"b": list(g.bytes_le)}


def _uuid(g: Any) -> uuid.UUID:   # a cffi EFI_GUID-like struct
    return uuid.UUID(bytes_le=bytes(g.b))


def _rc(rc: int, what: str) -> int:
    if rc >= 0:
        return rc
    if rc == lib.FW_E_NOSPACE:
        raise UsageError(what, "record is larger than 64 KiB")
    raise CoreError(f"C core refused {what} (code {rc})")


def _z(v: int | None) -> int:
    return 0 if v is None else v


# ---- section bodies ------------------------------------------------------------------

def _mem_struct(s: memory.MemorySection) -> Any:
    bank = s.bank_word
    row = _z(s.row)
    return ffi.new("fw_mem_section *", {
        "validation_bits": s.validation_bits, "error_status": _z(s.error_status),
        "physical_addr": _z(s.physical_address), "physical_addr_mask": _z(s.physical_address_mask),
        "node": _z(s.node), "card": _z(s.card), "module": _z(s.module), "bank": bank,
        "device": _z(s.device), "row": row & 0xFFFF, "column": _z(s.column),
        "bit_pos": _z(s.bit_position), "requestor_id": _z(s.requestor_id),
        "responder_id": _z(s.responder_id), "target_id": _z(s.target_id),
        "error_type": _z(s.error_type),
        "extended": (row >> 16) | (s.reserved << 2) | (_z(s.chip_id) << 5),
        "rank": _z(s.rank), "mem_array_handle": _z(s.card_handle),
        "mem_dev_handle": _z(s.module_handle)})


def section_struct(s: m.Section) -> tuple[int, Any, list[Any]] | None:
    """The C core's field struct for a section of the older kinds: (FW_SEC_* kind, a
    pointer to the struct, the cffi objects it points into, to keep alive), or None for a
    kind the C core does not encode (raw, records/sections/)."""
    keep: list[Any] = []
    if isinstance(s, memory.Section):
        return lib.FW_SEC_MEM, _mem_struct(s), keep
    if isinstance(s, arm.Section):
        infos = ffi.new("fw_arm_err_info[]", [{
            "version": e.version, "length": e.length, "validation_bits": e.validation_bits,
            "type": e.type, "multiple_error": _z(e.multiple_error), "flags": _z(e.flags),
            "error_info": _z(e.error_info), "virt_fault_addr": _z(e.virt_fault_addr),
            "physical_fault_addr": _z(e.physical_fault_addr)} for e in s.error_info])
        regs = [ffi.from_buffer(c.registers) for c in s.context]
        pads = [ffi.NULL if c.padding is None else ffi.from_buffer(c.padding) for c in s.context]
        ctx = ffi.new("fw_arm_ctx[]", [{"version": c.version, "type": c.type,
                                        "size": len(c.registers), "regs": r, "pad": p,
                                        "pad_len": len(c.padding or b"")}
                                       for c, r, p in zip(s.context, regs, pads, strict=True)]) if s.context else ffi.NULL
        vendor = ffi.from_buffer(s.vendor)
        keep += [infos, regs, pads, ctx, vendor]
        return lib.FW_SEC_ARM, ffi.new("fw_arm_section *", {
            "validation_bits": s.validation_bits, "err_info_num": len(s.error_info),
            "context_info_num": len(s.context), "affinity_level": _z(s.affinity_level),
            "mpidr": _z(s.mpidr), "midr": s.midr, "running_state": _z(s.running_state),
            "psci_state": s.psci_state, "ctx_align": s.context_align, "err_info": infos, "ctx": ctx,
            "vendor": vendor, "vendor_len": len(s.vendor)}), keep
    if isinstance(s, pcie.Section):
        fields: dict[str, Any] = {k: _z(getattr(s, k)) for k in pcie.LIMITS if k != "class_code"}
        fields.update(validation_bits=s.validation_bits,
                      class_code=list(_z(s.class_code).to_bytes(3, "little")),
                      capability=list(s.capability or bytes(60)), aer_info=list(s.aer_info or bytes(96)))
        return lib.FW_SEC_PCIE, ffi.new("fw_pcie_section *", fields), keep
    if isinstance(s, processor_generic.Section):
        pfields: dict[str, Any] = {name: _z(getattr(s, name)) for name, _mx in processor_generic.LIMITS}
        pfields.update(validation_bits=s.validation_bits, cpu_brand=list(s.cpu_brand or bytes(128)))
        return lib.FW_SEC_PROC, ffi.new("fw_proc_section *", pfields), keep
    if isinstance(s, firmware_ref.FirmwareRefSection):
        trailing = ffi.from_buffer(s.trailing)
        keep.append(trailing)
        return lib.FW_SEC_FWREF, ffi.new("fw_fwref_section *", {
            "record_type": s.record_type, "revision": s.revision,
            "record_identifier": s.record_identifier,
            "record_identifier_guid": _guid(s.record_identifier_guid),
            "trailing": trailing, "trailing_len": len(s.trailing)}), keep
    return None


_SECTION_ENCODERS = {lib.FW_SEC_MEM: lib.fw_mem_encode, lib.FW_SEC_ARM: lib.fw_arm_encode,
                     lib.FW_SEC_PCIE: lib.fw_pcie_encode, lib.FW_SEC_PROC: lib.fw_proc_encode,
                     lib.FW_SEC_FWREF: lib.fw_fwref_encode}


def _encode_body(s: m.Section) -> bytes:
    """A section body by the C core (raw and records/sections/ kinds: their own bytes)."""
    c = section_struct(s)
    if c is None:
        if isinstance(s, m.RawSection):
            return bytes(s.data)
        if sections.is_section(s):     # the newer kinds encode themselves (records/sections/)
            return sections.encode(s)
        raise UsageError("section", f"unsupported section type {type(s).__name__}")
    kind, ptr, _keep = c
    out = ffi.new("uint8_t[]", _BUF)
    n = _SECTION_ENCODERS[kind](ptr, out, _BUF)
    body = bytes(ffi.buffer(out, _rc(n, f"{s.KIND} section")))
    spans = m.RESERVED.get(s.KIND)
    value = getattr(s, "reserved", 0)
    if spans and value:   # the C core writes zeros there; put back what the model keeps
        buf = bytearray(body)
        for off, size in spans:
            buf[off:off + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
            value >>= 8 * size
        body = bytes(buf)
    return body


def _explicit(sec: S, wire_bits: int) -> S:
    """Keep the wire validation bits on the model when its fields would derive others."""
    if sec.validation_bits != wire_bits:
        sec.explicit_validation_bits = wire_bits
    return sec


def _gde_fields(e: m.Entry) -> dict[str, Any]:
    return {"section_type": _guid(e.section.section_type), "severity": int(e.severity),
            "revision": e.revision, "validation_bits": e.validation_bits, "flags": e.flags,
            "fru_id": _guid(e.fru_id or uuid.UUID(int=0)),
            "fru_text": list((e.fru_text or b"").ljust(20, b"\0")),
            "timestamp": 0 if e.timestamp is None else m.timestamp_u64(e.timestamp),
            "data_length_override": _z(e.error_data_length),
            "override_length": e.error_data_length is not None}


def estatus_struct(b: m.StatusBlock) -> tuple[Any, Any]:
    """The fw_estatus header struct for a block (raw data kept alive by the returned tuple)."""
    flags = 0
    if b.data_length is not None:
        flags |= lib.FW_EST_OVERRIDE_DATA_LENGTH
    if b.raw_data_offset is not None:
        flags |= lib.FW_EST_OVERRIDE_RAW_OFFSET
    raw = ffi.from_buffer(b.raw_data)
    st = ffi.new("fw_estatus *", {"flags": flags, "block_status": b.block_status,
                                  "severity": b.wire_severity, "data_length": _z(b.data_length),
                                  "raw_data_offset": _z(b.raw_data_offset), "raw_data": raw,
                                  "raw_data_len": len(b.raw_data)})
    return st, raw


def encode(block: m.StatusBlock) -> bytes:
    """Encode a status block. Deliberately broken fields (overrides) are written as given;
    everything else is what a correct firmware writes. The bytes are the C core's
    (`encode_c`), written by precompiled structs (records/packer.py): tests check both agree."""
    return packer.block(block, _encode_body)


def encode_many(blocks: Iterable[m.StatusBlock]) -> list[bytes]:
    """encode() of each block, in order (one call for a batch: the per-call lookups are
    made once)."""
    pack, fallback = packer.block, _encode_body
    return [pack(b, fallback) for b in blocks]


def encode_c(block: m.StatusBlock) -> bytes:
    """Encode a status block through the C core (fw_*_encode + fw_estatus_assemble): the
    reference encode() is checked against, and what it used before the packer."""
    bodies = [_encode_body(e.section) for e in block.entries]
    n = len(bodies)
    gdes = ffi.new("fw_gde[]", [_gde_fields(e) for e in block.entries]) if n else ffi.NULL
    bufs = [ffi.from_buffer(x) for x in bodies]
    ptrs = ffi.new("const uint8_t *[]", bufs) if n else ffi.NULL
    lens = ffi.new("uint32_t[]", [len(x) for x in bodies]) if n else ffi.NULL
    st, _raw = estatus_struct(block)
    cap = 20 + sum(72 + len(x) for x in bodies) + len(block.raw_data)
    out = ffi.new("uint8_t[]", cap)
    total = _rc(lib.fw_estatus_assemble(st, gdes, ptrs, lens, n, out, cap), "status block")
    if block.raw_gap:     # the C core puts raw data right after the entries
        end = 20 + sum(lens[i] + (72 if block.entries[i].revision >> 8 >= 3 else 64) for i in range(n))
        return bytes(ffi.buffer(out, end)) + block.raw_gap + bytes(ffi.buffer(out, total)[end:])
    return bytes(ffi.buffer(out, total))


# ---- judging -----------------------------------------------------------------------

KERNEL_PREFIX = "[Firmware Warn]: GHES: "


@dataclass(frozen=True)
class Verdict:
    """The Linux kernel's verdict on a status block (linux-ghes-contract.md §3).

    rule: "valid", or the failed check's id (G3, L2, L3, H1, H2, E1, E2, E3, short-input).
    message: what the kernel prints for it ('' when it prints nothing)."""

    rule: str
    message: str
    offset: int
    length: int
    entries: int

    @property
    def valid(self) -> bool:
        return self.rule == "valid"

    @property
    def consumed_by_os(self) -> bool:
        """Whether Linux clears + acks such a block (everything but G3 and unreadable input)."""
        return self.rule not in ("G3", "short-input")

    def explain(self) -> str:
        if self.valid:
            return f"valid: {self.entries} entr{'y' if self.entries == 1 else 'ies'}, {self.length} bytes"
        what = {
            "G3": "block_status is 0: the OS ignores the block and never acks it",
            "short-input": "the bytes end before the length the header declares",
        }.get(self.rule, self.message)
        return f"{self.rule} at offset {self.offset}: {what}"

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "rule": self.rule, "message": self.message,
                "offset": self.offset, "length": self.length, "entries": self.entries}


def check(buf: bytes, error_block_length: int = 0) -> Verdict:
    """Judge bytes as the kernel would; error_block_length 0 = unknown (64 KiB cap only)."""
    v = ffi.new("fw_verdict *")
    rule = lib.fw_check(ffi.from_buffer(buf), len(buf), error_block_length, v)
    msg = ffi.string(lib.fw_rule_kernel_message(rule)).decode()
    return Verdict(rule=ffi.string(lib.fw_rule_name(rule)).decode(),
                   message=KERNEL_PREFIX + msg if msg else "", offset=v.offset, length=v.len,
                   entries=v.entries)


_scratch_verdict = ffi.new("fw_verdict *")


def kernel_warning(buf: bytes, error_block_length: int = 0) -> str | None:
    """check()'s kernel message, or None when the bytes pass: the OS model's per-record
    path, which needs nothing else from the verdict (no object built for a valid record).
    Not thread-safe across callers: the OS model calls it under its lock."""
    rule = lib.fw_check(ffi.from_buffer(buf), len(buf), error_block_length, _scratch_verdict)
    if rule == 0:   # FW_RULE_VALID (cper.h)
        return None
    msg = ffi.string(lib.fw_rule_kernel_message(rule)).decode()
    return KERNEL_PREFIX + msg if msg else ""


# ---- decoding ----------------------------------------------------------------------

# the sections' decoders (records/sections/), by the C core's FW_SEC_* kind of their GUID
_decode_mem = memory.decode
_decode_arm = arm.decode
_decode_pcie = pcie.decode
_decode_proc = processor_generic.decode
_decode_fwref = firmware_ref.decode


_DECODERS = {1: _decode_mem, 2: _decode_arm, 3: _decode_pcie, 4: _decode_proc, 5: _decode_fwref}


def decode_section(kind: int, guid: uuid.UUID, body: bytes) -> m.Section:
    """Typed section when the model re-encodes the bytes exactly (every section of a known
    kind whose structure holds together: fixed-size sections of their size, an ARM section
    whose counts and section_length account for its bytes; the newer kinds of
    records/sections/ likewise), else raw."""
    dec = _DECODERS.get(kind)
    sec = dec(body) if dec else None
    if sec is not None and packer.body(sec, _encode_body) == body:
        return sec
    newer = sections.decode(guid, body) if kind == lib.FW_SEC_RAW else None
    return newer if newer is not None else m.RawSection(guid=guid, data=bytes(body))


def decode(buf: bytes, error_block_length: int = 0) -> m.StatusBlock:
    """Decode a status block. Raises RecordError naming the kernel rule when the bytes are
    structurally unreadable (anything but a valid verdict or block_status 0)."""
    buf = bytes(buf)
    v = check(buf, error_block_length)
    if v.rule == "G3" and len(buf) >= 20:
        # Inspect a withdrawn block anyway: judge it as if block_status were set.
        v2 = check(b"\x01\0\0\0" + buf[4:], error_block_length)
        if not v2.valid:
            raise RecordError(f"{v2.rule}: {v2.explain()}", v2.offset)
    elif not v.valid:
        raise RecordError(v.explain(), v.offset)
    cbuf = ffi.from_buffer(buf)
    data_len = int.from_bytes(buf[12:16], "little")
    data_end = 20 + data_len
    off = ffi.new("uint32_t *", 20)
    view = ffi.new("fw_entry_view *")
    entries = []
    while lib.fw_entry_next(cbuf, data_end, off, view) == lib.FW_OK:
        g = view.gde
        body = buf[view.body_offset:view.body_offset + view.body_len]
        gv = g.validation_bits
        text = bytes(g.fru_text)
        ts = g.timestamp if view.hdr_len == 72 else 0
        entry = m.Entry(
            section=decode_section(view.kind, _uuid(g.section_type), body),
            severity=g.severity, flags=g.flags, revision=g.revision,
            fru_id=_uuid(g.fru_id) if gv & 1 or any(g.fru_id.b) else None,
            fru_text=text.rstrip(b"\0") if gv & 2 or any(text) else None,
            timestamp=m.timestamp_from_u64(ts) if view.hdr_len == 72 and (gv & 4 or ts) else None)
        entries.append(_explicit(entry, gv))
    raw_len = int.from_bytes(buf[8:12], "little")
    raw_off = int.from_bytes(buf[4:8], "little")
    raw = buf[raw_off:raw_off + raw_len] if raw_len else b""
    blk = m.StatusBlock(entries=entries, severity=int.from_bytes(buf[16:20], "little"),
                        block_status=int.from_bytes(buf[0:4], "little"), raw_data=raw)
    if raw_len and raw_off != 20 + data_len:
        blk.raw_data_offset = raw_off
        if raw_off > data_end:
            blk.raw_gap = bytes(buf[data_end:raw_off])
    return blk
