"""The compiled core refuses to run when it was built for another package version."""

import subprocess
import sys

STALE = ("import fwemu._version as v; v.__version__ = '9.9.9'\n"
         "from fwemu.cli import main\n"
         "raise SystemExit(main(['record', 'check', '-']))\n")


def test_stale_core_is_refused_with_one_line():
    from fwemu import __version__
    proc = subprocess.run([sys.executable, "-c", STALE], capture_output=True, text=True, input="")
    assert proc.returncode == 5
    assert proc.stderr.strip().splitlines() == [
        f"fwemu: error: stale C core: built for fwemu {__version__}, package is 9.9.9; "
        "rebuild with `pip install -e .`"]
    assert "Traceback" not in proc.stderr


def test_core_version_matches_package():
    from fwemu import __version__
    from fwemu._corelib import ffi, lib
    assert ffi.string(lib.fw_core_version()).decode() == __version__
