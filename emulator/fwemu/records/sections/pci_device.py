"""PCI/PCI-X Device Error Section (UEFI 2.10 N.2.9), GUID EB5E4685-CA66-4769-B6A2-26068B001326.

Layout (40 bytes + 16 per register pair; edk2 `EFI_GENERIC_ERROR_PCI_DEVICE_ID`):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 8 | error status (UEFI N.2.5) | 0 |
| 16 | 16 | id info: vendor @16, device @18, class code u24 @20, function @23, device @24, bus @25, segment u8 @26, reserved @27..31 | 1 |
| 32 | 4 | memory number (memory-mapped register pairs) | 2 |
| 36 | 4 | IO number (IO register pairs) | 3 |
| 40 | 16 * (memory number + IO number) | register data pairs: u64 address, u64 value | 4 |

Linux: no version decodes it (cper.c has no branch for CPER_SEC_PCI_DEV): `section type:
unknown, <guid>` and a hex dump; ghes_do_proc() treats it as a non-standard section.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ..kernel_profile import KernelProfile
from . import _base as b
from ._base import F

GUID = uuid.UUID("EB5E4685-CA66-4769-B6A2-26068B001326")
KIND = "pci-device"
FIXED = 40
BIT_REGISTERS = 4

LAYOUT = b.Layout(FIXED, (
    F("error_status", 8, 8, 0),
    F("vendor_id", 16, 2, 1), F("device_id", 18, 2, 1), F("class_code", 20, 3, 1),
    F("function", 23, 1, 1), F("device", 24, 1, 1), F("bus", 25, 1, 1), F("segment", 26, 1, 1),
    F("memory_number", 32, 4, 2), F("io_number", 36, 4, 3),
), reserved=((27, 1), (28, 4)))


@dataclass
class PciDeviceSection(b.LayoutSection):
    """PCI/PCI-X device error. `registers`: the register data pairs (address, value), None
    when absent; `memory_number`/`io_number` are written as given (the UEFI says the pairs
    are memory_number + io_number, memory ones first). `trailing`: bytes after the pairs
    that do not make a whole pair."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "PCI/PCI-X Device Error"
    LAYOUT: ClassVar = LAYOUT

    error_status: int | None = None
    vendor_id: int | None = None
    device_id: int | None = None
    class_code: int | None = None
    segment: int | None = None
    bus: int | None = None
    device: int | None = None
    function: int | None = None
    memory_number: int | None = None
    io_number: int | None = None
    registers: list[tuple[int, int]] | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        if self.registers is not None:
            self.registers = b.check_registers("registers", self.registers)
        self.trailing = b.check_bytes("trailing", self.trailing, 15)
        self._check_layout()

    def derived_validation_bits(self) -> int:
        return super().derived_validation_bits() | ((self.registers is not None) << BIT_REGISTERS)

    def _tail(self) -> bytes:
        pairs = b"".join(a.to_bytes(8, "little") + v.to_bytes(8, "little")
                         for a, v in self.registers or ())
        return pairs + self.trailing

    @classmethod
    def _decode_tail(cls, tail: bytes, kw: dict) -> bool:
        n = len(tail) // 16
        regs = [(int.from_bytes(tail[16 * i:16 * i + 8], "little"),
                 int.from_bytes(tail[16 * i + 8:16 * i + 16], "little")) for i in range(n)]
        kw["registers"] = regs if regs else None
        kw["trailing"] = tail[16 * n:]
        return True

    @classmethod
    def decode(cls, body: bytes):
        sec = super().decode(body)
        if sec is not None and sec.registers is None and \
                int.from_bytes(body[0:8], "little") >> BIT_REGISTERS & 1:
            sec.registers = []          # bit set, no pairs
            sec.explicit_validation_bits = None
            if sec.validation_bits != int.from_bytes(body[0:8], "little"):
                sec.explicit_validation_bits = int.from_bytes(body[0:8], "little")
        return sec

    @classmethod
    def _json_values(cls, d: dict) -> dict:
        d = super()._json_values(d)
        if d.get("registers") is not None:
            d["registers"] = [tuple(p) if isinstance(p, list) else p for p in d["registers"]]
        return d


Section = PciDeviceSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # no Linux decodes it


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
