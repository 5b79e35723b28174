"""The auxiliary data of the Arm RAS node section (Arm DEN0085 tables 22-26, as OpenBMC
libcper's EFI_ARM_RAS_AUX_* structures lay them out), typed.

Offsets are from the start of the auxiliary data:

| off | size | field (header, table 22) |
|---|---|---|
| 0 | 1 | version (1) |
| 1 | 1 | reserved |
| 2 | 2 | address space context count (N) |
| 4 | 4 | auxiliary data size (the whole block, this header included) |
| 8 | 4 | key-value pair array offset |
| 12 | 2 | key-value pair count (K) |
| 14 | 2 | reserved |

Then N address space contexts, back to back (table 23: u32 length = 16 + 16 R; u8 flags,
bit 0: 0 system physical address space, 1 local; u8 reserved; u16 register count R; u16
address space identifier (local contexts); 6 reserved; then R memory-mapped register entries
of u64 address, u64 value), then K key-value pairs (u8[16] key UUID as on the wire, u64
value; the MPAM PARTID key EBB45182-FB03-4BF9-9ACA-8613709FD789 carries a PARTID).

`AuxData` writes that canonical layout (pairs right after the contexts, the size exactly the
block's). `from_bytes` gives it back only for bytes it re-encodes exactly; anything else
(other offsets, padding, reserved bits) stays bytes in the section.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from ...errors import UsageError
from . import _base as b

MPAM_PARTID = uuid.UUID("EBB45182-FB03-4BF9-9ACA-8613709FD789")
HEADER = struct.Struct("<BBHIIHH")
CONTEXT = struct.Struct("<IBBHH6x")
REGISTER = struct.Struct("<QQ")
PAIR = struct.Struct("<16sQ")
U64 = (1 << 64) - 1


@dataclass
class AuxContext:
    """One address space context: `local` (flags bit 0), its identifier, the registers."""

    local: bool = False
    address_space_id: int = 0
    registers: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self):
        b.check_int("address_space_id", self.address_space_id, 0xFFFF)
        self.registers = b.check_registers("registers", self.registers)
        self.local = bool(self.local)


@dataclass
class AuxPair:
    """One key-value pair: the key UUID and its u64 value."""

    key: uuid.UUID
    value: int = 0

    def __post_init__(self):
        if not isinstance(self.key, uuid.UUID):
            try:
                self.key = uuid.UUID(str(self.key))
            except ValueError:
                raise UsageError("pairs.key", f"{self.key!r} is not a UUID") from None
        b.check_int("pairs.value", self.value, U64)


@dataclass
class AuxData:
    """Address space contexts and key-value pairs."""

    contexts: list[AuxContext] = field(default_factory=list)
    pairs: list[AuxPair] = field(default_factory=list)
    version: int = 1

    def __post_init__(self):
        self.contexts = [b.make_part(AuxContext, f"contexts[{i}]", c) for i, c in enumerate(self.contexts)]
        self.pairs = [b.make_part(AuxPair, f"pairs[{i}]", p) for i, p in enumerate(self.pairs)]
        b.check_int("version", self.version, 0xFF)
        if len(self.contexts) > 0xFFFF or len(self.pairs) > 0xFFFF:
            raise UsageError("auxiliary_data", "at most 65535 contexts and 65535 pairs")

    def to_bytes(self) -> bytes:
        body = b""
        for c in self.contexts:
            body += CONTEXT.pack(CONTEXT.size + REGISTER.size * len(c.registers), int(c.local), 0,
                                 len(c.registers), c.address_space_id)
            body += b"".join(REGISTER.pack(a, v) for a, v in c.registers)
        kv_off = HEADER.size + len(body)
        body += b"".join(PAIR.pack(p.key.bytes_le, p.value) for p in self.pairs)
        return HEADER.pack(self.version, 0, len(self.contexts), HEADER.size + len(body), kv_off,
                           len(self.pairs), 0) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> AuxData | None:
        """The typed block when `data` is exactly its canonical encoding, else None."""
        if len(data) < HEADER.size:
            return None
        version, _r0, n, _size, _kv_off, k, _r1 = HEADER.unpack_from(data)
        pos, contexts = HEADER.size, []
        for _ in range(n):
            if pos + CONTEXT.size > len(data):
                return None
            _length, flags, _r, r, asid = CONTEXT.unpack_from(data, pos)
            pos += CONTEXT.size
            if pos + REGISTER.size * r > len(data):
                return None
            regs = [REGISTER.unpack_from(data, pos + REGISTER.size * i) for i in range(r)]
            pos += REGISTER.size * r
            contexts.append(AuxContext(local=bool(flags & 1), address_space_id=asid, registers=regs))
        if pos + PAIR.size * k != len(data):
            return None
        pairs = [PAIR.unpack_from(data, pos + PAIR.size * i) for i in range(k)]
        aux = cls(contexts, [AuxPair(uuid.UUID(bytes_le=key), v) for key, v in pairs], version)
        return aux if aux.to_bytes() == bytes(data) else None
