"""fwemu: a firmware-side RAS error emulator for arm64 (CPER records, GHES blocks, notifications)."""

from ._version import __version__
from .errors import FwemuError

__all__ = ["__version__", "FwemuError"]
