"""Board files: the shipped boards load, to_dict round-trips, every validation rule reports
`file: field: reason`, and the `fwemu boards` / `fwemu board show` commands."""

from __future__ import annotations

import copy
import os
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fwemu.board import (
    NOTIFY_TYPES, SCENARIO_MIN_BLOCK_LENGTH, SCENARIOS, board_from_dict, list_boards, load_board,
)
from fwemu.errors import EXIT_USAGE, BoardError, UsageError

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("fvp", "qemu-virt", "rd-n2", "sim", "sim-agent", "tfa-qemu")


# --------------------------------------------------------------------------------------
# A tiny TOML writer for test boards (stdlib has a reader only)


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return hex(v) if v > 255 else str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_val(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(data: dict) -> str:
    out, tables, arrays = [], [], []
    for k, v in data.items():
        if isinstance(v, dict):
            tables.append((k, v))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            arrays.append((k, v))
        else:
            out.append(f"{_key(k)} = {_val(v)}")
    for k, v in tables:
        out.append(f"\n[{_key(k)}]")
        out.extend(f"{_key(kk)} = {_val(vv)}" for kk, vv in v.items())
    for k, items in arrays:
        for item in items:
            out.append(f"\n[[{_key(k)}]]")
            out.extend(f"{_key(kk)} = {_val(vv)}" for kk, vv in item.items())
    return "\n".join(out) + "\n"


def src(sid: int, slice_: int, **kw) -> dict:
    """A GHESv2 SDEI source in a 0x400 slice: Read Ack +0, ESA +8, block +0x10."""
    d = {"id": sid, "type": "ghesv2", "notify": "sdei", "vector": 804 + sid,
         "read_ack": {"address": slice_, "preserve": 0, "write": 0},
         "esa": slice_ + 8, "block": slice_ + 0x10, "block_length": 0x3F0}
    d.update(kw)
    return d


def base() -> dict:
    return {
        "name": "t",
        "description": "test board",
        "target": {"kind": "sim"},
        "pes": {"count": 2},
        "window": [{"name": "w", "base": 0x1000, "size": 0x1000, "access": "local"}],
        "source": [src(0, 0x1000), src(1, 0x1400)],
        "sdei_event": [{"number": 804, "priority": "critical"}, {"number": 805}],
        "routes": {"memory-ce": 0},
    }


@pytest.fixture
def write(tmp_path):
    def _write(data: dict | str, name: str = "b.toml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else to_toml(data))
        return path
    return _write


@pytest.fixture
def bad(write):
    """Write a board, load it, return the BoardError text with the file prefix stripped."""
    def _bad(data) -> str:
        path = write(data)
        with pytest.raises(BoardError) as info:
            load_board(str(path))
        text = str(info.value)
        prefix = f"{path}: "
        assert text.startswith(prefix), text
        assert "\n" not in text
        assert info.value.file == str(path)
        assert text == f"{path}: {info.value.field}: {info.value.reason}"
        return text[len(prefix):]
    return _bad


# --------------------------------------------------------------------------------------
# Shipped boards


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_board_loads(name):
    board = load_board(name)
    assert board.name == name          # `fwemu board show <name>` finds what `fwemu boards` lists
    assert board.file == f"{name}.toml" and board.shipped
    assert board.sources or board.target.discover == "hest"


def test_list_boards_is_every_shipped_board():
    assert [b.name for b in list_boards()] == list(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_to_dict_round_trips_through_json(name):
    board = load_board(name)
    d = board.to_dict()
    text = json.dumps(d)
    assert json.loads(text) == d
    assert board_from_dict(json.loads(text)) == board


def test_to_dict_is_fully_resolved():
    d = load_board("rd-n2").to_dict()
    s0 = d["source"][0]
    assert s0["enabled"] is True and s0["related_source_id"] == 0xFFFF
    assert s0["records_to_preallocate"] == 1 and s0["max_sections_per_record"] == 1
    assert s0["max_raw_data_length"] == 80 and s0["queue_depth"] == 16
    assert s0["esa_gas"] == {"space_id": 0, "bit_width": 64, "bit_offset": 0, "access_size": 4}
    assert s0["read_ack"] == {"address": 0xFF610000, "preserve": 0, "write": 0, "bit_offset": 0,
                              "width": 64, "space_id": 0, "access_size": 4}
    assert d["sdei_event"][0] == {"number": 804, "shared": False, "priority": "critical",
                                  "binding": "explicit", "interrupt": None}
    assert d["target"]["discover"] == "board"
    assert load_board("sim").to_dict()["pes"]["mpidr"] == [0, 1, 2, 3]


def test_sim_board_shape():
    b = load_board("sim")
    assert b.target.kind == "sim" and b.pes.count == 4 and len(b.windows) == 1
    assert b.windows[0].access == "local"
    kinds = {s.notify for s in b.sources if s.is_v2}
    assert {"polled", "gsiv", "sea", "sei", "sdei"} <= kinds
    assert [s.id for s in b.sources if s.notify == "sei"] == [3, 4]
    assert b.source(0).poll_interval_ms == 100
    assert [s for s in b.sources if s.type == "ghes"]          # the v1 consumption path
    for s in b.sources:
        slice_ = s.block - 0x10
        assert s.esa == slice_ + 8 and s.block_length == 1008
        if s.read_ack:
            assert s.read_ack.address == slice_
            assert (s.read_ack.preserve, s.read_ack.write) == (0xFFFFFFFFFFFFFFFE, 1)
    assert b.sdei_event(b.source(5).vector).priority == "normal"
    assert b.sdei_event(b.source(6).vector).priority == "critical"
    assert set(b.routes) == set(SCENARIOS)


def test_fvp_board_shape():
    b = load_board("fvp")
    assert b.target.kind == "agent" and b.target.url == "socket://127.0.0.1:5002"
    assert {e.number: e.priority for e in b.sdei_events} == {
        5000: "normal", 5001: "normal", 5002: "normal", 5003: "critical", 5004: "critical"}
    assert all(e.binding == "explicit" and not e.shared for e in b.sdei_events)
    assert "docs/porting-tf-a.md" in (REPO / "emulator/fwemu/boards/fvp.toml").read_text()


def test_rd_n2_board_matches_edk2_dmc620():
    b = load_board("rd-n2")
    assert b.target.kind == "agent"
    assert [(w.base, w.size) for w in b.windows] == [(0xFF610000, 0x20000)]
    for i, s in enumerate(b.sources):
        slice_ = 0xFF610000 + 0x100 * i
        assert s.id == i and s.type == "ghesv2" and s.notify == "sdei" and s.vector == 804 + i
        assert (s.read_ack.address, s.esa, s.block) == (slice_, slice_ + 8, slice_ + 16)
        assert (s.read_ack.preserve, s.read_ack.write, s.block_length) == (0, 0, 172)
        assert b.sdei_event(s.vector).critical
    assert set(b.routes) == {"memory-ce", "memory-ue", "memory-fatal"}
    assert b.routes["memory-ce"] == 0


def test_docs_example_is_a_valid_board(write):
    text = (REPO / "docs/boards.md").read_text()
    example = re.search(r"## Annotated example\s+```toml\n(.*?)```", text, re.S).group(1)
    board = load_board(str(write(example)))
    assert board.name == "my-board" and board.source(0).vector == 804


def test_board_module_does_not_import_the_c_core():
    code = "import sys, fwemu.board; sys.exit('fwemu.records' in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PYTHONPATH": str(REPO / "emulator")})


# --------------------------------------------------------------------------------------
# Resolution and queries


def test_default_board_is_sim_then_env(monkeypatch):
    monkeypatch.delenv("FWEMU_BOARD", raising=False)
    assert load_board(None).name == "sim"
    monkeypatch.setenv("FWEMU_BOARD", "rd-n2")
    assert load_board(None).name == "rd-n2"
    assert load_board("fvp").name == "fvp"


def test_path_and_name_resolution(write, monkeypatch, tmp_path):
    path = write(base(), "mine.toml")
    assert load_board(str(path)).name == "t"
    assert load_board(str(path)).shipped is False
    monkeypatch.chdir(tmp_path)
    assert load_board("mine.toml").name == "t"             # ends in .toml: a path
    with pytest.raises(BoardError, match=r"^mine: board: no shipped board named 'mine'"):
        load_board("mine")                                  # a name: shipped boards only


def test_unreadable_path():
    with pytest.raises(BoardError, match=r"^/nonexistent/x\.toml: file: cannot read: "):
        load_board("/nonexistent/x.toml")


def test_queries():
    b = load_board("rd-n2")
    assert b.source(1).vector == 805
    with pytest.raises(UsageError, match="has no source 7"):
        b.source(7)
    assert b.route("memory-ce").id == 0
    with pytest.raises(UsageError, match="routes no source for 'pcie-ue'"):
        b.route("pcie-ue")
    assert b.window_for(0xFF610010, 172).name == "ghes-mm-buffer"
    assert b.window_for(0xFF62FFFF, 1) is not None
    assert b.window_for(0xFF62FFFF, 2) is None
    assert b.window_for(0xFF60FFFF, 1) is None
    src0 = b.source(0)
    assert (src0.hest_type, src0.notify_value) == (10, 11)


def test_tables():
    assert NOTIFY_TYPES == {"polled": 0, "external": 1, "local": 2, "sci": 3, "nmi": 4,
                            "cmci": 5, "mce": 6, "gpio": 7, "sea": 8, "sei": 9, "gsiv": 10,
                            "sdei": 11}
    m = SCENARIO_MIN_BLOCK_LENGTH
    assert (m["memory-ue"], m["memory-ce"], m["memory-fatal"]) == (172, 172, 172)
    assert (m["arm-cache-ue"], m["arm-tlb"]) == (164, 164)
    assert (m["pcie-ue"], m["pcie-ce"], m["generic-cpu"]) == (300, 300, 284)


def test_base_test_board_is_valid(write):
    load_board(str(write(base())))


# --------------------------------------------------------------------------------------
# Validation rules, one by one


def mutate(fn):
    d = base()
    fn(d)
    return d


def test_syntax_error(bad):
    assert bad("name = \n").startswith("syntax: ")


# unknown keys -------------------------------------------------------------------------

def test_unknown_top_level_key(bad):
    assert bad(mutate(lambda d: d.update(nmae="x"))) == 'nmae: unknown key (did you mean "name"?)'


def test_unknown_source_key_suggests(bad):
    def f(d):
        d["source"][0]["notfy"] = d["source"][0].pop("notify")
    assert bad(mutate(f)) == 'source[0].notfy: unknown key (did you mean "notify"?)'


def test_unknown_nested_key(bad):
    assert bad(mutate(lambda d: d["source"][1]["read_ack"].update(presrve=0))).startswith(
        'source[1].read_ack.presrve: unknown key (did you mean "preserve"?)')


def test_unknown_target_key(bad):
    assert bad(mutate(lambda d: d["target"].update(port=5))).startswith("target.port: unknown key")


def test_unknown_esa_gas_key(bad):
    assert bad(mutate(lambda d: d["source"][0].update(esa_gas={"width": 64}))).startswith(
        "source[0].esa_gas.width: unknown key")


def test_unknown_scenario_in_routes(bad):
    assert bad(mutate(lambda d: d["routes"].update({"memory-cee": 0}))).startswith(
        'routes.memory-cee: unknown key (did you mean "memory-ce"?)')


def test_unknown_window_key(bad):
    assert bad(mutate(lambda d: d["window"][0].update(acces="local"))).startswith(
        'window[0].acces: unknown key (did you mean "access"?)')


def test_unknown_sdei_event_key(bad):
    assert bad(mutate(lambda d: d["sdei_event"][0].update(prio="normal"))).startswith(
        "sdei_event[0].prio: unknown key")


# wrong types and ranges ---------------------------------------------------------------

def test_address_as_string(bad):
    assert bad(mutate(lambda d: d["source"][0].update(block="0x1010"))) == (
        "source[0].block: expected an integer, got a string ('0x1010') "
        "(write 0x1010 without quotes)")


def test_bool_is_not_an_integer(bad):
    assert bad(mutate(lambda d: d["source"][0].update(id=True))).startswith(
        "source[0].id: expected an integer, got a boolean (true)")


def test_integer_is_not_a_bool(bad):
    assert bad(mutate(lambda d: d["source"][0].update(enabled=1))).startswith(
        "source[0].enabled: expected true or false, got an integer (1)")


def test_name_type(bad):
    assert bad(mutate(lambda d: d.update(name=3))).startswith("name: expected a string")


def test_window_must_be_array_of_tables(bad):
    assert bad(mutate(lambda d: d.update(window=3))).startswith(
        "window: expected an array of tables ([[window]])")


def test_target_must_be_a_table(bad):
    assert bad(mutate(lambda d: d.update(target="sim"))).startswith(
        "target: expected a table, got a string")


def test_source_id_out_of_u16(bad):
    assert bad(mutate(lambda d: d["source"][0].update(id=0x10000))).startswith(
        "source[0].id: 65536 is out of range (0 .. 0xffff)")


def test_missing_required(bad):
    assert bad(mutate(lambda d: d["source"][0].pop("esa"))) == "source[0].esa: required"
    assert bad(mutate(lambda d: d.pop("target"))) == "target: required"


def test_unknown_notify_name(bad):
    assert bad(mutate(lambda d: d["source"][0].update(notify="irq"))).startswith(
        "source[0].notify: 'irq' is not one of polled, external")


def test_unknown_source_type(bad):
    assert bad(mutate(lambda d: d["source"][0].update(type="ghesv3"))).startswith(
        "source[0].type: 'ghesv3' is not one of ghes, ghesv2")


# target -------------------------------------------------------------------------------

def test_unknown_target_kind(bad):
    assert bad(mutate(lambda d: d["target"].update(kind="fpga"))) == (
        "target.kind: unknown target kind 'fpga' (one of sim, agent, qemu)")


def test_agent_without_url(bad):
    assert bad(mutate(lambda d: d["target"].update(kind="agent"))).startswith(
        'target.url: required for target kind "agent"')


def test_discover_hest_needs_qemu(bad):
    assert bad(mutate(lambda d: d["target"].update(discover="hest"))).startswith(
        'target.discover: "hest" needs target kind "qemu"')


def test_sources_may_be_empty_only_with_discover_hest(bad, write):
    def empty(d):
        d.pop("source")
        d.pop("sdei_event")
    assert bad(mutate(empty)).startswith("source: no [[source]] entries")

    def qemu(d):
        empty(d)
        d["target"] = {"kind": "qemu", "discover": "hest"}
        d["routes"] = {"memory-ue": 1}       # checked against the guest's HEST at run time
    board = load_board(str(write(mutate(qemu))))
    assert board.sources == () and board.routes == {"memory-ue": 1}


# pes ----------------------------------------------------------------------------------

def test_pes_count_below_one(bad):
    assert bad(mutate(lambda d: d["pes"].update(count=0))) == (
        "pes.count: 0 is out of range (1 .. 65536)")


def test_mpidr_length_mismatch(bad):
    assert bad(mutate(lambda d: d["pes"].update(mpidr=[0, 1, 2]))) == (
        "pes.mpidr: has 3 entries but pes.count is 2")


def test_mpidr_duplicate(bad):
    assert bad(mutate(lambda d: d["pes"].update(mpidr=[0x100, 0x100]))) == (
        "pes.mpidr[1]: duplicate MPIDR 0x100 (also mpidr[0])")


def test_mpidr_element_type(bad):
    assert bad(mutate(lambda d: d["pes"].update(mpidr=[0, "1"]))).startswith(
        "pes.mpidr[1]: expected an integer")


# windows ------------------------------------------------------------------------------

def test_windows_overlap(bad):
    w2 = {"name": "w2", "base": 0x1800, "size": 0x1000, "access": "remote"}
    assert bad(mutate(lambda d: d["window"].append(w2))) == (
        "window[1]: overlaps window[0] 'w' (0x1000 .. 0x1fff)")


def test_adjacent_windows_are_fine_but_a_block_may_not_straddle(bad, write):
    w2 = {"name": "w2", "base": 0x2000, "size": 0x1000, "access": "local"}
    load_board(str(write(mutate(lambda d: d["window"].append(w2)))))

    def straddle(d):
        d["window"].append(w2)
        d["source"][1]["block"] = 0x1F00
    assert bad(mutate(straddle)).startswith(
        "source[1].block: 0x1f00 .. 0x22ef is outside every window")


def test_duplicate_window_name(bad):
    w2 = {"name": "w", "base": 0x8000, "size": 0x1000, "access": "local"}
    assert bad(mutate(lambda d: d["window"].append(w2))) == (
        "window[1].name: duplicate window name 'w' (also window[0])")


def test_remote_window_with_path(bad):
    def f(d):
        d["window"][0].update(access="remote", path="/dev/shm/x")
    assert bad(mutate(f)).startswith('window[0].path: only a "local" window maps a file')


def test_window_size_zero(bad):
    assert bad(mutate(lambda d: d["window"][0].update(size=0))).startswith(
        "window[0].size: 0 is out of range")


# sources ------------------------------------------------------------------------------

def test_duplicate_source_id(bad):
    assert bad(mutate(lambda d: d["source"][1].update(id=0, vector=805))) == (
        "source[1].id: duplicate source id 0 (also source[0]; Linux then disables every GHES)")


def test_blocks_overlap(bad):
    assert bad(mutate(lambda d: d["source"][1].update(block=0x1100, block_length=0x100))) == (
        "source[1].block: overlaps source[0].block (0x1010 .. 0x13ff)")


def test_esa_overlaps_a_block(bad):
    assert bad(mutate(lambda d: d["source"][1].update(esa=0x1100))) == (
        "source[1].esa: overlaps source[0].block (0x1010 .. 0x13ff)")


def test_read_ack_overlaps_a_block(bad):
    assert bad(mutate(lambda d: d["source"][1]["read_ack"].update(address=0x1200))) == (
        "source[1].read_ack: overlaps source[0].block (0x1010 .. 0x13ff)")


def test_block_overlaps_its_own_esa(bad):
    assert bad(mutate(lambda d: d["source"][0].update(block=0x1008))) == (
        "source[0].esa: overlaps source[0].block (0x1008 .. 0x13f7)")


def test_block_overlaps_another_sources_read_ack(bad):
    def f(d):
        d["source"][1]["block"] = 0x1800
        d["source"][0]["read_ack"]["address"] = 0x1900
    assert bad(mutate(f)) == "source[1].block: overlaps source[0].read_ack (0x1900 .. 0x1907)"


@pytest.mark.parametrize("field,change,text", [
    ("block", {"block": 0x2000}, "source[1].block: 0x2000 .. 0x23ef is outside every window"),
    ("esa", {"esa": 0x3000}, "source[1].esa: 0x3000 .. 0x3007 is outside every window"),
    ("read_ack", {"read_ack": {"address": 0x800, "preserve": 0, "write": 0}},
     "source[1].read_ack: 0x800 .. 0x807 is outside every window"),
])
def test_outside_every_window(bad, field, change, text):
    assert bad(mutate(lambda d: d["source"][1].update(change))).startswith(
        text + " (windows: w 0x1000 .. 0x1fff)")


@pytest.mark.parametrize("length", [19, 65537])
def test_block_length_range(bad, length):
    assert bad(mutate(lambda d: d["source"][0].update(block_length=length))).startswith(
        f"source[0].block_length: {length} is outside 20 .. 65536")


def test_ghesv2_without_read_ack(bad):
    assert bad(mutate(lambda d: d["source"][0].pop("read_ack"))).startswith(
        'source[0].read_ack: required for type "ghesv2"')


def test_ghes_with_read_ack(bad):
    assert bad(mutate(lambda d: d["source"][0].update(type="ghes"))) == (
        'source[0].read_ack: only a "ghesv2" source has a Read Ack register')


def test_ghes_v1_without_read_ack_is_fine(write):
    board = load_board(str(write(mutate(
        lambda d: (d["source"][0].update(type="ghes"), d["source"][0].pop("read_ack"))))))
    assert board.source(0).read_ack is None and not board.source(0).is_v2


@pytest.mark.parametrize("preserve,width", [(0xFFFFFFFFFFFFFFFF, 64), (0xFFFFFFFF, 32)])
def test_read_ack_preserve_covers_every_bit(bad, preserve, width):
    ra = {"address": 0x1400, "preserve": preserve, "write": 0, "width": width}
    if width == 32:
        ra["access_size"] = 3
    assert bad(mutate(lambda d: d["source"][1].update(read_ack=ra))).startswith(
        f"source[1].read_ack.preserve: {preserve:#x} keeps every bit of the {width}-bit "
        "register and write sets none")


def test_read_ack_preserve_all_with_a_write_bit_is_observable(write):
    # (v & ~0) | 1 still changes a register firmware re-armed to 0: a valid encoding.
    ra = {"address": 0x1400, "preserve": 0xFFFFFFFFFFFFFFFF, "write": 1}
    load_board(str(write(mutate(lambda d: d["source"][1].update(read_ack=ra)))))


def test_register_gas_space_id(bad):
    assert bad(mutate(lambda d: d["source"][0].update(esa_gas={"space_id": 1}))).startswith(
        "source[0].esa_gas.space_id: 1: fwemu reaches registers through memory windows")


def test_register_gas_access_size(bad):
    assert bad(mutate(lambda d: d["source"][0]["read_ack"].update(access_size=5))).startswith(
        "source[0].read_ack.access_size: 5: Linux requires 1 (byte) .. 4 (qword)")


def test_register_gas_width_exceeds_access(bad):
    assert bad(mutate(lambda d: d["source"][0]["read_ack"].update(width=32, bit_offset=8,
                                                                   access_size=3))).startswith(
        "source[0].read_ack.width: 32 + bit_offset 8 exceeds the 32-bit access")


def test_esa_must_be_64_bit(bad):
    assert bad(mutate(lambda d: d["source"][0].update(
        esa_gas={"bit_width": 32, "access_size": 3}))).startswith(
        "source[0].esa_gas.bit_width: 32: the Error Status Address register holds a 64-bit")


def test_unaligned_registers(bad):
    assert bad(mutate(lambda d: d["source"][0].update(esa=0x1004))).startswith(
        "source[0].esa: 0x1004 is not aligned to its 8-byte access")
    assert bad(mutate(lambda d: d["source"][0]["read_ack"].update(address=0x1002))).startswith(
        "source[0].read_ack.address: 0x1002 is not aligned to its 8-byte access")


@pytest.mark.parametrize("interval", [0, None])
def test_polled_with_interval_zero(bad, interval):
    change = {"notify": "polled"}
    if interval is not None:
        change["poll_interval_ms"] = interval

    def f(d):
        d["source"][0].update(change)
        d["source"][0].pop("vector")
    assert bad(mutate(f)).startswith(
        'source[0].poll_interval_ms: must be > 0 for notify "polled"')


@pytest.mark.parametrize("notify,what", [("sdei", "an SDEI event number"),
                                         ("gsiv", "a GSI"), ("external", "a GSI")])
def test_notify_without_vector(bad, notify, what):
    def f(d):
        d["source"][0]["notify"] = notify
        d["source"][0].pop("vector")
    assert bad(mutate(f)) == f'source[0].vector: required for notify "{notify}" ({what})'


def test_sdei_source_on_event_zero(bad):
    assert bad(mutate(lambda d: d["source"][0].update(vector=0))).startswith(
        "source[0].vector: SDEI event 0 is reserved for SDEI_EVENT_SIGNAL")


# SDEI events --------------------------------------------------------------------------

def test_sdei_event_zero(bad):
    assert bad(mutate(lambda d: d["sdei_event"].append({"number": 0}))).startswith(
        "sdei_event[2].number: SDEI event 0 is the SDEI_EVENT_SIGNAL event")


def test_duplicate_sdei_event(bad):
    assert bad(mutate(lambda d: d["sdei_event"].append({"number": 804}))) == (
        "sdei_event[2].number: duplicate SDEI event 804 (also sdei_event[0])")


def test_sdei_source_on_undeclared_event(bad):
    assert bad(mutate(lambda d: d["source"][1].update(vector=900))) == (
        "source[1].vector: SDEI event 900 is not a declared [[sdei_event]] "
        "(declared: 804, 805)")


def test_two_sources_on_one_sdei_event(bad):
    assert bad(mutate(lambda d: d["source"][1].update(vector=804))) == (
        "source[1].vector: SDEI event 804 is already used by source[0] "
        "(one event per GHES; Linux: -EBUSY)")


def test_shared_explicit_event(bad):
    assert bad(mutate(lambda d: d["sdei_event"][1].update(shared=True))).startswith(
        "sdei_event[1].shared: an explicit event must be private")


def test_interrupt_binding(bad, write):
    assert bad(mutate(lambda d: d["sdei_event"][1].update(binding="interrupt"))) == (
        'sdei_event[1].interrupt: required for binding = "interrupt"')
    assert bad(mutate(lambda d: d["sdei_event"][1].update(binding="interrupt",
                                                          interrupt=40))).startswith(
        "sdei_event[1].interrupt: 40: a private event is bound to a PPI")
    assert bad(mutate(lambda d: d["sdei_event"][1].update(binding="interrupt", shared=True,
                                                          interrupt=20))).startswith(
        "sdei_event[1].interrupt: 20: a shared event is bound to an SPI")
    assert bad(mutate(lambda d: d["sdei_event"][1].update(interrupt=40))).startswith(
        'sdei_event[1].interrupt: only an event with binding = "interrupt" has one')
    ok = load_board(str(write(mutate(lambda d: d["sdei_event"][1].update(
        binding="interrupt", shared=True, interrupt=40)))))
    assert ok.sdei_event(805).interrupt == 40


def test_sdei_priority_choice(bad):
    assert bad(mutate(lambda d: d["sdei_event"][0].update(priority="high"))) == (
        "sdei_event[0].priority: 'high' is not one of normal, critical")


# routes -------------------------------------------------------------------------------

def test_route_to_unknown_source(bad):
    assert bad(mutate(lambda d: d["routes"].update({"memory-ce": 9}))) == (
        "routes.memory-ce: no source with id 9 (sources: 0, 1)")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_route_below_scenario_minimum(bad, write, scenario):
    need = SCENARIO_MIN_BLOCK_LENGTH[scenario]

    def f(length):
        def g(d):
            d["source"][0]["block_length"] = length
            d["routes"] = {scenario: 0}
        return g
    assert bad(mutate(f(need - 1))) == (
        f"routes.{scenario}: source 0 has block_length {need - 1}, below the {need} bytes "
        f"a {scenario} record needs")
    load_board(str(write(mutate(f(need)))))


def test_route_to_disabled_source(bad):
    assert bad(mutate(lambda d: d["source"][0].update(enabled=False))).startswith(
        "routes.memory-ce: source 0 is disabled")


# --------------------------------------------------------------------------------------
# CLI


@pytest.fixture
def cli():
    from fwemu.cli import main
    return main


def test_cli_boards_json(cli, capsys):
    assert cli(["boards", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == 0 and out["error"] is None
    rows = {r["name"]: r for r in out["boards"]}
    assert set(rows) == set(SHIPPED)
    assert rows["sim"] == {"name": "sim", "target": "sim", "sources": 8, "file": "sim.toml",
                           "description": load_board("sim").description}
    assert (rows["rd-n2"]["target"], rows["rd-n2"]["sources"]) == ("agent", 2)


def test_cli_boards_table(cli, capsys):
    assert cli(["boards"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TARGET", "SOURCES"]
    expected = {"fvp": ["agent", "5"], "qemu-virt": ["qemu", "0"], "rd-n2": ["agent", "2"],
                "sim": ["sim", "8"], "sim-agent": ["agent", "8"], "tfa-qemu": ["agent", "4"]}
    assert [ln.split()[:3] for ln in lines[1:]] == [[n, *expected[n]] for n in sorted(SHIPPED)]


def test_cli_board_show_sim_json(cli, capsys):
    assert cli(["board", "show", "sim", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["board"] == load_board("sim").to_dict()
    assert out["board"]["name"] == "sim"
    assert [s["id"] for s in out["board"]["source"]] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert out["board"]["routes"]["memory-ue"] == 2


def test_cli_board_show_defaults(cli, capsys, monkeypatch):
    monkeypatch.setenv("FWEMU_BOARD", "fvp")
    assert cli(["board", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["board"]["name"] == "fvp"
    assert cli(["--board", "rd-n2", "board", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["board"]["name"] == "rd-n2"
    monkeypatch.delenv("FWEMU_BOARD")
    assert cli(["board", "show"]) == 0
    assert capsys.readouterr().out.startswith("board sim (sim.toml)")


def test_cli_board_show_path(cli, capsys, write):
    path = write(base())
    assert cli(["board", "show", str(path)]) == 0
    assert f"board t ({path})" in capsys.readouterr().out


def test_cli_bad_board_is_one_line_exit_2(cli, capsys, write):
    path = write(mutate(lambda d: d["source"][1].update(id=0, vector=805)))
    assert cli(["board", "show", str(path)]) == EXIT_USAGE
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err == (f"fwemu: error: {path}: source[1].id: duplicate source id 0 (also "
                       "source[0]; Linux then disables every GHES)\n")
    assert "Traceback" not in cap.err

    assert cli(["--board", str(path), "board", "show", "--json"]) == EXIT_USAGE
    cap = capsys.readouterr()
    env = json.loads(cap.out)
    assert env["status"] == EXIT_USAGE and env["error"].startswith(f"{path}: source[1].id: ")
    assert cap.err == ""


def test_cli_unknown_board_name(cli, capsys):
    assert cli(["board", "show", "nosuch"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("fwemu: error: nosuch: board: no shipped board named 'nosuch'")
    assert err.count("\n") == 1


def test_cli_board_without_action(cli, capsys):
    assert cli(["board"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("fwemu: error: board: missing action")


def test_base_fixture_is_not_shared():
    a = base()
    a["source"][0]["id"] = 99
    assert base()["source"][0]["id"] == 0
    assert copy.deepcopy(a) == a


def test_console_is_an_agent_option_naming_a_file(tmp_path):
    b = load_board("tfa-qemu")
    assert b.target.console_path == f"/tmp/fwemu-tfa-{os.getuid()}/serial.log"
    d = load_board("sim").to_dict()
    d["target"]["console"] = "/tmp/x.log"
    with pytest.raises(BoardError, match=r"target\.console: only an \"agent\" target"):
        board_from_dict(d)
    d = load_board("fvp").to_dict()
    d["target"]["console"] = ""
    with pytest.raises(BoardError, match=r"target\.console: empty"):
        board_from_dict(d)
