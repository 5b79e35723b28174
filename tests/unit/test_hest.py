"""fwemu.hest / fwemu.hest_lint / `fwemu hest`: the built table byte for byte against QEMU's,
build -> import -> build identity, every lint rule (fires / does not fire), bad input as
one clear error, and the CLI's --json and exit codes. iasl cross-checks live in
tests/integration/test_hest_iasl.py."""

from __future__ import annotations

import copy
import json
import struct
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu.board import NOTIFY_TYPES, Board, board_from_dict, list_boards, parse_board
from fwemu.cli import main
from fwemu.errors import EXIT_USAGE, UsageError
from fwemu.hest import (TYPE_NAMES, HestError, HestTable, board_from_hest, board_to_toml,
                        build_hest, parse_hest)
from fwemu.hest_lint import RULES, lint

# --------------------------------------------------------------------------------------
# helpers

# cper-layouts.md §11: QEMU 10.0.2 virt,ras=on -m 1G, the GHESv2 entry at +0x28.
QEMU_ENTRY = bytes.fromhex(
    "0a00 0000 ffff 00 01 01000000 01000000 00040000"
    "004000040000417c00000000"
    "081c0000 00000000 00000000 00000000 00000000 00000000 00000000"
    "00040000"
    "004000040800417c00000000"
    "feffffffffffffff 0100000000000000".replace(" ", ""))


def qemu_board() -> Board:
    return board_from_dict({
        "name": "qemu-virt", "target": {"kind": "sim"}, "pes": {"count": 1},
        "window": [{"name": "hw-errors", "base": 0x7C410000, "size": 0x10000,
                    "access": "local"}],
        "source": [{"id": 0, "type": "ghesv2", "notify": "sea", "esa": 0x7C410000,
                    "read_ack": {"address": 0x7C410008, "preserve": 0xFFFFFFFFFFFFFFFE,
                                 "write": 1},
                    "block": 0x7C410010, "block_length": 1024}]})


def clean_dict() -> dict:
    """Three sources Linux takes without a word: SDEI (v2), polled (v2), external (v1)."""
    return {
        "name": "clean", "target": {"kind": "sim"}, "pes": {"count": 1},
        "window": [{"name": "w", "base": 0x80000000, "size": 0x10000, "access": "local"}],
        "source": [
            {"id": 0, "type": "ghesv2", "notify": "sdei", "vector": 804,
             "read_ack": {"address": 0x80000000, "preserve": 0, "write": 0},
             "esa": 0x80000008, "block": 0x80000010, "block_length": 0x3F0},
            {"id": 1, "type": "ghesv2", "notify": "polled", "poll_interval_ms": 100,
             "read_ack": {"address": 0x80000400, "preserve": 0xFFFFFFFFFFFFFFFE, "write": 1},
             "esa": 0x80000408, "block": 0x80000410, "block_length": 0x3F0},
            {"id": 2, "type": "ghes", "notify": "external", "vector": 65,
             "esa": 0x80000808, "block": 0x80000810, "block_length": 0x3F0},
        ],
        "sdei_event": [{"number": 804}],
        "routes": {"memory-ue": 0, "pcie-ue": 1},
    }


def clean_board() -> Board:
    return board_from_dict(clean_dict())


def clean_table() -> bytes:
    return build_hest(clean_board())


def fix(data: bytearray | bytes) -> bytes:
    data = bytearray(data)
    data[9] = 0
    data[9] = -sum(data[:struct.unpack_from("<I", data, 4)[0]]) & 0xFF
    return bytes(data)


def entry_offsets(data: bytes) -> list[int]:
    return [e.offset for e in parse_hest(data).entries]


def patch(data: bytes, *edits: tuple[int, int, str, int]) -> bytes:
    """edits: (entry index, offset in the entry, struct format, value); checksum fixed."""
    out = bytearray(data)
    offs = entry_offsets(data)
    for idx, at, fmt, value in edits:
        struct.pack_into("<" + fmt, out, offs[idx] + at, value)
    return fix(out)


def nmi_entry(sid: int = 7) -> bytes:
    return struct.pack("<HHIIII", 2, sid, 0, 1, 1, 0x100)


def table_of(*entries: bytes, count: int | None = None) -> bytes:
    body = b"".join(entries)
    head = struct.pack("<4sIBB6s8sI4sII", b"HEST", 40 + len(body), 1, 0, b"TEST  ",
                       b"TESTTEST", 1, b"TEST", 1, len(entries) if count is None else count)
    return fix(head + body)


# Boards whose sources are in the file (a discover = "hest" board reads them at run time).
BUILT_BOARDS = [b for b in list_boards() if b.sources]


def rules_of(findings) -> set[str]:
    return {f.rule for f in findings}


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


# --------------------------------------------------------------------------------------
# build: byte-exact against QEMU 10.0.2


def test_qemu_entry_byte_exact():
    data = build_hest(qemu_board())
    assert len(QEMU_ENTRY) == 92
    assert data[0x28:0x28 + 92] == QEMU_ENTRY


def test_qemu_header_fields():
    data = build_hest(qemu_board(), oem_id="BOCHS", oem_table_id="BXPC", oem_revision=1,
                      creator_id="BXPC", creator_revision=1)
    assert data[:4] == b"HEST"
    assert struct.unpack_from("<I", data, 4)[0] == 0x84 == len(data)
    assert data[8] == 1                                   # revision
    assert sum(data) % 256 == 0                           # checksum
    assert data[10:16] == b"BOCHS " and data[16:24] == b"BXPC    "
    assert struct.unpack_from("<I", data, 24)[0] == 1
    assert data[28:32] == b"BXPC" and struct.unpack_from("<I", data, 32)[0] == 1
    assert struct.unpack_from("<I", data, 36)[0] == 1    # error_source_count
    t = parse_hest(data)
    assert (t.oem_id, t.oem_table_id, t.creator_id) == ("BOCHS ", "BXPC    ", "BXPC")
    assert t.checksum_ok and len(t.entries) == 1 and t.entries[0].offset == 0x28


@pytest.mark.parametrize("kw", [{"oem_id": "TOOLONG"}, {"oem_table_id": "NINECHARS"},
                                {"creator_id": "ABCDE"}, {"oem_revision": -1},
                                {"creator_revision": 1 << 32}, {"oem_id": "\u00e9"}])
def test_build_rejects_bad_header_fields(kw):
    with pytest.raises(UsageError):
        build_hest(qemu_board(), **kw)


@pytest.mark.parametrize("board", BUILT_BOARDS, ids=lambda b: b.name)
def test_built_table_matches_board(board):
    t = parse_hest(build_hest(board))
    assert t.checksum_ok and t.length == t.data_size
    assert t.error_source_count == len(t.entries) == len(board.sources)
    for e, s in zip(t.entries, board.sources, strict=True):
        g = e.ghes
        assert e.type == s.hest_type and e.source_id == s.id
        assert e.length == (92 if s.is_v2 else 64)
        assert g.notify.type == NOTIFY_TYPES[s.notify] and g.notify.length == 28
        assert (g.notify.poll_interval, g.notify.vector) == (s.poll_interval_ms, s.vector)
        assert g.error_block_length == s.block_length
        assert g.max_raw_data_length == s.max_raw_data_length
        assert g.esa == s.esa_gas.__class__(s.esa, s.esa_gas.space_id, s.esa_gas.bit_width,
                                            s.esa_gas.bit_offset, s.esa_gas.access_size)
        if s.is_v2:
            assert g.read_ack == s.read_ack.gas
            assert (g.read_ack_preserve, g.read_ack_write) == (s.read_ack.preserve,
                                                               s.read_ack.write)
        assert bool(g.enabled) == s.enabled


# --------------------------------------------------------------------------------------
# build -> import -> build


def test_every_shipped_board_with_sources_is_covered():
    assert {"sim", "fvp", "rd-n2"} <= {b.name for b in BUILT_BOARDS}


@pytest.mark.parametrize("board", BUILT_BOARDS, ids=lambda b: b.name)
def test_build_import_build_identical(board):
    data = build_hest(board)
    skel = board_from_hest(parse_hest(data), board.name)
    text = board_to_toml(skel, skel.notes)
    again = parse_board(tomllib.loads(text), "imported.toml")
    assert build_hest(again) == data
    # the shipped boards use the slice layout, so even the guessed blocks are right
    assert [s.block for s in again.sources] == [s.block for s in board.sources]
    assert all(again.window_for(s.block, s.block_length) for s in again.sources)


@pytest.mark.parametrize("board", list_boards(), ids=lambda b: b.name)
def test_toml_writer_round_trips_board(board):
    text = board_to_toml(board.to_dict(), ["a comment", "x" * 200])
    assert parse_board(tomllib.loads(text), board.file, shipped=True) == board
    assert f"base = {board.windows[0].base:#x}\n" in text


def test_toml_writer_escapes_strings():
    d = clean_dict()
    d["description"] = 'quote " backslash \\ tab \t newline \n unicode \u00e9'
    assert board_from_dict(tomllib.loads(board_to_toml(d))).description == d["description"]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_toml_writer_any_string(text):
    d = clean_dict()
    d["description"] = text
    assert tomllib.loads(board_to_toml(d))["description"] == text


def test_import_everything_the_schema_holds():
    d = clean_dict()
    d["source"][1].update(enabled=False, related_source_id=0, records_to_preallocate=4,
                          max_sections_per_record=3, max_raw_data_length=100,
                          esa_gas={"space_id": 0, "bit_width": 64, "bit_offset": 0,
                                   "access_size": 3})
    d["source"][1]["read_ack"].update(bit_offset=1, width=4, access_size=1)
    d["routes"] = {"memory-ue": 0}
    board = board_from_dict(d)
    data = build_hest(board)
    skel = board_from_hest(parse_hest(data), "clean")
    again = board_from_dict(dict(skel))
    assert build_hest(again) == data
    assert again.source(1).read_ack.width == 4 and not again.source(1).enabled


def test_import_qemu_layout_guesses_qemu_blocks():
    """QEMU: all ESA registers, then all Read Ack registers, then the 1 KiB blocks."""
    base = 0x7C410000
    src = lambda i: {"id": i, "type": "ghesv2", "notify": "sea" if i == 0 else "gpio",  # noqa: E731
                     "esa": base + 8 * i, "block": base + 32 + 1024 * i, "block_length": 1024,
                     "read_ack": {"address": base + 16 + 8 * i, "preserve": 0xFFFFFFFFFFFFFFFE,
                                  "write": 1}}
    board = board_from_dict({"name": "q", "target": {"kind": "sim"}, "pes": {"count": 1},
                             "window": [{"name": "w", "base": base, "size": 0x1000,
                                         "access": "local"}],
                             "source": [src(0), src(1)]})
    skel = board_from_hest(parse_hest(build_hest(board)), "q")
    assert [s["block"] for s in skel["source"]] == [base + 32, base + 32 + 1024]
    assert any("guessed" in n for n in skel.notes)


def test_import_block_override_and_windows_cover_everything():
    data = build_hest(clean_board())
    skel = board_from_hest(parse_hest(data), "x", blocks={2: 0x90000000}, target="agent",
                           url="socket://127.0.0.1:5002", pes=4)
    b = board_from_dict(dict(skel))
    assert b.source(2).block == 0x90000000 and b.target.kind == "agent"
    assert all(w.access == "remote" for w in b.windows) and b.pes.count == 4
    for s in b.sources:
        assert b.window_for(s.block, s.block_length) and b.window_for(s.esa, 8)
    assert [e.number for e in b.sdei_events] == [804]


def test_import_skips_other_types_and_unknown_notify_with_notes():
    good = build_hest(clean_board())
    data = table_of(nmi_entry(7), good[40:])
    data = patch(data, (2, 32, "B", 12))          # source 1: reserved notification type 12
    skel = board_from_hest(parse_hest(data), "x")
    assert [s["id"] for s in skel["source"]] == [0, 2]
    notes = "\n".join(skel.notes)
    assert "IA-32 NMI source 7 skipped" in notes and "notification type 12" in notes
    board_from_dict(dict(skel))


def test_import_notes_dropped_fields():
    data = patch(clean_table(), (0, 52, "I", 5), (0, 6, "B", 1))   # error threshold, flags
    skel = board_from_hest(parse_hest(data), "x")
    assert any("error_threshold_value=5" in n and "flags=0x1" in n for n in skel.notes)


def test_import_keeps_oem_header_in_a_note():
    data = build_hest(clean_board(), oem_id="ARMLTD", oem_table_id="RDN2")
    skel = board_from_hest(parse_hest(data), "x")
    assert any("--oem-id 'ARMLTD' --oem-table-id 'RDN2'" in n for n in skel.notes)
    assert not any("HEST header" in n for n in
                   board_from_hest(parse_hest(clean_table()), "x").notes)


@pytest.mark.parametrize("edits,where,why", [
    ([(0, 24, "Q", 0)], 0x28 + 24, "register address is 0"),
    ([(1, 2, "H", 0)], None, "duplicate source id 0"),
    ([(0, 40, "I", 0)], None, "SDEI event 0"),
    ([(2, 60, "I", 16)], None, "block_length"),
    ([(1, 36, "I", 0)], None, "poll_interval_ms"),
    ([(0, 20, "B", 1)], None, "esa_gas.space_id"),
])
def test_import_says_precisely_why_not(edits, where, why):
    data = patch(clean_table(), *edits)
    with pytest.raises(HestError) as ei:
        board_from_hest(parse_hest(data), "x")
    msg = str(ei.value)
    assert why in msg and "cannot be a board" in msg and msg.startswith("offset 0x")
    idx = edits[0][0]
    assert f"entry[{idx}]" in msg
    if where is not None:
        assert ei.value.offset == where


def test_import_nothing_to_hold():
    with pytest.raises(HestError, match="no GHES / GHESv2 entry"):
        board_from_hest(parse_hest(table_of(nmi_entry())), "x")


# --------------------------------------------------------------------------------------
# lint: every rule fires on a table made to trigger it, and not on a near miss


def _lint_bytes(data: bytes, **kw):
    return lint(parse_hest(data), **kw)


def test_clean_table_has_no_findings():
    assert _lint_bytes(clean_table()) == []
    assert lint(clean_board()) == []


def _dup_disabled():
    return patch(clean_table(), (1, 2, "H", 0), (1, 7, "B", 0))


LINT_CASES = {
    # rule: (triggering table, near-miss table that must not trigger it)
    "checksum": (lambda: bytes([*clean_table()[:9], clean_table()[9] ^ 1, *clean_table()[10:]]),
                 clean_table),
    "table-length": (lambda: clean_table() + b"\0" * 4, clean_table),
    "source-count": (lambda: fix(clean_table()[:36] + struct.pack("<I", 2) + clean_table()[40:]),
                     clean_table),
    "no-ghes": (lambda: table_of(nmi_entry()), lambda: table_of(nmi_entry(), clean_table()[40:],
                                                                count=4)),
    "non-ghes": (lambda: table_of(nmi_entry(), clean_table()[40:], count=4), clean_table),
    "duplicate-source-id": (lambda: patch(clean_table(), (2, 2, "H", 0)), _dup_disabled),
    "duplicate-id-other": (_dup_disabled, clean_table),
    "source-disabled": (lambda: patch(clean_table(), (2, 7, "B", 0)),
                        lambda: patch(clean_table(), (2, 7, "B", 2))),
    "notify-sei": (lambda: patch(clean_table(), (1, 32, "B", 9)),
                   lambda: patch(clean_table(), (1, 32, "B", 8))),
    "notify-local": (lambda: patch(clean_table(), (2, 32, "B", 2)), clean_table),
    "notify-unsupported": (lambda: patch(clean_table(), (2, 32, "B", 4)),
                           lambda: patch(clean_table(), (2, 32, "B", 11), (2, 40, "I", 805))),
    "notify-hed": (lambda: patch(clean_table(), (2, 32, "B", 10)), clean_table),
    "notify-length": (lambda: patch(clean_table(), (2, 33, "B", 24)), clean_table),
    "poll-interval-zero": (lambda: patch(clean_table(), (1, 36, "I", 0)),
                           lambda: patch(clean_table(), (1, 36, "I", 1))),
    "sdei-event-zero": (lambda: patch(clean_table(), (0, 40, "I", 0)),
                        lambda: patch(clean_table(), (0, 40, "I", 1))),
    "sdei-event-reused": (lambda: patch(clean_table(), (1, 32, "B", 11), (1, 40, "I", 804)),
                          lambda: patch(clean_table(), (1, 32, "B", 11), (1, 40, "I", 804),
                                        (1, 7, "B", 0))),
    "block-length-small": (lambda: patch(clean_table(), (2, 60, "I", 19)),
                           lambda: patch(clean_table(), (2, 60, "I", 20))),
    "block-length-large": (lambda: patch(clean_table(), (2, 60, "I", 65537)),
                           lambda: patch(clean_table(), (2, 60, "I", 65536))),
    "gas-address-zero": (lambda: patch(clean_table(), (1, 68, "Q", 0)), clean_table),
    "gas-access-size": (lambda: patch(clean_table(), (0, 23, "B", 5)),
                        lambda: patch(clean_table(), (0, 23, "B", 1))),   # 64-bit fixup
    "gas-bit-width": (lambda: patch(clean_table(), (0, 22, "B", 1)),
                      lambda: patch(clean_table(), (0, 21, "B", 32), (0, 23, "B", 3))),
    "gas-space-id": (lambda: patch(clean_table(), (0, 20, "B", 2)),
                     lambda: patch(clean_table(), (0, 20, "B", 1))),
    "gas-space-io": (lambda: patch(clean_table(), (0, 64, "B", 1)), clean_table),
    "gas-unaligned": (lambda: patch(clean_table(), (0, 24, "Q", 0x80000004)),
                      lambda: patch(clean_table(), (0, 24, "Q", 0x80000004), (0, 21, "B", 32),
                                    (0, 23, "B", 3))),
    "esa-width": (lambda: patch(clean_table(), (0, 21, "B", 32), (0, 23, "B", 3)), clean_table),
    "read-ack-noop": (lambda: patch(clean_table(), (1, 76, "Q", (1 << 64) - 1), (1, 84, "Q", 0)),
                      lambda: patch(clean_table(), (1, 76, "Q", (1 << 64) - 2),
                                    (1, 84, "Q", 0))),
    "overlap": (lambda: patch(clean_table(), (2, 24, "Q", 0x80000408)),
                lambda: patch(clean_table(), (2, 24, "Q", 0x80000410))),
}
BOARD_ONLY = {"route-unknown", "route-disabled", "route-refused", "route-block-small"}


def test_every_rule_has_a_case():
    assert set(RULES) == set(LINT_CASES) | BOARD_ONLY


@pytest.mark.parametrize("rule", sorted(LINT_CASES))
def test_lint_rule(rule):
    bad, near = LINT_CASES[rule]
    found = [f for f in _lint_bytes(bad()) if f.rule == rule]
    assert found, rule
    f = found[0]
    assert f.severity in ("error", "warning", "info") and f.message and f.linux
    assert f.linux == RULES[rule][2]
    assert rule not in rules_of(_lint_bytes(near())), rule


def test_lint_names_source_and_offset():
    f = [f for f in _lint_bytes(patch(clean_table(), (2, 2, "H", 0)))
         if f.rule == "duplicate-source-id"][0]
    assert f.source_id == 0 and f.offset == entry_offsets(clean_table())[2] + 2
    assert f.severity == "error" and "unregisters every GHES" in f.linux


def test_lint_disabled_source_probe_rules_are_info():
    f = [f for f in _lint_bytes(patch(clean_table(), (1, 32, "B", 9), (1, 7, "B", 0)))
         if f.rule == "notify-sei"][0]
    assert f.severity == "info" and "disabled" in f.message


def test_lint_block_overlap_needs_block_addresses():
    data = clean_table()
    assert "overlap" not in rules_of(_lint_bytes(data, blocks={0: 0x80000010, 1: 0x80000410}))
    found = _lint_bytes(data, blocks={0: 0x80000010, 1: 0x80000100})   # 0x3F0 bytes each
    msgs = [f.message for f in found if f.rule == "overlap" and f.source_id == 1]
    assert len(msgs) == 3              # block 0, and its own Read Ack and ESA registers
    assert any("overlaps entry[0] (GHESv2, source 0).block" in m for m in msgs)
    found = _lint_bytes(data, blocks={2: 0x80000000})     # over source 0's registers
    assert [f.source_id for f in found if f.rule == "overlap"] == [2, 2]


@pytest.mark.parametrize("routes,rule,fires", [
    ({"memory-ue": 9}, "route-unknown", True),
    ({"memory-ue": 0}, "route-unknown", False),
    ({"memory-ue": 1}, "route-disabled", True),
    ({"memory-ue": 0}, "route-disabled", False),
    ({"raw": 2}, "route-refused", True),
    ({"raw": 0}, "route-refused", False),
    ({"pcie-ue": 0}, "route-block-small", True),     # 300 needed, 172 there
    ({"memory-ue": 0}, "route-block-small", False),  # 172 needed, 172 there
])
def test_lint_route_rules(routes, rule, fires):
    data = patch(clean_table(), (0, 60, "I", 172), (1, 7, "B", 0), (2, 32, "B", 9))
    assert (rule in rules_of(_lint_bytes(data, routes=routes))) == fires


def test_lint_board_checks_blocks_and_routes():
    d = clean_dict()
    d["source"][0]["block_length"] = 172
    d["routes"] = {"memory-ue": 0}
    assert lint(board_from_dict(d)) == []
    found = lint(board_from_dict(d), routes={"pcie-ce": 0})
    assert rules_of(found) == {"route-block-small"}


# --------------------------------------------------------------------------------------
# parser: bad input is one clear error with the offset and the field


@pytest.mark.parametrize("data,offset,field,words", [
    (b"HES", 0, "header", "truncated"),
    (b"APIC" + bytes(60), 0, "signature", "'APIC'"),
    (fix(b"HEST" + struct.pack("<I", 39) + bytes(31)), 4, "length", "below 40"),
    (b"HEST" + struct.pack("<I", 0x100) + bytes(60), 4, "length", "truncated table"),
    (table_of(struct.pack("<HH", 5, 0) + bytes(16)), 40, "entry[0].type", "reserved"),
    (table_of(struct.pack("<HH", 12, 0) + bytes(16)), 40, "entry[0].type", "unknown"),
    (table_of(struct.pack("<HH", 0xFFFF, 0)), 40, "entry[0].type", "unknown"),
    (table_of(nmi_entry(), b"\x09\x00"), 60, "entry[1]", "truncated"),
    (table_of(nmi_entry()[:16]), 40, "entry[0]", "20 bytes"),
    (table_of(struct.pack("<HH", 0, 0) + bytes(28) + b"\x03" + bytes(7) + bytes(28)),
     40 + 32, "entry[0].num_hardware_banks", "3 banks"),
    (table_of(struct.pack("<HH", 1, 0) + bytes(20)), 40, "entry[0]", "truncated"),
])
def test_parse_errors(data, offset, field, words):
    with pytest.raises(HestError) as ei:
        parse_hest(data)
    e = ei.value
    assert (e.offset, e.field) == (offset, field)
    assert words in str(e) and f"offset {offset:#x}: {field}: " in str(e)
    assert e.exit_code == EXIT_USAGE


def test_parse_every_known_type():
    mce = struct.pack("<HHHBBIIQQB7s", 0, 30, 0, 0, 1, 1, 1, 0, 0, 2, bytes(7)) + bytes(56)
    cmc = struct.pack("<HHHBBII", 1, 31, 0, 0, 1, 1, 1) + bytes(28) + b"\x01" + bytes(3) + bytes(28)
    aer = lambda t, n: struct.pack("<HHHBBII", t, 3 + t, 0, 1, 1, 1, 1) + bytes(n - 16)  # noqa
    dmc = struct.pack("<HHHBBII", 11, 20, 0, 0, 1, 1, 1) + bytes(28) + b"\x00" + bytes(3)
    data = table_of(mce, cmc, nmi_entry(), aer(6, 48), aer(7, 44), aer(8, 56), dmc,
                    clean_table()[40:], count=10)
    t = parse_hest(data)
    assert [e.type for e in t.entries] == [0, 1, 2, 6, 7, 8, 11, 10, 10, 9]
    assert [e.length for e in t.entries] == [96, 76, 20, 48, 44, 56, 48, 92, 92, 64]
    assert set(TYPE_NAMES) == {e.type for e in t.entries}
    assert t.entries[0].fields["num_hardware_banks"] == 2 and len(t.entries[0].fields["banks"]) == 2
    assert t.entries[2].enabled is None
    json.dumps(t.to_dict())
    assert rules_of(lint(t)) == {"non-ghes"}


# Property: random bytes, random HEST-shaped bytes and mutated real tables either parse or
# raise HestError; a parsed table always lints and imports (or says why not).

_SEEDS = [build_hest(b) for b in BUILT_BOARDS] + [clean_table()]


def _check_any(data: bytes) -> None:
    try:
        table = parse_hest(data)
    except HestError as exc:
        assert str(exc).startswith("offset 0x") and exc.field
        return
    assert isinstance(table, HestTable)
    json.dumps(table.to_dict())
    for f in lint(table):
        assert f.rule in RULES
    try:
        skel = board_from_hest(table, "fuzz")
    except HestError as exc:
        assert exc.field
        return
    board_from_dict(dict(skel))
    parse_board(tomllib.loads(board_to_toml(skel, skel.notes)), "fuzz.toml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data):
    _check_any(data)
    _check_any(b"HEST" + data)
    if len(data) >= 4:
        _check_any(b"HEST" + struct.pack("<I", len(data) + 8) + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                         max_size=8),
       st.integers(0, 10_000), st.booleans())
def test_fuzz_mutated_tables(seed, edits, cut, fixsum):
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut % 3 == 0:
        data = data[:cut % (len(data) + 1)]
    if fixsum and len(data) >= 10:
        data = bytearray(fix(data)) if struct.unpack_from("<I", data, 4)[0] <= len(data) else data
    _check_any(bytes(data))


_u8, _u16, _u32, _u64 = (st.integers(0, (1 << n) - 1) for n in (8, 16, 32, 64))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _u16, _u16, _u8, _u8, _u32, _u32, _u32,
                          st.tuples(_u8, _u8, _u8, _u8, _u64),
                          st.tuples(_u8, _u8, _u16, _u32, _u32, _u32, _u32, _u32, _u32), _u32,
                          st.tuples(_u8, _u8, _u8, _u8, _u64), _u64, _u64), max_size=5))
def test_random_ghes_fields_parse_back(entries):
    """Any GHES / GHESv2 field values (packed here, independently of build_hest) read back."""
    raw = []
    for v2, sid, rel, flags, en, pre, sec, raw_len, esa, notify, blen, ra, pres, wr in entries:
        b = struct.pack("<HHHBBIII", 10 if v2 else 9, sid, rel, flags, en, pre, sec, raw_len)
        b += struct.pack("<BBBBQ", *esa) + struct.pack("<BBHIIIIII", *notify)
        b += struct.pack("<I", blen)
        if v2:
            b += struct.pack("<BBBBQQQ", *ra, pres, wr)
        raw.append(b)
    t = parse_hest(table_of(*raw))
    for e, (v2, sid, rel, flags, en, pre, sec, raw_len, esa, notify, blen, ra, pres, wr) in \
            zip(t.entries, entries, strict=True):
        g = e.ghes
        assert (e.type, e.source_id, g.related_source_id, g.flags, g.enabled) == \
            (10 if v2 else 9, sid, rel, flags, en)
        assert (g.records_to_preallocate, g.max_sections_per_record,
                g.max_raw_data_length, g.error_block_length) == (pre, sec, raw_len, blen)
        assert (g.esa.space_id, g.esa.bit_width, g.esa.bit_offset, g.esa.access_size,
                g.esa.address) == esa
        assert tuple(g.notify.to_dict()[k] for k in list(g.notify.to_dict())[1:]) == notify
        if v2:
            assert (g.read_ack.space_id, g.read_ack.bit_width, g.read_ack.bit_offset,
                    g.read_ack.access_size, g.read_ack.address) == ra
            assert (g.read_ack_preserve, g.read_ack_write) == (pres, wr)
    _check_any(table_of(*raw))


# --------------------------------------------------------------------------------------
# CLI


def test_cli_build(tmp_path, capsys):
    out = tmp_path / "HEST.dat"
    rc, stdout, _ = run(capsys, "hest", "build", "--board", "rd-n2", "-o", str(out),
                        "--oem-id", "ARMLTD", "--oem-table-id", "RDN2", "--oem-revision", "0x20",
                        "--creator-id", "ARM", "--creator-revision", "7")
    assert rc == 0 and "224 bytes" in stdout
    data = out.read_bytes()
    assert data[10:16] == b"ARMLTD" and data[16:24] == b"RDN2    "
    assert struct.unpack_from("<I", data, 24)[0] == 0x20 and data[28:32] == b"ARM "
    assert struct.unpack_from("<I", data, 32)[0] == 7 and sum(data) % 256 == 0


def test_cli_build_json_and_global_board(tmp_path, capsys):
    out = tmp_path / "h.dat"
    rc, stdout, _ = run(capsys, "--board", "fvp", "hest", "build", "-o", str(out), "--json")
    env = json.loads(stdout)
    assert rc == 0 and env["status"] == 0 and env["board"] == "fvp"
    assert env["length"] == out.stat().st_size == 40 + 5 * 92
    assert [e["source_id"] for e in env["table"]["entries"]] == [0, 1, 2, 3, 4]


def test_cli_build_errors(tmp_path, capsys):
    rc, _, err = run(capsys, "hest", "build", "--board", "nosuch", "-o", str(tmp_path / "x"))
    assert rc == 2 and err.count("\n") == 1
    rc, _, err = run(capsys, "hest", "build", "-o", str(tmp_path / "x"), "--oem-id", "1234567")
    assert rc == 2 and "--oem-id" in err
    rc, _, err = run(capsys, "hest", "build")
    assert rc == 2
    rc, _, err = run(capsys, "hest")
    assert rc == 2 and "missing action" in err
    for b in list_boards():
        if not b.sources:                    # discover = "hest": nothing in the file to build
            rc, _, err = run(capsys, "hest", "build", "--board", b.name, "-o",
                             str(tmp_path / "x"))
            assert rc == 2 and "discover" in err
            assert run(capsys, "hest", "lint", "--board", b.name)[0] == 2


def test_cli_import(tmp_path, capsys):
    hest, toml = tmp_path / "HEST", tmp_path / "my-board.toml"
    assert run(capsys, "hest", "build", "--board", "sim", "-o", str(hest))[0] == 0
    rc, stdout, _ = run(capsys, "hest", "import", str(hest), "-o", str(toml))
    assert rc == 0 and "8 sources" in stdout and "note:" in stdout
    from fwemu.board import load_board
    b = load_board(str(toml))
    assert b.name == "my-board" and build_hest(b) == hest.read_bytes()
    rc, stdout, _ = run(capsys, "hest", "import", str(hest), "--json", "--name", "n",
                        "--block", "7=0x7c420000")
    env = json.loads(stdout)
    assert rc == 0 and env["board"]["name"] == "n" and env["notes"]
    assert env["board"]["source"][7]["block"] == 0x7C420000
    assert tomllib.loads(env["toml"])["name"] == "n"
    rc, stdout, _ = run(capsys, "hest", "import", str(hest))
    assert rc == 0 and tomllib.loads(stdout)["source"][0]["notify"] == "polled"


def test_cli_import_errors(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.write_bytes(clean_table()[:60])
    rc, stdout, err = run(capsys, "hest", "import", str(bad))
    assert rc == 2 and f"{bad}: offset 0x4: length:" in err and err.count("\n") == 1
    rc, stdout, _ = run(capsys, "hest", "import", str(bad), "--json")
    env = json.loads(stdout)
    assert rc == 2 and env["status"] == 2 and "offset 0x4" in env["error"]
    rc, _, err = run(capsys, "hest", "import", str(tmp_path / "none"))
    assert rc == 2 and "cannot read" in err
    hest = tmp_path / "h"
    hest.write_bytes(patch(clean_table(), (1, 2, "H", 0)))
    rc, _, err = run(capsys, "hest", "import", str(hest))
    assert rc == 2 and "duplicate source id" in err and "offset 0x" in err
    rc, _, err = run(capsys, "hest", "import", str(tmp_path / "h"), "--target", "agent")
    assert rc == 2 and "--url" in err


def test_cli_lint(tmp_path, capsys):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_bytes(clean_table())
    bad.write_bytes(patch(clean_table(), (2, 2, "H", 0), (1, 36, "I", 0)))
    rc, stdout, _ = run(capsys, "hest", "lint", str(good))
    assert rc == 0 and "0 errors" in stdout
    rc, stdout, _ = run(capsys, "hest", "lint", str(bad))
    assert rc == 1 and "duplicate-source-id" in stdout and "Linux:" in stdout
    rc, stdout, _ = run(capsys, "hest", "lint", str(bad), "--json")
    env = json.loads(stdout)
    assert rc == 1 and env["counts"]["error"] == 2
    assert {f["rule"] for f in env["findings"]} == {"duplicate-source-id", "poll-interval-zero"}
    assert all({"severity", "rule", "source_id", "offset", "message", "linux"} <= set(f)
               for f in env["findings"])
    warn = tmp_path / "warn"
    warn.write_bytes(patch(clean_table(), (2, 60, "I", 70000)))
    assert run(capsys, "hest", "lint", str(warn))[0] == 0            # warnings only
    rc, stdout, _ = run(capsys, "hest", "lint", str(bad), "--ignore", "duplicate-source-id",
                        "--ignore", "poll-interval-zero")
    assert rc == 0


def test_cli_lint_board(tmp_path, capsys):
    assert run(capsys, "hest", "lint", "--board", "rd-n2")[0] == 0
    rc, stdout, _ = run(capsys, "hest", "lint", "--board", "sim", "--json")
    env = json.loads(stdout)
    assert rc == 1 and {f["source_id"] for f in env["findings"] if f["rule"] == "notify-sei"} \
        == {3, 4}
    assert run(capsys, "hest", "lint", "--board", "sim", "--ignore", "notify-sei")[0] == 0
    # a board that fails to load only because of a route is still linted
    d = clean_dict()
    d["source"][0]["block_length"] = 172
    d["routes"] = {"pcie-ue": 0}
    path = tmp_path / "small.toml"
    path.write_text(board_to_toml(d))
    rc, stdout, _ = run(capsys, "hest", "lint", "--board", str(path), "--json")
    env = json.loads(stdout)
    assert rc == 1 and [f["rule"] for f in env["findings"]] == ["route-block-small"]
    assert "300" in env["findings"][0]["message"]


def test_cli_lint_errors(tmp_path, capsys):
    f = tmp_path / "t"
    f.write_bytes(b"\x00" * 10)
    assert run(capsys, "hest", "lint")[0] == 2
    assert run(capsys, "hest", "lint", str(f), "--board", "sim")[0] == 2
    assert run(capsys, "hest", "lint", "--board", "sim", "--ignore", "nosuch")[0] == 2
    rc, _, err = run(capsys, "hest", "lint", str(f))
    assert rc == 2 and "offset 0x0: header: truncated" in err
    d = copy.deepcopy(clean_dict())
    d["source"][1]["id"] = 0
    path = tmp_path / "dup.toml"
    path.write_text(board_to_toml(d))
    rc, _, err = run(capsys, "hest", "lint", "--board", str(path))
    assert rc == 2 and "duplicate source id" in err


def test_cli_build_to_stdout():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "fwemu", "hest", "build", "--board", "rd-n2",
                        "-o", "-"], capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout == build_hest(
        [b for b in BUILT_BOARDS if b.name == "rd-n2"][0])


def test_docs_list_every_rule():
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "hest.md").read_text()
    for rule, (severity, _, _) in RULES.items():
        assert f"| `{rule}` | {severity} |" in doc, rule
