"""`fwemu farm run` against a real labgrid lab on 127.0.0.1 (tests/farmlab.py): a
labgrid-coordinator, a labgrid-exporter, sim-agent boards on ptys behind ser2net (one over
RFC 2217, one over raw TCP), places with tags. Skips without labgrid or ser2net, unless
FWEMU_REQUIRE_FARM=1 (CI), where a missing piece fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fwemu import journal_check

import farmlab   # tests/farmlab.py (tests/conftest.py puts tests/ on sys.path)

COUNT = 200
WORKLOAD = ["inject", "memory-ue", "--count", str(COUNT), "--address", "0x60000000:0x70000000:0x1000"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    why = farmlab.missing()
    if why:
        if os.environ.get("FWEMU_REQUIRE_FARM") == "1":
            pytest.fail(f"FWEMU_REQUIRE_FARM=1 but {why}")
        pytest.skip(why)
    with farmlab.FarmLab(tmp_path_factory.mktemp("lab"), boards=2) as lab:
        # a place with the right kind of tag but nothing matched: no serial resource
        lab.client("-p", "fwemu-empty", "create")
        lab.client("-p", "fwemu-empty", "add-match", "lab1/no-such-group/*")
        lab.client("-p", "fwemu-empty", "set-tags", "ras=empty")
        yield lab


def farm(lab, tmp: Path, *args: str, tags=("ras=ghes",), places=2, work=WORKLOAD, coordinator=None):
    argv = [sys.executable, "-m", "fwemu", "farm", "run", "--coordinator", coordinator or lab.coordinator,
            *[f"--tag={t}" for t in tags], "--places", str(places), "--board", "sim-agent",
            "--dir", str(tmp), *args, "--", *work]
    env = dict(os.environ, XDG_STATE_HOME=str(tmp.parent / "state"))
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def quantile(values: list[float], p: float) -> float:
    lat = sorted(values)
    return lat[min(len(lat) - 1, int(p * len(lat)))]


def assert_released(lab) -> None:
    assert lab.acquired() == []
    assert "Reservation" not in lab.client("reservations")


def test_farm_runs_the_workload_on_every_board_and_merges(lab, tmp_path):
    r = farm(lab, tmp_path / "run", "--json")
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    assert env["status"] == 0 and env["error"] is None
    places = {p["place"]: p for p in env["places"]}
    assert sorted(places) == ["fwemu-0", "fwemu-1"]
    assert places["fwemu-0"]["url"].startswith("rfc2217://127.0.0.1:")
    assert "ign_set_control" in places["fwemu-0"]["url"]
    assert places["fwemu-1"]["url"].startswith("socket://127.0.0.1:")

    merged = lines(Path(env["journal"]))
    totals: dict[str, int] = {}
    all_lat: list[float] = []
    for i, name in enumerate(["fwemu-0", "fwemu-1"]):
        own = lines(Path(places[name]["journal"]))
        # the merged journal holds exactly this board's lines, tagged, in the board's order
        tagged = [x for x in merged if x["place"] == name]
        assert [{k: v for k, v in x.items() if k != "place"} for x in tagged] == own
        accepted = {x["id"] for x in own if x.get("event") == "accepted"}
        finals = [x for x in own if x.get("event") in ("consumed", "dropped", "refused", "timed-out", "interrupted")]
        assert accepted == set(range(1, COUNT + 1))
        assert sorted(x["id"] for x in finals) == sorted(accepted)      # every injection ended, once
        assert all(x["event"] == "consumed" for x in finals)
        # the firmware rules held on the board (journal_check reads one board's journal)
        rep = journal_check.check_file(places[name]["journal"])
        assert rep.ok, rep.text()
        # the board's OS consumed each record (its own ledger, not the host's word)
        ledger = Path(lab.ledgers[i]).read_text().splitlines()
        assert {x["digest"] for x in finals} <= {line.split()[3] for line in ledger if line.startswith("consumed")}
        # the summary is the board's journal
        lat = [x["latency_ms"] for x in finals]
        s = places[name]
        assert s["count"] == COUNT and s["states"] == {"consumed": COUNT} and s["exit"] == 0
        assert s["p50_ms"] == quantile(lat, 0.5) and s["p99_ms"] == quantile(lat, 0.99)
        span = max(x["m_end"] for x in finals) - min(x["m_accepted"] for x in finals)
        assert s["rate"] == pytest.approx(COUNT / span, abs=0.1)
        for x in finals:
            totals[x["event"]] = totals.get(x["event"], 0) + 1
        all_lat += lat
    t = env["total"]
    assert t["count"] == 2 * COUNT and t["states"] == totals == {"consumed": 2 * COUNT}
    assert t["p50_ms"] == quantile(all_lat, 0.5) and t["p99_ms"] == quantile(all_lat, 0.99)
    assert t["rate"] == pytest.approx(sum(p["rate"] for p in env["places"]), abs=0.2)
    assert sorted(env["released"]) == ["fwemu-0", "fwemu-1"]
    assert_released(lab)


def test_a_board_that_fails_sets_the_exit_code_and_names_the_place(lab, tmp_path):
    r = farm(lab, tmp_path / "run", work=["inject", "memory-ue", "--pe", "9"])
    assert r.returncode == 2
    err = [x for x in r.stderr.splitlines() if x.startswith("fwemu: error:")]
    assert len(err) == 1 and "2 of 2 boards failed" in err[0] and "place fwemu-0" in err[0]
    assert "--pe" in err[0]
    assert "Traceback" not in r.stderr
    assert_released(lab)


@pytest.mark.parametrize("case, args, code, words", [
    ("no place has the tag", dict(tags=("ras=nothing",)), 2, ["--tag", "ras=nothing"]),
    ("fewer places than asked", dict(places=3), 2, ["--places", "3 wanted", "only 2"]),
    ("a place without a serial resource", dict(tags=("ras=empty",), places=1), 5,
     ["fwemu-empty", "has no serial resource"]),
])
def test_lab_problems_are_one_line(lab, tmp_path, case, args, code, words):
    r = farm(lab, tmp_path / "run", **args)
    assert r.returncode == code, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr
    assert_released(lab)


def test_no_coordinator_is_one_line(lab, tmp_path):
    r = farm(lab, tmp_path / "run", coordinator=f"127.0.0.1:{farmlab.free_port()}")
    assert r.returncode == 5
    assert len(r.stderr.strip().splitlines()) == 1 and "labgrid coordinator 127.0.0.1:" in r.stderr, r.stderr


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_boards_and_releases_the_places(lab, tmp_path, signum, code):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "fwemu", "farm", "run", "--coordinator", lab.coordinator, "--tag", "ras=ghes",
            "--places", "2", "--board", "sim-agent", "--dir", str(out), "--json", "--",
            "inject", "memory-ue", "--count", "100000", "--rate", "50", "--address", "0x60000000:0x70000000:0x1000"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")))
    deadline = time.monotonic() + 60
    while not all((out / f"fwemu-{i}.jsonl").exists() and "accepted" in (out / f"fwemu-{i}.jsonl").read_text()
                  for i in range(2)):
        assert time.monotonic() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.2)
    p.send_signal(signum)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == code, stderr
    env = json.loads(stdout)
    assert f"interrupted by {signum.name}" in env["error"] and sorted(env["released"]) == ["fwemu-0", "fwemu-1"]
    for place in env["places"]:      # each board stopped submitting and ended what it had accepted
        own = lines(Path(place["journal"]))
        accepted = {x["id"] for x in own if x.get("event") == "accepted"}
        assert 0 < len(accepted) < 100000
        assert place["count"] == len(accepted)
    assert_released(lab)


DRIVER_SCRIPT = """
import json, sys
from labgrid import Environment
target = Environment(sys.argv[1]).get_target("main")
drv = target.get_driver("FwemuAgentDriver")
res = drv.run("inject", "memory-ue", "--count", "3", "--address", "0x60000000:0x70000000:0x1000")
print(json.dumps({"url": drv.url, "rc": res.returncode, "error": res.error,
                  "states": [i["state"] for i in (res.envelope or {}).get("injections", [])]}))
"""


@pytest.mark.parametrize("place, scheme", [("fwemu-0", "rfc2217://"), ("fwemu-1", "socket://")])
def test_the_example_environment_drives_a_board(lab, tmp_path, place, scheme):
    """examples/labgrid/env.yaml as a labgrid user runs it: RemotePlace, the driver loaded
    by `imports:`, its URL and run()."""
    example = Path(__file__).resolve().parents[2] / "examples" / "labgrid" / "env.yaml"
    env_file = tmp_path / "env.yaml"
    env_file.write_text(example.read_text().replace("name: board-a", f"name: {place}"))
    lab.client("-p", place, "acquire")
    try:
        r = subprocess.run([sys.executable, "-c", DRIVER_SCRIPT, str(env_file)], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, LG_COORDINATOR=lab.coordinator,
                                                 XDG_STATE_HOME=str(tmp_path / "state")))
    finally:
        lab.client("-p", place, "release")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.splitlines()[-1])
    assert got["url"].startswith(scheme + "127.0.0.1:") and got["rc"] == 0 and got["error"] is None
    assert got["states"] == ["consumed"] * 3


def test_busy_places_are_waited_for_then_left_alone(lab, tmp_path):
    """A place someone else holds is waited for (--wait), the farm gives up in one line, and
    it never releases what it did not acquire."""
    lab.client("-p", "fwemu-0", "acquire")
    try:
        t0 = time.monotonic()
        r = farm(lab, tmp_path / "run", "--wait", "2")
        assert r.returncode == 5, r.stderr
        assert time.monotonic() - t0 >= 2
        assert len(r.stderr.strip().splitlines()) == 1 and "1 of 2 places tagged ras=ghes allocated" in r.stderr
        assert lab.acquired() == ["fwemu-0"]            # still the other holder's
        assert "Reservation" not in lab.client("reservations")
    finally:
        lab.client("-p", "fwemu-0", "release")
    assert_released(lab)


def test_ctrl_c_while_waiting_for_places_cancels_the_reservations(lab, tmp_path):
    lab.client("-p", "fwemu-1", "acquire")
    try:
        p = subprocess.Popen([sys.executable, "-m", "fwemu", "farm", "run", "--coordinator", lab.coordinator,
                              "--tag", "ras=ghes", "--places", "2", "--board", "sim-agent", "--dir",
                              str(tmp_path / "run"), "--wait", "120", "--", *WORKLOAD],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state")))
        deadline = time.monotonic() + 60
        while lab.client("reservations").count("Reservation") < 2:       # both made, one waiting
            assert time.monotonic() < deadline and p.poll() is None, p.communicate()
            time.sleep(0.3)
        p.send_signal(signal.SIGINT)
        _, stderr = p.communicate(timeout=60)
        assert p.returncode == 130, stderr
        assert stderr.strip().splitlines() == ["fwemu: error: interrupted"]
        assert lab.acquired() == ["fwemu-1"]             # the other holder's, untouched
        assert "Reservation" not in lab.client("reservations")
    finally:
        lab.client("-p", "fwemu-1", "release")
    assert_released(lab)


def test_a_campaign_runs_across_the_farm(lab, tmp_path):
    """`fwemu farm run -- campaign run FILE`: the same campaign file on every board."""
    camp = Path(__file__).resolve().parents[2] / "examples" / "campaigns" / "memory-soak.toml"
    r = farm(lab, tmp_path / "run", "--json", work=["campaign", "run", str(camp)])
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
    for p in env["places"]:
        own = lines(Path(p["journal"]))
        finals = [x for x in own if x.get("event") in ("consumed", "dropped", "refused", "timed-out", "interrupted")]
        assert len(finals) == 300 and {x["event"] for x in finals} == {"consumed"}
        assert p["states"] == {"consumed": 300} and p["exit"] == 0
        # the campaign's sweep, on each board
        ce = [int(x["fields"]["address"], 16) for x in finals if x["scenario"] == "memory-ce"]
        assert sorted(ce) == [0x60000000 + k * 0x1000 for k in range(200)]
    assert env["total"]["count"] == 600
    assert_released(lab)
