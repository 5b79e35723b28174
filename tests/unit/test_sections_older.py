"""The older section kinds that live in records/sections/ (sections.OLDER): the C core's
encoder (csrc/cper.c, what firmware posts through) puts each field where the module's
field table says, under the validation bit it names, and the module's Python encoder
agrees. The tables are the modules' own, not copies, so a field moved on either side fails
here."""

from __future__ import annotations

import uuid

import pytest

from fwemu.records import codec
from fwemu.records import sections as S


def _fields(mod, parts: bool = True):
    """(name, offset, size, validation bit or None) of a module's field table; with
    `parts`, also the fields that are bytes of another one (memory's bank halves)."""
    for row in mod.FIELDS + (getattr(mod, "PARTS", ()) if parts else ()):
        yield (*row, None) if len(row) == 3 else row


def _pattern(size: int) -> bytes:
    return bytes((0xA1 + 7 * i) & 0xFF | 1 for i in range(size))    # no zero byte


def _value(name: str, size: int):
    """A value whose bytes are _pattern(size): a GUID, bytes (wider than a u64) or an int."""
    raw = _pattern(size)
    if name.endswith("_guid"):
        return uuid.UUID(bytes_le=raw)
    return raw if size > 8 else int.from_bytes(raw, "little")


CASES = [(mod, name, off, size, bit) for mod in S.OLDER for name, off, size, bit in _fields(mod)]


def test_every_older_module_is_covered():
    assert {mod.KIND for mod, *_ in CASES} == {mod.KIND for mod in S.OLDER}
    assert all(mod in S.OLDER for mod in (S.firmware_ref, S.processor_generic, S.memory, S.pcie, S.arm))


@pytest.mark.parametrize("mod", S.OLDER, ids=lambda mod: mod.KIND)
def test_field_table_covers_the_fixed_part_once(mod):
    cover = [0] * mod.FIXED
    valid = getattr(mod, "VALID", None)
    spans = [(off, size) for _n, off, size, _b in _fields(mod, parts=False)]
    spans += list(mod.RESERVED) + list(getattr(mod, "PACKED", ())) + list(getattr(mod, "COMPUTED", ()))
    for off, size in spans + ([valid] if valid else []):
        for i in range(off, off + size):
            cover[i] += 1
    assert cover == [1] * mod.FIXED


@pytest.mark.parametrize("mod, name, off, size, bit", CASES,
                         ids=[f"{mod.KIND}.{name}" for mod, name, *_ in CASES])
def test_c_encoder_writes_the_field_where_the_table_says(mod, name, off, size, bit):
    sec = mod.Section(**{name: _value(name, size)})
    c_body = codec._encode_body(sec)          # section_struct -> fw_*_encode (the C core)
    assert c_body == mod.encode(sec)
    want = bytearray(mod.FIXED)
    want[off:off + size] = _pattern(size)
    _put_valid(want, getattr(mod, "VALID", None), bit)
    got = bytearray(c_body[:mod.FIXED])
    for off, size in getattr(mod, "COMPUTED", ()):     # counts and lengths: not the field's
        got[off:off + size] = bytes(size)
    assert got == want


def _put_valid(buf: bytearray, valid, bit) -> None:
    if valid:
        voff, vsize = valid
        buf[voff:voff + vsize] = (0 if bit is None else 1 << bit).to_bytes(vsize, "little")


ARM_INFO = list(S.arm.INFO_FIELDS)


@pytest.mark.parametrize("name, off, size, bit", ARM_INFO, ids=[row[0] for row in ARM_INFO])
def test_c_encoder_writes_the_arm_entry_field_where_the_table_says(name, off, size, bit):
    arm = S.arm
    info = arm.ArmErrorInfo(**{"type": 0, "length": 0, name: _value(name, size)})
    sec = arm.Section(error_info=[info])
    c_body = codec._encode_body(sec)
    assert c_body == arm.encode(sec)
    want = bytearray(arm.INFO)
    want[off:off + size] = _pattern(size)
    _put_valid(want, arm.INFO_VALID, bit)
    assert c_body[arm.FIXED:arm.FIXED + arm.INFO] == bytes(want)


def test_c_encoder_packs_the_memory_extended_byte():
    # row bits 17:16 in bits 1:0 (ROW_EXT), the reserved bits 4:2, the chip id in bits 7:5
    mem = S.memory
    sec = mem.Section(row=0x2ABCD, chip_id=5, reserved=3)
    body = codec._encode_body(sec)
    assert body == mem.encode(sec)
    assert body[mem.EXTENDED] == 2 | 3 << 2 | 5 << 5
    assert body[42:44] == (0xABCD).to_bytes(2, "little")
    want = 1 << 8 | 1 << mem.ROW_EXT_BIT | 1 << mem.CHIP_ID_BIT
    assert int.from_bytes(body[:8], "little") == want
