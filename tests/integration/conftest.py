"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from fwemu import cli


@pytest.fixture
def cli_isolated(tmp_path, monkeypatch):
    """fwemu's daemon sockets and state in this test's own directories, no board or URL
    from the environment."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("FWEMU_BOARD", raising=False)
    monkeypatch.delenv("FWEMU_URL", raising=False)
    return tmp_path


@pytest.fixture
def cli_run(capsys):
    """Run `fwemu ARGV` in-process: (exit code, stdout, stderr). Logging is re-bound to this
    test's stderr (cli.main calls logging.basicConfig once per process)."""
    def run(*argv):
        logging.getLogger().handlers.clear()
        rc = cli.main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err
    return run


@pytest.fixture
def sim_daemon(tmp_path, cli_isolated):
    """`fwemu daemon` for the sim board in a process of its own, journalling to the path
    this yields; stopped with SIGTERM afterwards."""
    j = tmp_path / "daemon.jsonl"
    d = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon", "--journal", str(j)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        p = subprocess.run([sys.executable, "-m", "fwemu", "--json", "status"], capture_output=True, text=True)
        if p.returncode == 0 and json.loads(p.stdout)["via"] == "daemon":
            break
        if d.poll() is not None:
            raise AssertionError(f"the daemon exited: {d.stderr.read()}")
        time.sleep(0.1)
    yield j
    d.send_signal(signal.SIGTERM)
    d.wait(30)
