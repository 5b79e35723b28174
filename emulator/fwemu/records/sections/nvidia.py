"""NVIDIA vendor error section, GUID 6D5244F2-2712-11EC-BEA7-CB3FDB95C786 (NVIDIA's CPER
section, as OpenBMC libcper's cper-section-nvidia.c and Linux's ghes-nvidia.c read it).

Layout (32 bytes + 16 per register; Linux `struct cper_sec_nvidia`):

| off | size | field |
|---|---|---|
| 0 | 16 | signature (ASCII, e.g. "PCIe-DPC", "DCC-ECC", "GPU-STATUS"; NUL-padded) |
| 16 | 2 | error type |
| 18 | 2 | error instance |
| 20 | 1 | severity |
| 21 | 1 | socket |
| 22 | 1 | number of registers |
| 23 | 1 | reserved |
| 24 | 8 | instance base |
| 32 | 16 each | registers: u64 address, u64 value |

There are no validation bits.

Linux: cper.c never decodes it (`section type: unknown`, hex dump, every version). Since
d7610855b0b5 "ACPI: APEI: GHES: Add NVIDIA vendor CPER record handler" (torvalds/linux,
2026) a platform driver, nvidia-ghes, bound to the ACPI device NVDA2012, registers on the
vendor record notifier chain and prints the fields (`NVIDIA CPER section,
error_data_length: N`, `signature: ...`, ... `register[i]: address=... value=...`) as
device messages. Neither the sim board nor QEMU virt has an NVDA2012 device, so on them the
section only takes the non-standard-section path; fwemu does not model the driver's lines.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from ...errors import UsageError
from ..kernel_profile import KernelProfile
from . import _base as b
from ._base import F

GUID = uuid.UUID("6D5244F2-2712-11EC-BEA7-CB3FDB95C786")
KIND = "nvidia"
FIXED = 32

LAYOUT = b.Layout(FIXED, (
    F("signature", 0, 16, raw=True), F("error_type", 16, 2), F("error_instance", 18, 2),
    F("severity", 20, 1), F("socket", 21, 1), F("number_regs_field", 22, 1, computed=True),
    F("instance_base", 24, 8),
), reserved=((23, 1),), valid=None)


@dataclass
class NvidiaSection(b.LayoutSection):
    """NVIDIA vendor error. `signature`: up to 16 bytes (text is encoded as ASCII).
    `registers`: (address, value) pairs; `number_regs`: the count field when it is not
    len(registers) (it then overruns the section: the bytes after the header are
    `trailing`). `trailing`: bytes after the registers."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "NVIDIA"
    LAYOUT: ClassVar[b.Layout] = LAYOUT

    signature: bytes = b""
    error_type: int = 0
    error_instance: int = 0
    severity: int = 0
    socket: int = 0
    instance_base: int = 0
    registers: list[tuple[int, int]] = field(default_factory=list)
    number_regs: int | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        if isinstance(self.signature, str):
            try:
                self.signature = self.signature.encode("ascii")
            except UnicodeEncodeError:
                raise UsageError("signature", "must be ASCII text") from None
        self.registers = regs = b.check_registers("registers", self.registers)
        if len(regs) > 0xFF:
            raise UsageError("registers", "at most 255 (an 8-bit count)")
        if self.number_regs is not None:
            b.check_int("number_regs", self.number_regs, 0xFF)
        if self.explicit_validation_bits is not None:
            raise UsageError("explicit_validation_bits", "the NVIDIA section has no validation bits")
        self.trailing = b.check_bytes("trailing", self.trailing, 0xFFFF)
        self._check_layout()

    @property
    def validation_bits(self) -> int:
        return 0

    def _computed(self) -> dict[str, int]:
        return {"number_regs_field": len(self.registers) if self.number_regs is None else self.number_regs}

    def _tail(self) -> bytes:
        return b"".join(a.to_bytes(8, "little") + v.to_bytes(8, "little")
                        for a, v in self.registers) + self.trailing

    @classmethod
    def decode(cls, body: bytes):
        if len(body) < FIXED:
            return None
        _bits, kw = cls._fields_from(body)
        n = body[22]
        tail = bytes(body[FIXED:])
        if 16 * n <= len(tail):
            kw["registers"] = [(int.from_bytes(tail[16 * i:16 * i + 8], "little"),
                                int.from_bytes(tail[16 * i + 8:16 * i + 16], "little")) for i in range(n)]
            kw["trailing"] = tail[16 * n:]
        else:                    # the count overruns the section: kept as written
            kw.update(registers=[], number_regs=n, trailing=tail)
        try:
            return cls(**kw)
        except UsageError:
            return None

    @classmethod
    def _json_values(cls, d: dict) -> dict:
        d = super()._json_values(d)
        if d.get("registers") is not None:
            d["registers"] = [tuple(p) if isinstance(p, list) else p for p in d["registers"]]
        return d


Section = NvidiaSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # cper.c has no branch for it


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
