"""Injection ids are unique among every run that writes one journal: a daemon and
in-process commands sharing it take their ids from the journal's run file in blocks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from fwemu import journal


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def fwemu(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "fwemu", *argv], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"), timeout=120, **kw)


def test_a_daemon_and_in_process_runs_on_one_journal_never_share_an_id(tmp_path, sim_daemon):
    j = sim_daemon
    errors = []

    def run(*argv):
        p = fwemu(*argv)
        if p.returncode != 0:
            errors.append(p.stderr)

    # concurrently: two clients of the daemon and two in-process runs on the same journal
    jobs = [threading.Thread(target=run, args=("inject", "memory-ce", "--count", "300")) for _ in range(2)]
    jobs += [threading.Thread(target=run, args=("inject", "memory-ce", "--count", "300", "--no-daemon",
                                                "--journal", str(j))) for _ in range(2)]
    for t in jobs:
        t.start()
    for t in jobs:
        t.join()
    assert not errors
    lines = journal.read(j)
    accepted = [ln for ln in lines if ln.get("event") == "accepted"]
    assert len(accepted) == 1200
    assert len({ln["run"] for ln in accepted}) == 3          # the daemon's run and two in-process
    assert len({ln["id"] for ln in accepted}) == 1200        # no id twice, across runs
    finals = [ln for ln in lines if ln.get("event") == "consumed"]
    assert sorted(ln["id"] for ln in finals) == sorted(ln["id"] for ln in accepted)
    assert all(ln.get("format") == 4 for ln in lines if ln.get("event") == "run")


def test_ids_go_on_from_the_last_run(tmp_path, cli_run):
    j = tmp_path / "j.jsonl"
    for _ in range(3):
        rc, out, err = cli_run("--json", "inject", "memory-ce", "--count", "2", "--journal", str(j))
        assert rc == 0, err
    ids = [ln["id"] for ln in journal.read(j) if ln.get("event") == "accepted"]
    assert len(set(ids)) == 6 and ids == sorted(ids)
