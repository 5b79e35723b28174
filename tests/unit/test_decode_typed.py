"""Every record the kernel accepts decodes to typed fields and encodes back to its bytes
(issue 14 item 2): random bytes in every field, random validation bits (reserved ones
too), for every section kind fwemu models; also in the GDE header.

The records are built here with struct from the layouts (cper-layouts.md), not by fwemu.
A decoded record must (1) hold no RawSection, (2) encode to the same bytes with the C
core, (3) encode to the same bytes with the independent oracle, and (4) survive JSON."""

from __future__ import annotations

import struct
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu import records
from fwemu.records.model import (
    ArmSection, FirmwareRefSection, MemorySection, PcieSection, ProcessorGenericSection,
    RawSection, block_from_json,
)
from oracle import oracle_encode

SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GUIDS = {"memory": "A5BC1114-6F64-4EDE-B863-3E83ED7C83B1", "arm": "E19E3D16-BC11-11E4-9CAA-C2051D5D46B0",
         "pcie": "D995E954-BBC1-430F-AD91-B44DCB3C6F35",
         "proc": "9876CCAD-47B4-4BDB-B65E-16F193C4F3DB",
         "fwref": "81212A96-09ED-4996-9471-8D729C8E69ED"}


def value(nbytes: int):
    """A field's bytes: often zero, sometimes all ones, else random."""
    return st.one_of(st.just(bytes(nbytes)), st.just(b"\xff" * nbytes),
                     st.binary(min_size=nbytes, max_size=nbytes))


def bits(nbytes: int, known: int):
    """Validation bits: the defined ones in any combination, sometimes reserved ones too."""
    return st.one_of(st.integers(0, known), st.integers(0, (1 << 8 * nbytes) - 1)).map(
        lambda v: v.to_bytes(nbytes, "little"))


@st.composite
def fields(draw, layout):
    """layout: ((nbytes, is_validation_bits, known_bits_mask), ...) in wire order."""
    out = b""
    for n, is_bits, known in layout:
        out += draw(bits(n, known) if is_bits else value(n))
    return out


MEM = ((8, True, (1 << 22) - 1),) + tuple((n, False, 0) for n in (8, 8, 8) + (2,) * 8 + (8, 8, 8, 1, 1, 2, 2, 2))
PCIE = ((8, True, 0xFF), (4, False, 0), (1, False, 0), (1, False, 0), (2, False, 0), (2, False, 0),
        (2, False, 0), (4, False, 0), (2, False, 0), (2, False, 0), (3, False, 0), (1, False, 0),
        (1, False, 0), (2, False, 0), (1, False, 0), (1, False, 0), (2, False, 0), (1, False, 0),
        (8, False, 0), (2, False, 0), (2, False, 0), (60, False, 0), (96, False, 0))
PROC = ((8, True, 0x1FFF),) + tuple((n, False, 0) for n in (1,) * 6 + (2, 8, 128, 8, 8, 8, 8, 8))
assert sum(n for n, *_ in MEM) == 80 and sum(n for n, *_ in PCIE) == 208
assert sum(n for n, *_ in PROC) == 192


@st.composite
def arm_body(draw):
    n_info = draw(st.integers(0, 3))   # UEFI says >= 1; Linux reads a section with none
    n_ctx = draw(st.integers(0, 3))
    align = draw(st.sampled_from([16, 1]))
    info = b"".join(draw(st.tuples(value(1), value(1), bits(2, 0x1F), value(1), value(2), value(1),
                                   value(8), value(8), value(8)).map(b"".join)) for _ in range(n_info))
    ctxs = b""
    for _ in range(n_ctx):
        regs = draw(st.binary(max_size=40))
        blk = draw(value(2)) + draw(value(2)) + struct.pack("<I", len(regs)) + regs
        pad = -len(blk) % align
        blk += draw(st.one_of(st.just(bytes(pad)), st.binary(min_size=pad, max_size=pad)))
        ctxs += blk
    vendor = draw(st.binary(max_size=24))
    length = 40 + len(info) + len(ctxs) + len(vendor)
    hdr = (draw(bits(4, 0xF)) + struct.pack("<HHI", n_info, n_ctx, length) + draw(value(1))
           + draw(value(3)) + draw(value(8)) + draw(value(8)) + draw(value(4)) + draw(value(4)))
    return hdr + info + ctxs + vendor


BODIES = {
    "memory": fields(MEM),
    "pcie": fields(PCIE),
    "proc": fields(PROC),
    "fwref": st.tuples(value(1), value(1), value(6), value(8), value(16),
                       st.binary(max_size=24)).map(b"".join),
    "arm": arm_body(),
}
TYPES = {"memory": MemorySection, "arm": ArmSection, "pcie": PcieSection,
         "proc": ProcessorGenericSection, "fwref": FirmwareRefSection}


@st.composite
def entry(draw, kind):
    body = draw(BODIES[kind])
    revision = draw(st.sampled_from([0x0300, 0x0200, 0x0301, 0x0400]))
    hdr = (uuid.UUID(GUIDS[kind]).bytes_le + draw(value(4)) + struct.pack("<H", revision)
           + draw(bits(1, 0x7)) + draw(value(1)) + struct.pack("<I", len(body))
           + draw(value(16)) + draw(st.one_of(value(20), st.just(b"DIMM A1".ljust(20, b"\0")))))
    if revision >> 8 >= 3:
        hdr += draw(value(8))
    return hdr + body


@st.composite
def status_block(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(BODIES)), min_size=1, max_size=3))
    data = b"".join(draw(entry(k)) for k in kinds)
    raw = draw(st.one_of(st.just(b""), st.binary(min_size=1, max_size=16)))
    status = draw(st.integers(1, 0xFFFFFFFF))
    hdr = struct.pack("<IIIII", status, 20 + len(data) if raw else 0, len(raw), len(data),
                      draw(st.integers(0, 0xFFFFFFFF)))
    return kinds, hdr + data + raw


@SETTINGS
@given(status_block())
def test_every_accepted_record_decodes_typed_and_reencodes(case):
    kinds, raw = case
    assert records.check(raw).valid
    blk = records.decode(raw)
    got = [type(e.section) for e in blk.entries]
    assert RawSection not in got
    assert got == [TYPES[k] for k in kinds]
    assert records.encode(blk) == raw
    assert oracle_encode(blk) == raw
    assert records.encode(block_from_json(blk.to_json())) == raw


def _mem_record(vbits: int, **wire) -> bytes:
    body = bytearray(80)
    struct.pack_into("<Q", body, 0, vbits)
    for off, fmt, v in wire.values():
        struct.pack_into(fmt, body, off, v)
    gde = uuid.UUID(GUIDS["memory"]).bytes_le + struct.pack("<IHBBI", 0, 0x0300, 0, 1, 80) + bytes(44)
    return struct.pack("<IIIII", 0x11, 0, 0, 152, 0) + gde + bytes(body)


def test_the_cases_the_issue_names():
    row, ext, bank = (42, "<H", 0x1234), (73, "<B", 0x01), (38, "<H", 0x0A0B)
    pa = (16, "<Q", 0x60000000)
    cases = {
        "value in a field whose bit is clear": (_mem_record(0x4000, pa=pa), "physical_address", 0x60000000),
        "ROW_EXT with a row below 0x10000": (_mem_record(1 << 8 | 1 << 18, row=row), "row", 0x1234),
        "ROW_EXT without ROW": (_mem_record(1 << 18, row=row, ext=ext), "row", 0x11234),
        "BANK with BANK_GROUP and BANK_ADDRESS": (_mem_record(1 << 6 | 1 << 19 | 1 << 20, bank=bank),
                                                  "bank_group", 0x0A),
    }
    for what, (raw, name, expected) in cases.items():
        sec = records.decode(raw).entries[0].section
        assert isinstance(sec, MemorySection), what
        assert getattr(sec, name) == expected, what
        assert sec.validation_bits == struct.unpack_from("<Q", raw, 92)[0], what
        assert records.encode(records.decode(raw)) == raw, what


def test_a_model_built_from_fields_still_derives_its_bits():
    sec = MemorySection(physical_address=0x1000, row=0x12345)
    assert sec.explicit_validation_bits is None and sec.validation_bits == 1 << 1 | 1 << 8 | 1 << 18
    raw = records.encode(records.StatusBlock([records.Entry(sec)]))
    assert records.decode(raw).entries[0].section == sec


def test_record_decode_json_gives_typed_fields(tmp_path, capsys):
    import json
    import logging

    from fwemu import cli

    path = tmp_path / "rec.bin"
    path.write_bytes(_mem_record(1 << 18, row=(42, "<H", 0x1234), ext=(73, "<B", 0x01)))
    logging.getLogger().handlers.clear()
    assert cli.main(["record", "decode", str(path), "--json"]) == 0
    sec = json.loads(capsys.readouterr().out)["record"]["entries"][0]["section"]
    assert sec["kind"] == "memory" and sec["row"] == 0x11234
    assert sec["explicit_validation_bits"] == 1 << 18
