"""Memory Error Section 2 (records/sections/memory2.py): golden bytes packed here with
struct from the UEFI 2.10 N.2.6 table (never by calling the encoder), the kernel's wording
and GHES handling in every kernel profile, the independent libcper decoder (PyPI `cper`
0.0.4) reading fwemu's bytes, and the `memory2` scenario.

The UEFI table (96 bytes): u64 validation bits; u64 error status (bit 0); u64 physical
address (1); u64 mask (2); u16 node (3), card (4), module (5), bank (6; group 20 in bits
15:8, address 21 in bits 7:0); u32 device (7), row (8), column (9), rank (10), bit position
(11); u8 chip id (12), error type (13), status (14), reserved; u64 requestor (15),
responder (16), target (17); u32 card handle (18), module handle (19).
"""

from __future__ import annotations

import struct

import pytest

from fwemu import records, scenarios
from fwemu.errors import UsageError
from fwemu.records import kernel_profile
from fwemu.records import sections as S
from fwemu.records.kernel_text import format_estatus
from fwemu.records.model import Entry, RawSection, StatusBlock
from test_sections_golden import assert_golden

FMT = "<QQQQHHHHIIIIIBBBBQQQII"
assert struct.calcsize(FMT) == 96
GUID_TEXT = "61ec04fc-48e6-d813-25c9-8daa44750b12"


def golden(bits=0, status=0, pa=0, mask=0, node=0, card=0, module=0, bank=0, device=0, row=0,
           column=0, rank=0, bitpos=0, chip=0, etype=0, st=0, res=0, req=0, resp=0, target=0,
           card_h=0, module_h=0) -> bytes:
    return struct.pack(FMT, bits, status, pa, mask, node, card, module, bank, device, row, column,
                       rank, bitpos, chip, etype, st, res, req, resp, target, card_h, module_h)


EVERY = S.Memory2Section(
    error_status=0x400, physical_address=0x60000040, physical_address_mask=0x0000_FFFF_FFFF_F000,
    node=1, card=2, module=3, bank=0x0506, device=0x10007, row=0x2_0008, column=0x3_0009,
    rank=0x4_000A, bit_position=0x5_000B, chip_id=0xC, error_type=3, status=1, requestor_id=0xD,
    responder_id=0xE, target_id=0xF, card_handle=0x1_0010, module_handle=0x1_0011)
EVERY_BYTES = golden(bits=(1 << 20) - 1, status=0x400, pa=0x60000040, mask=0x0000_FFFF_FFFF_F000,
                     node=1, card=2, module=3, bank=0x0506, device=0x10007, row=0x2_0008,
                     column=0x3_0009, rank=0x4_000A, bitpos=0x5_000B, chip=0xC, etype=3, st=1,
                     req=0xD, resp=0xE, target=0xF, card_h=0x1_0010, module_h=0x1_0011)


def assert_both_ways(sec, expected: bytes) -> None:
    assert_golden(expected, sec)      # encode, decode, S.decode and a status block


def test_every_field():
    assert_both_ways(EVERY, EVERY_BYTES)


def test_empty_section_is_96_zero_bytes():
    assert_both_ways(S.Memory2Section(), bytes(96))


def test_bank_group_and_address_share_the_bank_field():
    sec = S.Memory2Section(bank_group=0x12, bank_address=0x34)
    assert_both_ways(sec, golden(bits=1 << 20 | 1 << 21, bank=0x1234))
    assert_both_ways(S.Memory2Section(bank_address=7), golden(bits=1 << 21, bank=7))


def test_bank_disagreeing_with_its_group_is_refused():
    with pytest.raises(UsageError, match="bank"):
        S.Memory2Section(bank=0x0102, bank_group=3)
    S.Memory2Section(bank=0x0102, bank_group=1, bank_address=2)      # agreeing: fine


def test_bytes_under_clear_bits_and_reserved_byte_are_kept():
    body = golden(bits=1 << 1, pa=0x1000, node=9, bank=0x0203, res=0xAB)
    sec = S.Memory2Section.decode(body)
    assert sec is not None and sec.encode() == body
    assert (sec.node, sec.bank, sec.bank_group, sec.bank_address, sec.reserved) == (9, None, 2, 3, b"\xab")
    assert sec.explicit_validation_bits == 1 << 1


@pytest.mark.parametrize("n", [95, 97])
def test_other_lengths_stay_raw(n):
    body = (EVERY_BYTES + b"\x01")[:n]
    blk = records.decode(records.encode(StatusBlock([Entry(RawSection(guid=S.memory2.GUID, data=body))])))
    assert isinstance(blk.entries[0].section, RawSection)


def test_field_limits_are_checked():
    with pytest.raises(UsageError, match="device"):
        S.Memory2Section(device=1 << 32)
    with pytest.raises(UsageError, match="chip_id"):
        S.Memory2Section(chip_id=256)


# ---- the kernel ---------------------------------------------------------------------------------

P = "{1}[Hardware Error]:   "


@pytest.mark.parametrize("profile", kernel_profile.names())
def test_every_kernel_prints_it_as_unknown(profile):
    """cper.c's last branch: `section type: unknown, %pUl`, `section length: %#x`, then
    print_hex_dump(newpfx, "", DUMP_PREFIX_OFFSET, 16, 4, err, len, true)."""
    sec = S.Memory2Section(physical_address=0x60000000, error_type=3, status=1, node=0x4142)
    out = format_estatus(StatusBlock([Entry(sec)]), 0, profile=kernel_profile.get(profile))
    assert out[3:] == [
        P + f"section type: unknown, {GUID_TEXT}",
        P + "section length: 0x60",
        P + "00000000: 0000600a 00000000 00000000 00000000  .`..............",   # bits 1, 3, 13, 14
        P + "00000010: 60000000 00000000 00000000 00000000  ...`............",
        P + "00000020: 00004142 00000000 00000000 00000000  BA..............",
        P + "00000030: 00000000 00000000 00000000 00010300  ................",
        P + "00000040: 00000000 00000000 00000000 00000000  ................",
        P + "00000050: 00000000 00000000 00000000 00000000  ................",
    ]


@pytest.mark.parametrize("profile", kernel_profile.names())
def test_ghes_never_offlines_the_page(profile):
    """ghes_do_proc() compares the section type with CPER_SEC_PLATFORM_MEM only: section 2
    goes down the non-standard path, no memory_failure()."""
    body = EVERY.encode()
    lines = S.ghes_proc(S.memory2.GUID.bytes_le, body, len(body), 0, kernel_profile.get(profile))
    assert len(lines) == 1 and lines[0].startswith("[sim] GHES: memory2 section " + GUID_TEXT)
    assert "not a standard section" in lines[0]


# ---- libcper (PyPI cper 0.0.4) ------------------------------------------------------------------

def test_cper_reads_every_field():
    cper = pytest.importorskip("cper", reason="pip install cper==0.0.4 (needs libjson-c-dev)")
    from cper_wrap import wrap_record
    out = cper.parse(wrap_record(records.encode(StatusBlock([Entry(EVERY)]))))
    assert out["sectionDescriptors"][0]["sectionType"] == {"data": GUID_TEXT, "type": "Platform Memory 2"}
    m = out["sections"][0]["Memory2"]
    assert m["errorStatus"]["errorType"]["value"] == 4          # 0x400: bits 15:8 = ERR_MEM
    assert (m["physicalAddress"], m["physicalAddressMask"]) == (0x60000040, 0x0000_FFFF_FFFF_F000)
    assert m["bank"] == {"value": 0x0506}
    assert m["memoryErrorType"] == {"value": 3, "name": "Multi-bit ECC"}
    assert m["status"] == {"value": 1, "state": "Uncorrected"}
    assert (m["node"], m["card"], m["module"], m["device"], m["row"], m["column"], m["rank"],
            m["bitPosition"], m["chipID"]) == (1, 2, 3, 0x10007, 0x2_0008, 0x3_0009, 0x4_000A, 0x5_000B, 0xC)
    assert (m["requestorID"], m["responderID"], m["targetID"]) == (0xD, 0xE, 0xF)
    assert (m["cardSmbiosHandle"], m["moduleSmbiosHandle"]) == (0x1_0010, 0x1_0011)


def test_cper_0_0_4_shows_the_physical_address_under_the_error_status_bit():
    """libcper's memory2 decoder prints `physicalAddress` when validation bit 0 (error status)
    is set, not bit 1 (physical address); `physicalAddressHex` is always there."""
    cper = pytest.importorskip("cper", reason="pip install cper==0.0.4 (needs libjson-c-dev)")
    from cper_wrap import wrap_record
    sec = S.Memory2Section(physical_address=0x60000000)                 # bit 1 only
    m = cper.parse(wrap_record(records.encode(StatusBlock([Entry(sec)]))))["sections"][0]["Memory2"]
    assert "physicalAddress" not in m and m["physicalAddressHex"] == "0x0000000060000000"


def test_cper_reads_the_bank_group_form():
    cper = pytest.importorskip("cper", reason="pip install cper==0.0.4 (needs libjson-c-dev)")
    from cper_wrap import wrap_record
    sec = S.Memory2Section(bank_group=2, bank_address=3, status=0)
    m = cper.parse(wrap_record(records.encode(StatusBlock([Entry(sec)]))))["sections"][0]["Memory2"]
    assert m["bank"] == {"address": 3, "group": 2}
    assert m["status"] == {"value": 0, "state": "Corrected"}


# ---- the scenario ----------------------------------------------------------------------------

def section_of(fields: dict) -> S.Memory2Section:
    sec = scenarios.build("memory2", {"timestamp": "none", **fields}).entries[0].section
    assert isinstance(sec, S.Memory2Section)
    return sec


def test_scenario_defaults_follow_the_severity():
    ue, ce = section_of({}), section_of({"severity": "corrected"})
    assert (ue.physical_address, ue.error_type, ue.status) == (0x60000000, 3, 1)
    assert (ce.error_type, ce.status) == (2, 0)


def test_scenario_takes_the_32_bit_fields():
    sec = section_of({"device": "0x10000", "row": "0xffffffff", "rank": "0x12345",
                      "chip_id": "200", "card_handle": "0x10001", "status": "3",
                      "bank_group": "1", "bank_address": "2", "error_type": "14"})
    assert (sec.device, sec.row, sec.rank, sec.chip_id, sec.card_handle, sec.status) == \
        (0x10000, 0xFFFFFFFF, 0x12345, 200, 0x10001, 3)
    assert (sec.bank_group, sec.bank_address, sec.bank_word, sec.error_type) == (1, 2, 0x0102, 14)


@pytest.mark.parametrize("fields, message", [
    ({"device": "0x100000000"}, "--device: 0x100000000 is outside 0 .. 0xffffffff"),
    ({"error_type": "256"}, "--error-type: 256 is outside 0 .. 0xff"),
    ({"bank": "1", "bank_group": "1"}, "--bank: conflicts with --bank-group/--bank-address"),
])
def test_scenario_refuses_bad_values(fields, message):
    with pytest.raises(UsageError) as exc:
        section_of(fields)
    assert str(exc.value).startswith(message)


def test_memory_section_limits_are_unchanged():
    with pytest.raises(UsageError, match="--device"):
        scenarios.build("memory-ue", {"device": "0x10000"})
    with pytest.raises(UsageError, match="--chip-id"):
        scenarios.build("memory-ue", {"chip_id": "8"})
    with pytest.raises(UsageError, match="--status: does not apply to memory-ue"):
        scenarios.build("memory-ue", {"status": "1"})
