"""Header fields written as given (issue 14 item 5: every field from the CLI): the entry's
revision and error data length, the block's data length, raw data offset and block_status.
The built bytes are read at the ACPI offsets with struct; on the sim the OS's checks see
them as the kernel's do, and a block the OS acks but throws away is `dropped`, never
`consumed`."""

from __future__ import annotations

import json
import struct

import pytest

PFX = "[Firmware Warn]: GHES: "


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def build(cli_run, tmp_path, *argv) -> bytes:
    out = tmp_path / "rec.bin"
    rc, _o, err = cli_run("record", "build", "memory-ue", *argv, "-o", str(out))
    assert rc == 0, err
    return out.read_bytes()


def header(data: bytes) -> tuple[int, int, int, int, int]:
    """block_status, raw_data_offset, raw_data_length, data_length, error_severity"""
    return struct.unpack_from("<5I", data, 0)


def test_entry_revision_below_0300_is_the_64_byte_entry_header(cli_run, tmp_path):
    plain = build(cli_run, tmp_path, "--timestamp", "none")
    old = build(cli_run, tmp_path, "--entry-revision", "0x0201")     # no timestamp by default
    assert struct.unpack_from("<H", old, 20 + 20)[0] == 0x0201
    assert old[20 + 22] == plain[20 + 22] == 0            # validation bits: no timestamp
    assert old[20 + 64:] == plain[20 + 72:]                # the section right after 64 bytes
    assert header(old)[3] == header(plain)[3] - 8 == len(old) - 20
    assert header(old)[1] == header(plain)[1] == 0           # no raw data: offset 0, as written before


def test_lengths_offset_and_status_as_written(cli_run, tmp_path):
    ts = ("--timestamp", "2024-05-01T12:00:00")
    plain = build(cli_run, tmp_path, *ts)
    for argv, at, value in ((["--error-data-length", "0x20"], 20 + 24, 0x20),
                            (["--data-length", "0x1000"], 12, 0x1000),
                            (["--raw-data-offset", "0x99"], 4, 0x99),
                            (["--block-status", "0x1f"], 0, 0x1F)):
        data = build(cli_run, tmp_path, *ts, *argv)
        want = bytearray(plain)
        struct.pack_into("<I", want, at, value)
        assert data == bytes(want), argv


@pytest.mark.parametrize("argv, message", [
    (["--error-data-length", "0x20"], "Failed to read error status block!"),
    (["--data-length", "0x1000"], "Invalid error status block length!"),
])
@pytest.mark.parametrize("notify", ["sea", "gsiv"])
def test_a_block_that_fails_the_checks_is_dropped_on_sim(cli_run, argv, message, notify):
    rc, out, err = cli_run("inject", "memory-ue", *argv, "--notify", notify, "--json", "--journal", "none")
    assert rc == 3, err
    env = json.loads(out)
    (inj,) = env["injections"]
    assert inj["state"] == "dropped"
    assert inj["reason"] == (f"the OS acked it but threw it away as invalid (GHES: {message}): nothing "
                             "printed, no memory_failure")
    assert env["os_log"][0] == PFX + message
    assert not any("Memory failure" in ln or "[Hardware Error]" in ln for ln in env["os_log"])


def test_old_entry_revision_is_handled_and_a_repeat_is_dropped_with_a_warning(cli_run):
    rc, out, err = cli_run("inject", "memory-ue", "--entry-revision", "0x0201", "--count", "2",
                           "--json", "--journal", "none")
    assert rc == 3, err
    a, b = json.loads(out)["injections"]
    assert a["record"] == b["record"]          # nothing to vary: no timestamp in the entry
    assert (a["state"], b["state"]) == ("consumed", "dropped")
    assert "identical bytes were posted" in b["warnings"][0]
    assert "dropped it as a duplicate" in b["reason"]
    log = json.loads(out)["os_log"]
    assert "{1}[Hardware Error]:   section_type: memory error" in log
    assert not any("precise tstamp" in ln for ln in log)      # the 64-byte header has none


def test_block_status_zero_is_never_consumed(cli_run):
    rc, out, _ = cli_run("inject", "memory-ue", "--block-status", "0", "--timeout", "0.3", "--json",
                         "--journal", "none")
    assert rc == 3
    (inj,) = json.loads(out)["injections"]
    assert inj["state"] == "timed-out"
    assert inj["left_in_memory"]["block_status"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--entry-revision", "0x10000"], "--entry-revision: 0x10000 is outside 0 .. 0xffff"),
    (["--entry-revision", "0x0201", "--timestamp", "now"],
     "--entry-revision: 0x0201 is the 64-byte entry header, which has no timestamp"),
    (["--error-data-length", "0x100000000"], "--error-data-length: 0x100000000 is outside 0 .. 0xffffffff"),
    (["--data-length", "x"], "--data-length: 'x' is not a number"),
    (["--raw-data-offset", "-1"], "--raw-data-offset: -1 is outside"),
    (["--block-status", "0x1_0000_0000"], "--block-status: 0x1_0000_0000 is outside"),
])
def test_bad_values_are_one_line(cli_run, argv, message):
    for cmd in (("record", "build", "memory-ue"), ("inject", "memory-ue", "--journal", "none")):
        rc, out, err = cli_run(*cmd, *argv)
        assert rc == 2 and message in err, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
