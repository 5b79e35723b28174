"""The kernel's printing primitives that every section printer needs: reading a section's
bytes as the kernel does (past the end: zeros) and `print_hex_dump()`.

Shared by kernel_text.py (the existing section kinds) and records/sections/ (the newer
ones); it imports nothing from records, so both can use it.
"""

from __future__ import annotations

MAX_READ = 1 << 16    # reads past the section are zero-filled; one read is capped at 64 KiB
FW_WARN = "[Firmware Warn]: "   # the kernel's FW_WARN: such lines carry no `{N}[Hardware Error]` prefix
KERN_LEVEL_LEN = 2     # the "\001<n>" log-level bytes inside the prefix (cper_print_bits wraps on them)


def get(b: bytes, off: int, n: int) -> bytes:
    """n bytes at off, zero-filled past the end (the kernel would read whatever follows)."""
    n = max(0, min(n, MAX_READ))
    return b[off:off + n].ljust(n, b"\0")


def hexdump(pfx: str, data: bytes, ascii: bool) -> list[str]:
    """print_hex_dump(pfx, "", DUMP_PREFIX_OFFSET, 16, 4, data, len, ascii): a short last row
    whose length is not a multiple of 4 falls back to single bytes (hex_dump_to_buffer)."""
    out = []
    for off in range(0, len(data), 16):
        row = data[off:off + 16]
        group = 4 if len(row) % 4 == 0 else 1
        if group == 4:
            text = " ".join(f"{int.from_bytes(row[i:i + 4], 'little'):08x}"
                            for i in range(0, len(row), 4))
        else:
            text = " ".join(f"{c:02x}" for c in row)
        if ascii:
            text = text.ljust(16 * 2 + 16 // group + 1)
            text += "".join(chr(c) if 0x20 <= c < 0x7F else "." for c in row)
        out.append(f"{pfx}{off:08x}: {text}")
    return out


def name(table: tuple[str, ...], i: int) -> str:
    """A kernel string table's entry for `i`, "unknown" past its end."""
    return table[i] if i < len(table) else "unknown"


def print_bits(pfx: str, bits: int, strs: tuple[str, ...]) -> list[str]:
    """cper_print_bits(): names of set bits joined by ', ', a new line once the buffer
    (prefix incl. its 2 log-level bytes) would pass 80 characters."""
    out: list[str] = []
    buf = ""
    base = len(pfx) + KERN_LEVEL_LEN
    for i, name in enumerate(strs):
        if not bits >> i & 1:
            continue
        if buf and base + len(buf) + len(name) + 2 > 80:
            out.append(pfx + buf)
            buf = ""
        buf = f"{buf}, {name}" if buf else name
    return out + ([pfx + buf] if buf else [])


def s32(v: int) -> int:
    """A value as C's int sees it (%d)."""
    return (v & 0xFFFF_FFFF) - ((v & 0x8000_0000) << 1)


def hash_x(v: int) -> str:
    """C's %#x: 0 prints without the 0x."""
    return f"{v:#x}" if v else "0"
