"""`fwemu campaign`: files checked by field before anything runs, steps run in order with
their field sweeps, mixes, seeds, waits, resets and OS preconditions, results as the
journal and the OS saw them."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fwemu import journal

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "campaigns"


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def write(tmp_path, text: str, name: str = "c.toml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def final_lines(path) -> list[dict]:
    return [ln for ln in journal.read(path)
            if ln.get("event") in ("consumed", "refused", "timed-out", "dropped", "interrupted")]


# ---- the file, checked before anything runs ------------------------------------------------
@pytest.mark.parametrize("body, where, why", [
    ('[[step]]\nscenario = "memory-ce"\ncont = 3\n', "step 1 (memory-ce): cont", "unknown key"),
    ('[[step]]\nscenario = "memory-cee"\n', "step 1 (memory-cee): scenario", "unknown scenario 'memory-cee'"),
    ('[[step]]\nscenario = "memory-ce"\nfields = { bdf = "1:0.0" }\n', "step 1 (memory-ce): bdf",
     "does not apply to memory-ce"),
    ('[[step]]\nscenario = "memory-ce"\ncount = 2\nduration = "1s"\n', "step 1 (memory-ce)", "count or duration, not both"),
    ('[[step]]\nscenario = "memory-ce"\nduration = "soon"\n', "step 1 (memory-ce): duration", "is not a duration"),
    ('[[step]]\nscenario = "memory-ce"\ncount = 0\n', "step 1 (memory-ce): count", "0 is outside 1 .. 1000000000"),
    ('[[step]]\nscenario = "memory-ce"\nfields = { address = "0x7:0x1:0x1" }\n', "step 1 (memory-ce): address",
     "STOP must be above START"),
    ('[[step]]\nname = "x"\nwait = 1\nscenario = "memory-ce"\n', "step 1 (x)", "exactly one of"),
    ('[[step]]\nmix = []\n', "step 1 (mix): mix", "at least one variant"),
    ('[[step]]\nmix = [{ scenario = "memory-ce", weight = 0 }]\n', "step 1 (mix): mix[0]: weight", "outside"),
    ('[[step]]\nscenario = "memory-ce"\nexpect = { states = ["eaten"] }\n', "step 1 (memory-ce): expect: states",
     "must list final states"),
    ('name = "no steps"\n', "step", "at least one [[step]]"),
    ('[[step]\n', "syntax", ""),
    ('[[step]]\nscenario = "memory-ce"\nsource = 99\n', "step 1 (memory-ce): source", "has no source 99"),
    ('[[step]]\nscenario = "memory-ce"\npe = 7\n', "step 1 (memory-ce): pe", "has PEs 0 .. 3"),
    ('[[step]]\nscenario = "memory-ce"\nnotify = "gpio"\n', "step 1 (memory-ce): notify", "has no gpio source"),
])
def test_a_bad_campaign_is_one_line_naming_file_step_and_key_and_nothing_runs(tmp_path, cli_run, body, where, why):
    f = write(tmp_path, body)
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("campaign", "run", f, "--journal", str(j))
    assert rc == 2
    assert out == ""
    line = err.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"fwemu: error: {f}: {where}"), line
    assert why in line
    assert not j.exists()          # nothing accepted, nothing journalled


def test_a_missing_file_is_one_line(tmp_path, cli_run):
    rc, out, err = cli_run("campaign", "check", str(tmp_path / "nope.toml"))
    assert rc == 2 and err.strip() == f"fwemu: error: {tmp_path / 'nope.toml'}: file: cannot read: No such file or directory"


def test_check_prints_the_plan_of_every_shipped_example(cli_run):
    for f in sorted(EXAMPLES.glob("*.toml")):
        rc, out, err = cli_run("--json", "campaign", "check", str(f))
        assert rc == 0, err
        env = json.loads(out)
        assert env["steps"] and all(s["plan"] for s in env["steps"])
    rc, out, _ = cli_run("campaign", "check", str(EXAMPLES / "mixed.toml"))
    assert "1. mixed: memory-ce×4 + memory-ue×2 + arm-cache-ue×1 + pcie-ce×1: for 3 s at 500/s" in out


# ---- running ------------------------------------------------------------------------------
def test_memory_soak_example_on_sim(tmp_path, cli_run):
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("--json", "campaign", "run", str(EXAMPLES / "memory-soak.toml"), "--journal", str(j))
    assert rc == 0, err
    env = json.loads(out)
    assert [s["outcome"] for s in env["steps"]] == ["ran"] * 3 and all(s["passed"] for s in env["steps"])
    assert env["totals"]["states"] == {"consumed": 300}
    lines = final_lines(j)
    assert len(lines) == 300 and {ln["state"] for ln in lines} == {"consumed"}
    ce = [ln for ln in lines if ln["scenario"] == "memory-ce"]
    ue = [ln for ln in lines if ln["scenario"] == "memory-ue"]
    # the sweep: one page after another across the window
    assert [int(ln["fields"]["address"], 16) for ln in ce] == [0x60000000 + k * 0x1000 for k in range(200)]
    addrs = [int(ln["fields"]["address"], 16) for ln in ue]
    assert all(0x61000000 <= a < 0x62000000 and a % 0x1000 == 0 for a in addrs) and len(set(addrs)) > 80
    # one session, one run: every line carries the same run id
    assert len({ln["run"] for ln in journal.read(j)}) == 1
    # the OS saw each one: its log (os-log lines) has a memory_failure line per UE page
    os_lines = [x for ln in journal.read(j) if ln.get("event") == "os-log" for x in ln["lines"]]
    assert sum("Memory failure: " in x for x in os_lines) >= len(set(addrs))


def _choices(path) -> list[tuple]:
    return [(ln["scenario"], ln["pe"], ln["source"], json.dumps(ln["fields"], sort_keys=True))
            for ln in sorted(final_lines(path), key=lambda ln: ln["id"])]


def test_a_seed_makes_the_run_reproducible_and_another_seed_changes_it(tmp_path, cli_run):
    f = write(tmp_path, """
        seed = 3
        [[step]]
        count = 300
        pe = "random:0:4"
        mix = [ { scenario = "memory-ce", weight = 3, fields = { address = "random:0x60000000:0x70000000:0x1000" } },
                { scenario = "pcie-ce", weight = 1 } ]
        expect = { states = ["consumed", "refused"] }     # a full queue refuses: not what this checks
        """)
    runs = []
    for n, seed in enumerate(("5", "5", "6")):
        j = tmp_path / f"j{n}.jsonl"
        rc, _, err = cli_run("campaign", "run", f, "--seed", seed, "--journal", str(j))
        assert rc == 0, err
        runs.append(_choices(j))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    by_scenario = collections.Counter(c[0] for c in runs[0])
    # weight 3 : 1 over 300 draws (binomial: 225 ± 7.5 sd)
    assert 190 <= by_scenario["memory-ce"] <= 260 and by_scenario["memory-ce"] + by_scenario["pcie-ce"] == 300
    assert {c[1] for c in runs[0]} == {0, 1, 2, 3}


def test_mixed_example_panics_resets_and_goes_on(tmp_path, cli_run):
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("--json", "campaign", "run", str(EXAMPLES / "mixed.toml"), "--journal", str(j))
    assert rc == 0, err
    env = json.loads(out)
    steps = env["steps"]
    assert [s["name"] for s in steps] == ["mixed", "fatal", "reset", "after the reboot"]
    assert all(s["passed"] for s in steps)
    assert steps[1]["os"]["up"] is False and "Fatal hardware error" in steps[1]["os"]["panic"]
    assert steps[3]["summary"]["states"] == {"consumed": 10}
    lines = final_lines(j)
    mixed = [ln for ln in lines if ln["scenario"] != "memory-fatal"][:steps[0]["summary"]["count"]]
    assert {ln["scenario"] for ln in mixed} == {"memory-ce", "memory-ue", "arm-cache-ue", "pcie-ce"}
    assert {ln["notify"] for ln in mixed if ln["scenario"] == "arm-cache-ue"} == {"sdei"}
    assert sum(env["totals"]["states"].values()) == len(lines)


@pytest.mark.parametrize("when, rc_want, outcomes", [
    ("stop", 6, ["ran", "ran", "stopped"]),
    ("skip", 0, ["ran", "skipped", "skipped"]),
    ("reset", 0, ["ran", "ran", "ran"]),
])
def test_a_step_with_the_os_down_before_it(tmp_path, cli_run, when, rc_want, outcomes):
    f = write(tmp_path, f"""
        [[step]]
        scenario = "memory-fatal"
        expect = {{ os = "down" }}
        [[step]]
        scenario = "memory-ce"
        when_os_down = "{when}"
        [[step]]
        scenario = "memory-ce"
        when_os_down = "skip"
        """)
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("--json", "campaign", "run", f, "--journal", str(j))
    env = json.loads(out)
    assert rc == rc_want, err
    assert [s["outcome"] for s in env["steps"]] == outcomes
    if when == "stop":
        assert env["steps"][1]["why"].startswith("the OS is down before it (") and not env["steps"][1]["passed"]
    if when == "reset":
        assert env["steps"][1]["summary"]["states"] == {"consumed": 1}
    # what ran is what the journal holds
    assert len(final_lines(j)) == sum((s["summary"] or {}).get("count", 0) for s in env["steps"])


def test_unmet_expectations_give_the_documented_codes(tmp_path, cli_run):
    up = write(tmp_path, '[[step]]\nscenario = "memory-ce"\nexpect = { os = "down" }\n', "up.toml")
    rc, out, err = cli_run("campaign", "run", up, "--journal", "none")
    assert rc == 3 and "FAILED: the OS is up after it (expected down)" in out
    down = write(tmp_path, '[[step]]\nscenario = "memory-fatal"\n', "down.toml")
    rc, out, err = cli_run("campaign", "run", down, "--journal", "none")
    assert rc == 6 and "FAILED: the OS is down after it (GHES: Fatal hardware error)" in out
    refused = write(tmp_path, """
        [[step]]
        scenario = "memory-ce"
        notify = "sdei"
        count = 64
        """, "refused.toml")
    rc, out, err = cli_run("campaign", "run", refused, "--journal", "none", "--os-delay", "0.05")
    assert rc == 4 and "refused (expected consumed)" in out


def test_a_campaign_through_a_daemon_is_the_same_campaign(tmp_path, cli_run, sim_daemon):
    f = write(tmp_path, """
        seed = 9
        [[step]]
        scenario = "memory-ce"
        count = 20
        fields = { address = "0x60000000:0x60100000:0x1000" }
        [[step]]
        wait = 0.1
        """)
    rc, out, err = cli_run("--json", "campaign", "run", f)
    assert rc == 0, err
    got = json.loads(out)
    assert got["via"] == "daemon" and got["totals"]["states"] == {"consumed": 20}
    assert [int(ln["fields"]["address"], 16) for ln in final_lines(sim_daemon)] == \
        [0x60000000 + k * 0x1000 for k in range(20)]
    rc, out, err = cli_run("campaign", "run", f, "--journal", str(tmp_path / "x.jsonl"))
    assert rc == 2 and "--journal is fixed when the daemon starts" in err


def test_sim_agent_runs_the_same_file(tmp_path, cli_run):
    f = write(tmp_path, """
        [[step]]
        scenario = "memory-ue"
        count = 5
        pe = [0, 1]
        fields = { address = "0x60000000:0x60010000:0x1000" }
        [[step]]
        scenario = "arm-cache-ue"
        notify = "sdei"
        count = 3
        """)
    j = tmp_path / "j.jsonl"
    rc, out, err = cli_run("--json", "campaign", "run", f, "--board", "sim-agent", "--journal", str(j))
    assert rc == 0, err
    lines = final_lines(j)
    assert [ln["state"] for ln in lines] == ["consumed"] * 8
    assert [ln["pe"] for ln in lines[:5]] == [0, 1, 0, 1, 0]


def test_sigint_stops_the_step_reports_it_and_runs_no_more(tmp_path):
    f = write(tmp_path, """
        [[step]]
        name = "long"
        scenario = "memory-ce"
        duration = "60s"
        rate = 200
        [[step]]
        scenario = "memory-ce"
        """)
    j = tmp_path / "j.jsonl"
    p = subprocess.Popen([sys.executable, "-m", "fwemu", "campaign", "run", f, "--journal", str(j)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (j.exists() and len(final_lines(j)) >= 50):
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "step 1 (long): " in out and "step 2 (memory-ce): stopped: interrupted by SIGINT" in out
    assert err.strip().splitlines()[-1].startswith("fwemu: error: interrupted by SIGINT: 1 of 2 steps run")
    # every injection accepted has its final line
    acc = [ln for ln in journal.read(j) if ln.get("event") == "accepted"]
    assert len(acc) == len(final_lines(j)) >= 50
