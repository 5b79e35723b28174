"""CPER section kinds, one module per section GUID, and the tables the rest of records/
consults.

Each module holds its section's whole story: the layout (a table in its docstring and the
struct offsets in code), the typed model (`Section`: field names, validation bits, limits),
encode and decode (byte-exact: reserved and invalid-bit bytes are kept, so decode -> encode
gives the same bytes), the JSON names (the dataclass fields), the kernel's wording per
kernel profile (`print_section`: the section_type line and what follows) and, where Python
decides it, what GHES does with it (`ghes_proc`).

Newer kinds (MODULES): CXL protocol error, CXL general media / DRAM / memory module
events, PCI/PCI-X bus, PCI/PCI-X device, IA32/X64 processor, NVIDIA, memory error section
2, Arm RAS node. Encoding is pure Python (`Section.encode()`, `Section.decode(body)`,
`Section.from_json`); the bodies are posted like any other section's (codec.encode puts
them into entries through the C core).

Older kinds (OLDER): platform memory error (`memory`), ARM processor error (`arm`), PCIe
error (`pcie`), processor generic error (`processor_generic`), firmware error record
reference (`firmware_ref`). The C core knows them too: it encodes them when firmware posts
(csrc/cper.c, reached through codec.section_struct), and its fw_os_actions() decides what
GHES does with them. Their modules' `encode(sec)` / `decode(body)` are what records.encode
and records.decode use (packer.BODY, codec._DECODERS), and kernel_text prints them through
OLDER. Raw sections (any GUID, bytes as given) stay in records/model.py.
"""

from __future__ import annotations

import uuid
from types import ModuleType

from .. import model as m
from ..kernel_profile import KernelProfile
from . import cxl_dram, cxl_general_media, cxl_memory_module, cxl_protocol, nvidia, pci_bus
from . import arm, arm_ras, firmware_ref, memory, memory2, pci_device, pcie, processor_generic
from . import x86_processor
from ._base import LayoutSection
from ._arm_ras_aux import MPAM_PARTID, AuxContext, AuxData, AuxPair
from .arm import ArmContext, ArmErrorInfo, ArmSection
from .arm_ras import ArmRasSection, ErrorSyndrome
from .cxl_dram import CxlDramSection
from .cxl_general_media import CxlGeneralMediaSection
from .cxl_memory_module import CxlMemoryModuleSection
from .cxl_protocol import CxlProtocolSection, RasCapability
from .firmware_ref import FirmwareRefSection
from .memory import MemorySection
from .memory2 import Memory2Section
from .nvidia import NvidiaSection
from .pci_bus import PciBusSection
from .pci_device import PciDeviceSection
from .pcie import PcieSection
from .processor_generic import ProcessorGenericSection
from .x86_processor import X86Context, X86ErrorInfo, X86ProcessorSection

MODULES: tuple[ModuleType, ...] = (cxl_protocol, cxl_general_media, cxl_dram, cxl_memory_module,
                                   pci_bus, pci_device, x86_processor, nvidia, memory2, arm_ras)
BY_GUID: dict[uuid.UUID, ModuleType] = {mod.GUID: mod for mod in MODULES}
BY_GUID_LE: dict[bytes, ModuleType] = {mod.GUID.bytes_le: mod for mod in MODULES}
CLASSES: dict[str, type[m.Section]] = {mod.Section.KIND: mod.Section for mod in MODULES}
SECTION_TYPES = tuple(CLASSES.values())
OLDER: tuple[ModuleType, ...] = (memory, arm, pcie, processor_generic, firmware_ref)

for _mod in OLDER:      # block_from_json knows them, model.<class name> finds them
    m.register_section(_mod.Section, getattr(_mod, "PART_CLASSES", ()))
for _cls in SECTION_TYPES:
    m.register_section(_cls)

__all__ = [
    "ArmContext", "ArmErrorInfo", "ArmRasSection", "ArmSection", "AuxContext", "AuxData", "AuxPair", "BY_GUID", "CLASSES", "CxlDramSection",
    "CxlGeneralMediaSection", "CxlMemoryModuleSection", "CxlProtocolSection", "ErrorSyndrome",
    "FirmwareRefSection", "LayoutSection", "MODULES", "MPAM_PARTID", "Memory2Section", "MemorySection",
    "NvidiaSection", "OLDER", "PciBusSection", "PciDeviceSection", "PcieSection", "ProcessorGenericSection", "RasCapability", "X86Context", "X86ErrorInfo", "X86ProcessorSection",
    "decode", "encode", "ghes_proc", "is_section", "print_section",
]


def is_section(sec: m.Section) -> bool:
    """Whether a model section is one of this package's kinds."""
    return isinstance(sec, SECTION_TYPES)


def encode(sec: m.Section) -> bytes:
    """The body bytes of a section of this package's kinds."""
    if not isinstance(sec, (LayoutSection, X86ProcessorSection)):
        raise TypeError(f"{type(sec).__name__} is not a records/sections kind")
    return sec.encode()


def decode(guid: uuid.UUID, body: bytes) -> m.Section | None:
    """The typed section for a known GUID whose bytes the model re-encodes exactly, else
    None (the caller keeps them raw)."""
    mod = BY_GUID.get(guid)
    if mod is None:
        return None
    sec = mod.Section.decode(body)
    return sec if sec is not None and encode(sec) == bytes(body) else None


def print_section(npfx: str, guid: uuid.UUID, body: bytes, length: int,
                  profile: KernelProfile) -> list[str] | None:
    """The lines cper_estatus_print_section() prints for the section after the entry's
    header lines (`npfx` is its section prefix), or None when the profile's kernel does not
    know the GUID (it is printed as an unknown section)."""
    mod = BY_GUID.get(guid)
    return None if mod is None else mod.print_section(npfx, body, length, profile)


def ghes_proc(guid_le: bytes, body: bytes, length: int, cper_sev: int,
              profile: KernelProfile) -> list[str] | None:
    """The lines ghes_do_proc() leads to for one section of these kinds (None: not one of
    them). `guid_le` is the section type as it is on the wire."""
    mod = BY_GUID_LE.get(guid_le)
    return None if mod is None else mod.ghes_proc(body, length, cper_sev, profile)
