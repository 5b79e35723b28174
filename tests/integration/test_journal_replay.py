"""`fwemu journal replay`: journalled injections posted again, byte for byte or rebuilt
from their fields, on the same board or another, each reported beside its original."""

from __future__ import annotations

import json

import pytest

from fwemu import journal


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


FINAL = ("consumed", "dropped", "refused", "timed-out", "interrupted")


def finals(path) -> list[dict]:
    return sorted((ln for ln in journal.read(path) if ln.get("event") in FINAL), key=lambda ln: ln["id"])


@pytest.fixture
def original(tmp_path, cli_run):
    j = tmp_path / "orig.jsonl"
    rc, _, err = cli_run("inject", "memory-ue", "--count", "4", "--pe", "0:4:1",
                         "--address", "0x60000000:0x60004000:0x1000", "--journal", str(j))
    assert rc == 0, err
    return j


def test_an_exact_replay_posts_the_same_bytes(tmp_path, cli_run, original):
    into = tmp_path / "replay.jsonl"
    rc, out, err = cli_run("--json", "journal", "replay", "last", "--journal", str(original), "--into", str(into))
    assert rc == 0, err
    env = json.loads(out)
    assert env["count"] == 4 and env["states"] == {"consumed": 4}
    old, new = finals(original), finals(into)
    assert [ln["record"] for ln in new] == [ln["record"] for ln in old]
    assert [ln["pe"] for ln in new] == [0, 1, 2, 3] and {ln["source"] for ln in new} == {old[0]["source"]}
    assert [p["from"] for p in env["replays"]] == [f"{ln['run']}:{ln['id']}" for ln in old]
    assert [p["id"] for p in env["replays"]] == [ln["id"] for ln in new]
    # the OS recovered the same pages again
    lines = [x for ln in journal.read(into) if ln.get("event") == "os-log" for x in ln["lines"]]
    assert sum("Memory failure: 0x6000" in x for x in lines) == 4


def test_a_rebuilt_replay_has_the_same_fields_and_a_new_timestamp(tmp_path, cli_run, original):
    into = tmp_path / "replay.jsonl"
    run = finals(original)[0]["run"]
    # on the same board: its records are unique (another board's may repeat these bytes)
    rc, out, err = cli_run("journal", "replay", f"{run}:2", f"{run}:3", "--rebuild",
                           "--journal", str(original), "--into", str(into))
    assert rc == 0, err
    assert f"{run}:2 (memory-ue, was consumed) -> #" in out and "replayed 2 injections onto sim" in out
    old = {ln["id"]: ln for ln in finals(original)}
    new = finals(into)
    assert [ln["fields"] for ln in new] == [old[2]["fields"], old[3]["fields"]]
    for ln, o in zip(new, (old[2], old[3]), strict=True):
        a, b = bytes.fromhex(ln["record"]), bytes.fromhex(o["record"])
        ts = 20 + 64           # the entry's timestamp: the only bytes that differ
        assert a[:ts] + a[ts + 8:] == b[:ts] + b[ts + 8:] and a != b


def test_fields_are_journalled_by_name_and_a_format_3_journal_reads_and_rebuilds_the_same(
        tmp_path, cli_run, original):
    old = finals(original)
    assert old[1]["fields"] == {"address": "0x60001000"}       # format 4: by field name
    assert [ln["format"] for ln in journal.read(original) if ln.get("event") == "run"] == [4]
    # the same journal as format 3 wrote it: the run's format, fields keyed by option
    three = tmp_path / "three.jsonl"
    three.write_text("".join(json.dumps(ln) + "\n" for ln in (
        {**ln, "format": 3} if ln.get("event") == "run" else
        {**ln, "fields": {"--" + k.replace("_", "-"): v for k, v in ln["fields"].items()}} if "fields" in ln else ln
        for ln in journal.read(original))))
    assert '"--address": "0x60001000"' in three.read_text()
    run = old[0]["run"]
    rc, out, err = cli_run("--json", "journal", "show", f"{run}:2", "--journal", str(three))
    assert rc == 0, err
    assert json.loads(out)["injection"]["fields"] == {"address": "0x60001000"}
    rc, out, err = cli_run("journal", "show", f"{run}:2", "--journal", str(three))
    assert "fields: --address 0x60001000" in out                # shown as `fwemu inject` takes it
    into = tmp_path / "replay.jsonl"
    rc, out, err = cli_run("journal", "replay", f"{run}:2", "--rebuild", "--journal", str(three),
                           "--into", str(into))
    assert rc == 0, err
    new = finals(into)
    assert new[0]["fields"] == {"address": "0x60001000"} and new[0]["state"] == "consumed"
    a, b = bytes.fromhex(new[0]["record"]), bytes.fromhex(old[1]["record"])
    assert a[:84] + a[92:] == b[:84] + b[92:]      # the same record but its timestamp


def test_a_replay_onto_another_board(tmp_path, cli_run, original):
    into = tmp_path / "agent.jsonl"
    rc, out, err = cli_run("journal", "replay", "last:1", "--to", "sim-agent", "--journal", str(original),
                           "--into", str(into))
    assert rc == 0, err
    assert "replayed 1 injection onto sim-agent (in-process): 1 consumed" in out
    assert finals(into)[0]["record"] == finals(original)[0]["record"]


def test_filters_choose_what_is_replayed(tmp_path, cli_run):
    j = tmp_path / "orig.jsonl"
    # a slow OS and a burst on one SDEI source: its queue fills and refuses some
    rc, _, _ = cli_run("inject", "memory-ce", "--notify", "sdei", "--count", "40", "--os-delay", "0.02",
                       "--journal", str(j))
    assert rc == 4
    refused = [ln for ln in finals(j) if ln["state"] == "refused"]
    assert refused
    into = tmp_path / "replay.jsonl"
    rc, out, err = cli_run("--json", "journal", "replay", "--state", "refused", "--rebuild",
                           "--journal", str(j), "--into", str(into))
    assert rc == 0, err
    env = json.loads(out)
    assert [p["from"] for p in env["replays"]] == [f"{ln['run']}:{ln['id']}" for ln in refused]
    assert all(p["was"] == "refused" and p["state"] == "consumed" for p in env["replays"])


def test_what_cannot_be_replayed_exactly_says_so(tmp_path, cli_run, original):
    # a final line without its record (as format 1 wrote them)
    lines = original.read_text().splitlines()
    doctored = tmp_path / "old.jsonl"
    out_lines = []
    for ln in lines:
        d = json.loads(ln)
        d.pop("record", None)
        out_lines.append(json.dumps(d))
    doctored.write_text("\n".join(out_lines) + "\n")
    rc, out, err = cli_run("journal", "replay", "last", "--journal", str(doctored), "--into", "none")
    assert rc == 2 and "has no journalled record" in err and "--rebuild replays it from its fields" in err
    rc, out, err = cli_run("journal", "replay", "last", "--rebuild", "--journal", str(doctored), "--into", "none")
    assert rc == 0, err


def test_the_exit_code_is_the_worst_replay(tmp_path, cli_run):
    j = tmp_path / "orig.jsonl"
    rc, _, _ = cli_run("inject", "memory-fatal", "--journal", str(j))
    assert rc == 6
    rc, out, err = cli_run("journal", "replay", "last", "--journal", str(j), "--into", "none")
    assert rc == 6 and "1 consumed" in out
