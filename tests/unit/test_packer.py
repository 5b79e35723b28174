"""The fast encoder (records/packer.py, compiled section layouts) against the C core and
against byte-by-byte references, for random models of every kind; the batch API and the
C core's one-call field-struct entry point (fw_encode_block) give the same bytes; the
validation fast paths keep their messages."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_properties import SETTINGS, blocks, diff, forged_blocks, sections
from test_sections_properties import SECTIONS

from fwemu import records
from fwemu._corelib import ffi, lib
from fwemu.errors import UsageError
from fwemu.records import codec
from fwemu.records import model as m
from fwemu.records import sections as S


@SETTINGS
@given(blocks() | forged_blocks())
def test_packer_matches_c_core(blk):
    want = records.encode_c(blk)
    assert records.encode(blk) == want, diff(want, records.encode(blk))


@SETTINGS
@given(st.lists(SECTIONS | sections, max_size=3), st.binary(max_size=16))
def test_packer_matches_c_core_with_newer_kinds(secs, raw):
    blk = m.StatusBlock([m.Entry(s, severity=2) for s in secs], raw_data=raw)
    assert records.encode(blk) == records.encode_c(blk)


@SETTINGS
@given(st.lists(blocks() | forged_blocks(), max_size=5))
def test_encode_many_is_encode_of_each(blks):
    assert records.encode_many(blks) == [records.encode(b) for b in blks]
    assert records.encode_many(iter(blks)) == [records.encode_c(b) for b in blks]


def reference_fixed(sec) -> bytes:
    """A layout section's fixed part written one span at a time from its Layout table
    (the straightforward encoder the compiled Struct replaced)."""
    lay = sec.LAYOUT
    out = bytearray(lay.size)
    if lay.valid:
        off, n = lay.valid
        out[off:off + n] = sec.validation_bits.to_bytes(n, "little")
    computed = sec._computed()
    for f in lay.fields:
        v = computed[f.name] if f.computed else getattr(sec, f.name)
        if v is not None:
            out[f.off:f.off + f.size] = v if f.raw else v.to_bytes(f.size, "little")
    res = sec.reserved.ljust(lay.reserved_len, b"\0")
    pos = 0
    for off, n in lay.reserved:
        out[off:off + n] = res[pos:pos + n]
        pos += n
    return bytes(out)


@SETTINGS
@given(SECTIONS)
def test_compiled_layout_matches_span_by_span(sec):
    if not isinstance(sec, S.LayoutSection):
        return      # IA32/X64 has no fixed layout table
    body = records.encode(m.StatusBlock([m.Entry(sec)]))[92:]
    fixed = reference_fixed(sec)
    if isinstance(sec, S.CxlProtocolSection) and sec.rcrb_base_address is not None:
        assert body[:16] == fixed[:16] and body[24:len(fixed)] == fixed[24:]   # the union's other form
    else:
        assert body[:len(fixed)] == fixed
    values = {f.name: getattr(sec, f.name) for f in sec.LAYOUT.fields if not f.computed}
    values.update(sec._computed())      # the dict form (Layout.pack) gives the same bytes
    assert bytes(sec.LAYOUT.pack(values, sec.validation_bits, sec.reserved)) == fixed


def c_block(blk: m.StatusBlock) -> bytes:
    """The block by fw_encode_block from the section's C field struct."""
    kind, ptr, _keep = codec.section_struct(blk.entries[0].section)
    st_, _raw = codec.estatus_struct(blk)
    gde = ffi.new("fw_gde *", codec._gde_fields(blk.entries[0]))
    out = ffi.new("uint8_t[]", 1 << 17)
    n = lib.fw_encode_block(st_, gde, kind, ptr, out, 1 << 17)
    assert n > 0
    return bytes(ffi.buffer(out, n))


@SETTINGS
@given(blocks())
def test_c_field_struct_entry_point_matches_public_api(blk):
    blk.raw_gap = b""
    entries = [e for e in blk.entries if not isinstance(e.section, m.RawSection)][:1]
    if not entries:
        return
    sec = entries[0].section
    if hasattr(sec, "reserved"):
        sec.reserved = 0           # the C field structs have no reserved bytes: C writes zeros
    blk = dataclasses.replace(blk, entries=entries, block_status=None)
    assert c_block(blk) == records.encode(blk)


def test_c_field_struct_entry_point_refuses_other_kinds():
    st_, _raw = codec.estatus_struct(m.StatusBlock([]))
    gde = ffi.new("fw_gde *")
    out = ffi.new("uint8_t[]", 256)
    mem = codec._mem_struct(m.MemorySection(physical_address=1))
    assert lib.fw_encode_block(st_, gde, lib.FW_SEC_RAW, mem, out, 256) == lib.FW_E_KIND
    # revision 0: a 64-byte entry header, so 20 + 64 + 80 = 164 bytes
    assert lib.fw_encode_block(st_, gde, lib.FW_SEC_MEM, mem, out, 256) == 164
    assert lib.fw_encode_block(st_, gde, lib.FW_SEC_MEM, mem, out, 163) == lib.FW_E_NOSPACE


@pytest.mark.parametrize("build, message", [
    (lambda: m.MemorySection(node=0x10000), "node: 0x10000 does not fit (0 .. 0xffff)"),
    (lambda: m.MemorySection(row=True), "row: must be an integer, got True"),
    (lambda: m.MemorySection(physical_address="1"), "physical_address: must be an integer, got '1'"),
    (lambda: m.MemorySection(reserved=8), "reserved: 0x8 does not fit (0 .. 0x7)"),
    (lambda: m.PcieSection(bus=-1), "bus: -0x1 does not fit (0 .. 0xff)"),
    (lambda: m.ArmErrorInfo(flags=256), "error_info.flags: 0x100 does not fit (0 .. 0xff)"),
    (lambda: m.ProcessorGenericSection(ip=1 << 64),
     "ip: 0x10000000000000000 does not fit (0 .. 0xffffffffffffffff)"),
    (lambda: m.Entry(m.RawSection(), flags=0x100), "flags: 0x100 does not fit (0 .. 0xff)"),
    (lambda: m.Entry(m.RawSection(), revision=1.5), "revision: must be an integer, got 1.5"),
    (lambda: m.Entry(m.RawSection(), severity="bad"), "entry.severity: unknown severity 'bad'"),
    (lambda: m.StatusBlock(block_status=1 << 32), "block_status: 0x100000000 does not fit"),
    (lambda: m.StatusBlock(raw_data=bytes(65537)), "raw_data: is 65537 bytes, more than 65536"),
    (lambda: m.Timestamp(month=100), "timestamp.month: 100 is outside 0 .. 99"),
    (lambda: S.PciBusSection(bus=256), "bus: 0x100 does not fit (0 .. 0xff)"),
    (lambda: S.PciBusSection(error_type=True), "error_type: must be an integer, got True"),
])
def test_validation_messages(build, message):
    with pytest.raises(UsageError) as exc:
        build()
    assert str(exc.value).startswith(message)


def test_severity_and_timestamp_kept_as_given():
    e = m.Entry(m.MemorySection(), severity="ce", timestamp=m.Timestamp(2026, 2, 3, 4, 5, 6, sequence=3))
    assert e.severity == 2 and type(e.severity) is int
    blk = m.StatusBlock([e])
    assert blk.severity == 2 and blk.block_status == 0x12
    raw = records.encode(blk)
    assert raw[20 + 64:20 + 72] == bytes([0x06, 0x05, 0x04, 0x07, 0x03, 0x02, 0x26, 0x20])


# ---- records.Packer ------------------------------------------------------------------------

def _int_fields(sec) -> list[str]:
    from fwemu.records.batch import _limits
    return sorted(_limits(sec))


@SETTINGS
@given(SECTIONS | sections, st.data())
def test_packer_pack_is_encode_of_the_same_block(sec, data):
    """Packer.pack(values) == records.encode of the block built with those values."""
    names = _int_fields(sec)
    if not names:
        return
    fields = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    from fwemu.records.batch import _limits
    limits = _limits(sec)
    ts = data.draw(st.none() | st.builds(m.Timestamp, second=st.integers(0, 59)))
    template = m.StatusBlock([m.Entry(sec, severity=data.draw(st.sampled_from([0, 1, 2, 3])),
                                      timestamp=ts)], raw_data=data.draw(st.binary(max_size=8)))
    try:
        p = records.Packer(template, fields)
    except UsageError:    # then the model refuses those fields set to 0 as well
        with pytest.raises(UsageError):
            dataclasses.replace(sec, **{f: 0 for f in fields})
        return
    for _ in range(3):
        values = [data.draw(st.integers(0, limits[f])) for f in fields]
        want = dataclasses.replace(template, entries=[dataclasses.replace(
            template.entries[0], section=dataclasses.replace(sec, **dict(zip(fields, values, strict=True))))])
        assert p.pack(*values) == records.encode(want) == records.encode_c(want)
    assert p.pack_many([values, values]) == [records.encode(want)] * 2


def test_packer_checks_each_value_as_the_model_does():
    p = records.Packer(m.StatusBlock([m.Entry(m.MemorySection(error_type=3))]), ["physical_address", "node"])
    with pytest.raises(UsageError, match=r"^node: 0x10000 does not fit \(0 \.\. 0xffff\)"):
        p.pack(0x1000, 0x10000)
    with pytest.raises(UsageError, match="^physical_address: must be an integer, got None"):
        p.pack(None, 1)
    with pytest.raises(UsageError, match="^values: 1 given for 2 fields"):
        p.pack(1)
    # a failed pack leaves nothing behind: the next record is whole
    ok = p.pack(0x2000, 7)
    assert ok == records.encode(m.StatusBlock([m.Entry(m.MemorySection(error_type=3, physical_address=0x2000,
                                                                        node=7))]))


@pytest.mark.parametrize("template, fields, message", [
    (m.StatusBlock([]), ["node"], "entries: a Packer encodes one-entry blocks, the template has 0"),
    (m.StatusBlock([m.Entry(m.MemorySection())]), ["bank"], "bank: is not an integer field a Packer can vary"),
    (m.StatusBlock([m.Entry(m.MemorySection())]), ["node", "node"], "fields: a field is named twice"),
    (m.StatusBlock([m.Entry(m.RawSection())]), ["data"], "data: is not an integer field a Packer can vary "
                                                        "in a raw section (none)"),
])
def test_packer_refuses_what_it_cannot_vary(template, fields, message):
    with pytest.raises(UsageError) as exc:
        records.Packer(template, fields)
    assert str(exc.value).startswith(message)
