"""fwemu: a firmware-side RAS error emulator for arm64 (CPER records, GHES blocks, notifications)."""

import sys as _sys

from ._compiled import stale as _stale
from ._version import __version__
from .errors import FwemuError

__all__ = ["__version__", "FwemuError"]

if _edited := _stale():   # an in-place mypyc build older than its sources: say so, once
    _sys.stderr.write(f"fwemu: warning: {', '.join(_edited)} changed after it was compiled; the compiled "
                      "copy runs (rebuild: FWEMU_MYPYC=1 pip install -e . ; pure Python: pip install -e .)\n")
