"""Arm RAS node error section (Arm DEN0085 "RAS System Architecture" CPER section,
revision 1, tables 20-26), GUID BF32D4D5-B427-4025-8495-8A9E5D4030E4, as OpenBMC libcper's
cper-section-arm-ras.c and its `EFI_ARM_RAS_NODE` read it.

Node header (80 bytes; table 20):

| off | size | field |
|---|---|---|
| 0 | 4 | revision (1) |
| 4 | 1 | component type (the AEST node type: 0 processor, 1 memory, 2 SMMU, 3 vendor-defined, 4 GIC, 5 PCIe, 6 proxy) |
| 5 | 3 | reserved |
| 8 | 4 | error syndrome array: number of entries (N) |
| 12 | 2 | error syndrome array: offset from the section start (80 here) |
| 14 | 2 | auxiliary data offset (0: none; 80 + 72 N here) |
| 16 | 1 | IP instance format (0 PE: MPIDR_EL1; 1 system physical address; 2 local address identifier + base address; 3 SoC-specific identifier) |
| 17 | 1 | IP type format (0 PE: MIDR_EL1, REVIDR_EL1, AIDR_EL1; 1 SMMU IIDR; 2 GIC IIDR; 3 PIDR; 255 invalid) |
| 18 | 6 | reserved |
| 24 | 16 | IP instance (as its format says, e.g. u64 MPIDR_EL1 + 8 zero bytes) |
| 40 | 24 | IP type (as its format says, e.g. u64 MIDR_EL1, REVIDR_EL1, AIDR_EL1) |
| 64 | 16 | user data (NUL-terminated implementation-defined text) |

Error syndrome entry (72 bytes each; table 21):

| off | size | field |
|---|---|---|
| 0 | 4 | error record index |
| 4 | 1 | RAS extension revision (ERRDEVARCH: REVISION in bits 7:4, ARCHVER in 3:0) |
| 5 | 3 | reserved |
| 8 | 8 each | ERR<n>FR, ERR<n>CTLR, ERR<n>STATUS, ERR<n>ADDR, ERR<n>MISC0..3 (MISC2/3 meaningful only when the revision byte is not 0) |

Auxiliary data (tables 22-26: a 16-byte header, address space contexts of memory-mapped
registers, key-value pairs such as the MPAM PARTID) is typed in _arm_ras_aux.py when it is in
the canonical layout, else kept as bytes.
libcper (e1cba52, 2025-09) names IP type formats 0 PE, 1 SMMU_IIDR, 2 GIC_IIDR, 3 PIDR but
decodes format 1 as an IIDR/AIDR pair and 2 as PIDR bytes (its switch is one off from its
own names); fwemu keeps the 24 bytes as written, whatever the format.

There are no validation bits. The offsets and the count are computed: a section whose
array does not start right after the header, or whose auxiliary data does not start right
after the array, decodes as a raw section (post such bytes with the `raw` scenario).

Linux: no version decodes it (no Linux source read here knows the GUID): `section type:
unknown, <guid>` and a hex dump; ghes_do_proc() treats it as a non-standard section.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from ...errors import UsageError
from ..kernel_profile import KernelProfile
from . import _base as b
from ._arm_ras_aux import AuxData
from ._base import F

GUID = uuid.UUID("BF32D4D5-B427-4025-8495-8A9E5D4030E4")
KIND = "arm-ras"
HEADER = 80
ENTRY = 72
MAX_ENTRIES = (0xFFFF - HEADER) // ENTRY     # the auxiliary offset is 16 bits
U64 = (1 << 64) - 1
COMPONENT_TYPES = ("processor", "memory", "smmu", "vendor", "gic", "pcie", "proxy")

LAYOUT = b.Layout(HEADER, (
    F("revision", 0, 4), F("component_type", 4, 1),
    F("entry_count", 8, 4, computed=True), F("entry_offset", 12, 2, computed=True),
    F("aux_offset", 14, 2, computed=True),
    F("ip_instance_format", 16, 1), F("ip_type_format", 17, 1),
    F("ip_instance", 24, 16, raw=True), F("ip_type", 40, 24, raw=True), F("user_data", 64, 16, raw=True),
), reserved=((5, 3), (18, 6)), valid=None)

ENTRY_LAYOUT = b.Layout(ENTRY, (
    F("index", 0, 4), F("ras_revision", 4, 1),
    F("err_fr", 8, 8), F("err_ctlr", 16, 8), F("err_status", 24, 8), F("err_addr", 32, 8),
    F("err_misc0", 40, 8), F("err_misc1", 48, 8), F("err_misc2", 56, 8), F("err_misc3", 64, 8),
), reserved=((5, 3),), valid=None)


@dataclass
class ErrorSyndrome:
    """One error record's registers (table 21). `reserved`: bytes 5..7 (b"" when zero)."""

    index: int = 0
    ras_revision: int = 0
    err_fr: int = 0
    err_ctlr: int = 0
    err_status: int = 0
    err_addr: int = 0
    err_misc0: int = 0
    err_misc1: int = 0
    err_misc2: int = 0
    err_misc3: int = 0
    reserved: bytes = b""

    def __post_init__(self):
        for f in ENTRY_LAYOUT.fields:
            b.check_int(f.name, getattr(self, f.name), f.maximum)
        self.reserved = b.norm_reserved(self.reserved, ENTRY_LAYOUT.reserved_len)   # JSON: hex text

    def to_bytes(self) -> bytes:
        values = {f.name: getattr(self, f.name) for f in ENTRY_LAYOUT.fields}
        return bytes(ENTRY_LAYOUT.pack(values, 0, self.reserved))

    @classmethod
    def from_bytes(cls, data: bytes) -> ErrorSyndrome:
        _bits, values, reserved = ENTRY_LAYOUT.unpack(data)
        return cls(**values, reserved=reserved)


@dataclass
class ArmRasSection(b.LayoutSection):
    """Arm RAS node error. `ip_instance`/`ip_type`/`user_data`: the raw union bytes (up to
    16/24/16, zero-padded; text user data is encoded as ASCII). `error_syndromes`: the
    error records. `auxiliary_data`: an `AuxData`, or bytes (bytes in AuxData's canonical
    layout become one), or None (no auxiliary data: offset 0). `trailing`: bytes after the records when there is no auxiliary data."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "Arm RAS node"
    LAYOUT: ClassVar[b.Layout] = LAYOUT

    revision: int = 1
    component_type: int = 0
    ip_instance_format: int = 0
    ip_type_format: int = 0
    ip_instance: bytes = b""
    ip_type: bytes = b""
    user_data: bytes = b""
    error_syndromes: list[ErrorSyndrome] = field(default_factory=list)
    auxiliary_data: AuxData | bytes | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        if isinstance(self.user_data, str):
            try:
                self.user_data = self.user_data.encode("ascii")
            except UnicodeEncodeError:
                raise UsageError("user_data", "must be ASCII text") from None
        self.error_syndromes = syndromes = [b.make_part(ErrorSyndrome, f"error_syndromes[{i}]", e)
                                            for i, e in enumerate(self.error_syndromes)]
        if len(syndromes) > MAX_ENTRIES:
            raise UsageError("error_syndromes", f"at most {MAX_ENTRIES} (the offsets are 16 bits)")
        if self.explicit_validation_bits is not None:
            raise UsageError("explicit_validation_bits", "the Arm RAS node section has no validation bits")
        aux = self.auxiliary_data
        if isinstance(aux, dict):             # the JSON form of an AuxData
            aux = b.make_part(AuxData, "auxiliary_data", aux)
        elif aux is not None and not isinstance(aux, AuxData):
            aux = b.check_bytes("auxiliary_data", aux, 0xFFFF)
            aux = AuxData.from_bytes(aux) or aux      # one model per byte string
        if isinstance(aux, AuxData) and len(aux.to_bytes()) > 0xFFFF:
            raise UsageError("auxiliary_data", "is more than 65535 bytes")
        self.auxiliary_data = aux
        self.trailing = b.check_bytes("trailing", self.trailing, 0xFFFF)
        if self.auxiliary_data is not None and self.trailing:
            raise UsageError("trailing", "with auxiliary data, the bytes after the records are the auxiliary data")
        self._check_layout()

    @property
    def validation_bits(self) -> int:
        return 0

    def _computed(self) -> dict[str, int]:
        n = len(self.error_syndromes)
        return {"entry_count": n, "entry_offset": HEADER,
                "aux_offset": 0 if self.auxiliary_data is None else HEADER + ENTRY * n}

    def aux_bytes(self) -> bytes | None:
        aux = self.auxiliary_data
        return aux.to_bytes() if isinstance(aux, AuxData) else aux

    def _tail(self) -> bytes:
        aux = self.aux_bytes()
        return b"".join(e.to_bytes() for e in self.error_syndromes) + (self.trailing if aux is None else aux)

    @classmethod
    def decode(cls, body: bytes):
        """The typed section when its offsets are the ones this model writes, else None."""
        if len(body) < HEADER:
            return None
        n = int.from_bytes(body[8:12], "little")
        entry_off = int.from_bytes(body[12:14], "little")
        aux_off = int.from_bytes(body[14:16], "little")
        end = HEADER + ENTRY * n
        if entry_off != HEADER or n > MAX_ENTRIES or end > len(body) or aux_off not in (0, end):
            return None
        _bits, kw = cls._fields_from(body)
        kw["error_syndromes"] = [ErrorSyndrome.from_bytes(body[HEADER + ENTRY * i:HEADER + ENTRY * (i + 1)])
                                 for i in range(n)]
        rest = bytes(body[end:])
        kw.update(auxiliary_data=rest, trailing=b"") if aux_off else kw.update(trailing=rest)
        try:
            return cls(**kw)
        except UsageError:
            return None


Section = ArmRasSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # no Linux decodes it


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
