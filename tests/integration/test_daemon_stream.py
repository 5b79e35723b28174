"""A daemon streams an inject: one frame per injection as it ends, the summary last, so a
request of any count holds nothing per injection, in the daemon or the client."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fwemu import journal


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


@pytest.fixture
def daemon(sim_daemon):
    return sim_daemon


def test_jsonl_through_a_daemon_streams_every_injection_past_the_full_report_limit(daemon, tmp_path):
    n = 12_000
    p = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ce", "--count", str(n), "--jsonl"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(ln) for ln in p.stdout.splitlines()]
    injs = [ln for ln in lines if ln.get("event") == "injection"]
    end = lines[-1]
    assert end["event"] == "end" and end["via"] == "daemon" and end["summary"]["states"] == {"consumed": n}
    assert len(injs) == n and len({i["id"] for i in injs}) == n and {i["state"] for i in injs} == {"consumed"}
    # what the client saw is what the daemon journalled
    journalled = {ln["id"]: ln["digest"] for ln in journal.read(daemon) if ln.get("event") == "consumed"}
    assert {i["id"]: i["digest"] for i in injs} == journalled


def test_a_streamed_request_keeps_the_daemon_flat(daemon, cli_run):
    def rss() -> int:
        rc, out, _ = cli_run("--json", "status")
        return json.loads(out)["daemon"]["rss_kib"]
    warm = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ce", "--count", "5000", "--jsonl"],
                          capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr
    before = rss()
    p = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ce", "--count", "60000", "--jsonl"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    after = rss()
    # one record kept per injection would be about 60,000 x 2 KiB = 117 MiB
    assert after - before < 20 * 1024, (before, after)
