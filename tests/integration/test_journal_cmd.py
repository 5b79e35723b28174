"""`fwemu journal list|show|summary|export` and fwemu.journal_read (issue 16, the read side).

Real runs on the sim board through the CLI give one journal (module fixture: memory-ue
sweeps on SEA and SDEI, a fatal record that panics the OS, pcie-ue, an SDEI refusal, time
outs, duplicates the OS drops); hand-written journals give the edge cases: format-1 lines,
a run killed without its run-end (and resolved by a later one), torn lines, damaged lines,
late lines, out-of-order final lines, a large journal read in bounded memory.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import pathlib
import time
import tracemalloc

import pytest

from fwemu import cli, firmware, journal, journal_read
from fwemu.journal_read import Filter, JournalReader
from fwemu.records import decode
from fwemu.records.kernel_text import format_estatus

# what each real run injects (one command, one run each), in order
RUNS = [
    ("sweep", ["memory-ue", "--count", "5", "--address", "0x60000000:0x60010000:0x1000"]),
    ("sdei", ["memory-ue", "--notify", "sdei", "--count", "3", "--address", "0x61000000:0x61010000:0x1000"]),
    ("fatal", ["memory-fatal"]),
    ("pcie", ["pcie-ue", "--bdf", "0000:03:00.0"]),
    ("refused", ["memory-ue", "--notify", "sdei", "--mask-pe", "0"]),
    ("timeout", ["memory-ue", "--os-deaf", "--timeout", "0.2", "--count", "2"]),
    ("dropped", ["memory-ue", "--identical", "--count", "3", "--address", "0x62000000"]),
    ("sei", ["memory-ce", "--notify", "sei", "--count", "4", "--address", "0x63000000:0x63010000:0x1000"]),
]


def _main(argv: list[str]) -> tuple[int, str, str]:
    """cli.main in-process with stdout/stderr captured (usable outside a test function)."""
    out, err = io.StringIO(), io.StringIO()
    logging.getLogger().handlers.clear()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A journal written by real sim runs through `fwemu inject`; {name: inject's --json}."""
    base = tmp_path_factory.mktemp("journal-real")
    run_dir = base / "run"
    run_dir.mkdir(mode=0o700)
    path = base / "j.jsonl"
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", str(run_dir))
        mp.setenv("XDG_STATE_HOME", str(base / "state"))
        mp.delenv("FWEMU_BOARD", raising=False)
        for name, argv in RUNS:
            rc, out, _err = _main(["inject", *argv, "--journal", str(path), "--json"])
            env = json.loads(out)
            assert env["error"] is None, (name, env["error"])
            results[name] = env
    return path, results


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def fw(*argv: str) -> tuple[int, str, str]:
    return _main(list(argv))


def fwj(*argv: str) -> dict:
    rc, out, err = fw(*argv, "--json")
    env = json.loads(out)
    assert env["status"] == rc
    return env


def _runs(path) -> list[str]:
    return [ln["run"] for ln in journal.read(path) if ln["event"] == "run"]


# ---- real runs ------------------------------------------------------------------------

def test_list_has_one_row_per_run_with_its_counts(real):
    path, res = real
    env = fwj("journal", "list", "--journal", str(path))
    assert env["error"] is None
    runs = env["runs"]
    assert [r["run"] for r in runs] == _runs(path)
    for (name, _argv), row in zip(RUNS, runs, strict=True):
        injs = res[name]["injections"]
        want: dict[str, int] = {}
        for i in injs:
            want[i["state"]] = want.get(i["state"], 0) + 1
        assert row["states"] == want, name
        assert row["board"] == "sim" and row["target"] == "sim" and row["format"] == firmware.JOURNAL_FORMAT
        assert row["end"] == "ended" and row["open"] == 0
        assert row["accepted"] == len(injs)
        assert abs(row["started"] - injs[0]["accepted"]) < 5
        assert 0 <= row["duration_s"] < 30
    fatal = runs[[n for n, _ in RUNS].index("fatal")]
    assert fatal["os"]["panic"] == "GHES: Fatal hardware error" and fatal["os"]["up"] is False

    rc, out, err = fw("journal", "list", "--journal", str(path))
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["RUN", "BOARD", "STARTED", "DURATION", "INJECTIONS", "END"]
    assert len(lines) == 1 + len(RUNS) + 1
    for run, line in zip(_runs(path), lines[1:-1], strict=True):
        assert line.startswith(run) and line.rstrip().endswith("ended")
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(json.loads(
            [x for x in path.read_text().splitlines() if run in x and '"event":"run"' in x][0])["wall_start"]))
        assert started in line
    assert "5 consumed" in lines[1] and "1 refused" in lines[5] and "2 timed-out" in lines[6]
    # the OS's duplicate cache drops the repeats it has cached when they come (usually both)
    drops = [i for i in res["dropped"]["injections"] if i["state"] == "dropped"]
    assert drops and f"{3 - len(drops)} consumed, {len(drops)} dropped" in lines[7]
    assert lines[-1].startswith(f"{len(RUNS)} runs, 20 injections; journal ")


def test_list_filters_select_runs(real):
    path, _res = real
    env = fwj("journal", "list", "--journal", str(path), "--state", "refused")
    assert [r["states"] for r in env["runs"]] == [{"refused": 1}]
    env = fwj("journal", "list", "--journal", str(path), "--notify", "sdei")
    assert len(env["runs"]) == 3          # the sweep, the fatal record, the refusal
    env = fwj("journal", "list", "--journal", str(path), "--since", "1h")
    assert len(env["runs"]) == len(RUNS)
    env = fwj("journal", "list", "--journal", str(path), "--until", "2000-01-01T00:00")
    assert env["runs"] == []
    last = _runs(path)[-1]
    env = fwj("journal", "list", "--journal", str(path), "--run", "last")
    assert [r["run"] for r in env["runs"]] == [last]


def test_show_run_lists_its_injections_and_the_os_log(real):
    path, res = real
    run = _runs(path)[0]
    env = fwj("journal", "show", run[:-4], "--journal", str(path))   # a unique prefix
    assert env["run"]["run"] == run
    got = env["injections"]
    want = res["sweep"]["injections"]
    ids = [i["id"] for i in want]
    assert [i["id"] for i in got] == ids == sorted(ids)
    for g, w in zip(got, want, strict=True):
        for k in ("id", "scenario", "source", "notify", "pe", "state", "latency_ms", "digest", "fields",
                  "record", "length", "block"):
            assert g[k] == w[k], k
        assert g["run"] == run
    assert [log["first_id"] for log in env["os_log"]] == [ids[0]] and env["os_log"][0]["last_id"] == ids[-1]
    assert env["os_log"][0]["lines"] == res["sweep"]["os_log"]

    rc, out, err = fw("journal", "show", run, "--journal", str(path))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"run {run}: board sim, pid ")
    assert lines[1].startswith(f"  #{ids[0]} memory-ue -> source 2 (SEA on PE 0): consumed ")
    assert lines[1].endswith("[--address 0x60000000]")
    assert f"  OS log of request #{ids[0]}..#{ids[-1]} (19 lines):" in lines
    assert "     Memory failure: 0x60004: recovery action for free buddy page: Recovered" in lines
    assert lines[-1].startswith("5 injections (5 consumed); run ended after ")

    rc, out, _ = fw("journal", "show", run, "--journal", str(path), "--no-os-log")
    assert "Memory failure" not in out and out.count("\n") == 7


def test_show_run_honours_filters(real):
    path, res = real
    run = _runs(path)[[n for n, _ in RUNS].index("timeout")]
    env = fwj("journal", "show", run, "--journal", str(path), "--state", "timed-out")
    assert len(env["injections"]) == 2
    env = fwj("journal", "show", run, "--journal", str(path), "--state", "consumed")
    assert env["injections"] == [] and env["os_log"] == []
    run = _runs(path)[[n for n, _ in RUNS].index("dropped")]
    rc, out, _ = fw("journal", "show", run, "--journal", str(path), "--state", "dropped")
    for i in res["dropped"]["injections"]:
        assert (f"#{i['id']} memory-ue" in out) == (i["state"] == "dropped")
    n = sum(i["state"] == "dropped" for i in res["dropped"]["injections"])
    assert f"{n} injection{'s' if n != 1 else ''} matching the filters ({n} dropped)" in out


def test_show_one_injection_decodes_its_record_in_the_kernels_words(real):
    path, res = real
    run = _runs(path)[0]
    want = res["sweep"]["injections"][2]
    ids = [i["id"] for i in res["sweep"]["injections"]]
    env = fwj("journal", "show", f"{run}:{want['id']}", "--journal", str(path))
    inj = env["injection"]
    assert inj["id"] == want["id"] and inj["record"] == want["record"] and inj["fields"] == {"address": "0x60002000"}
    assert [ln["event"]["event"] for ln in env["lines"]] == ["accepted", "consumed"]
    assert env["decoded"]["kernel"] == "6.1"
    text = format_estatus(decode(bytes.fromhex(want["record"])), 2)
    assert env["decoded"]["lines"] == text
    assert "physical_address: 0x0000000060002000" in "\n".join(text)
    assert env["os_log"]["first_id"] == ids[0] and env["os_log"]["last_id"] == ids[-1]
    assert env["run"]["run"] == run

    second = res["sei"]["injections"][1]["id"]
    rc, out, err = fw("journal", "show", f"last:{second}", "--journal", str(path))
    assert rc == 0 and out.startswith(f"injection {_runs(path)[-1]}:{second}\n")
    rc, same, err = fw("journal", "show", f":{second}", "--journal", str(path))      # the run that has it
    assert rc == 0 and same == out
    assert "  fields: --address 0x63001000" in out
    assert "    {1}[Hardware Error]: It has been corrected by h/w and requires no further action" in out
    assert "record (172 bytes), as Linux 6.1 prints it:" in out
    rc, out, err = fw("journal", "show", f"{run}:{want['id']}", "--journal", str(path))
    for label in ("accepted  ", "posted    +", "notified  +", "consumed  +", "latency   "):
        assert f"    {label}" in out, label
    assert out.count(": {") == 2      # its two journal lines, the record bytes elided
    assert '"record":"<172 bytes, decoded below>"' in out


def test_show_fatal_injection_has_the_panic(real):
    path, res = real
    run = _runs(path)[[n for n, _ in RUNS].index("fatal")]
    iid = res["fatal"]["injections"][0]["id"]
    rc, out, _ = fw("journal", "show", f"{run}:{iid}", "--journal", str(path))
    assert "Kernel panic - not syncing: GHES: Fatal hardware error" in out
    assert "OS down after it: GHES: Fatal hardware error" in out
    env = fwj("journal", "show", f"{run}:{iid}", "--journal", str(path), "--kernel", "mainline")
    assert env["decoded"]["kernel"] == "mainline"


def test_show_errors_are_one_line_exit_2(real):
    path, res = real
    runs = _runs(path)
    last = res["sei"]["injections"][0]["id"]
    for argv, expect in [
        (["journal", "show", "nosuchrun"], "RUN: no run 'nosuchrun' in "),
        (["journal", "show", runs[0][:4]], f"RUN: '{runs[0][:4]}' names {len(RUNS)} runs ("),
        (["journal", "show", f"{runs[0]}:9999"], f"RUN:ID: run {runs[0]} has no injection #9999 in "),
        (["journal", "show", ":9999"], "RUN:ID: no run in "),
        (["journal", "show", "last:x"], "RUN:ID: 'x' is not an injection id"),
        (["journal", "show", "last:0"], "RUN:ID: injection ids start at 1"),
        (["journal", "show", f"last:{last}", "--state", "consumed"], "RUN:ID: names one injection"),
        (["journal", "show", "last", "--kernel", "6.1"], "--kernel: applies to one injection"),
        (["journal", "show", f"last:{last}", "--kernel", "5.4"], "--kernel: unknown kernel profile '5.4'"),
        (["journal", "list", "--state", "eaten"], "--state: unknown state 'eaten'"),
        (["journal", "list", "--notify", "smoke"], "--notify: unknown notification 'smoke'"),
        (["journal", "list", "--scenario", "memory-xx"], "--scenario: unknown scenario 'memory-xx'"),
        (["journal", "list", "--source", "two"], "--source: 'two' is not a source id"),
        (["journal", "list", "--source", "0x10000"], "--source: '0x10000' is out of range"),
        (["journal", "list", "--since", "yesterday"], "--since: 'yesterday' is not a time"),
        (["journal", "list", "--since", "1h", "--until", "2h"], "--until: is before --since"),
        (["journal", "list", "--run", "zzz"], "--run: no run 'zzz' in "),
    ]:
        rc, out, err = fw(*argv, "--journal", str(path))
        assert rc == 2, (argv, out, err)
        assert err.startswith("fwemu: error: " + expect), (argv, err)
        assert err.count("\n") == 1 and out == "", argv
    rc, out, err = fw("journal")
    assert rc == 2
    env = fwj("journal", "export", "--csv", "--journal", str(path))
    assert env["status"] == 2 and env["error"].startswith("--json: export --json needs -o FILE")


def test_summary_counts_latency_and_reasons(real):
    path, res = real
    env = fwj("journal", "summary", "--journal", str(path))
    s = env["summary"]
    all_injs = [i for name, _ in RUNS for i in res[name]["injections"]]
    assert s["count"] == len(all_injs) == 20
    states: dict[str, int] = {}
    for i in all_injs:
        states[i["state"]] = states.get(i["state"], 0) + 1
    assert s["states"] == states
    cells = {(c["state"], c["notify"], c["scenario"]): c["count"] for c in s["by_state_notify_scenario"]}
    drops = [i for i in all_injs if i["state"] == "dropped"]
    assert cells[("consumed", "sea", "memory-ue")] == 5 + 3 - len(drops)
    assert cells[("refused", "sdei", "memory-ue")] == 1
    assert cells[("consumed", "gsiv", "pcie-ue")] == 1 and cells[("dropped", "sea", "memory-ue")] == len(drops) > 0
    for kind in ("sea", "sdei", "sei", "gsiv"):
        lat = sorted(i["latency_ms"] for i in all_injs if i["notify"] == kind and i["latency_ms"] is not None)
        got = s["latency"][kind]
        assert got["count"] == len(lat) and got["max_ms"] == lat[-1] and got["min_ms"] == lat[0]
        assert got["p50_ms"] == lat[int(0.5 * len(lat))]
    reasons = {(r["state"], r["reason"]): r for r in s["reasons"]}
    refusal = reasons[("refused", "PE 0 is masked (the client has not called SDEI_PE_UNMASK)")]
    assert refusal["count"] == 1 and refusal["first"].endswith(f":{res['refused']['injections'][0]['id']}")
    dropped = [r for (st, _), r in reasons.items() if st == "dropped"]
    assert len(dropped) == 1 and dropped[0]["count"] == len(drops) and dropped[0]["last"].endswith(f":{drops[-1]['id']}")

    rc, out, _ = fw("journal", "summary", "--journal", str(path))
    assert rc == 0
    assert out.startswith(f"20 injections in {len(RUNS)} runs (")
    assert any(ln.split() == ["consumed", "sea", "memory-ue", "6"] for ln in out.splitlines())
    assert "LATENCY (ms)" in out and "P99" in out
    assert "  1 refused (" in out and "): PE 0 is masked" in out

    env = fwj("journal", "summary", "last", "--journal", str(path), "--notify", "sei")
    assert env["summary"]["count"] == 4 and list(env["summary"]["latency"]) == ["sei"]
    env = fwj("journal", "summary", "--journal", str(path), "--scenario", "pcie-ue", "--source", "1")
    assert env["summary"]["count"] == 1


def test_export_csv_rows_equal_the_injections_run(real, tmp_path):
    path, res = real
    out_file = tmp_path / "inj.csv"
    rc, out, err = fw("journal", "export", "--csv", "-o", str(out_file), "--record", "--journal", str(path))
    assert rc == 0 and out.startswith("wrote 20 rows (")
    rows = list(csv.DictReader(out_file.open(newline="")))
    assert list(rows[0]) == [*__import__("fwemu.commands.journal", fromlist=["x"]).CSV_COLUMNS, "record"]
    runs = _runs(path)
    want = [(runs[k], i) for k, (name, _) in enumerate(RUNS) for i in res[name]["injections"]]
    assert len(rows) == len(want)
    for row, (run, i) in zip(rows, want, strict=True):
        assert row["run"] == run and int(row["id"]) == i["id"]
        assert row["scenario"] == i["scenario"] and int(row["source"]) == i["source"]
        assert row["notify"] == i["notify"] and int(row["pe"]) == i["pe"] and row["state"] == i["state"]
        assert row["reason"] == (i["reason"] or "")
        assert (float(row["latency_ms"]) if row["latency_ms"] else None) == i["latency_ms"]
        assert float(row["accepted"]) == pytest.approx(i["accepted"], abs=1e-6)
        assert row["digest"] == i["digest"] and int(row["length"]) == i["length"]
        assert int(row["block"], 16) == i["block"]
        assert (json.loads(row["fields"]) if row["fields"] else {}) == i["fields"]
        assert row["record"] == i["record"]

    # to stdout, filtered, no record column
    rc, out, _ = fw("journal", "export", "--csv", "--journal", str(path), "--state", "refused,timed-out")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(r["state"] for r in rows) == ["refused", "timed-out", "timed-out"] and "record" not in rows[0]
    env = fwj("journal", "export", "--csv", "last", "-o", str(out_file), "--journal", str(path))
    assert env["rows"] == 4 and env["states"] == {"consumed": 4}


def test_export_output_is_written_safely(real, tmp_path):
    path, _res = real
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (shared / "out.csv").symlink_to(victim)
    rc, out, err = fw("journal", "export", "--csv", "-o", str(shared / "out.csv"), "--journal", str(path))
    assert rc == 2 and "is a symbolic link in" in err and victim.read_text() == "keep"


def test_default_journal_of_the_board(tmp_path):
    rc, _, _ = fw("inject", "memory-ue")
    assert rc == 0
    default = journal.default_path("sim")
    assert default.is_file() and str(default).startswith(os.environ["XDG_STATE_HOME"])
    env = fwj("journal", "list")
    assert env["journal"] == str(default) and len(env["runs"]) == 1
    env = fwj("--board", "sim", "journal", "show", "last:1")
    assert env["injection"]["state"] == "consumed"
    rc, out, err = fw("journal", "list", "--board", "fvp")
    assert rc == 2 and err.startswith("fwemu: error: journal: ") and "journal-fvp.jsonl: no such file" in err


def test_replayable_gives_fields_and_record_bytes(real):
    path, res = real
    reader = JournalReader(path)
    flt = reader.filter(runs=[_runs(path)[0][:-2]])
    items = list(journal_read.replayable(reader, flt))
    assert [i.id for i in items] == [w["id"] for w in res["sweep"]["injections"]]
    for i, w in zip(items, res["sweep"]["injections"], strict=True):
        assert i.record == bytes.fromhex(w["record"]) and i.fields == w["fields"]
        assert (i.scenario, i.source, i.notify, i.pe) == ("memory-ue", 2, "sea", 0)
        assert i.key == f"{_runs(path)[0]}:{i.id}"
    assert len(list(journal_read.replayable(reader, Filter(states=frozenset({"refused"}))))) == 1


# ---- hand-written journals ----------------------------------------------------------------

RUN_A = "20261201T100000-111-aaaaaaaa"
RUN_B = "20261201T110000-222-bbbbbbbb"
RUN_C = "20261201T120000-333-cccccccc"
W0 = 1796112000.0     # 2026-12-01 (wall anchor of RUN_A)


def _run(run, wall, m=100.0, **kw):
    return {"event": "run", "run": run, "board": "sim", "pid": 111, "target": "sim", "clock": "CLOCK_MONOTONIC",
            "boot_id": "x", "format": 2, "m_start": m, "wall_start": wall, "sei_settle_ms": 0.0,
            "unsafe_concurrent_sei": False, **kw}


def _acc(run, i, wall, m, scenario="memory-ue", source=2):
    return {"event": "accepted", "id": i, "scenario": scenario, "source": source, "pe": 0, "digest": "d%d" % i,
            "accepted": wall, "run": run, "m_accepted": m, "length": 172, "bs": 17}


def _final(run, i, wall, m, state="consumed", notify="sea", lat=0.5, reason=None, scenario="memory-ue",
           source=2, **kw):
    consumed = state == "consumed"
    ev = {"id": i, "scenario": scenario, "source": source, "notify": notify, "pe": 0, "block": 0x7C410810,
          "length": 172, "digest": "d%d" % i, "state": state, "reason": reason, "accepted": wall,
          "posted": wall + 1e-4, "notified": wall + 2e-4, "consumed": wall + 2e-4 + lat / 1000 if consumed else None,
          "latency_ms": lat if consumed else None, "run": run, "m_accepted": m, "m_posted": m + 1e-4,
          "m_notified": m + 2e-4, "m_consumed": m + 2e-4 + lat / 1000 if consumed else None,
          "m_end": m + 0.001, "fields": {"address": hex(0x60000000 + i * 4096)}, "record": "11000000" + "00" * 16}
    ev.update(kw)
    ev["event"] = state
    return ev


def _write(path: pathlib.Path, events, tail: str = "") -> pathlib.Path:
    with path.open("w") as f:
        for ev in events:
            f.write((ev if isinstance(ev, str) else json.dumps(ev)) + "\n")
        f.write(tail)
    return path


def test_format_1_lines_are_a_no_run_row(tmp_path):
    old = [{"event": "accepted", "id": 1, "scenario": "memory-ue", "source": 2, "pe": 0, "digest": "a",
            "accepted": W0 - 100},
           {"id": 1, "scenario": "memory-ue", "source": 2, "notify": "sea", "pe": 0, "block": 1, "length": 172,
            "digest": "a", "state": "consumed", "reason": None, "accepted": W0 - 100, "posted": None,
            "notified": None, "consumed": None, "latency_ms": 0.25, "event": "consumed"},
           {"id": 2, "scenario": "memory-ue", "source": 2, "notify": "sea", "pe": 0, "block": 1, "length": 172,
            "digest": "a", "state": "refused", "reason": "queue full", "accepted": W0 - 99, "event": "refused"}]
    path = _write(tmp_path / "j.jsonl", [*old, _run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0),
                                         _final(RUN_A, 1, W0, 100.0), {"event": "run-end", "run": RUN_A,
                                                                       "m_at": 100.5, "counts": {}}])
    env = fwj("journal", "list", "--journal", str(path))
    assert [r["run"] for r in env["runs"]] == [None, RUN_A]
    assert env["runs"][0]["states"] == {"consumed": 1, "refused": 1} and env["runs"][0]["end"] == "no-run"
    rc, out, _ = fw("journal", "list", "--journal", str(path))
    assert "(no run)" in out and "format 1 lines (no run)" in out
    env = fwj("journal", "summary", "--journal", str(path))
    assert env["summary"]["states"] == {"consumed": 2, "refused": 1}
    rc, out, _ = fw("journal", "export", "--csv", "--journal", str(path))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["run"], r["id"], r["state"]) for r in rows] == [("", "1", "consumed"), ("", "2", "refused"),
                                                               (RUN_A, "1", "consumed")]
    env = fwj("journal", "summary", RUN_A, "--journal", str(path))
    assert env["summary"]["count"] == 1
    # a journal of format-1 lines only has no run to show
    only = _write(tmp_path / "old.jsonl", old)
    rc, out, err = fw("journal", "show", "last", "--journal", str(only))
    assert rc == 2 and "holds no run line" in err


def test_a_killed_run_without_run_end_then_resolved(tmp_path):
    lines = [_run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0), _final(RUN_A, 1, W0, 100.0),
             _acc(RUN_A, 2, W0 + 1, 101.0), _acc(RUN_A, 3, W0 + 2, 102.0, scenario="pcie-ue", source=1)]
    path = _write(tmp_path / "j.jsonl", lines)
    env = fwj("journal", "list", "--journal", str(path))
    (row,) = env["runs"]
    assert row["end"] == "cut-short" and row["open"] == 2 and row["states"] == {"consumed": 1}
    assert row["duration_s"] == pytest.approx(2.0)
    rc, out, _ = fw("journal", "list", "--journal", str(path))
    assert "1 consumed, 2 open" in out and out.splitlines()[1].endswith("cut short (2 open)")
    rc, out, _ = fw("journal", "show", "last", "--journal", str(path))
    assert "  #2 memory-ue -> source 2 (SEA on PE 0): open: accepted, no final line in the journal" in out
    assert "  #3 pcie-ue -> source 1: open: accepted" in out
    assert out.splitlines()[-1] == "3 injections (1 consumed, 2 open); run cut short (2 open) after 2.00 s: 1 consumed"
    env = fwj("journal", "summary", "--journal", str(path), "--state", "open")
    assert env["summary"]["count"] == 2
    cells = {(c["notify"], c["scenario"]): c["count"] for c in env["summary"]["by_state_notify_scenario"]}
    assert cells == {("sea", "memory-ue"): 1, ("?", "pcie-ue"): 1}   # the source's notification, when known
    env = fwj("journal", "show", f"{RUN_A}:2", "--journal", str(path))
    assert env["injection"]["state"] == "open" and env["decoded"] is None

    # a later run ends them (recovery's lines carry the dead run's id and resolved_by)
    why = "resolved after a restart: run ... ended without its final line"
    later = [_run(RUN_B, W0 + 3600, m=3700.0),
             {**_final(RUN_A, 2, W0 + 1, 101.0, state="interrupted", reason=why, m_end=3700.1,
                       resolved_by=RUN_B, restart=True), "fields": None, "record": None},
             {**_final(RUN_A, 3, W0 + 2, 102.0, state="interrupted", reason=why, m_end=3700.1,
                       resolved_by=RUN_B, restart=True, notify=None, scenario="pcie-ue", source=1)},
             {"event": "run-end", "run": RUN_A, "resolved_by": RUN_B, "m_at": 3700.2, "resolved": 2, "clean": False},
             {"event": "run-end", "run": RUN_B, "m_at": 3700.3, "counts": {}}]
    path = _write(tmp_path / "j.jsonl", lines + later)
    env = fwj("journal", "list", "--journal", str(path))
    a, b = env["runs"]
    assert a["end"] == "resolved" and a["resolved_by"] == RUN_B and a["open"] == 0
    assert a["states"] == {"consumed": 1, "interrupted": 2}
    assert a["duration_s"] == pytest.approx(2.0)       # the later run's lines are on its own time
    assert b["end"] == "ended"
    rc, out, _ = fw("journal", "list", "--journal", str(path))
    assert f"cut short, resolved by {RUN_B}" in out
    rc, out, _ = fw("journal", "show", f"{RUN_A}:2", "--journal", str(path))
    assert f"state: interrupted (written by run {RUN_B} after a restart)" in out
    assert "record: not in the journal: its final line was written by a later run after a restart" in out


def test_a_live_run_is_running(tmp_path):
    path = _write(tmp_path / "j.jsonl", [_run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0)])
    with open(f"/proc/{os.getpid()}/stat", "rb") as f:
        data = f.read()
    start = data[data.rfind(b")") + 2:].split()[19].decode()
    boot = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    (tmp_path / "j.jsonl.runs").write_text(json.dumps(
        {"v": 1, "runs": [{"run": RUN_A, "pid": os.getpid(), "start": start, "boot_id": boot, "offset": 0}]}))
    env = fwj("journal", "list", "--journal", str(path))
    assert env["runs"][0]["end"] == "running"
    rc, out, _ = fw("journal", "list", "--journal", str(path))
    assert "running (pid 111)" in out      # the run line's pid
    # the same entry with another process's start time: a reused pid, not the run
    (tmp_path / "j.jsonl.runs").write_text(json.dumps(
        {"v": 1, "runs": [{"run": RUN_A, "pid": os.getpid(), "start": "1", "boot_id": boot, "offset": 0}]}))
    assert fwj("journal", "list", "--journal", str(path))["runs"][0]["end"] == "cut-short"


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path):
    lines = [_run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0), _final(RUN_A, 1, W0, 100.0), _acc(RUN_A, 2, W0, 100.1)]
    path = _write(tmp_path / "j.jsonl", lines, tail='{"id":2,"scenario":"memory-ue","sou')
    for argv in (["list"], ["show", "last"], ["summary"], ["export", "--csv"], ["show", f"{RUN_A}:1"]):
        rc, out, err = fw("journal", *argv, "--journal", str(path))
        assert rc == 0, argv
        assert err == (f"fwemu: warning: {path}:5: the last line is torn (35 bytes without a newline, not whole "
                       "JSON: a run killed mid-write?); skipped\n"), argv
    env = fwj("journal", "list", "--journal", str(path))
    assert env["runs"][0]["open"] == 1 and len(env["warnings"]) == 1
    # a whole last line without its newline is read
    path = _write(tmp_path / "k.jsonl", lines, tail=json.dumps(_final(RUN_A, 2, W0, 100.1)))
    rc, out, err = fw("journal", "list", "--journal", str(path))
    assert rc == 0 and err == "" and "2 consumed" in out


def test_a_torn_line_with_the_next_runs_line_appended(tmp_path):
    torn = '{"id":2,"scenario":"mem' + json.dumps(_run(RUN_B, W0 + 10, m=110.0))
    path = _write(tmp_path / "j.jsonl", [_run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0), _final(RUN_A, 1, W0, 100.0),
                                         torn, _acc(RUN_B, 1, W0 + 10, 110.0), _final(RUN_B, 1, W0 + 10, 110.0)])
    rc, out, err = fw("journal", "list", "--journal", str(path))
    assert rc == 0 and RUN_A in out and RUN_B in out
    assert err == (f"fwemu: warning: {path}:4: a torn line (23 bytes, cut short) with a whole line appended to "
                   "it; the torn part skipped\n")


def test_a_damaged_line_is_an_error_naming_it(tmp_path):
    path = _write(tmp_path / "j.jsonl", [_run(RUN_A, W0), "this is not json", _acc(RUN_A, 1, W0, 100.0)])
    for argv in (["list"], ["show", "last"], ["summary"], ["export", "--csv"]):
        rc, out, err = fw("journal", *argv, "--journal", str(path))
        assert rc == 2, argv
        assert err.startswith(f"fwemu: error: --journal: {path}:2: not a whole JSON line (Expecting value)")
        assert err.count("\n") == 1
    path = _write(tmp_path / "k.jsonl", [_run(RUN_A, W0), "[1, 2]"])
    rc, out, err = fw("journal", "list", "--journal", str(path))
    assert rc == 2 and f"{path}:2: a JSON list, not a journal line" in err
    env = fwj("journal", "list", "--journal", str(path))
    assert env["status"] == 2 and "a JSON list" in env["error"]


def test_values_of_the_wrong_type_never_crash(tmp_path):
    odd = {**_final(RUN_A, 1, W0, 100.0), "accepted": "yesterday", "latency_ms": "fast", "notify": 7,
           "scenario": ["x"], "source": "2", "block": "0x10", "fields": "none", "record": "zz"}
    nan = {**_final(RUN_A, 2, W0, 100.0), "latency_ms": float("nan"), "accepted": float("inf")}
    path = _write(tmp_path / "j.jsonl", [_run(RUN_A, W0), odd, nan])
    for argv in (["list"], ["show", "last"], ["summary"], ["export", "--csv"], ["show", f"{RUN_A}:1"]):
        rc, out, err = fw("journal", *argv, "--journal", str(path))
        assert rc == 0 and "Traceback" not in err, (argv, err)
    rc, out, err = _main(["report", "--journal", str(path), "-o", str(tmp_path / "r.html"), "--no-plots"])
    assert rc == 0, err
    env = fwj("journal", "show", RUN_A, "--journal", str(path))
    assert [(i["id"], i["latency_ms"], i["accepted"], i["source"]) for i in env["injections"]] == \
        [(1, None, None, None), (2, None, None, 2)]
    bad = _write(tmp_path / "k.jsonl", [_run(RUN_A, W0), {**_acc(RUN_A, 1, W0, 100.0), "id": "one"}])
    for argv in (["list"], ["show", "last"], ["export", "--csv"]):
        rc, out, err = fw("journal", *argv, "--journal", str(bad))
        assert rc == 2 and err == f"fwemu: error: --journal: {bad}:2: an injection line (accepted) without a numeric id\n", argv


def test_missing_or_unreadable_journals(tmp_path):
    for path, expect in [(tmp_path / "none.jsonl", "none.jsonl: no such file"),
                         (tmp_path, "is a directory, not a journal"),
                         (pathlib.Path("/dev/null"), "is not a regular file")]:
        rc, out, err = fw("journal", "list", "--journal", str(path))
        assert rc == 2 and err.startswith("fwemu: error: --journal: ") and expect in err, err
    rc, out, err = fw("journal", "list", "--journal", "none")
    assert rc == 2 and "'none' names no journal to read" in err
    empty = _write(tmp_path / "e.jsonl", [])
    rc, out, err = fw("journal", "list", "--journal", str(empty))
    assert rc == 0 and out.startswith("no run in ")
    if os.geteuid() != 0:
        locked = _write(tmp_path / "l.jsonl", [_run(RUN_A, W0)])
        locked.chmod(0)
        rc, out, err = fw("journal", "list", "--journal", str(locked))
        assert rc == 2 and "Permission denied" in err


def test_late_lines_are_merged_and_finals_come_in_id_order(tmp_path):
    lines = [_run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0), _acc(RUN_A, 2, W0 + 0.1, 100.1),
             _final(RUN_A, 2, W0 + 0.1, 100.1),
             _final(RUN_A, 1, W0, 100.0, state="timed-out", reason="the OS did not consume it within 5 s"),
             {"event": "os-log", "run": RUN_A, "m_at": 100.3, "count": 2, "lines": ["a <b>", "Kernel panic - x"],
              "os": {"up": False, "panic": "x"}},
             {"event": "consumed-late", "id": 1, "source": 2, "after_ms": 5012.5, "run": RUN_A, "m_consumed": 105.2},
             {"event": "resolved", "id": 2, "source": 2, "state": "consumed", "found": "consumed",
              "reason": "the agent answered", "run": RUN_A, "m_at": 105.3}]
    path = _write(tmp_path / "j.jsonl", lines)
    env = fwj("journal", "show", RUN_A, "--journal", str(path))
    assert [i["id"] for i in env["injections"]] == [1, 2]
    assert [e["event"] for e in env["injections"][0]["late"]] == ["consumed-late"]
    assert [e["event"] for e in env["injections"][1]["late"]] == ["resolved"]
    assert env["os_log"][0]["first_id"] == 1 and env["os_log"][0]["last_id"] == 2
    rc, out, _ = fw("journal", "show", RUN_A, "--journal", str(path))
    assert "#1 memory-ue -> source 2 (SEA on PE 0): timed-out: the OS did not consume it within 5 s; then " \
           "consumed late, 5012.5 ms after the notification (line 7)" in out
    assert "  OS log of request #1..#2 (2 lines):" in out and "     OS down after it: x" in out
    rc, out, _ = fw("journal", "show", f"{RUN_A}:1", "--journal", str(path))
    assert "  then: consumed late, 5012.5 ms after the notification (line 7)" in out
    assert "    7: {" in out
    env = fwj("journal", "summary", "--journal", str(path))
    assert env["summary"]["consumed_late"] == 1 and env["summary"]["resolved"] == {"consumed": 1}
    rc, out, _ = fw("journal", "summary", "--journal", str(path))
    assert "consumed late (after their timeout): 1" in out and "resolved later, found consumed: 1" in out
    rows = list(csv.DictReader(io.StringIO(fw("journal", "export", "--csv", "--journal", str(path))[1])))
    assert rows[0]["late"].startswith("consumed late, 5012.5 ms")


def test_control_characters_from_the_journal_are_escaped_on_the_terminal(tmp_path):
    path = _write(tmp_path / "j.jsonl", [
        _run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0),
        _final(RUN_A, 1, W0, 100.0, state="refused", reason="bad\x1b[2Jthing\nsecond line"),
        {"event": "os-log", "run": RUN_A, "m_at": 100.3, "count": 1, "lines": ["\x1b]0;owned\x07tail"], "os": {}}])
    rc, out, _ = fw("journal", "show", RUN_A, "--journal", str(path))
    assert "\x1b" not in out and "\x07" not in out
    assert "refused: bad\\x1b[2Jthing\\nsecond line" in out and "     \\x1b]0;owned\\x07tail" in out
    env = fwj("journal", "show", RUN_A, "--journal", str(path))
    assert env["injections"][0]["reason"] == "bad\x1b[2Jthing\nsecond line"     # JSON: as journalled


def test_an_id_alone_names_the_run_that_has_it(tmp_path):
    # format 2: each run counted from 1, so :1 is ambiguous; :2 is not
    path = _write(tmp_path / "j.jsonl", [
        _run(RUN_A, W0), _acc(RUN_A, 1, W0, 100.0), _final(RUN_A, 1, W0, 100.0),
        _acc(RUN_A, 2, W0, 100.1), _final(RUN_A, 2, W0, 100.1),
        _run(RUN_B, W0 + 10, m=110.0), _acc(RUN_B, 1, W0 + 10, 110.0), _final(RUN_B, 1, W0 + 10, 110.0)])
    env = fwj("journal", "show", ":2", "--journal", str(path))
    assert env["injection"]["run"] == RUN_A and env["injection"]["id"] == 2
    rc, out, err = fw("journal", "show", ":1", "--journal", str(path))
    assert rc == 2 and err == (f"fwemu: error: RUN:ID: 2 runs have an injection #1 (ids of journals before format 3 "
                               f"restart in each run): {RUN_A}, {RUN_B}; give RUN:ID\n")
    assert JournalReader(path).runs_with_id(1) == [RUN_A, RUN_B]


def test_run_selectors(tmp_path):
    path = _write(tmp_path / "j.jsonl", [_run(RUN_A, W0), _run(RUN_B, W0 + 20), _run(RUN_C, W0 + 10)])
    reader = JournalReader(path)
    assert reader.resolve_run("last") == RUN_B        # the newest start, not the last line
    assert reader.resolve_run("20261201T12") == RUN_C
    assert reader.resolve_run(RUN_A) == RUN_A
    with pytest.raises(Exception, match="names 3 runs"):
        reader.resolve_run("2026")
    assert journal_read.split_key("last:12") == ("last", 12)
    assert journal_read.split_key(":12") == ("", 12)
    assert journal_read.split_key(RUN_A) == (RUN_A, None)


def test_time_filters():
    now = 1_800_000_000.0
    assert journal_read.parse_time("10m", "--since", now) == now - 600
    assert journal_read.parse_time("2h", "--since", now) == now - 7200
    assert journal_read.parse_time("1.5d", "--since", now) == now - 1.5 * 86400
    assert journal_read.parse_time("2026-12-02T05:45:00Z", "--since") == 1796190300.0
    assert journal_read.parse_time("2026-12-02T06:45:00+01:00", "--since") == 1796190300.0
    local = journal_read.parse_time("2026-12-02 05:45", "--since")
    assert time.localtime(local)[:5] == (2026, 12, 2, 5, 45)
    f = Filter.parse(since="2026-12-02T00:00Z", until="2026-12-03T00:00Z")
    assert f.in_window(1796190300.0) and not f.in_window(1796000000.0) and not f.in_window(None)


def test_a_large_journal_is_read_in_bounded_memory(tmp_path):
    n = 6_000
    path = tmp_path / "big.jsonl"
    with path.open("w") as f:
        f.write(json.dumps(_run(RUN_A, W0)) + "\n")
        for i in range(1, n + 1):
            t, m = W0 + i * 0.001, 100.0 + i * 0.001
            f.write(json.dumps(_acc(RUN_A, i, t, m), separators=(",", ":")) + "\n")
            st = "consumed" if i % 100 else "refused"
            f.write(json.dumps(_final(RUN_A, i, t, m, state=st, lat=0.01 * (i % 97 + 1),
                                      reason=None if st == "consumed" else f"busy #{i % 7}"),
                               separators=(",", ":")) + "\n")
    reader = JournalReader(path)
    tracemalloc.start()
    try:
        scan = reader.scan(Filter(), os_reactions=True)
        _, peak_scan = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        count = sum(1 for _ in reader.injections())
        _, peak_iter = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scan.summary.count == count == n and scan.summary.states["refused"] == n // 100
    assert len(scan.summary.reasons) == 7
    # 6,000 injections held as objects would be about 10 MB; what is kept is per run and per
    # summary (the latency reservoir, at most 100,000 values, and at most 2,048 time buckets)
    assert peak_scan < 2_000_000, peak_scan
    assert peak_iter < 500_000, peak_iter


def test_summary_structures_stay_bounded():
    lat = journal_read.Latency()
    for i in range(journal_read.Latency.SAMPLES + 5000):
        lat.add(0.001 * (i % 1000 + 1))
    assert len(lat.sample) == journal_read.Latency.SAMPLES and lat.sampled
    assert lat.n == journal_read.Latency.SAMPLES + 5000 and sum(lat.bins) == lat.n
    assert lat.max == 1.0 and lat.min == 0.001
    p = lat.percentiles()
    assert 0.45 < p["p50"] < 0.55 and 0.97 < p["p99"] <= 1.0
    hist = journal_read.TimeHist()
    for i in range(50_000):                       # 50,000 s of one injection a second
        hist.add(W0 + i, "consumed" if i % 10 else "refused")
    width, series = hist.series()
    assert len(series) <= journal_read.TimeHist.MAX_BUCKETS and width >= 16
    assert sum(sum(c) for _, c in series) == 50_000
    assert sum(c[journal_read.STATES.index("refused")] for _, c in series) == 5_000
    s = journal_read.Summary()
    for i in range(1000):
        s.add(RUN_A, i, "refused", "sea", "memory-ue", None, W0 + i, f"reason {i}")
    assert len(s.reasons) == journal_read.REASONS_KEPT + 1
    other = [r for r in s.reason_rows() if r["reason"] == journal_read.OTHER_REASONS]
    assert other[0]["count"] == 1000 - journal_read.REASONS_KEPT


def test_the_fast_line_reader_agrees_with_json(real):
    path, _res = real
    seen = 0
    for line in path.read_bytes().splitlines():
        fast = journal_read._light(line)
        ev = json.loads(line)
        if ev["event"] == "accepted" or ev["event"] in journal_read.FINAL:
            assert fast is not None, line[:80]
            assert fast == journal_read._light_of(ev)
            seen += 1
        else:
            assert fast is None
    assert seen == 2 * 20
    # a reason with escapes, a scenario of another spelling: the same either way
    ev = {**_final(RUN_A, 1, W0, 100.0, state="refused", reason='quote " and \\ and \u00e9 <x>')}
    line = json.dumps(ev, separators=(",", ":")).encode()
    assert journal_read._light(line) == journal_read._light_of(ev)
    assert journal_read._light(line[:-1]) is None            # not a whole line: json decides
