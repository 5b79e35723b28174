"""The modules setup.py compiles with mypyc (the path of one injection on the sim), and
whether this install runs them compiled. Kept free of fwemu imports: setup.py reads it
before fwemu is built."""

from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES

COMPILED = ("board_model", "session", "firmware", "injection", "journal", "memory", "scenario_options",
            "scenarios", "sdei", "sweep", "uniq", "targets.linux_model", "targets.sim")
HERE = os.path.dirname(os.path.abspath(__file__))
# an install writes a module's .py and .so within moments; an edit after a build comes later
_EDIT_SLACK_S = 2.0


def mode() -> str:
    """'mypyc' when every module above is compiled, 'interpreted' when none is (an editable
    or FWEMU_MYPYC=0 install), 'mixed' otherwise (an in-place build from before a module
    joined the list)."""
    import importlib

    native = [str(importlib.import_module(f"fwemu.{m}").__file__).endswith(".so") for m in COMPILED]
    return "mypyc" if all(native) else "interpreted" if not any(native) else "mixed"


def stale(root: str = HERE) -> list[str]:
    """The compiled modules under `root` whose source was edited after the build (an
    editable install built with FWEMU_MYPYC=1): Python still loads the compiled copy."""
    out = []
    for m in COMPILED:
        base = os.path.join(root, *m.split("."))
        try:
            py = os.stat(base + ".py").st_mtime
        except OSError:
            continue
        for suffix in EXTENSION_SUFFIXES:
            try:
                if py > os.stat(base + suffix).st_mtime + _EDIT_SLACK_S:
                    out.append(m.replace(".", "/") + ".py")
                break
            except OSError:
                continue
    return out
