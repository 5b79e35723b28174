"""How a python's fwemu runs the modules one injection goes through, for a benchmark's
header: 'mypyc' (compiled), 'interpreted', or 'mixed' (an in-place build older than
an edited source)."""

from __future__ import annotations

import subprocess


def fwemu_build(python: str) -> str:
    cp = subprocess.run([python, "-c", "from fwemu import _compiled; print(_compiled.mode())"],
                        capture_output=True, text=True)
    # an fwemu from before the mypyc build has no _compiled module: all of it interpreted
    return cp.stdout.strip() if cp.returncode == 0 else "interpreted"


def describe(pythons: dict[str, str]) -> str:
    return "; ".join(f"{name}: {fwemu_build(py)}" for name, py in pythons.items())
