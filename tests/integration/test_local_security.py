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
# item 8: the daemon's socket directory

ATTACKER = r"""
import os, socket, sys, time
d, stop = sys.argv[1], sys.argv[2]
os.makedirs(d, exist_ok=True)
os.chmod(d, 0o755)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(os.path.join(d, "sim.sock"))
os.chmod(os.path.join(d, "sim.sock"), 0o777)
s.listen(4)
s.settimeout(0.1)
print("ready", flush=True)
got = 0
while not os.path.exists(stop):
    try:
        c, _ = s.accept()
    except OSError:
        continue
    c.settimeout(2)
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            got += len(b)
    except OSError:
        pass
    c.close()
print(f"received {got}", flush=True)
"""


def test_runtime_dir_never_falls_back_to_a_shared_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert daemon.runtime_dir() == tmp_path / ".local" / "state" / "fwemu" / "run"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    assert daemon.socket_path("sim") == tmp_path / "st" / "fwemu" / "run" / "sim.sock"


def test_a_socket_directory_another_user_made_is_refused(other_user, sticky_dir, tmp_path, env):
    """The attacker creates $XDG_RUNTIME_DIR/fwemu/sim.sock first and listens: the victim's
    inject refuses (exit 5, one line) and sends nothing, not the --data @file either."""
    planted = sticky_dir / "fwemu"
    stop = sticky_dir / "stop"
    att = subprocess.Popen(["/usr/bin/python3", "-c", ATTACKER, str(planted), str(stop)],
                           user=other_user.pw_uid, group=other_user.pw_gid, extra_groups=[],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert att.stdout.readline().strip() == "ready", att.stderr.read()
        secret = tmp_path / "secret"
        secret.write_bytes(b"victim's secret " * 8)
        secret.chmod(0o600)
        p = fwemu("inject", "raw", "--guid", GUID, "--data", f"@{secret}",
                  env=dict(env, XDG_RUNTIME_DIR=str(sticky_dir)))
    finally:
        stop.touch()
        out, err = att.communicate(timeout=10)
    assert out.strip().splitlines()[-1] == "received 0", (out, err)
    assert p.returncode == EXIT_UNREACHABLE, p.stdout + p.stderr
    line = one_error_line(p)
    assert line == (f"fwemu: error: runtime directory {planted} is owned by uid {other_user.pw_uid}, "
                    f"not by you (uid {os.getuid()}); not talking to a daemon through it "
                    "(remove it, or set XDG_RUNTIME_DIR to a directory of yours)")
    assert "consumed" not in p.stdout


def test_a_socket_another_user_owns_is_refused(other_user, tmp_path):
    d = tmp_path / "fwemu"
    d.mkdir(mode=0o700)
    path = d / "sim.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    try:
        os.chown(path, other_user.pw_uid, other_user.pw_gid)
        with pytest.raises(UnreachableError) as ei:
            daemon._private_socket(path)
        assert str(ei.value) == (f"daemon socket {path} is owned by uid {other_user.pw_uid}, not by you "
                                 f"(uid {os.getuid()}); not connecting")
    finally:
        s.close()


@pytest.mark.parametrize("mode,why", [
    (0o755, "has mode 0755, not 0700: other users can reach it"),
    (0o770, "has mode 0770, not 0700: other users can reach it"),
])
def test_a_socket_directory_others_can_enter_is_refused(env, mode, why):
    d = pathlib.Path(env["XDG_RUNTIME_DIR"]) / "fwemu"
    d.mkdir()
    d.chmod(mode)
    p = fwemu("status", env=env)
    assert p.returncode == EXIT_UNREACHABLE
    assert one_error_line(p).startswith(f"fwemu: error: runtime directory {d} {why}; ")


def test_a_socket_path_that_is_not_a_socket_is_refused(env):
    d = pathlib.Path(env["XDG_RUNTIME_DIR"]) / "fwemu"
    d.mkdir(mode=0o700)
    (d / "sim.sock").write_text("")
    p = fwemu("status", env=env)
    assert p.returncode == EXIT_UNREACHABLE
    assert one_error_line(p) == f"fwemu: error: daemon socket {d / 'sim.sock'} is not a socket; not connecting"


# --------------------------------------------------------------------------------------
# item 9: outputs in a shared directory


def _hest_file(tmp_path, env) -> pathlib.Path:
    f = tmp_path / "sim-hest.dat"
    p = fwemu("hest", "build", "--board", "sim", "-o", str(f), env=env)
    assert p.returncode == 0, p.stderr
    return f


def _block_file(tmp_path, env) -> pathlib.Path:
    f = tmp_path / "block.bin"
    p = fwemu("record", "build", "memory-ue", "-o", str(f), env=env)
    assert p.returncode == 0, p.stderr
    return f


OUTPUTS = {
    "record build -o": lambda out, tmp, env: ["record", "build", "memory-ue", "-o", out],
    "record convert -o": lambda out, tmp, env: ["record", "convert", str(_block_file(tmp, env)), "--to", "cper",
                                               "-o", out],
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
        == ["run", "accepted", "consumed", "os-log", "run-end"] * 2


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


# --------------------------------------------------------------------------------------
# item 11: one line, not a traceback

NO_DAC = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


@pytest.mark.parametrize("which", ["fwemu", "XDG_RUNTIME_DIR"])
def test_an_unreadable_runtime_directory_is_one_line(env, which):
    run = pathlib.Path(env["XDG_RUNTIME_DIR"])
    d = run / "fwemu"
    d.mkdir(mode=0o700)
    (run if which == "XDG_RUNTIME_DIR" else d).chmod(0)
    pre = ()
    if ROOT:   # root reads anything: drop the capabilities that let it
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) not found")
        pre = NO_DAC
    try:
        p = fwemu("status", env=env, pre=pre)
    finally:
        run.chmod(0o700)
        d.chmod(0o700)
    assert p.returncode == EXIT_UNREACHABLE, p.stdout + p.stderr
    line = one_error_line(p)
    if which == "fwemu":
        assert line == (f"fwemu: error: runtime directory {d} has mode 0000: you cannot read it; not "
                        "talking to a daemon through it (remove it, or set XDG_RUNTIME_DIR to a directory "
                        "of yours)")
    else:
        assert line == (f"fwemu: error: runtime directory {d}: Permission denied; not looking for a daemon "
                        "there")


def test_a_memory_file_smaller_than_its_window_is_one_line(tmp_path, env):
    ram = tmp_path / "ram"
    ram.write_bytes(bytes(0x1000))
    board = tmp_path / "small.toml"
    board.write_text(SIM_TOML.replace('access = "local"', f'access = "local"\npath = "{ram}"', 1))
    p = fwemu("--board", str(board), "inject", "memory-ue", "--journal", "none", env=env)
    assert p.returncode == EXIT_UNREACHABLE, p.stdout + p.stderr
    assert one_error_line(p) == (f"fwemu: error: window ghes: {ram} is 0x1000 bytes, smaller than the "
                                 "board's offset 0x0 + size 0x10000")
    ram.write_bytes(bytes(0x10000))      # the size the board declares: it works
    p = fwemu("--board", str(board), "inject", "memory-ue", "--journal", "none", env=env)
    assert p.returncode == 0, p.stderr


# --------------------------------------------------------------------------------------
# item 5: SIGTERM


def test_sigterm_ends_an_in_process_inject_like_ctrl_c(tmp_path, env):
    j = tmp_path / "j.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "fwemu", "inject", "memory-ue", "--count", "1000000",
                             "--rate", "2000", "--journal", str(j)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not j.exists() or j.read_text().count("\n") < 64):
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    lines = [json.loads(ln) for ln in j.read_text().splitlines()]
    accepted = {ln["id"] for ln in lines if ln.get("event") == "accepted"}
    final = [ln["id"] for ln in lines if "state" in ln]
    assert len(accepted) >= 32
    assert sorted(final) == sorted(accepted)       # exactly one final line each
    # the partial report of what ran, then one line saying where it stopped
    n = len(accepted)
    assert err.splitlines()[-1] == (f"fwemu: error: interrupted by SIGTERM: {n} of 1000000 injections "
                                    f"submitted (reported above), {1000000 - n} not submitted")
    assert out.splitlines()[0].startswith(f"{n} injections: {n} consumed"), out


def test_sigint_drains_what_is_in_flight_then_interrupts_it(tmp_path, env):
    """Ctrl-C stops submitting; an injection the OS is still working on gets 2 s to end,
    then is journalled interrupted; the JSON envelope reports each one (issue 16)."""
    j = tmp_path / "j.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "fwemu", "--json", "inject", "memory-ue", "--count", "5",
                             "--rate", "1", "--os-delay", "30", "--timeout", "60", "--journal", str(j)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not j.exists() or '"accepted"' not in j.read_text()):
            time.sleep(0.05)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    env_ = json.loads(out)
    assert env_["status"] == 130 and env_["error"].startswith("interrupted by SIGINT: 1 of 5 injections submitted")
    assert [i["state"] for i in env_["injections"]] == ["interrupted"]
    assert env_["injections"][0]["reason"] == "interrupted by SIGINT"
    assert 2.0 <= took < 20                        # drained for 2 s, not the 60-s timeout
    from fwemu import journal_check
    assert journal_check.check_lines([json.loads(ln) for ln in j.read_text().splitlines()]).ok


def test_a_progress_bar_on_a_terminal_and_none_otherwise(tmp_path, env):
    """A long in-process run shows tqdm's bar on stderr when stderr is a terminal; on a pipe
    stderr stays free of it (logs and CI)."""
    import os
    import pty

    argv = [sys.executable, "-m", "fwemu", "inject", "memory-ce", "--notify", "gsiv", "--count", "5000",
            "--journal", "none"]
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"inject:" in seen and b"/5000" in seen and b"inj/s" in seen, seen[-400:]
    assert out.decode().splitlines()[0].startswith("5000 injections: 5000 consumed")
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "inj/s" not in p.stderr and "/5000" not in p.stderr
