"""Issue 15: the daemon is never bypassed in silence, in-process status/reset say what they
are, bad inputs end in one line and a documented exit code, and the CLI is usable for real
(--url / FWEMU_URL, --board anywhere, grouped help, reasons in long reports).

Every test runs fwemu.cli.main in-process with XDG_RUNTIME_DIR/XDG_STATE_HOME in tmp_path.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import pathlib
import socket
import struct

import pytest

from fwemu import cli, journal, scenarios

SIM_TOML = (pathlib.Path(scenarios.__file__).parent / "boards" / "sim.toml").read_text()


@pytest.fixture(autouse=True)
def isolated(cli_isolated, monkeypatch):
    monkeypatch.chdir(cli_isolated)


@pytest.fixture
def fwemu(capsys):
    root = logging.getLogger()

    def run(*argv):
        root.handlers.clear()
        rc = cli.main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    yield run
    root.handlers.clear()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("fwemu: error: ")
    return lines[0]


# ---- item 7: a daemon socket that does not answer is never bypassed in silence -----------------
def _dead_socket(tmp_path, hold_lock: bool):
    """A socket file nobody accepts on (bound, never listening), as a killed daemon leaves;
    with hold_lock, the board's pid lock is held as a live (hung) daemon holds it."""
    d = tmp_path / "run" / "fwemu"
    d.mkdir(mode=0o700)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(d / "sim.sock"))
    lock = None
    if hold_lock:
        lock = os.open(d / "sim.pid", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX)
        os.write(lock, b"4242\n")
    return s, lock


@pytest.mark.parametrize("hold_lock", [False, True], ids=["stale", "hung"])
@pytest.mark.parametrize("command", [("inject", "memory-ue", "--journal", "none"), ("status",)])
def test_a_socket_that_does_not_answer_is_refused_unless_no_daemon(fwemu, tmp_path, hold_lock, command):
    s, lock = _dead_socket(tmp_path, hold_lock)
    try:
        rc, out, err = fwemu(*command)
        assert (rc, out) == (5, "")
        line = one_error_line(err)
        assert "sim.sock exists but" in line and "--no-daemon" in line
        assert ("pid 4242" in line) if hold_lock else ("no longer running" in line)
        rc, out, err = fwemu("--json", *command, "--no-daemon")
        assert rc == 0 and json.loads(out)["via"] == "in-process", err
    finally:
        s.close()
        if lock is not None:
            os.close(lock)


# ---- item 8 ---------------------------------------------------------------------------------------
def test_status_without_a_daemon_says_it_is_a_fresh_instance(fwemu):
    rc, out, _ = fwemu("status")
    assert rc == 0
    assert out.splitlines()[0].startswith("board sim (in-process: no daemon serves this board, so this is "
                                          "a new instance started for this command")
    rc, out, _ = fwemu("--json", "status")
    assert json.loads(out)["via"] == "in-process" and "new instance" in json.loads(out)["note"]


def test_reset_without_a_daemon_on_sim_refuses(fwemu):
    rc, out, err = fwemu("reset")
    assert (rc, out) == (2, "")
    assert "nothing to reset" in one_error_line(err) and "fwemu daemon" in err


def test_a_panic_in_process_does_not_promise_a_reset(fwemu):
    rc, out, _ = fwemu("inject", "memory-fatal", "--journal", "none")
    assert rc == 6
    last = out.splitlines()[-1]
    assert last.startswith("OS is down: GHES: Fatal hardware error")
    assert "fwemu reset" not in last and "next command boots a fresh one" in last


def test_os_down_without_a_panic_reason_is_not_none():
    from fwemu.commands.control import _os_text
    assert _os_text({"up": False, "panic": None}) == "DOWN (the target gave no reason)"
    assert _os_text({"up": False, "panic": None, "down": "QEMU is not running"}) == "DOWN: QEMU is not running"
    assert _os_text({"up": True, "panic": None}) == "up"


def test_generic_cpu_processor_id_is_the_same_from_inject_and_record_build(fwemu, tmp_path):
    rc, out, _ = fwemu("--json", "inject", "generic-cpu", "--journal", "none")
    assert rc == 0
    injected = [ln for ln in json.loads(out)["os_log"] if "processor_id" in ln]
    rc, _, _ = fwemu("record", "build", "generic-cpu", "-o", str(tmp_path / "g.bin"))
    assert rc == 0
    rc, out, _ = fwemu("record", "decode", str(tmp_path / "g.bin"))
    built = [ln for ln in out.splitlines() if "processor_id" in ln]
    assert injected and built
    assert injected[0].split("processor_id:")[1] == built[0].split("processor_id:")[1] == " 0x0000000080000000"


# ---- inputs that ended in a traceback or a misleading answer ----------------------------------------
BAD = [
    # (argv, exit code, text the one line must hold)
    (["inject", "memory-ue", "--journal", "."], 2, "--journal"),
    (["inject", "memory-ue", "--journal", "/proc/version/x"], 2, "--journal"),
    (["record", "build", "memory-ue", "-o", "."], 2, "--output"),
    (["record", "build", "memory-ue", "-o", "/proc/no-such-dir/x"], 2, "--output"),
    (["record", "build", "memory-ue", "-o", "/dev/full"], 2, "--output"),
    (["record", "build", "memory-ue", "-o", "/proc/version"], 2, "--output"),
    (["record", "build", "raw", "--guid", "5b2c8f4e-6f1a-4d3b-9a7e-0123456789ab", "--data", "@/dev/zero"], 2, "--data"),
    (["inject", "memory-ue", "--raw-data", "@/dev/zero", "--journal", "none"], 2, "--raw-data"),
    (["inject", "raw", "/dev/zero", "--journal", "none"], 2, "FILE"),
    (["record", "check", "/dev/zero"], 2, "FILE"),
    (["record", "decode", "/dev/zero", "--hex"], 2, "FILE"),
    (["--board", "/dev/zero", "status"], 2, "/dev/zero"),
    (["record", "check", "/dev/null", "--error-block-length", "-1"], 2, "--error-block-length"),
    (["record", "decode", "/dev/null", "--error-block-length", "-1"], 2, "--error-block-length"),
    (["record", "decode", "/dev/null", "--source-id", str(1 << 40)], 2, "--source-id"),
    (["inject", "memory-ue", "--rate", "nan", "--count", "2"], 2, "--rate"),
    (["inject", "memory-ue", "--timeout", "nan"], 2, "--timeout"),
    (["inject", "memory-ue", "--timeout", "inf"], 2, "--timeout"),
    (["inject", "memory-ue", "--error-type", "16"], 2, "--error-type"),
    (["inject", "memory-ue", "--timestamp", "2025-02-30T00:00:00"], 2, "--timestamp"),
    (["inject", "memory-ue", "--timestamp", "2023-02-29T00:00:00"], 2, "--timestamp"),
    (["inject", "memory-ue", "--sei-settle-ms", "-5"], 2, "--sei-settle-ms"),
    (["inject", "memory-ue", "--mask-pe", "99"], 2, "--mask-pe"),
    (["inject", "memory-ue", "--mask-pe", "-1"], 2, "--mask-pe"),
    (["inject", "memory-ue", "--os-delay", "-1"], 2, "--os-delay"),
    (["inject", "memory-ue", "--os-delay", "nan"], 2, "--os-delay"),
    (["inject", "memory-ue", "--source", str(1 << 40)], 2, "--source"),
    (["daemon", "--os-delay", "-1"], 2, "--os-delay"),
    (["daemon", "--sei-settle-ms", "nan"], 2, "--sei-settle-ms"),
    (["record", "build", "memory-ue", "--from-json", "no-such.json"], 2, "cannot read no-such.json"),
]


@pytest.mark.parametrize("argv,code,text", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_input_is_one_line_and_a_documented_code(fwemu, argv, code, text):
    rc, out, err = fwemu(*argv)
    assert rc == code, err
    assert text in one_error_line(err)
    assert "not a record model" not in err


def test_timestamp_on_a_leap_day_is_accepted(fwemu):
    rc, _, err = fwemu("record", "build", "memory-ue", "--timestamp", "2024-02-29T00:00:00")
    assert rc == 0, err


def test_a_non_directory_xdg_runtime_dir_is_one_line(fwemu, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/dev/null")
    rc, out, err = fwemu("daemon", "--journal", "none")
    assert rc == 5 and "/dev/null is not a directory" in one_error_line(err)


def test_an_unusable_xdg_state_home_is_one_line(fwemu, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", "/dev/null")
    rc, out, err = fwemu("inject", "memory-ue")
    assert rc == 2 and "--journal" in one_error_line(err)


def test_a_board_window_too_large_to_map_is_one_line(fwemu, tmp_path):
    board = tmp_path / "big.toml"
    board.write_text(SIM_TOML.replace("size = 0x10000", "size = 0x7fffffffffff0000", 1))
    assert board.read_text() != SIM_TOML
    rc, out, err = fwemu("--board", str(board), "inject", "memory-ue", "--journal", "none")
    assert rc == 5 and "window ghes: cannot map" in one_error_line(err)


# ---- the journal failing mid-run -------------------------------------------------------------------
def test_a_journal_that_takes_no_data_stops_the_run_with_the_partial_report(fwemu):
    rc, out, err = fwemu("inject", "memory-ue", "--count", "3", "--journal", "/dev/full")
    assert rc == 5
    line = one_error_line(err)
    assert "--journal: cannot write /dev/full: No space left on device after 0 lines" in line
    assert "2 injections not submitted" in line
    assert out.startswith("#1 memory-ue -> source 2") and "consumed" in out     # the report is there


def test_a_journal_write_failing_mid_run_leaves_whole_lines(fwemu, tmp_path, monkeypatch):
    real_write, calls = os.write, []

    def flaky(fd, data):
        calls.append(fd)
        if b'"event":"consumed"' in data and len(calls) < 100:
            # the first write holding a final line: a short write lands half of it...
            calls.extend([fd] * 100)
            return real_write(fd, bytes(data[:len(data) // 2]))
        if len(calls) > 100:                   # ... and finishing it finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(journal.os, "write", flaky)
    path = tmp_path / "j.jsonl"
    rc, out, err = fwemu("--json", "inject", "memory-ue", "--count", "5", "--journal", str(path))
    env = json.loads(out)
    lines = path.read_text().splitlines()
    assert path.read_text().endswith("\n") and all(json.loads(ln) for ln in lines)   # whole lines only
    assert rc == 5 and env["status"] == 5 and f"after {len(lines)} lines" in env["error"]
    states = [i["state"] for i in env["injections"]]
    assert states and set(states) == {"consumed"}                  # every submitted one reported
    # the lines that made it: the run's, each submitted injection's accepted line, and the
    # final lines before the cut (a burst writes its accepted lines, then its final lines)
    events = [json.loads(ln)["event"] for ln in lines]
    assert events[0] == "run" and events.count("accepted") == len(states)
    assert events.count("consumed") < len(states)


# ---- hest import ------------------------------------------------------------------------------------
def _hest(fwemu, tmp_path) -> bytes:
    rc, _, err = fwemu("hest", "build", "-o", str(tmp_path / "h.dat"))
    assert rc == 0, err
    return (tmp_path / "h.dat").read_bytes()


def test_hest_import_refuses_a_bad_checksum_unless_told(fwemu, tmp_path):
    data = bytearray(_hest(fwemu, tmp_path))
    data[9] ^= 0x55
    (tmp_path / "bad.dat").write_bytes(data)
    rc, out, err = fwemu("hest", "import", str(tmp_path / "bad.dat"))
    assert rc == 2 and "checksum" in one_error_line(err) and "--ignore-checksum" in err
    rc, out, err = fwemu("hest", "import", str(tmp_path / "bad.dat"), "--ignore-checksum")
    assert rc == 0 and "checksum is wrong" in out


def test_hest_import_refuses_an_impossible_entry_count(fwemu, tmp_path):
    data = bytearray(_hest(fwemu, tmp_path))
    struct.pack_into("<I", data, 36, 1000)
    data[9] = (data[9] - (sum(data) & 0xFF)) & 0xFF        # checksum fixed: only the count is wrong
    (tmp_path / "count.dat").write_bytes(data)
    rc, out, err = fwemu("hest", "import", str(tmp_path / "count.dat"))
    assert rc == 2 and "error_source_count: says 1000" in one_error_line(err)


def test_hest_import_refuses_block_for_an_unknown_source(fwemu, tmp_path):
    _hest(fwemu, tmp_path)
    rc, out, err = fwemu("hest", "import", str(tmp_path / "h.dat"), "--block", "999=0x1000")
    assert rc == 2 and "--block: source 999 is not in" in one_error_line(err)


# ---- using it for real ----------------------------------------------------------------------------
def test_no_fvp_names_the_fvp_options_and_the_override_once(fwemu, monkeypatch):
    rc, out, err = fwemu("--board", "fvp", "inject", "memory-ue", "--journal", "none")
    line = one_error_line(err)
    assert rc == 5 and out == ""
    assert line.count("socket://127.0.0.1:5002") == 1
    assert "-C bp.terminal_2.mode=raw -C bp.terminal_2.start_telnet=0 -C bp.terminal_2.start_port=5002" in line
    assert "--url URL" in line and "FWEMU_URL" in line


def test_url_option_and_env_override_the_board_channel(fwemu, monkeypatch):
    rc, _, err = fwemu("inject", "memory-ue", "--board", "fvp", "--url", "socket://127.0.0.1:9", "--journal", "none")
    assert rc == 5 and "socket://127.0.0.1:9" in err and "5002:" not in err
    monkeypatch.setenv("FWEMU_URL", "socket://127.0.0.1:7")
    rc, _, err = fwemu("status", "--board", "fvp")
    assert rc == 5 and "socket://127.0.0.1:7" in one_error_line(err)
    # the sim board has no channel: the variable does not apply, the option is refused
    rc, _, err = fwemu("inject", "memory-ue", "--journal", "none")
    assert rc == 0, err
    rc, _, err = fwemu("inject", "memory-ue", "--url", "socket://x:1", "--journal", "none")
    assert rc == 2 and "--url" in one_error_line(err)


@pytest.mark.parametrize("argv", [
    ["status"], ["inject", "memory-ue", "--journal", "none"], ["board", "show"],
    ["hest", "build", "-o", "h.dat"], ["hest", "lint"], ["boards"],
])
def test_board_is_accepted_before_and_after_the_command(fwemu, argv, tmp_path):
    (tmp_path / "b.toml").write_text(SIM_TOML.replace('name = "sim"', 'name = "other"', 1))
    board = str(tmp_path / "b.toml")
    before = fwemu("--json", "--board", board, *argv)
    after = fwemu("--json", *argv, "--board", board)
    assert before[0] == after[0] and before[0] in (0, 1), (before[2], after[2])
    b, a = json.loads(before[1]), json.loads(after[1])
    if argv[0] not in ("boards", "hest"):
        got = lambda e: e.get("board") if isinstance(e.get("board"), str) else e["board"]["name"]  # noqa: E731
        assert got(b) == got(a) == "other"


def test_inject_help_is_grouped_with_examples_and_exit_codes(fwemu):
    with pytest.raises(SystemExit):
        cli.main(["inject", "--help"])
    from fwemu.cli import build_parser
    text = build_parser("inject")._subparsers._group_actions[0].choices["inject"].format_help()
    for title in ("where and how often:", "run:", "sim board OS model:", "memory error section",
                  "ARM processor error section", "PCIe error section", "vendor section",
                  "examples:", "exit codes:"):
        assert title in text, title
    assert "5 target or daemon unreachable" in text


def test_a_long_report_shows_the_reasons(fwemu):
    rc, out, _ = fwemu("inject", "memory-ue", "--count", "12", "--os-deaf", "--timeout", "0.05",
                       "--journal", "none")
    assert rc == 3
    lines = out.splitlines()
    assert lines[0] == "12 injections: 12 timed-out"
    assert lines[1].startswith("   1 timed-out (#1): the OS did not consume it within 0.05 s")
    assert lines[2] == "   11 timed-out (#2 .. #12): never posted: waiting behind injection #1"
