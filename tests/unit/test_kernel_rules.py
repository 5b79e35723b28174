"""The kernel's structural rules (linux-ghes-contract.md §3), one by one.

For every rule: a record that passes it and one that fails exactly that rule, built with
the model's fault-injection overrides or by patching bytes with struct. Verdict texts are
what Linux prints (`FW_WARN GHES_PFX "..."`). Then robustness: random bytes, mutations and
truncations of valid records go through check() and decode() without any exception but
RecordError.

Kernel arithmetic reproduced here (drivers/acpi/apei/ghes.c, drivers/firmware/efi/cper.c):
  len  = raw_data_length ? raw_data_offset + raw_data_length : 20 + data_length   (u32)
  L2   len < 20                              "Truncated error status block!"
  L3   len > min(error_block_length, 64 KiB) "Invalid error status block length!"
  H1   0 < data_length < 64                  "Invalid CPER header!"
  H2   raw_data_length && raw_data_offset < 20 + data_length   (64-bit compare)
  E1-3 cper_estatus_check walk               "Failed to read error status block!"
"""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu import records
from fwemu.errors import RecordError
from fwemu.records import ArmSection, Entry, MemorySection, RawSection, StatusBlock
from oracle import GUIDS, oracle_encode

PFX = "[Firmware Warn]: GHES: "
MSG = {
    "valid": "", "G3": "", "short-input": "",
    "L2": PFX + "Truncated error status block!",
    "L3": PFX + "Invalid error status block length!",
    "H1": PFX + "Invalid CPER header!",
    "H2": PFX + "Invalid CPER header!",
    "E1": PFX + "Failed to read error status block!",
    "E2": PFX + "Failed to read error status block!",
    "E3": PFX + "Failed to read error status block!",
}
ROBUST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def patch(buf: bytes, off: int, value: int, fmt: str = "<I") -> bytes:
    b = bytearray(buf)
    struct.pack_into(fmt, b, off, value)
    return bytes(b)


def header(block_status=0x11, raw_off=0, raw_len=0, data_len=0, severity=0) -> bytes:
    return struct.pack("<IIIII", block_status, raw_off, raw_len, data_len, severity)


def mem_block(**kw) -> StatusBlock:
    return StatusBlock([Entry(MemorySection(physical_address=0x60000000, error_type=0))], **kw)


MEM = records.encode(mem_block())               # 172 bytes: 20 + 72 + 80
assert len(MEM) == 172
MEM_RAW = records.encode(mem_block(raw_data=b"RAWDATA!"))   # raw at 172, 8 bytes
EMPTY = records.encode(StatusBlock())           # 20 bytes, data_length 0
# data_length exactly 64: one revision-0x0200 entry (64-byte header) with an empty body
MIN_ENTRY = StatusBlock([Entry(RawSection(guid=uuid.UUID(int=1)), revision=0x0200)])
MIN64 = records.encode(MIN_ENTRY)
assert len(MIN64) == 84


def expect(buf: bytes, rule: str, *, ebl: int = 0, length: int | None = None):
    v = records.check(buf, ebl)
    assert v.rule == rule, v
    assert v.message == MSG[rule], v
    assert v.valid == (rule == "valid")
    if length is not None:
        assert v.length == length, v
    if rule not in ("valid", "G3"):
        with pytest.raises(RecordError):
            records.decode(buf, ebl)
    return v


# ---- G3: block_status != 0 -----------------------------------------------------------

def test_g3_pass():
    expect(MEM, "valid", length=172)


def test_g3_fail_block_status_zero():
    blk = mem_block(block_status=0)
    buf = records.encode(blk)
    assert buf == oracle_encode(blk) == patch(MEM, 0, 0)
    expect(buf, "G3")
    # the block is still a readable record: decode inspects it (block_status 0 kept)
    assert records.decode(buf) == blk


def test_g3_is_checked_before_anything_else():
    """Linux returns -ENOENT silently on block_status 0, whatever the rest says."""
    expect(patch(patch(MEM, 0, 0), 12, 63), "G3")
    expect(patch(MEM, 0, 0), "G3", ebl=50)
    expect(bytes(4), "G3")


def test_g3_any_nonzero_status_is_enough():
    """Linux checks no bits beyond block_status != 0 (not the count, not UE/CE)."""
    for bs in (1, 0x80000000, 0xFFFFFFFF, 0x3FF0):
        expect(records.encode(mem_block(block_status=bs)), "valid")


# ---- L2: len >= 20 -----------------------------------------------------------------------

def test_l2_pass_empty_block_is_exactly_20():
    expect(EMPTY, "valid", length=20)


def test_l2_fail_raw_data_inside_header():
    buf = header(raw_off=8, raw_len=8) + bytes(16)
    v = expect(buf, "L2", length=16)
    assert v.offset in (4, 8)


def test_l2_fail_exactly_u32_wrap_of_raw_area():
    """raw_data_offset passes H2 (>= 20 + data_length), but offset + length wraps in the
    kernel's u32 `cper_estatus_len()` to 0: only L2 fails."""
    buf = header(raw_off=0xFFFFFFF0, raw_len=0x10) + bytes(16)
    expect(buf, "L2", length=0)


def test_l2_fail_exactly_u32_wrap_of_data_length():
    """data_length 0xFFFFFFF0 passes H1 (>= 64); 20 + it wraps to 4 in u32."""
    expect(header(data_len=0xFFFFFFF0), "L2", length=4)


# ---- L3: len <= min(error_block_length, 64 KiB) --------------------------------------------

def test_l3_pass_exact_fit():
    expect(MEM, "valid", ebl=172, length=172)


def test_l3_fail_one_byte_over():
    expect(MEM, "L3", ebl=171, length=172)


def test_l3_raw_data_counts():
    expect(MEM_RAW, "valid", ebl=180, length=180)
    expect(MEM_RAW, "L3", ebl=179, length=180)


def test_l3_64k_cap():
    at_cap = header(block_status=0x12, raw_off=20, raw_len=65536 - 20, severity=3)
    at_cap += bytes(65536 - 20)
    expect(at_cap, "valid", length=65536)
    over = patch(at_cap, 8, 65537 - 20) + b"\0"
    expect(over, "L3", length=65537)
    # a bigger error_block_length does not lift Linux's 64 KiB clamp
    expect(over, "L3", ebl=0x20000, length=65537)
    expect(at_cap, "valid", ebl=0x20000)


def test_l3_judged_from_header_alone():
    """The kernel checks the length before copying the block: no short-input here."""
    expect(header(raw_off=20, raw_len=100000), "L3", length=100020)


# ---- H1: data_length == 0 or >= 64 --------------------------------------------------------

def test_h1_pass_boundaries():
    expect(EMPTY, "valid")
    expect(MIN64, "valid", length=84)


def test_h1_fail_63():
    blk = StatusBlock(MIN_ENTRY.entries, data_length=63)
    buf = records.encode(blk)
    assert buf == oracle_encode(blk) == patch(MIN64, 12, 63)
    v = expect(buf, "H1", length=83)
    assert v.entries == 0


@pytest.mark.parametrize("data_len", [1, 20, 63])
def test_h1_fail_small_data_length(data_len):
    expect(header(data_len=data_len) + bytes(data_len), "H1")


def test_h1_judged_from_header_alone():
    expect(header(data_len=63), "H1")


# ---- H2: raw data must not overlap header + entries -------------------------------------

def test_h2_pass_raw_right_after_entries():
    assert struct.unpack_from("<I", MEM_RAW, 4)[0] == 172
    expect(MEM_RAW, "valid")


def test_h2_pass_gap_before_raw():
    blk = mem_block(raw_data=b"RAWDATA!", raw_data_offset=200)
    buf = records.encode(blk)
    assert buf == oracle_encode(blk)
    expect(buf + bytes(40), "valid", length=208)


def test_h2_fail_one_byte_overlap():
    blk = mem_block(raw_data=b"RAWDATA!", raw_data_offset=171)
    buf = records.encode(blk)
    assert buf == oracle_encode(blk) == patch(MEM_RAW, 4, 171)
    expect(buf, "H2", length=179)


def test_h2_fail_raw_over_header():
    expect(header(raw_off=0, raw_len=64) + bytes(64), "H2", length=64)


def test_h2_ignores_offset_without_raw_length():
    """raw_data_offset is not looked at when raw_data_length is 0."""
    expect(patch(MEM, 4, 3), "valid", length=172)


# ---- E1: each GDE header fits in what is left of data_length -----------------------------

def test_e1_pass():
    expect(MEM, "valid")


def test_e1_fail_v3_header_in_64_bytes():
    """data_length 64 passes H1 but a revision-0x0300 entry needs a 72-byte header."""
    blk = StatusBlock([Entry(RawSection(guid=uuid.UUID(int=1)))], data_length=64)
    buf = records.encode(blk)
    assert buf == oracle_encode(blk)
    v = expect(buf, "E1", length=84)
    assert (v.offset, v.entries) == (20, 0)


def test_e1_fail_leftover_after_last_entry():
    buf = patch(MEM, 12, 152 + 10) + bytes(10)
    v = expect(buf, "E1", length=182)
    assert (v.offset, v.entries) == (172, 1)


# ---- E2: header + error_data_length fits --------------------------------------------------

def test_e2_pass():
    expect(MEM, "valid")


def test_e2_fail_payload_one_byte_long():
    blk = StatusBlock([Entry(MemorySection(physical_address=0x60000000, error_type=0),
                             error_data_length=81)])
    buf = records.encode(blk)
    assert buf == oracle_encode(blk) == patch(MEM, 20 + 24, 81)
    v = expect(buf, "E2", length=172)
    assert 20 <= v.offset < 92 and v.entries == 0


def test_e2_fail_in_second_entry():
    blk = StatusBlock([Entry(MemorySection(physical_address=0x1000)),
                       Entry(RawSection(guid=uuid.UUID(int=2), data=b"abcd"), error_data_length=5)])
    buf = records.encode(blk)
    assert buf == oracle_encode(blk)
    v = expect(buf, "E2")
    assert 172 <= v.offset < 172 + 72 and v.entries == 1


# ---- E3: data_length consumed exactly -----------------------------------------------------

def test_e3_pass():
    v = expect(records.encode(StatusBlock([Entry(MemorySection(physical_address=1)),
                                           Entry(RawSection(guid=uuid.UUID(int=3), data=b"x"))])),
               "valid")
    assert v.entries == 2


@pytest.mark.parametrize("leftover", list(range(1, 72)))
def test_e3_leftover_is_reported_as_e1(leftover):
    """E3 is unreachable in Linux's cper_estatus_check(): the walk continues while the
    offset is below data_length, so any leftover is taken for one more entry header and
    fails E1 (header larger than what is left) before the final `if (data_len)`. Zero
    leftover bytes read as a revision-0 entry: 64 of them make a valid empty entry."""
    buf = patch(MEM, 12, 152 + leftover) + bytes(leftover)
    v = records.check(buf)
    if leftover == 64:
        assert v.valid and v.entries == 2
    else:
        assert v.rule == "E1" and v.message == MSG["E1"], v
        assert v.offset == (172 if leftover < 64 else 236)


# ---- short input (not a kernel rule) --------------------------------------------------------

def test_short_input():
    expect(MEM[:-1], "short-input")
    expect(b"", "short-input")
    expect(MEM[:3], "short-input")


def test_buffer_longer_than_len_is_fine():
    """The error status block region is usually larger than the record."""
    expect(MEM + bytes(1000), "valid", length=172)
    assert records.decode(MEM + b"\xff" * 100) == mem_block()


# ---- robustness ----------------------------------------------------------------------------

def robust(buf: bytes, ebl: int = 0):
    """check() returns a Verdict; decode() returns a block or raises RecordError only."""
    v = records.check(buf, ebl)
    assert isinstance(v.rule, str) and v.rule in MSG, v
    assert v.message == MSG[v.rule]
    try:
        blk = records.decode(buf, ebl)
    except RecordError:
        assert not v.valid or v.rule == "G3", v
        return v, None
    assert v.valid or v.rule == "G3", v
    # whatever decodes must re-encode to a block the kernel accepts, and decode again the
    # same (a G3 block is judged with block_status set, as decode() does)
    if v.rule == "G3":
        blk.block_status = 1
    again = records.encode(blk)
    assert records.check(again).valid
    assert records.decode(again) == blk
    return v, blk


@ROBUST
@given(st.binary(max_size=600), st.sampled_from([0, 0, 20, 64, 100, 1024, 0x20000]))
def test_random_bytes(buf, ebl):
    robust(buf, ebl)


@ROBUST
@given(st.builds(header, block_status=st.integers(0, 0xFFFFFFFF),
                 raw_off=st.sampled_from([0, 20, 92, 172]) | st.integers(0, 0xFFFFFFFF),
                 raw_len=st.sampled_from([0, 0, 1, 8]) | st.integers(0, 0xFFFFFFFF),
                 data_len=st.sampled_from([0, 64, 72, 152, 160]) | st.integers(0, 0xFFFFFFFF),
                 severity=st.integers(0, 0xFFFFFFFF)),
       st.binary(max_size=400))
def test_random_header_and_tail(hdr, tail):
    robust(hdr + tail)


bcd = st.integers(0, 99).map(lambda v: (v // 10) << 4 | v % 10)


@st.composite
def framed_random_bodies(draw):
    """Kernel-valid framing around random bodies under known GUIDs: exercises the section
    decoders on every kind of garbage a firmware could write."""
    guid_list = sorted(GUIDS.values(), key=str) + [uuid.UUID(int=7)]
    sizes = {GUIDS[MemorySection]: 80}
    entries = b""
    n = draw(st.integers(1, 3))
    for _ in range(n):
        guid = draw(st.sampled_from(guid_list))
        size = draw(st.sampled_from([sizes.get(guid, 40), 80, 192, 208, 32, 40, 72, 0])
                    | st.integers(0, 300))
        body = bytearray(draw(st.binary(min_size=size, max_size=size)))
        if guid == GUIDS[ArmSection] and size >= 40 and draw(st.booleans()):
            # plausible ARM header: small counts and a consistent section_length
            struct.pack_into("<HHI", body, 4, draw(st.integers(0, 3)), draw(st.integers(0, 2)),
                             size)
        revision = draw(st.sampled_from([0x0300, 0x0200, 0x0000, 0xFFFF]))
        hdr = struct.pack("<16sIHBBI16s20s", guid.bytes_le, draw(st.integers(0, 0xFFFFFFFF)),
                          revision, draw(st.integers(0, 255)), draw(st.integers(0, 255)),
                          size, draw(st.binary(min_size=16, max_size=16)),
                          draw(st.binary(min_size=20, max_size=20)))
        if revision >> 8 >= 3:
            # BCD bytes (non-BCD ones: test_decode_non_bcd_timestamp); any flags byte
            ts = [draw(bcd) for _ in range(8)]
            ts[3] = draw(st.integers(0, 255))
            hdr += bytes(ts)
        entries += hdr + bytes(body)
    raw = draw(st.binary(max_size=16))
    return header(block_status=draw(st.integers(1, 0xFFFFFFFF)),
                  raw_off=20 + len(entries) if raw else 0, raw_len=len(raw),
                  data_len=len(entries), severity=draw(st.integers(0, 0xFFFFFFFF))) + entries + raw


@ROBUST
@given(framed_random_bodies())
def test_framed_random_bodies_decode(buf):
    v, blk = robust(buf)
    assert v.valid
    assert blk is not None, "kernel-valid framing must decode"


@pytest.mark.parametrize("ts", ["ff" * 8, "00000000000000a0", "0a00000000000000", "99999999999999ff"])
def test_decode_non_bcd_timestamp(ts):
    """Linux accepts any timestamp bytes (it prints them with %02x-style BCD); a block the
    kernel accepts must decode, not raise."""
    buf = bytearray(records.encode(StatusBlock([Entry(MemorySection(physical_address=1),
                                                      timestamp=records.Timestamp())])))
    buf[20 + 64:20 + 72] = bytes.fromhex(ts)
    assert records.check(bytes(buf)).valid
    blk = records.decode(bytes(buf))
    assert blk.entries[0].section == MemorySection(physical_address=1)
    # ... and keep the bytes as they were
    assert records.encode(blk) == bytes(buf)


@ROBUST
@given(st.data())
def test_mutations_of_valid_records(data):
    from test_golden import ALL_GOLDEN
    buf = bytearray(data.draw(st.sampled_from(sorted(ALL_GOLDEN.items())))[1])
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    robust(bytes(buf))


def _valid_records():
    from test_golden import ALL_GOLDEN
    return sorted(ALL_GOLDEN.items()) + [("mem_raw", MEM_RAW), ("min64", MIN64)]


@pytest.mark.parametrize("name,buf", _valid_records())
def test_every_truncation_is_short_input(name, buf):
    assert records.check(buf).valid
    for k in range(len(buf)):
        v = records.check(buf[:k])
        assert v.rule == "short-input" and v.message == "", (k, v)
        with pytest.raises(RecordError):
            records.decode(buf[:k])


def test_raw_data_after_a_gap_decodes_and_encodes_the_same_bytes():
    """Found by test_random_header_and_tail: raw_data_offset past the entries' end leaves
    bytes between them, which the kernel accepts; they are kept, so the block encodes back
    to the same bytes (it was encoded one byte short and then rejected as truncated)."""
    buf = header(block_status=1, raw_off=21, raw_len=1, data_len=0, severity=0) + b"\xaa\xbb"
    v, blk = robust(buf)
    assert v.valid and blk.raw_gap == b"\xaa" and blk.raw_data == b"\xbb"
    assert records.encode(blk) == buf
    assert records.block_from_json(blk.to_json()) == blk
