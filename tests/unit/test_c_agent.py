"""The debug-channel framing and the target agent in C (csrc/frame.c, csrc/agent/), driven by
the golden vectors in protocol/vectors/:

* `make agent-strict` / `agent-sanitize`: csrc/tests/test_agent.c built with -Wall -Wextra
  -Werror -pedantic, run optimised and under ASan + UBSan;
* `make freestanding`: the agent compiled for aarch64 with -ffreestanding -nostdlib
  -nostdinc, whose only undefined symbols may be memcpy and memset (skipped without
  aarch64-linux-gnu-gcc unless FWEMU_REQUIRE_CROSS=1, which makes a missing compiler fail);
* the vectors are what protocol/vectors/generate.py writes (no hand edits drift);
* the compiled core's framing (cffi) produces and accepts the golden frames byte for byte.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
VECTORS = ROOT / "protocol" / "vectors"
needs_cc = pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                              reason="needs make and cc")


def _make(target, tmp_path, **env):
    return subprocess.run(["make", "-s", "-C", str(CSRC), target, f"OUT={tmp_path}"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **env})


@needs_cc
@pytest.mark.parametrize("target", ["agent-strict", "agent-sanitize"])
def test_c_agent(target, tmp_path):
    proc = _make(target, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    counts = re.search(r"(\d+) passed, (\d+) failed", output)
    assert counts, output
    assert int(counts.group(1)) > 10_000 and counts.group(2) == "0", output
    assert "warning" not in output.lower() and "runtime error" not in output


@needs_cc
def test_freestanding_aarch64(tmp_path):
    if shutil.which("aarch64-linux-gnu-gcc") is None:
        if os.environ.get("FWEMU_REQUIRE_CROSS") == "1":
            pytest.fail("FWEMU_REQUIRE_CROSS=1 but aarch64-linux-gnu-gcc is missing "
                        "(apt-get install gcc-aarch64-linux-gnu)")
        pytest.skip("aarch64-linux-gnu-gcc missing (Debian: gcc-aarch64-linux-gnu)")
    proc = _make("freestanding", tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "undefined symbols: memcpy memset" in output, output
    assert (tmp_path / "fwemu_agent_aarch64.o").exists()


def test_vectors_up_to_date():
    proc = subprocess.run([sys.executable, str(VECTORS / "generate.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _frames():
    return json.loads((VECTORS / "frames.json").read_text())


def test_core_framing_matches_golden_frames():
    from fwemu._corelib import ffi, lib

    doc = _frames()
    for case in doc["good"]:
        payload, wire = bytes.fromhex(case["payload_hex"]), bytes.fromhex(case["wire_hex"])
        out = ffi.new("uint8_t[]", lib.FW_FRAME_MAX_WIRE)
        n = lib.fw_frame_encode(payload, len(payload), out, lib.FW_FRAME_MAX_WIRE,
                                lib.FW_FRAME_LEAD if case["lead"] else 0)
        assert bytes(ffi.buffer(out, n)) == wire, case["name"]
        rx = ffi.new("fw_frame_rx *")
        lib.fw_frame_rx_init(rx)
        buf = ffi.new("uint8_t[]", lib.FW_FRAME_MAX_PAYLOAD)
        used = ffi.new("size_t *")
        k = lib.fw_frame_rx_feed(rx, wire, len(wire), used, buf, lib.FW_FRAME_MAX_PAYLOAD)
        assert bytes(ffi.buffer(buf, k)) == payload and used[0] == len(wire), case["name"]
    for case in doc["bad"]:
        wire = bytes.fromhex(case["wire_hex"])
        rx = ffi.new("fw_frame_rx *")
        lib.fw_frame_rx_init(rx)
        buf = ffi.new("uint8_t[]", lib.FW_FRAME_MAX_PAYLOAD)
        used = ffi.new("size_t *")
        assert lib.fw_frame_rx_feed(rx, wire, len(wire), used, buf, lib.FW_FRAME_MAX_PAYLOAD) == 0
        counter = {"crc": "crc_errors", "cobs": "cobs_errors", "short": "short_frames",
                   "long": "long_frames"}[case["error"]]
        assert getattr(rx, counter) == 1, case["name"]


def test_crc_is_zlib_crc32():
    import zlib

    from fwemu._corelib import lib

    for data in (b"", b"123456789", bytes(range(256)) * 5):
        assert lib.fw_crc32(0, data, len(data)) == zlib.crc32(data)


def test_notification_frames_fit_16_bytes():
    """The frames that raise or report a notification stay within 16 wire bytes even with
    3-byte sequence numbers and the host's leading delimiter (PROTOCOL.md §8)."""
    doc = _frames()
    sizes = {c["name"]: len(bytes.fromhex(c["wire_hex"])) for c in doc["good"]}
    assert sizes["SDEI dispatch request (a notification frame)"] <= 16
    assert sizes["EV_CONSUMED event"] <= 16


def test_fuzz_bounded(tmp_path):
    """libFuzzer on the agent's receive path and the record decoder, from the kept corpus,
    for FWEMU_FUZZ_SECONDS each (default 10; csrc/fuzz/run.sh for longer runs): no crash."""
    import shutil as _sh
    if _sh.which("clang") is None:
        if os.environ.get("FWEMU_REQUIRE_FUZZ") == "1":
            pytest.fail("FWEMU_REQUIRE_FUZZ=1 but clang is missing (apt-get install clang)")
        pytest.skip("clang missing (Debian: clang)")
    secs = os.environ.get("FWEMU_FUZZ_SECONDS", "10")
    proc = subprocess.run(["bash", str(CSRC / "fuzz" / "run.sh"), secs, str(tmp_path)],
                          capture_output=True, text=True, timeout=int(secs) * 2 + 300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    runs = dict(re.findall(r"fuzz (\w+): (\d+) executions, 0 crashes", out))
    assert set(runs) == {"frame", "cper"}, out
    assert all(int(n) > 1000 for n in runs.values()), out
    print(out)
