"""Arm RAS node section (records/sections/arm_ras.py): golden bytes packed here with struct
from the node tables (Arm DEN0085 tables 20/21 as OpenBMC libcper's EFI_ARM_RAS_NODE and
EFI_ARM_RAS_ERROR_RECORD_DESCRIPTOR lay them out), never by calling the encoder; the
kernel's wording and GHES handling in every profile; PyPI `cper` 0.0.4 (which predates the
section) keeping the bytes as an unknown section; the `arm-ras` scenario.

Header (80 bytes): u32 revision; u8 component type; 3 reserved; u32 entry count; u16 entry
offset; u16 auxiliary data offset; u8 IP instance format; u8 IP type format; 6 reserved;
16 bytes IP instance; 24 bytes IP type; 16 bytes user data. Entry (72 bytes): u32 index; u8
RAS extension revision; 3 reserved; u64 FR, CTLR, STATUS, ADDR, MISC0..3.
"""

from __future__ import annotations

import base64
import struct

import pytest

from fwemu import records, scenarios
from fwemu.errors import UsageError
from fwemu.records import kernel_profile
from fwemu.records import sections as S
from fwemu.records.kernel_text import format_estatus
from fwemu.records.model import Entry, RawSection, StatusBlock
from test_sections_golden import assert_golden

HEADER_FMT = "<IB3sIHHBB6s16s24s16s"
ENTRY_FMT = "<IB3sQQQQQQQQ"
assert struct.calcsize(HEADER_FMT) == 80 and struct.calcsize(ENTRY_FMT) == 72
GUID_TEXT = "bf32d4d5-b427-4025-8495-8a9e5d4030e4"


def header(count=0, entry_off=80, aux_off=0, revision=1, comp=0, inst_fmt=0, type_fmt=0,
           inst=b"", iptype=b"", user=b"", res1=b"", res2=b"") -> bytes:
    return struct.pack(HEADER_FMT, revision, comp, res1, count, entry_off, aux_off, inst_fmt, type_fmt,
                       res2, inst, iptype, user)


def entry(index=0, rev=0, res=b"", regs=(0,) * 8) -> bytes:
    return struct.pack(ENTRY_FMT, index, rev, res, *regs)


MPIDR = struct.pack("<QQ", 0x8000_0101, 0)
MIDR = struct.pack("<QQQ", 0x410FD490, 0x1, 0x2)
REGS = (0x1, 0x1, 0xE030_0000, 0x6000_0000, 0x10, 0x11, 0x12, 0x13)
TWO = S.ArmRasSection(
    component_type=1, ip_instance=MPIDR, ip_type=MIDR, user_data=b"dimm0",
    error_syndromes=[S.ErrorSyndrome(index=3, ras_revision=0x10, err_fr=1, err_ctlr=1, err_status=0xE030_0000,
                                     err_addr=0x6000_0000, err_misc0=0x10, err_misc1=0x11, err_misc2=0x12,
                                     err_misc3=0x13),
                     S.ErrorSyndrome(index=4)])
TWO_BYTES = header(count=2, comp=1, inst=MPIDR, iptype=MIDR, user=b"dimm0") + \
    entry(index=3, rev=0x10, regs=REGS) + entry(index=4)


def assert_both_ways(sec, expected: bytes) -> None:
    assert_golden(expected, sec)      # encode, decode, S.decode and a status block


def test_two_error_records():
    assert_both_ways(TWO, TWO_BYTES)


def test_header_fields_in_their_places():
    """Every header field a distinct value: a local-address instance (format 2: address space
    id, base) of an SMMU (component 2, IP type format 1: IIDR, AIDR)."""
    inst = struct.pack("<QQ", 0x7, 0x2B400000)
    iptype = struct.pack("<II16x", 0x0487143B, 0x2)
    sec = S.ArmRasSection(revision=0x01020304, component_type=2, ip_instance_format=2, ip_type_format=1,
                          ip_instance=inst, ip_type=iptype, user_data=b"smmu0-tcu")
    assert_both_ways(sec, header(revision=0x01020304, comp=2, inst_fmt=2, type_fmt=1, inst=inst,
                                 iptype=iptype, user=b"smmu0-tcu"))


def test_header_only():
    assert_both_ways(S.ArmRasSection(), header())


def test_auxiliary_data_follows_the_records():
    aux = struct.pack("<BBHIIHH", 1, 0, 0, 16, 16, 0, 0)        # table 22 header: no contexts, no pairs
    sec = S.ArmRasSection(error_syndromes=[S.ErrorSyndrome(index=1)], auxiliary_data=aux)
    assert_both_ways(sec, header(count=1, aux_off=80 + 72) + entry(index=1) + aux)


MPAM_KEY = bytes.fromhex("8251b4eb03fbf94b9aca8613709fd789")   # EBB45182-FB03-4BF9-9ACA-8613709FD789, on the wire


def test_typed_auxiliary_data():
    aux = S.AuxData(contexts=[S.AuxContext(local=True, address_space_id=0x33ED,
                                           registers=[(0x2A000000, 0x5), (0x2A000008, 0x6)]),
                              S.AuxContext(registers=[(0x10, 0x11)])],
                    pairs=[S.AuxPair(S.MPAM_PARTID, 7)])
    expected = (struct.pack("<BBHIIHH", 1, 0, 2, 16 + 48 + 32 + 24, 16 + 48 + 32, 1, 0)
                + struct.pack("<IBBHH6x", 48, 1, 0, 2, 0x33ED) + struct.pack("<QQQQ", 0x2A000000, 5, 0x2A000008, 6)
                + struct.pack("<IBBHH6x", 32, 0, 0, 1, 0) + struct.pack("<QQ", 0x10, 0x11)
                + MPAM_KEY + struct.pack("<Q", 7))
    sec = S.ArmRasSection(error_syndromes=[S.ErrorSyndrome()], auxiliary_data=aux)
    assert_both_ways(sec, header(count=1, aux_off=152) + entry() + expected)
    assert S.ArmRasSection(auxiliary_data=expected).auxiliary_data == aux     # bytes in that layout


@pytest.mark.parametrize("aux", [
    struct.pack("<BBHIIHH", 1, 0, 0, 20, 16, 0, 0) + bytes(4),     # padding after the block
    struct.pack("<BBHIIHH", 1, 0, 0, 16, 16, 0, 7),                 # a reserved field set
    struct.pack("<BBHIIHH", 1, 0, 1, 16, 16, 0, 0),                 # a context that is not there
], ids=["padding", "reserved", "missing-context"])
def test_other_auxiliary_data_stays_bytes(aux):
    sec = S.ArmRasSection(auxiliary_data=aux)
    assert sec.auxiliary_data == aux
    assert_both_ways(sec, header(aux_off=80) + aux)


def test_reserved_bytes_and_trailing_are_kept():
    body = header(count=1, res1=b"\x01\x02\x03", res2=b"\x04" * 6) + entry(res=b"\x05\x06\x07") + b"\xee\xff"
    sec = S.ArmRasSection.decode(body)
    assert sec is not None and sec.encode() == body
    assert sec.reserved == b"\x01\x02\x03" + b"\x04" * 6 and sec.trailing == b"\xee\xff"
    assert sec.error_syndromes[0].reserved == b"\x05\x06\x07"


@pytest.mark.parametrize("body", [
    header(entry_off=88) + bytes(8),              # a gap before the records
    header(count=1, aux_off=80) + entry(),        # auxiliary data overlapping the records
    header(count=2) + entry(),                    # a count past the section
    header()[:79],
], ids=["gap", "overlap", "overrun", "short"])
def test_other_offsets_stay_raw_and_unchanged(body):
    raw = records.encode(StatusBlock([Entry(RawSection(guid=S.arm_ras.GUID, data=body))]))
    blk = records.decode(raw)
    assert isinstance(blk.entries[0].section, RawSection) and records.encode(blk) == raw


def test_bad_values_name_the_field():
    with pytest.raises(UsageError, match="user_data"):
        S.ArmRasSection(user_data=b"x" * 17)
    with pytest.raises(UsageError, match="err_status"):
        S.ErrorSyndrome(err_status=1 << 64)
    with pytest.raises(UsageError, match="trailing"):
        S.ArmRasSection(auxiliary_data=b"", trailing=b"\x01")


@pytest.mark.parametrize("change, field", [
    ({"error_syndromes": [5]}, "error_syndromes[0]"),
    ({"error_syndromes": [{"idx": 1}]}, "error_syndromes[0]"),
    ({"auxiliary_data": {"contexts": [{"scope": 1}]}}, "contexts[0]"),
    ({"auxiliary_data": {"pairs": [{"key": "zz", "value": 1}]}}, "pairs.key"),
])
def test_a_bad_json_model_names_the_part(change, field):
    model = {**TWO.to_json(), **change}
    model.pop("kind")
    with pytest.raises(UsageError) as exc:
        S.ArmRasSection.from_json(model)
    assert str(exc.value).startswith(field + ": ")


def test_json_model_roundtrip():
    model = TWO.to_json()
    model.pop("kind")
    assert S.ArmRasSection.from_json(model) == TWO


# ---- the kernel ---------------------------------------------------------------------------------

P = "{1}[Hardware Error]:   "


@pytest.mark.parametrize("profile", kernel_profile.names())
def test_every_kernel_prints_it_as_unknown(profile):
    sec = S.ArmRasSection(ip_instance=MPIDR, user_data=b"RAS node",
                          error_syndromes=[S.ErrorSyndrome(err_status=0xE030_0000)])
    out = format_estatus(StatusBlock([Entry(sec)]), 0, profile=kernel_profile.get(profile))
    assert out[3:] == [
        P + f"section type: unknown, {GUID_TEXT}",
        P + "section length: 0x98",
        P + "00000000: 00000001 00000000 00000001 00000050  ............P...",
        P + "00000010: 00000000 00000000 80000101 00000000  ................",
        P + "00000020: 00000000 00000000 00000000 00000000  ................",
        P + "00000030: 00000000 00000000 00000000 00000000  ................",
        P + "00000040: 20534152 65646f6e 00000000 00000000  RAS node........",
        P + "00000050: 00000000 00000000 00000000 00000000  ................",
        P + "00000060: 00000000 00000000 e0300000 00000000  ..........0.....",
        P + "00000070: 00000000 00000000 00000000 00000000  ................",
        P + "00000080: 00000000 00000000 00000000 00000000  ................",
        P + "00000090: 00000000 00000000                    ........",
    ]


@pytest.mark.parametrize("profile", kernel_profile.names())
def test_ghes_takes_the_non_standard_path(profile):
    body = TWO_BYTES
    lines = S.ghes_proc(S.arm_ras.GUID.bytes_le, body, len(body), 0, kernel_profile.get(profile))
    assert len(lines) == 1 and lines[0].startswith("[sim] GHES: arm-ras section " + GUID_TEXT)


# ---- libcper (PyPI cper 0.0.4) ------------------------------------------------------------------

def test_cper_0_0_4_keeps_it_as_an_unknown_section():
    """cper 0.0.4 predates libcper's Arm RAS parser (2025): it names the GUID and keeps the
    body as base64, which must be fwemu's bytes exactly."""
    cper = pytest.importorskip("cper", reason="pip install cper==0.0.4 (needs libjson-c-dev)")
    from cper_wrap import wrap_record
    out = cper.parse(wrap_record(records.encode(StatusBlock([Entry(TWO)]))))
    assert out["sectionDescriptors"][0]["sectionType"] == {"data": GUID_TEXT, "type": "Unknown"}
    assert base64.b64decode(out["sections"][0]["Unknown"]["data"]) == TWO_BYTES


# ---- the scenario ----------------------------------------------------------------------------

def section_of(fields: dict, mpidr: int | None = None) -> S.ArmRasSection:
    sec = scenarios.build("arm-ras", {"timestamp": "none", **fields}, mpidr=mpidr).entries[0].section
    assert isinstance(sec, S.ArmRasSection)
    return sec


def test_scenario_is_a_processor_node_of_the_target_pe():
    sec = section_of({}, mpidr=0x101)
    assert (sec.component_type, sec.ip_instance_format, sec.ip_type_format) == (0, 0, 0)
    assert sec.ip_instance == struct.pack("<QQ", 0x8000_0101, 0)
    assert sec.ip_type == struct.pack("<QQQ", 0x410FD490, 0, 0)
    (rec,) = sec.error_syndromes
    assert (rec.err_status, rec.err_addr, rec.ras_revision) == (0xE030_0000, 0x6000_0000, 0x10)
    assert section_of({"severity": "corrected"}).error_syndromes[0].err_status == 0xC200_0000


def test_scenario_mpam_partid():
    sec = section_of({"mpam_partid": "0x2a"})
    assert sec.auxiliary_data == S.AuxData(pairs=[S.AuxPair(S.MPAM_PARTID, 0x2A)])
    assert sec.encode()[152:] == struct.pack("<BBHIIHH", 1, 0, 0, 40, 16, 1, 0) + MPAM_KEY + struct.pack("<Q", 0x2A)


def test_scenario_options():
    sec = section_of({"component_type": "gic", "user_data": "GICD", "node_revision": "2", "record_index": "7",
                      "err_misc2": "0x22", "address": "0x1000", "midr": "0x410fd8e0",
                      "aux_data": "01 00 00 00 10 00 00 00 10 00 00 00 00 00 00 00"})
    rec = sec.error_syndromes[0]
    assert (sec.component_type, sec.user_data, rec.index, rec.err_misc2, rec.err_addr) == \
        (4, b"GICD" + bytes(12), 7, 0x22, 0x1000)
    assert sec.ip_type[:8] == struct.pack("<Q", 0x410FD8E0) and sec.encode()[:4] == struct.pack("<I", 2)
    assert sec.auxiliary_data == S.AuxData()        # the bytes are the canonical empty block
    assert sec.encode()[14:16] == struct.pack("<H", 80 + 72)


@pytest.mark.parametrize("fields, message", [
    ({"component_type": "dram"}, "--component-type: unknown component type 'dram'"),
    ({"user_data": "x" * 17}, "--user-data: is 17 characters; the user data holds 16"),
    ({"ip_instance": "00" * 17}, "--ip-instance: is 17 bytes; the field holds 16"),
    ({"ras_revision": "256"}, "--ras-revision: 256 is outside 0 .. 0xff"),
    ({"status": "1"}, "--status: does not apply to arm-ras"),
    ({"mpam_partid": "1", "aux_data": "00"}, "--mpam-partid: conflicts with --aux-data"),
    ({"ip_instance": "01", "mpidr": "1"}, "--ip-instance: conflicts with --mpidr"),
    ({"ip_type": "01", "midr": "1"}, "--ip-type: conflicts with --midr"),
])
def test_scenario_refuses_bad_values(fields, message):
    with pytest.raises(UsageError) as exc:
        section_of(fields)
    assert str(exc.value).startswith(message)
