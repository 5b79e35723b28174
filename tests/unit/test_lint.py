"""ruff and mypy, run as part of the test suite (CI runs the README's pytest command).

Both are pinned in the `test` extra and configured in pyproject.toml: ruff over the whole
tree, mypy over the package, strict on the core modules listed there. A missing tool is a
failure, not a skip: `pip install -e '.[test]'` installs them. The output is shown on
failure.
"""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
import tomllib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.fail(f"{tool} is not installed: pip install -e '.[test]' (pyproject's test extra pins it)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff():
    r = _run("ruff", "check", "--no-cache", ".")
    assert r.returncode == 0, f"ruff check . (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def test_mypy(tmp_path):
    # a fresh cache: nothing written into the tree, nothing stale trusted (a cold run is ~5 s)
    r = _run("mypy", "--cache-dir", str(tmp_path / "cache"))
    assert r.returncode == 0, f"mypy (exit {r.returncode}):\n{r.stdout}{r.stderr}"


def strict_modules() -> list[str]:
    """The modules pyproject.toml makes strict (the override that disallows untyped defs)."""
    mods = [m for o in CONFIG["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_defs")
            for m in o["module"]]
    return mods


def test_strict_modules_pass_mypy_strict(tmp_path):
    # pyproject spells --strict out flag by flag (`strict` is global-only); --strict itself
    # on the same files checks the spelling has not fallen behind mypy's --strict
    mods = strict_modules()
    for required in ("fwemu.journal", "fwemu.journal_check", "fwemu.uniq", "fwemu.safe_io",
                     "fwemu.errors", "fwemu.sdei", "fwemu.memory"):
        assert required in mods
    args: list[str] = []
    for m in mods:
        p = ROOT / "emulator" / pathlib.Path(*m.removesuffix(".*").split("."))
        if m.endswith(".*"):        # mypy's pattern for every module of a package
            files = sorted(p.rglob("*.py"))
            assert files, f"pyproject.toml makes {m} strict: no module there"
        else:
            files = [p / "__init__.py" if p.is_dir() else p.with_suffix(".py")]
        args += [str(f) for f in files if str(f) not in args]
    r = _run("mypy", "--strict", "--follow-imports=silent", "--cache-dir", str(tmp_path / "cache"), *args)
    assert r.returncode == 0, f"mypy --strict {' '.join(args)} (exit {r.returncode}):\n{r.stdout}{r.stderr}"
