# cffi_modules is a setup() keyword with no pyproject equivalent; everything else is in pyproject.toml.
from setuptools import setup

setup(cffi_modules=["emulator/fwemu/_build_ffi.py:ffibuilder"])
