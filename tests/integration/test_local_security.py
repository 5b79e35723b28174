"""Another local user must not be able to steer fwemu (issue 12, items 8, 9, 11 and 5).

- The daemon's socket directory: never a fixed name in a shared directory; a directory or
  socket another user owns, or can enter, is refused before anything is sent.
- `-o` outputs and `--journal` in a world-writable sticky directory: a symbolic link (or a
  file) another user planted there is never written through.
- An unreadable runtime directory and a memory file smaller than its window: one line.
- SIGTERM during an in-process `fwemu inject` ends like Ctrl-C: every accepted injection
  gets its final journal line, one error line, exit 143.

The two-user tests create a throwaway user with useradd and need root (CI runs as root);
they skip otherwise.
"""

from __future__ import annotations

import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from fwemu import daemon, scenarios
from fwemu.errors import EXIT_UNREACHABLE, EXIT_USAGE, UnreachableError

ROOT = os.geteuid() == 0
SIM_TOML = (pathlib.Path(scenarios.__file__).parent / "boards" / "sim.toml").read_text()
GUID = "5b2c8f4e-6f1a-4d3b-9a7e-0123456789ab"


def fwemu(*argv, env=None, pre=(), timeout=60) -> subprocess.CompletedProcess:
    """`python -m fwemu ARGV` as a user runs it (optionally behind a wrapper such as setpriv)."""
    return subprocess.run([*pre, sys.executable, "-m", "fwemu", *argv], capture_output=True, text=True,
                          env=env, timeout=timeout)


def one_error_line(p: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in p.stderr, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("fwemu: error: ")]
    assert len(lines) == 1, p.stderr
    return lines[0]


@pytest.fixture
def env(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    e = dict(os.environ, XDG_RUNTIME_DIR=str(run), XDG_STATE_HOME=str(tmp_path / "state"))
    e.pop("FWEMU_BOARD", None)
    return e


@pytest.fixture
def other_user():
    """A throwaway local user (pwd entry), removed afterwards."""
    if not ROOT:
        pytest.skip("needs root to create a second user (CI runs as root)")
    if not shutil.which("useradd"):
        pytest.skip("useradd not found")
    name = f"fwemu-t{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture
def sticky_dir():
    """A world-writable sticky directory like /tmp (tmp_path's parents are private)."""
    d = tempfile.mkdtemp(prefix="fwemu-shared-", dir="/tmp")
    os.chmod(d, 0o1777)
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


def as_user(user, *argv, **kw):
    return subprocess.run(list(argv), user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                          capture_output=True, text=True, check=True, **kw)


# --------------------------------------------------------------------------------------
# item 9: outputs in a shared directory


def _hest_file(tmp_path, env) -> pathlib.Path:
    f = tmp_path / "sim-hest.dat"
    p = fwemu("hest", "build", "--board", "sim", "-o", str(f), env=env)
    assert p.returncode == 0, p.stderr
    return f


OUTPUTS = {
    "record build -o": lambda out, tmp, env: ["record", "build", "memory-ue", "-o", out],
    "hest build -o": lambda out, tmp, env: ["hest", "build", "--board", "sim", "-o", out],
    "hest import -o": lambda out, tmp, env: ["hest", "import", str(_hest_file(tmp, env)), "-o", out,
                                            "--name", "imported"],
    "inject --journal": lambda out, tmp, env: ["inject", "memory-ue", "--journal", out],
}


@pytest.mark.parametrize("command", OUTPUTS)
def test_a_planted_symlink_in_a_sticky_directory_is_not_followed(command, other_user, sticky_dir,
                                                                 tmp_path, env):
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's own 0600 file\n")
    victim.chmod(0o600)
    out = sticky_dir / "out"
    as_user(other_user, "ln", "-s", str(victim), str(out))
    p = fwemu(*OUTPUTS[command](str(out), tmp_path, env), env=env)
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    opt = "--journal" if "journal" in command else "--output"
    assert one_error_line(p) == (f"fwemu: error: {opt}: {out} is a symbolic link in {sticky_dir}, a "
                                 "directory other users can write to: not following it")
    assert victim.read_bytes() == b"root's own 0600 file\n"
    assert os.readlink(out) == str(victim)


@pytest.mark.parametrize("command", OUTPUTS)
def test_a_planted_file_in_a_sticky_directory_is_not_written(command, other_user, sticky_dir,
                                                             tmp_path, env):
    out = sticky_dir / "out"
    as_user(other_user, "sh", "-c", f"echo theirs > {out} && chmod 666 {out}")
    p = fwemu(*OUTPUTS[command](str(out), tmp_path, env), env=env)
    assert p.returncode == EXIT_USAGE, p.stdout + p.stderr
    opt = "--journal" if "journal" in command else "--output"
    assert one_error_line(p) == (f"fwemu: error: {opt}: {out} is owned by uid {other_user.pw_uid}, not by "
                                 f"you, in {sticky_dir}, a directory other users can write to: not writing it")
    assert out.read_text() == "theirs\n"


def test_outputs_in_a_sticky_directory_are_still_written(sticky_dir, tmp_path, env):
    out = sticky_dir / "mine.bin"
    for _ in range(2):     # created, then overwritten (ours, one link)
        p = fwemu("record", "build", "memory-ue", "-o", str(out), env=env)
        assert p.returncode == 0, p.stderr
        assert out.stat().st_size == 172
    j = sticky_dir / "j.jsonl"
    for _ in range(2):
        assert fwemu("inject", "memory-ce", "--journal", str(j), env=env).returncode == 0
    assert [json.loads(ln).get("event") or json.loads(ln)["state"] for ln in j.read_text().splitlines()] \
        == ["accepted", "consumed"] * 2


def test_a_symlink_in_a_private_directory_is_followed(tmp_path, env):
    """A link in a directory only we can change is our own: followed, as before."""
    real = tmp_path / "real.bin"
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    p = fwemu("record", "build", "memory-ue", "-o", str(link), env=env)
    assert p.returncode == 0, p.stderr
    assert link.is_symlink() and real.stat().st_size == 172


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, env):
    out = tmp_path / "no" / "such" / "dir" / "x.bin"
    p = fwemu("record", "build", "memory-ue", "-o", str(out), env=env)
    assert p.returncode == EXIT_USAGE
    assert one_error_line(p) == (f"fwemu: error: --output: cannot write {out}: directory {out.parent}: "
                                 "No such file or directory")
