"""PCI/PCI-X Bus Error Section (UEFI 2.10 N.2.8), GUID C5753963-3B84-4095-BF78-EDDAD3F9C9DD.

Layout (72 bytes; edk2 `EFI_PCI_PCIX_BUS_ERROR_DATA`):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 8 | error status (UEFI N.2.5 generic error status: bits 15:8 error type, ...) | 0 |
| 16 | 2 | error type (0 unknown/OEM, 1 data parity, 2 system, 3 master abort, 4 bus timeout / no device (no DEVSEL#), 5 master data parity, 6 address parity, 7 command parity) | 1 |
| 18 | 2 | bus id: bits 7:0 bus number, 15:8 segment number | 2 |
| 20 | 4 | reserved | |
| 24 | 8 | bus address | 3 |
| 32 | 8 | bus data | 4 |
| 40 | 8 | bus command: bit 56 = 0 PCI, 1 PCI-X | 5 |
| 48 | 8 | requestor id | 6 |
| 56 | 8 | completer id | 7 |
| 64 | 8 | target id | 8 |

Linux: no version decodes it (drivers/firmware/efi/cper.c has no branch for
CPER_SEC_PCI_X_BUS): `section type: unknown, <guid>` and a hex dump; ghes_do_proc()
treats it as a non-standard section.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ..kernel_profile import KernelProfile
from . import _base as b
from ._base import F

GUID = uuid.UUID("C5753963-3B84-4095-BF78-EDDAD3F9C9DD")
KIND = "pci-bus"
SIZE = 72
ERROR_TYPES = ("unknown", "data-parity", "system", "master-abort", "bus-timeout",
               "master-data-parity", "address-parity", "command-parity")
PCIX_COMMAND = 1 << 56

LAYOUT = b.Layout(SIZE, (
    F("error_status", 8, 8, 0), F("error_type", 16, 2, 1),
    F("bus", 18, 1, 2), F("segment", 19, 1, 2),
    F("bus_address", 24, 8, 3), F("bus_data", 32, 8, 4), F("bus_command", 40, 8, 5),
    F("requestor_id", 48, 8, 6), F("completer_id", 56, 8, 7), F("target_id", 64, 8, 8),
), reserved=((20, 4),))


@dataclass
class PciBusSection(b.LayoutSection):
    """PCI/PCI-X bus error (72 bytes). `bus`/`segment` share the bus-id bit."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "PCI/PCI-X Bus Error"
    LAYOUT: ClassVar = LAYOUT

    error_status: int | None = None
    error_type: int | None = None
    segment: int | None = None
    bus: int | None = None
    bus_address: int | None = None
    bus_data: int | None = None
    bus_command: int | None = None
    requestor_id: int | None = None
    completer_id: int | None = None
    target_id: int | None = None
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        self._check_layout()


Section = PciBusSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # no Linux decodes it


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
