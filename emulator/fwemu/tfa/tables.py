"""ACPI tables for the tfa-qemu guest, delivered with the kernel's initrd table upgrade
(CONFIG_ACPI_TABLE_UPGRADE): an uncompressed newc cpio holding kernel/firmware/acpi/*.aml,
placed in front of the initramfs. A table with a new signature is added; the kernel taints
itself (TAINT_OVERRIDDEN_ACPI_TABLE), as expected in a lab.
"""

from __future__ import annotations

import os
import struct

from ..board import Board
from ..hest import CREATOR_ID, OEM_ID, build_hest

ACPI_DIR = "kernel/firmware/acpi"


def sdei_table() -> bytes:
    """The ACPI SDEI table: a bare 36-byte header. Linux enables its SDEI driver under
    ACPI only when this table exists; it carries nothing else."""
    head = struct.pack("<4sIBB6s8sI4sI", b"SDEI", 36, 1, 0, OEM_ID.encode().ljust(6),
                       b"FWEMUSDE", 1, CREATOR_ID.encode(), 1)
    table = bytearray(head)
    table[9] = -sum(table) & 0xFF
    return bytes(table)


def board_tables(board: Board) -> dict[str, bytes]:
    return {"HEST": build_hest(board), "SDEI": sdei_table()}


def _cpio_entry(name: str, data: bytes, mode: int, ino: int) -> bytes:
    nm = name.encode() + b"\0"
    hdr = b"070701" + b"".join(b"%08X" % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nm), 0))
    out = hdr + nm
    out += b"\0" * (-len(out) % 4)
    out += data
    out += b"\0" * (-len(out) % 4)
    return out


def override_cpio(tables: dict[str, bytes]) -> bytes:
    """newc cpio (uncompressed, as the kernel requires for early tables) of the tables."""
    parts, ino = [], 1
    path = ""
    for comp in ACPI_DIR.split("/"):
        path = f"{path}/{comp}" if path else comp
        parts.append(_cpio_entry(path, b"", 0o040755, ino))
        ino += 1
    for sig, data in sorted(tables.items()):
        parts.append(_cpio_entry(f"{ACPI_DIR}/{sig}.aml", data, 0o100644, ino))
        ino += 1
    parts.append(_cpio_entry("TRAILER!!!", b"", 0, 0))
    blob = b"".join(parts)
    return blob + b"\0" * (-len(blob) % 512)


def write_initrd(board: Board, base_initrd: str, out: str) -> dict[str, bytes]:
    """out = the tables' cpio + the guest's own (compressed) initramfs. Returns the tables."""
    tables = board_tables(board)
    with open(base_initrd, "rb") as fh:
        base = fh.read()
    with open(out + ".tmp", "wb") as fh:
        fh.write(override_cpio(tables))
        fh.write(base)
    os.replace(out + ".tmp", out)
    return tables
