import os
import sys

# tests/oracle.py and tests/cper_wrap.py are helper modules imported by the unit tests.
sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _private_state_home(request, monkeypatch, tmp_path_factory):
    """Unit and integration tests keep fwemu's state (the default journal, the board's
    record-uniqueness state file) in a directory of their own, never in the user's
    ~/.local/state; a test that sets XDG_STATE_HOME itself still wins."""
    parts = request.node.path.parts
    if "unit" in parts or "integration" in parts:
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
