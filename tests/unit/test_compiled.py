"""The mypyc build: CI tests the compiled modules (FWEMU_REQUIRE_MYPYC=1), and an in-place
build older than an edited source is noticed."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES

import pytest

from fwemu import _compiled


def test_ci_runs_the_compiled_modules():
    mode = _compiled.mode()
    if os.environ.get("FWEMU_REQUIRE_MYPYC") == "1":
        assert mode == "mypyc", f"FWEMU_REQUIRE_MYPYC=1 but this install's modules are {mode}"
    elif mode != "mypyc":
        pytest.skip(f"this install is {mode} (FWEMU_MYPYC=1 pip install -e . compiles it)")
    import fwemu.firmware
    import fwemu.targets.linux_model
    assert fwemu.firmware.__file__.endswith(tuple(EXTENSION_SUFFIXES))
    assert fwemu.targets.linux_model.__file__.endswith(tuple(EXTENSION_SUFFIXES))


def _tree(tmp_path, py_age: float, so_age: float | None):
    """firmware.py and targets/linux_model.py under tmp_path, each `py_age` s old, with a
    compiled copy `so_age` s old (None: no compiled copy)."""
    now = 1_000_000.0
    for rel in ("firmware", os.path.join("targets", "linux_model")):
        base = tmp_path / rel
        base.parent.mkdir(parents=True, exist_ok=True)
        (base.parent / (base.name + ".py")).write_text("x = 1\n")
        os.utime(base.parent / (base.name + ".py"), (now - py_age, now - py_age))
        if so_age is not None:
            so = base.parent / (base.name + EXTENSION_SUFFIXES[0])
            so.write_bytes(b"")
            os.utime(so, (now - so_age, now - so_age))
    return str(tmp_path)


def test_a_source_edited_after_its_build_is_stale(tmp_path):
    assert _compiled.stale(_tree(tmp_path, py_age=10, so_age=600)) == ["firmware.py", "targets/linux_model.py"]


def test_an_install_writing_source_and_build_together_is_not_stale(tmp_path):
    # a wheel's files land within moments of each other, in any order
    assert _compiled.stale(_tree(tmp_path, py_age=10, so_age=11)) == []
    assert _compiled.stale(_tree(tmp_path / "b", py_age=600, so_age=10)) == []


def test_a_pure_python_tree_is_never_stale(tmp_path):
    assert _compiled.stale(_tree(tmp_path, py_age=10, so_age=None)) == []


def test_importing_fwemu_from_this_install_says_nothing():
    cp = subprocess.run([sys.executable, "-c", "import fwemu"], capture_output=True, text=True)
    assert cp.returncode == 0 and cp.stderr == ""


def test_injections_written_out_init_takes_every_field_in_order():
    """Injection's __init__ is written out (a compiled dataclass's generated one runs
    interpreted): it must take each field, in declaration order, with the same default."""
    import ast

    from fwemu import injection

    source = os.path.join(os.path.dirname(str(injection.__file__)), "injection.py")   # beside a .so too
    with open(source) as f:
        cls = next(n for n in ast.parse(f.read()).body if isinstance(n, ast.ClassDef) and n.name == "Injection")
    fields = [(n.target.id, ast.unparse(n.value) if n.value else None) for n in cls.body
              if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.args[1:]
    defaults = [None] * (len(args) - len(init.args.defaults)) + [ast.unparse(d) for d in init.args.defaults]
    factory = {name: "None" for name, value in fields if value and value.startswith("field(")}
    assert [(a.arg, d) for a, d in zip(args, defaults, strict=True)] == [
        (name, factory.get(name, value)) for name, value in fields]
    assigned = {t.attr for n in ast.walk(init) if isinstance(n, ast.Assign) for t in ast.walk(n.targets[0])
                if isinstance(t, ast.Attribute)}
    assert assigned == {name for name, _ in fields}
