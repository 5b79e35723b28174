"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import logging

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
