"""block_status as ACPI 6.5 Table 18.11 defines it, from the entries' severities, in the
bytes fwemu writes (first u32 of the block)."""

from __future__ import annotations

import struct

import pytest

from fwemu import records
from fwemu.records.model import Entry, MemorySection, StatusBlock

R, F, C, I = 0, 1, 2, 3   # recoverable, fatal, corrected, info


def status_word(*severities: int, severity=None) -> int:
    blk = StatusBlock([Entry(MemorySection(physical_address=0x60000000 + i * 4096), severity=s)
                       for i, s in enumerate(severities)], severity=severity)
    return struct.unpack_from("<I", records.encode(blk))[0]


@pytest.mark.parametrize("severities, expected", [
    ((R,), 0x11),                  # one uncorrectable
    ((C,), 0x12),                  # one correctable
    ((I,), 0x12),                  # informational counts as correctable (non-fatal)
    ((R, C), 0x23),                # one of each: both valid bits, no "multiple"
    ((R, R), 0x25),                # two uncorrectable: multiple uncorrectable
    ((C, C), 0x2A),                # two correctable: multiple correctable
    ((F, R, C, C), 0x4F),          # all four bits
    ((C, 7), 0x23),                # an unknown severity is uncorrectable (Linux: fatal)
])
def test_bits_follow_the_entry_severities(severities, expected):
    assert status_word(*severities) == expected


def test_block_severity_does_not_hide_a_correctable_entry():
    # the block is recoverable (worst entry), but it also holds a corrected entry
    assert status_word(C, R, severity=R) == 0x23


def test_entry_count_saturates_at_ten_bits():
    blk = StatusBlock([Entry(MemorySection(), severity=C)] * 1030)
    # 1030 * 152 bytes is over 64 KiB: judge the header the model derives
    assert blk.block_status == 0x3FF << 4 | 0xA


def test_no_entries_still_non_zero():
    assert status_word(severity=R) == 0x1
    assert status_word(severity=C) == 0x2


def test_decoded_block_with_derived_status_is_not_forged():
    raw = records.encode(StatusBlock([Entry(MemorySection(), severity=R), Entry(MemorySection(), severity=C)]))
    assert not records.decode(raw).forged
    forged = bytearray(raw)
    forged[0] = 0x21                # the old encoding: UE bit and count only
    assert records.decode(bytes(forged)).forged
