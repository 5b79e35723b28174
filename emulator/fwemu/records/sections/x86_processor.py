"""IA32/X64 Processor Error Section (UEFI 2.10 N.2.4.2), GUID DC3EA0B0-A144-4797-B95B-53FA242B6E1D.

Layout (edk2 `EFI_IA32_X64_PROCESSOR_ERROR_RECORD`, `EFI_IA32_X64_PROCESS_ERROR_INFO`,
`EFI_IA32_X64_PROCESSOR_CONTEXT_INFO`; Linux include/linux/cper.h `cper_sec_proc_ia`):

| off | size | field |
|---|---|---|
| 0 | 8 | validation bits: 0 local APIC id, 1 CPUID info, 7:2 number of error-information structures, 13:8 number of context-information structures |
| 8 | 8 | local APIC id (bit 0) |
| 16 | 48 | CPUID info (bit 1) |
| 64 | 64 each | error information: type GUID (cache/TLB/bus/MS check), u64 validation bits (0 check info, 1 target id, 2 requestor id, 3 responder id, 4 instruction pointer), u64 check info, target id, requestor id, responder id, instruction pointer |
| ... | 16 + N each | context information: u16 register context type, u16 register array size N, u32 MSR address, u64 MM register address, N bytes of registers |

Linux decodes it in drivers/firmware/efi/cper-x86.c, which is built only with
CONFIG_UEFI_CPER_X86 (`depends on UEFI_CPER && X86`), and cper.c's branch for it is under
`#if defined(CONFIG_UEFI_CPER_X86)`: an arm64 kernel (every profile fwemu models) prints it
as `section type: unknown, <guid>` and a hex dump (Debian's arm64 6.1.192 image has none of
cper-x86.c's strings). ghes_do_proc() treats it as a non-standard section.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

from ...errors import UsageError
from .. import model as m
from ..kernel_profile import KernelProfile
from . import _base as b

GUID = uuid.UUID("DC3EA0B0-A144-4797-B95B-53FA242B6E1D")
KIND = "x86-proc"
HEADER = 64
INFO = 64
CTX_HEADER = 16
_HEADER = struct.Struct("<QQ48s")       # validation bits, APIC id, CPUID info
_INFO = struct.Struct("<16s6Q")         # check type GUID, validation bits, 5 fields
_CTX = struct.Struct("<HHIQ")           # register type, array size, MSR, MM address
U64 = (1 << 64) - 1

CHECK_TYPES = {   # error information structure types (UEFI N.2.4.2.1)
    "cache": uuid.UUID("A55701F5-E3EF-43DE-AC72-249B573FAD2C"),
    "tlb": uuid.UUID("FC06B535-5E1F-4562-9F25-0A3B9ADB63C3"),
    "bus": uuid.UUID("1CF3F8B3-C5B1-49A2-AA59-5EEF92FFA63C"),
    "ms": uuid.UUID("48AB7F57-DC34-4F6C-A7D3-B0B5B0A74314"),
}
INFO_FIELDS = (("check_info", 0), ("target_id", 1), ("requestor_id", 2), ("responder_id", 3),
               ("ip", 4))


@dataclass
class X86ErrorInfo:
    """One 64-byte error information structure."""

    type: uuid.UUID = CHECK_TYPES["cache"]
    check_info: int | None = None
    target_id: int | None = None
    requestor_id: int | None = None
    responder_id: int | None = None
    ip: int | None = None
    explicit_validation_bits: int | None = None

    def __post_init__(self):
        if not isinstance(self.type, uuid.UUID):
            self.type = CHECK_TYPES.get(str(self.type)) or m.parse_guid("error_info.type", self.type)
        for name, _bit in INFO_FIELDS:
            if getattr(self, name) is not None:
                b.check_int(f"error_info.{name}", getattr(self, name), U64)
        if self.explicit_validation_bits is not None:
            b.check_int("error_info.explicit_validation_bits", self.explicit_validation_bits, U64)

    @property
    def validation_bits(self) -> int:
        if self.explicit_validation_bits is not None:
            return self.explicit_validation_bits
        return sum(1 << bit for name, bit in INFO_FIELDS if getattr(self, name) is not None)

    def encode(self) -> bytes:
        return _INFO.pack(self.type.bytes_le, self.validation_bits, self.check_info or 0,
                          self.target_id or 0, self.requestor_id or 0, self.responder_id or 0,
                          self.ip or 0)

    @classmethod
    def decode(cls, raw: bytes) -> X86ErrorInfo:
        words = [int.from_bytes(raw[16 + 8 * i:24 + 8 * i], "little") for i in range(6)]
        valid = words[0]
        kw = {name: (words[1 + i] if valid >> bit & 1 or words[1 + i] else None)
              for i, (name, bit) in enumerate(INFO_FIELDS)}
        info = cls(type=uuid.UUID(bytes_le=bytes(raw[:16])), **kw)
        if info.validation_bits != valid:
            info.explicit_validation_bits = valid
        return info


@dataclass
class X86Context:
    """One context information structure: `registers` are the register array's bytes (the
    array size field is their length)."""

    register_type: int = 0
    registers: bytes = b""
    msr_address: int = 0
    mm_register_address: int = 0

    def __post_init__(self):
        b.check_int("context.register_type", self.register_type, 0xFFFF)
        b.check_int("context.msr_address", self.msr_address, 0xFFFF_FFFF)
        b.check_int("context.mm_register_address", self.mm_register_address, U64)
        self.registers = b.check_bytes("context.registers", self.registers, 0xFFFF)

    def encode(self) -> bytes:
        return _CTX.pack(self.register_type, len(self.registers), self.msr_address,
                         self.mm_register_address) + self.registers


@dataclass
class X86ProcessorSection(m.Section):
    """IA32/X64 processor error. The validation bits carry the two structure counts:
    derived from `error_info` and `context` (at most 63 each) unless
    `explicit_validation_bits` is given. `trailing`: bytes after the last context."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "IA32/X64 Processor Error"

    apic_id: int | None = None
    cpuid_info: bytes | None = None
    error_info: list[X86ErrorInfo] = field(default_factory=lambda: [X86ErrorInfo()])
    context: list[X86Context] = field(default_factory=list)
    trailing: bytes = b""
    explicit_validation_bits: int | None = None

    def __post_init__(self):
        if self.apic_id is not None:
            b.check_int("apic_id", self.apic_id, U64)
        if self.cpuid_info is not None:
            self.cpuid_info = b.check_bytes("cpuid_info", self.cpuid_info, 48).ljust(48, b"\0")
        self.error_info = [e if isinstance(e, X86ErrorInfo) else X86ErrorInfo(**e) for e in self.error_info]
        self.context = [c if isinstance(c, X86Context) else
                        X86Context(**{**c, "registers": b.check_bytes("context.registers",
                                                                      c.get("registers", b""), 0xFFFF)})
                        for c in self.context]
        if len(self.error_info) > 63 or len(self.context) > 63:
            raise UsageError("error_info", "at most 63 error and 63 context structures (6-bit counts)")
        self.trailing = b.check_bytes("trailing", self.trailing, 0xFFFF)
        if self.explicit_validation_bits is not None:
            b.check_int("explicit_validation_bits", self.explicit_validation_bits, U64)

    def derived_validation_bits(self) -> int:
        return ((self.apic_id is not None) | (self.cpuid_info is not None) << 1
                | len(self.error_info) << 2 | len(self.context) << 8)

    def encode(self) -> bytes:
        return b"".join([_HEADER.pack(self.validation_bits, self.apic_id or 0, self.cpuid_info or b""),
                         *[e.encode() for e in self.error_info], *[c.encode() for c in self.context],
                         self.trailing])

    @classmethod
    def decode(cls, body: bytes):
        if len(body) < HEADER:
            return None
        valid = int.from_bytes(body[0:8], "little")
        n_info, n_ctx = valid >> 2 & 0x3F, valid >> 8 & 0x3F
        off = HEADER
        if off + INFO * n_info > len(body):
            return None
        infos = [X86ErrorInfo.decode(body[off + INFO * i:off + INFO * (i + 1)]) for i in range(n_info)]
        off += INFO * n_info
        ctxs = []
        for _ in range(n_ctx):
            if off + CTX_HEADER > len(body):
                return None
            size = int.from_bytes(body[off + 2:off + 4], "little")
            if off + CTX_HEADER + size > len(body):
                return None
            ctxs.append(X86Context(register_type=int.from_bytes(body[off:off + 2], "little"),
                                   msr_address=int.from_bytes(body[off + 4:off + 8], "little"),
                                   mm_register_address=int.from_bytes(body[off + 8:off + 16], "little"),
                                   registers=bytes(body[off + 16:off + 16 + size])))
            off += CTX_HEADER + size
        apic = int.from_bytes(body[8:16], "little")
        cpuid = bytes(body[16:64])
        sec = cls(apic_id=apic if valid & 1 or apic else None,
                  cpuid_info=cpuid if valid & 2 or any(cpuid) else None,
                  error_info=infos, context=ctxs, trailing=bytes(body[off:]))
        if sec.validation_bits != valid:
            sec.explicit_validation_bits = valid
        return sec

    @classmethod
    def from_json(cls, d: dict):
        d = dict(d)
        known = {"apic_id", "cpuid_info", "error_info", "context", "trailing", "explicit_validation_bits"}
        unknown = set(d) - known
        if unknown:
            raise UsageError(f"section.{sorted(unknown)[0]}", f"not a field of a {KIND} section")
        for k in ("cpuid_info", "trailing"):
            if isinstance(d.get(k), str):
                d[k] = b.check_bytes(k, d[k], 0xFFFF)
        if "error_info" in d:
            d["error_info"] = [X86ErrorInfo(**e) if isinstance(e, dict) else e for e in d["error_info"]]
        return cls(**d)


Section = X86ProcessorSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # cper-x86.c is not built into an arm64 kernel


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
