"""The C core's own unit tests (csrc/tests/test_core.c), built warning-free with
-Wall -Wextra -Werror and run twice: optimised, and under AddressSanitizer + UBSan."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "csrc"


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None, reason="needs make and cc")
@pytest.mark.parametrize("target", ["strict", "sanitize"])
def test_c_core(target, tmp_path):
    proc = subprocess.run(["make", "-s", "-C", str(CSRC), target, f"OUT={tmp_path}"],
                          capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    counts = re.search(r"(\d+) passed, (\d+) failed", output)
    assert counts, output
    assert int(counts.group(1)) > 200_000 and counts.group(2) == "0", output
    assert "warning" not in output.lower() and "runtime error" not in output
