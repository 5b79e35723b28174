# Single source of the package version; the compiled core embeds the same string
# (see _build_ffi.py) so a stale _core module is detected at import.
__version__ = "0.1.0"
