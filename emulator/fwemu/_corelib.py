"""Loads the compiled C core and refuses a stale one.

`pip install -e .` builds fwemu/_core*.so in place; after a `git pull` that changes the
C sources or the version, the old .so would keep running silently. The core embeds the
package version it was built for, so a mismatch is caught here with the fix spelled out.
"""

from typing import Any

from ._version import __version__
from .errors import CoreError

CData = Any   # a cffi pointer or struct: cffi ships no type information

try:
    from ._core import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise CoreError(
        f"the fwemu C core is not built ({exc}); run `pip install -e .` (or `pip install .`)"
    ) from None

_built = ffi.string(lib.fw_core_version()).decode()
if _built != __version__:
    raise CoreError(
        f"stale C core: built for fwemu {_built}, package is {__version__}; "
        "rebuild with `pip install -e .`")

__all__ = ["CData", "ffi", "lib"]
