# cffi_modules and the mypyc extensions are setup() arguments with no pyproject equivalent;
# everything else is in pyproject.toml.
#
# The modules one injection runs through on the sim (emulator/fwemu/_compiled.py lists them)
# are compiled with mypyc: 1.7x fewer instructions an injection than the same code
# interpreted (README "Speed"). A regular install (`pip install .`, a wheel) compiles them;
# an editable install does not, so that an edit takes effect at once.
# FWEMU_MYPYC=1 compiles an editable install too (in place: rebuild after each edit), and
# FWEMU_MYPYC=0 never compiles.
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "emulator", "fwemu"))
from _compiled import COMPILED  # noqa: E402  (the list fwemu also reads at run time)

del sys.path[0]


def _mypyc_wanted(editable: bool) -> bool:
    choice = os.environ.get("FWEMU_MYPYC", "")
    if choice not in ("", "0", "1"):
        raise SystemExit(f"FWEMU_MYPYC={choice!r}: must be 0 (never compile) or 1 (always)")
    return choice == "1" or (choice == "" and not editable)


class BuildExt(build_ext):
    """Adds the mypyc extensions when this build compiles them: decided here, once setuptools
    has said whether the build is editable, and before build_ext prepares its extensions."""

    def finalize_options(self) -> None:
        editable = bool(getattr(self, "editable_mode", False) or self.inplace)
        if self.extensions is None and _mypyc_wanted(editable):
            from mypyc.build import mypycify

            paths = [os.path.join("emulator", "fwemu", *m.split(".")) + ".py" for m in COMPILED]
            self.distribution.ext_modules = (list(self.distribution.ext_modules or [])
                                             + mypycify(paths, opt_level="3", group_name="fwemu"))
        super().finalize_options()


setup(cffi_modules=["emulator/fwemu/_build_ffi.py:ffibuilder"], cmdclass={"build_ext": BuildExt})
