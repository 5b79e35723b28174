"""`fwemu inject` on the sim board: exit codes, one-line errors, the --json envelope, and the
OS log lines the command shows (issue acceptance, CLI half).

Most tests call fwemu.cli.main in-process (capsys); a few run `python -m fwemu` as a
subprocess to see exactly what a user sees. XDG_RUNTIME_DIR points at an empty directory so
no `fwemu daemon` that happens to run on this machine answers instead of the in-process sim.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import pathlib
import re
import struct
import subprocess
import sys
import uuid

import pytest

from fwemu import cli, journal, records, scenarios
from fwemu.records import Entry, RawSection, StatusBlock

SIM_TOML = (pathlib.Path(scenarios.__file__).parent / "boards" / "sim.toml").read_text()
MF = "Memory failure: 0x60000: recovery action for free buddy page: Recovered"
GUID = "5b2c8f4e-6f1a-4d3b-9a7e-0123456789ab"
HEADER = "[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: "


def _injection_lines(path) -> list[dict]:
    """The journal's injection lines (each run's own `run`/`run-end` and `os-log` lines left out)."""
    return [ln for ln in journal.read(path) if ln["event"] not in ("run", "run-end", "os-log")]


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


@pytest.fixture
def fwemu(capsys, tmp_path):
    """Run `fwemu ARGV` in-process; returns (exit code, stdout, stderr). Logging is re-bound
    to this test's stderr (cli.main calls logging.basicConfig once per process)."""
    root = logging.getLogger()

    def run(*argv, journal_file: str | None = "j.jsonl"):
        argv = list(argv)
        if journal_file and "inject" in argv:
            argv += ["--journal", str(tmp_path / journal_file)]
        root.handlers.clear()
        rc = cli.main(argv)
        out, err = capsys.readouterr()
        return rc, out, err

    yield run
    root.handlers.clear()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("fwemu: error: ")
    return lines[0]


def sha16(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()[:16]


# --------------------------------------------------------------------------------------
# exit codes


def test_memory_ue_is_consumed_and_prints_the_memory_failure_line(fwemu, tmp_path):
    rc, out, err = fwemu("inject", "memory-ue")
    assert (rc, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "#1 memory-ue -> source 2 (SEA on PE 0), block 0x7c410810, 172 bytes"
    assert re.fullmatch(r"   consumed \d+\.\d{3} ms after the notification", lines[1])
    assert lines[2] == "OS log (sim):"
    assert lines[3] == "   {1}" + HEADER + "2"
    assert "   {1}[Hardware Error]:   physical_address: 0x0000000060000000" in lines
    assert lines[-1] == "   " + MF
    j = _injection_lines(tmp_path / "j.jsonl")
    assert [ln["event"] for ln in j] == ["accepted", "consumed"]
    assert j[1]["latency_ms"] is not None


def test_deaf_os_times_out_exit_3(fwemu, tmp_path):
    rc, out, err = fwemu("inject", "memory-ue", "--os-deaf", "--timeout", "0.3")
    assert (rc, err) == (3, "")
    assert out.splitlines() == [
        "#1 memory-ue -> source 2 (SEA on PE 0), block 0x7c410810, 172 bytes",
        "   timed-out: the OS did not consume it within 0.3 s; the block stays posted "
        "(firmware will not overwrite it)",
        "   left in memory: block_status 0x11, read_ack 0x0",
    ]
    j = _injection_lines(tmp_path / "j.jsonl")
    assert [ln["event"] for ln in j] == ["accepted", "timed-out"]
    assert j[1]["left_in_memory"] == {"block_status": 0x11, "read_ack": 0}


def test_masked_pe_with_sdei_is_refused_exit_4(fwemu, tmp_path):
    rc, out, err = fwemu("inject", "memory-ce", "--notify", "sdei", "--mask-pe", "0")
    assert (rc, err) == (4, "")
    assert out.splitlines() == [
        "#1 memory-ce -> source 5 (SDEI on PE 0), block 0x7c411410, 172 bytes",
        "   refused: PE 0 is masked (the client has not called SDEI_PE_UNMASK)",
    ]
    j = _injection_lines(tmp_path / "j.jsonl")
    assert [(ln["event"], ln.get("reason")) for ln in j] == [
        ("accepted", None), ("refused", "PE 0 is masked (the client has not called SDEI_PE_UNMASK)")]


def test_other_pe_than_the_masked_one_is_delivered(fwemu):
    rc, out, _ = fwemu("inject", "memory-ce", "--notify", "sdei", "--mask-pe", "0", "--pe", "1")
    assert rc == 0
    assert "   {1}" + HEADER + "5" in out.splitlines()


BAD = [
    (["inject", "memory-ue", "--pe", "9"], "fwemu: error: --pe: board 'sim' has PEs 0 .. 3"),
    (["inject", "memory-ue", "--address", "0x1ffffffffffffffff"],
     "fwemu: error: --address: 0x1ffffffffffffffff is outside 0 .. 0xffffffffffffffff"),
    (["inject", "memory-oops"],
     "fwemu: error: scenario: unknown scenario 'memory-oops' (one of: memory-ue, memory-ce, "
     "memory-fatal, arm-cache-ue, arm-tlb, pcie-ue, pcie-ce, generic-cpu, firmware-ref, raw, "
     "cxl-protocol, "
     "cxl-general-media, cxl-dram, cxl-memory-module, pci-bus, pci-device, x86-proc, nvidia, "
     "memory2, arm-ras)"),
    (["inject", "memory-ue", "--count", "0"], "fwemu: error: --count: must be at least 1"),
    (["inject", "memory-ue", "--timeout", "0"], "fwemu: error: --timeout: must be positive"),
    (["inject", "raw"], "fwemu: error: FILE: raw needs a FILE with a whole status block, or "
                        "--guid/--data for a section"),
    (["inject", "memory-ue", "block.bin"],
     "fwemu: error: FILE: only the raw scenario takes a file (got memory-ue)"),
    (["inject", "raw", "/nonexistent/block.bin"],
     "fwemu: error: FILE: cannot read /nonexistent/block.bin: No such file or directory"),
    (["inject", "memory-ue", "--source", "99"],
     "fwemu: error: source: board 'sim' has no source 99 (sources: 0, 1, 2, 3, 4, 5, 6, 7)"),
    (["inject", "memory-ue", "--source", "2", "--notify", "sdei"],
     "fwemu: error: --notify: source 2 is notified by sea, not sdei"),
    (["inject", "memory-ue", "--bdf", "00:01.0"],
     "fwemu: error: --bdf: does not apply to memory-ue (applies to: pcie-ue, pcie-ce, cxl-protocol, "
     "cxl-general-media, cxl-dram, cxl-memory-module, pci-device)"),
    (["inject", "memory-ue", "--severity", "sometimes"], "fwemu: error: --severity: ..."),
    (["inject", "memory-ue", "--bogus"], "fwemu: error: unrecognized arguments: --bogus"),
    (["inject", "memory-ue", "--pe", "one"], "fwemu: error: --pe: 'one' is not a PE index or a spec (START:STOP:STEP, a list, random:LOW:HIGH)"),
    (["inject", "memory-ue", "--notify", "smoke"], "fwemu: error: argument --notify: invalid choice: 'smoke' ..."),
    (["--board", "fvp", "inject", "memory-ue", "--os-deaf"],
     "fwemu: error: --os-deaf: OS model options only apply to the sim board, not 'fvp'"),
    (["--board", "nosuch", "inject", "memory-ue"],
     "fwemu: error: nosuch: board: no shipped board named 'nosuch' (shipped: ..."),
]


@pytest.mark.parametrize("argv,expect", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_options_exit_2_with_one_line(fwemu, tmp_path, argv, expect):
    rc, out, err = fwemu(*argv)
    assert rc == 2
    assert out == ""
    line = one_error_line(err)
    if expect.endswith("..."):      # the rest is a list that may grow
        assert line.startswith(expect[:-3])
    else:
        assert line == expect
    j = tmp_path / "j.jsonl"
    assert not j.exists() or j.read_text() == ""          # nothing was accepted


def test_bad_option_in_json_mode_is_an_envelope_not_stderr(fwemu):
    rc, out, err = fwemu("inject", "memory-ue", "--pe", "9", "--json")
    assert (rc, err) == (2, "")
    env = json.loads(out)
    assert env["status"] == 2
    assert env["error"] == "--pe: board 'sim' has PEs 0 .. 3"
    assert env["version"] == {"major": 1, "minor": 0}
    assert "injections" not in env


# --------------------------------------------------------------------------------------
# --json


def test_json_envelope_for_a_consumed_memory_ue(fwemu):
    rc, out, err = fwemu("inject", "memory-ue", "--json")
    assert (rc, err) == (0, "")
    assert out.count("\n") == 1
    env = json.loads(out)
    from fwemu import __version__
    assert env["fwemu_version"] == __version__
    assert env["version"] == {"major": 1, "minor": 0}
    assert (env["status"], env["error"], env["board"], env["via"]) == (0, None, "sim", "in-process")
    assert isinstance(env["wall_s"], (int, float)) and env["wall_s"] > 0
    (inj,) = env["injections"]
    assert {k: inj[k] for k in ("id", "scenario", "source", "notify", "pe", "block", "length",
                                "state", "reason")} == {
        "id": 1, "scenario": "memory-ue", "source": 2, "notify": "sea", "pe": 0,
        "block": 0x7C410810, "length": 172, "state": "consumed", "reason": None}
    assert inj["latency_ms"] is not None and inj["latency_ms"] >= 0
    assert inj["accepted"] <= inj["posted"] <= inj["notified"] <= inj["consumed"]
    assert env["os_log"][0] == "{1}" + HEADER + "2"
    assert env["os_log"][-1] == MF
    assert env["os"]["up"] is True and env["os"]["panic"] is None
    assert env["summary"]["states"] == {"consumed": 1} and env["summary"]["count"] == 1
    assert env["summary"]["p50_ms"] == inj["latency_ms"]


def test_json_count_and_rate(fwemu):
    rc, out, _ = fwemu("inject", "memory-ce", "--count", "3", "--rate", "50", "--no-ratelimit", "--json")
    assert rc == 0
    env = json.loads(out)
    injs = env["injections"]
    assert [i["id"] for i in injs] == [1, 2, 3]
    assert all(i["state"] == "consumed" and i["source"] == 5 for i in injs)
    assert len({i["digest"] for i in injs}) == 3                # unique by default
    # 50/s: submitted on a schedule 20 ms apart (t0 + k/rate), so #3 comes >= ~40 ms after #1
    assert injs[2]["accepted"] - injs[0]["accepted"] >= 0.03
    assert all(b["accepted"] > a["accepted"] for a, b in itertools.pairwise(injs))
    assert env["summary"]["states"] == {"consumed": 3}
    assert sum(1 for ln in env["os_log"] if HEADER in ln) == 3


def test_json_timeout_carries_left_in_memory(fwemu):
    rc, out, _ = fwemu("inject", "memory-ue", "--os-deaf", "--timeout", "0.2", "--json")
    assert rc == 3
    env = json.loads(out)
    assert env["status"] == 3
    (inj,) = env["injections"]
    assert inj["state"] == "timed-out"
    assert inj["left_in_memory"] == {"block_status": 0x11, "read_ack": 0}
    assert env["os_log"] == []


# --------------------------------------------------------------------------------------
# raw: --guid/--data and FILE (valid, invalid, never-pending)


def _write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_raw_guid_and_data(fwemu):
    rc, out, _ = fwemu("inject", "raw", "--guid", GUID, "--data", "de ad be ef", "--source", "1")
    assert rc == 0
    lines = out.splitlines()
    assert "   {1}" + HEADER + "1" in lines
    assert f"   {{1}}[Hardware Error]:   section type: unknown, {GUID}" in lines


def test_raw_file_is_posted_verbatim(fwemu, tmp_path):
    data = records.encode(StatusBlock([Entry(RawSection(guid=uuid.UUID(GUID), data=b"0123456789abcdef"),
                                             severity=2)], severity=2))
    f = _write(tmp_path, "block.bin", data)
    rc, out, _ = fwemu("inject", "raw", f, "--source", "7", "--json")
    assert rc == 0
    env = json.loads(out)
    (inj,) = env["injections"]
    assert (inj["state"], inj["source"], inj["notify"]) == ("consumed", 7, "external")
    assert (inj["length"], inj["digest"]) == (len(data), sha16(data))
    assert "forged" not in inj
    assert env["os_log"][0] == "{1}" + HEADER + "7"
    assert f"{{1}}[Hardware Error]:   section type: unknown, {GUID}" in env["os_log"]


def test_raw_file_with_a_bad_length_is_warned_about_by_the_os_and_acked(fwemu, tmp_path):
    good = records.encode(scenarios.build("memory-ue"))
    bad = bytearray(good)
    struct.pack_into("<I", bad, 12, 2000)        # data_length beyond the 1008-byte block
    f = _write(tmp_path, "bad.bin", bytes(bad))
    rc, out, _ = fwemu("inject", "raw", f, "--source", "2")
    assert rc == 3     # acked but thrown away: dropped, not consumed
    lines = out.splitlines()
    assert lines[1] == ("   dropped: the OS acked it but threw it away as invalid (GHES: Invalid error status "
                        "block length!): nothing printed, no memory_failure")
    # source 2 is SEA: the invalid block is acked but does not claim the abort
    assert lines[2:] == ["OS log (sim):", "   [Firmware Warn]: GHES: Invalid error status block length!",
                         "   [sim] SEA on CPU0 not claimed by GHES: the faulting task gets SIGBUS"]
    rc, out, _ = fwemu("inject", "raw", f, "--source", "2", "--json")
    assert json.loads(out)["injections"][0]["forged"] is True


def test_raw_file_with_block_status_zero_is_never_consumed(fwemu, tmp_path):
    rec = bytearray(records.encode(scenarios.build("memory-ue")))
    rec[0:4] = bytes(4)
    f = _write(tmp_path, "zero.bin", bytes(rec))
    rc, out, _ = fwemu("inject", "raw", f, "--source", "2", "--timeout", "0.3")
    assert rc == 3
    assert out.splitlines()[1:] == [
        "   timed-out: the OS did not consume it within 0.3 s; the block stays posted "
        "(firmware will not overwrite it)",
        "   left in memory: block_status 0x0, read_ack 0x0",
        "OS log (sim):",
        # block_status 0 is no record (G3): the SEA finds nothing and is not claimed
        "   [sim] SEA on CPU0 not claimed by GHES: the faulting task gets SIGBUS",
    ]


# --------------------------------------------------------------------------------------
# duplicates, fatal, SEI options


def test_identical_repeat_warns_and_the_os_drops_it(tmp_path):
    """As a user runs it: the warning on stderr, one [Hardware Error] block on stdout."""
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), XDG_STATE_HOME=str(tmp_path))
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ue", "--count", "2", "--identical",
                        "--timestamp", "2024-05-01T12:00:00", "--journal", str(tmp_path / "j.jsonl")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 3, p.stderr          # the second was not consumed: the OS dropped it
    warn = "identical bytes were posted 0.0 s ago: Linux drops a repeat within 10 s on the SEA path"
    assert f"fwemu: warning: #2: {warn}" in p.stderr.splitlines()
    assert "Traceback" not in p.stderr
    out = p.stdout.splitlines()
    assert sum(HEADER in ln for ln in out) == 1
    assert [ln for ln in out if "Memory failure" in ln] == ["   " + MF]
    assert any(ln.startswith("   dropped: the OS acked it but dropped it as a duplicate") for ln in out)
    assert any(ln.startswith("2 injections: 1 consumed, 1 dropped; latency p50 ") for ln in out)
    j = _injection_lines(tmp_path / "j.jsonl")
    assert [(ln["event"], ln.get("warnings")) for ln in j if ln["event"] != "accepted"] == \
        [("consumed", None), ("dropped", [warn])]


def test_two_runs_with_the_same_fields_and_fixed_timestamp_post_different_records(fwemu, tmp_path):
    """Issue 12 item 3: two separate `fwemu inject` runs (separate firmware instances) with
    the same fields and a fixed --timestamp posted identical records, which a real kernel
    drops on the SEA path. The board's state file keeps them apart (a restart included)."""
    args = ("--json", "inject", "memory-ue", "--timestamp", "2024-05-01T12:00:00")
    digests = []
    for pe in ("0", "1", "0"):
        rc, out, err = fwemu(*args, "--pe", pe)
        assert rc == 0, err
        assert "warning" not in err
        digests.append(json.loads(out)["injections"][0]["digest"])
    assert len(set(digests)) == 3
    assert (tmp_path / "state" / "fwemu" / "stamps-sim.json").exists()


def test_memory_fatal_panics_the_sim_os(fwemu):
    rc, out, _ = fwemu("inject", "memory-fatal")
    assert rc == 6                                  # consumed (the OS cleared and acked it), then the OS went down
    lines = out.splitlines()
    assert lines[0] == "#1 memory-fatal -> source 6 (SDEI on PE 0), block 0x7c411810, 172 bytes"
    assert "   {1}[Hardware Error]: event severity: fatal" in lines
    assert lines[-2:] == ["   Kernel panic - not syncing: GHES: Fatal hardware error",
                          "OS is down: GHES: Fatal hardware error (this command's own simulated OS; "
                          "the next command boots a fresh one, and `fwemu daemon` keeps one across commands)"]


def test_sei_mainline_panics(fwemu):
    rc, out, _ = fwemu("inject", "generic-cpu", "--source", "3", "--sei-mode", "mainline", "--timeout", "0.3")
    assert rc == 3
    assert out.splitlines()[-4:] == [
        "OS log (sim):",
        "   SError Interrupt on CPU0, code 0x00000000be000000 -- SError",
        "   Kernel panic - not syncing: Asynchronous SError Interrupt",
        "OS is down: Asynchronous SError Interrupt (this command's own simulated OS; the next command "
        "boots a fresh one, and `fwemu daemon` keeps one across commands)",
    ]


def test_unsafe_concurrent_sei_is_loud(fwemu):
    rc, out, err = fwemu("inject", "generic-cpu", "--source", "3", "--unsafe-concurrent-sei")
    assert rc == 0
    assert ("fwemu: WARNING: --unsafe-concurrent-sei: the one-pending-NOTIFY_SEI rule is OFF; the OS may "
            "attribute records to the wrong PE (negative testing only)") in err.splitlines()
    assert "   {1}" + HEADER + "3" in out.splitlines()


# --------------------------------------------------------------------------------------
# board files


@pytest.mark.parametrize("old,new,expect", [
    ("id = 1\n", "id = 0\n",
     "source[1].id: duplicate source id 0 (also source[0]; Linux then disables every GHES)"),
    ("vector = 5000", "vector = 0",
     "source[5].vector: SDEI event 0 is reserved for SDEI_EVENT_SIGNAL and is never a GHES event "
     "(Linux: -EINVAL)"),
    ("block_length = 1008\n", "block_lenght = 1008\n",
     'source[0].block_lenght: unknown key (did you mean "block_length"?)'),
    ("[pes]\ncount = 4", "[pes]\ncount = 4\nmpidr = [0, 1]",
     "pes.mpidr: has 2 entries but pes.count is 4"),
])
def test_bad_board_file_exit_2_with_one_line(fwemu, tmp_path, old, new, expect):
    assert old in SIM_TOML
    p = tmp_path / "lab.toml"
    p.write_text(SIM_TOML.replace(old, new, 1))
    rc, out, err = fwemu("--board", str(p), "inject", "memory-ue")
    assert (rc, out) == (2, "")
    assert one_error_line(err) == f"fwemu: error: {p}: {expect}"


def test_board_file_syntax_error(fwemu, tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text(SIM_TOML.replace('name = "sim"', 'name = "sim'))
    rc, _, err = fwemu("--board", str(p), "inject", "memory-ue")
    assert rc == 2
    assert one_error_line(err).startswith(f"fwemu: error: {p}: syntax: ")


def test_board_file_by_path_is_used(fwemu, tmp_path):
    p = tmp_path / "lab.toml"
    p.write_text(SIM_TOML.replace('name = "sim"', 'name = "lab-sim"').replace("memory-ue = 2 ", "memory-ue = 1 "))
    rc, out, _ = fwemu("--board", str(p), "inject", "memory-ue", "--json")
    assert rc == 0
    env = json.loads(out)
    assert env["board"] == "lab-sim"
    assert (env["injections"][0]["source"], env["injections"][0]["notify"]) == (1, "gsiv")


# --------------------------------------------------------------------------------------
# the real command line


def test_python_m_fwemu_inject_memory_ue(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), XDG_STATE_HOME=str(tmp_path))
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ue"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert (p.returncode, p.stderr) == (0, "")
    assert p.stdout.splitlines()[-1] == "   " + MF
    # the default journal lives under XDG_STATE_HOME
    j = _injection_lines(tmp_path / "fwemu" / "journal-sim.jsonl")
    assert [ln["event"] for ln in j] == ["accepted", "consumed"]


def test_python_m_fwemu_bad_option_no_traceback(tmp_path):
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"), XDG_STATE_HOME=str(tmp_path))
    (tmp_path / "run").mkdir(mode=0o700, exist_ok=True)
    p = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ue", "--pe", "9"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == "fwemu: error: --pe: board 'sim' has PEs 0 .. 3\n"


def test_a_long_os_log_shows_its_tail_and_json_carries_all_of_it(fwemu):
    """100 injections of one page: more OS lines than the human report shows (60)."""
    args = ("inject", "memory-ue", "--count", "100", "--address", "0x60000000")
    rc, out, _err = fwemu(*args)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith("100 injections: 100 consumed; latency p50 ")
    assert lines[1] == "OS log (sim):"
    rc, js, _ = fwemu(*args, "--json")
    log = json.loads(js)["os_log"]
    assert len(log) > 60
    assert lines[2] == f"   ... {len(log) - 60} earlier lines (all of them: --json's os_log)"
    assert lines[3:] == [f"   {ln}" for ln in log[-60:]]


def test_a_count_above_the_full_report_limit_reports_a_summary_in_process(fwemu, tmp_path):
    """Memory stays flat (issue 16): above MAX_FULL_REPORT the in-process report is the
    counts, the percentiles and the last 10 records, as through a daemon; the journal
    still has a final line for every injection."""
    import json as _json
    from fwemu.daemon import MAX_FULL_REPORT

    n = MAX_FULL_REPORT + 1
    journal = tmp_path / "j.jsonl"
    rc, out, err = fwemu("--json", "inject", "memory-ce", "--notify", "gsiv", "--count", str(n),
                         "--journal", str(journal), "--no-daemon", journal_file=None)
    env = _json.loads(out)
    assert rc == 0, err
    assert env["via"] == "in-process" and env["summary"]["count"] == n
    assert env["summary"]["states"] == {"consumed": n} and env["summary"]["p50_ms"] is not None
    assert [i["id"] for i in env["injections"]] == list(range(n - 9, n + 1))
    finals = sum(1 for ln in journal.read_text().splitlines() if '"event":"consumed"' in ln)
    assert finals == n


def test_an_address_sweep_gives_each_injection_a_new_page(fwemu):
    rc, out, err = fwemu("--json", "inject", "memory-ue", "--count", "3",
                         "--address", "0x60000000:0x60010000:0x1000")
    env = json.loads(out)
    assert rc == 0, err
    mf = [ln for ln in env["os_log"] if ln.startswith("Memory failure:")]
    assert mf == [f"Memory failure: {pfn:#x}: recovery action for free buddy page: Recovered"
                  for pfn in (0x60000, 0x60001, 0x60002)], env["os_log"]
    rc, out, err = fwemu("inject", "memory-ue", "--count", "3", "--address", "0x60000000:0x60000000:0x1000")
    assert (rc, out) == (2, "") and "--address" in err and "STOP must be above START" in err


def test_jsonl_streams_a_line_per_injection_then_the_envelope(fwemu):
    rc, out, err = fwemu("inject", "memory-ce", "--notify", "gsiv", "--count", "20", "--jsonl",
                         "--address", "0x60000000:0x61000000:0x1000")
    assert rc == 0, err
    lines = [json.loads(ln) for ln in out.splitlines()]
    injs, end = lines[:-1], lines[-1]
    assert [i["event"] for i in injs] == ["injection"] * 20
    assert sorted(i["id"] for i in injs) == list(range(1, 21))
    assert all(i["state"] == "consumed" and i["latency_ms"] is not None for i in injs)
    assert end["event"] == "end" and end["status"] == 0 and end["error"] is None
    assert end["summary"]["count"] == 20 and end["summary"]["states"] == {"consumed": 20}
    assert "injections" not in end
    # a usage error is the envelope line alone, with the error
    rc, out, _ = fwemu("inject", "memory-ce", "--jsonl", "--count", "0")
    assert rc == 2 and [json.loads(ln)["event"] for ln in out.splitlines()] == ["end"]
