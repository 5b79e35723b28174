"""libcper's JSON of the fixed-layout sections whose fields each map to one JSON member
(processor generic, PCI/PCI-X bus): a table per section, one row per member, in libcper's
order (its cper-section-*.c), and the generic error status object several sections share.

A row's field is written when its validation bit is set (or always, with no bit); reading
the JSON back, a member present sets its bit, as libcper's own JSON -> CPER does.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from .libcper_base import int_, pair, u

# The generic error status (UEFI N.2.5 table "Error Status Fields"): type in bits 15:8,
# then seven flag bits from bit 16 (libcper's names); the rest is reserved
STATUS_TYPES = {1: ("ERR_INTERNAL", "Error detected internal to the component."),
                16: ("ERR_BUS", "Error detected in the bus."),
                4: ("ERR_MEM", "Storage error in memory (DRAM)."),
                5: ("ERR_TLB", "Storage error in TLB."),
                6: ("ERR_CACHE", "Storage error in cache."),
                7: ("ERR_FUNCTION", "Error in one or more functional units."),
                8: ("ERR_SELFTEST", "Component failed self test."),
                9: ("ERR_FLOW", "Overflow or underflow of internal queue."),
                17: ("ERR_MAP", "Virtual address not found on IO-TLB or IO-PDIR."),
                18: ("ERR_IMPROPER", "Improper access error."),
                19: ("ERR_UNIMPL", "Access to a memory address which is not mapped to any component."),
                20: ("ERR_LOL", "Loss of Lockstep error."),
                21: ("ERR_RESPONSE", "Response not associated with a request."),
                22: ("ERR_PARITY", "Bus parity error (must also set the A, C, or D bits)."),
                23: ("ERR_PROTOCOL", "Detection of a protocol error."),
                24: ("ERR_ERROR", "Detection of a PATH_ERROR."),
                25: ("ERR_TIMEOUT", "Bus operation timeout."),
                26: ("ERR_POISONED", "A read was issued to data that has been poisoned.")}
STATUS_FLAGS = ("addressSignal", "controlSignal", "dataSignal", "detectedByResponder",
                "detectedByRequester", "firstError", "overflowDroppedLogs")


def status_json(v: int) -> dict:
    t = v >> 8 & 0xFF
    et: dict = {"value": t}
    if t in STATUS_TYPES:
        et["description"] = STATUS_TYPES[t][1]
    et["name"] = STATUS_TYPES[t][0] if t in STATUS_TYPES else "Unknown (Reserved)"
    return {"errorType": et, **{n: bool(v >> (16 + i) & 1) for i, n in enumerate(STATUS_FLAGS)}}


def status_value(d, where: str) -> int:
    if not isinstance(d, dict):
        raise UsageError(where, "must be an object")
    t = int_(d.get("errorType"), "value", f"{where}.errorType", 0xFF)
    return t << 8 | sum(1 << (16 + i) for i, n in enumerate(STATUS_FLAGS) if d.get(n))


def put_status(buf: bytearray, d: dict, where: str) -> int:
    """Write `d`'s errorStatus (when there) at byte 8; the validation bit it sets (bit 0)."""
    if "errorStatus" not in d:
        return 0
    buf[8:16] = status_value(d["errorStatus"], f"{where}.errorStatus").to_bytes(8, "little")
    return 1


@dataclass(frozen=True)
class J:
    """One JSON member: the field at `off` of `size` bytes, under validation `bit` (None:
    always). `enc`: int, hex (the value and a `KEYHex` string), pair (`{value, name}` from
    `names`), bits (booleans named by `names`), str (NUL-ended printable text), status
    (the generic error status), split (two bytes named by `names`), pcix (bit 56: "PCI"
    or "PCI-X")."""

    key: str
    off: int
    size: int
    bit: int | None
    enc: str = "int"
    names: tuple = ()


def _to(f: J, body: bytes):
    v = u(body, f.off, f.size)
    if f.enc == "pair":
        return pair(v, f.names[0] if isinstance(f.names[0], dict) else f.names)
    if f.enc == "bits":
        return {n: bool(v >> i & 1) for i, n in enumerate(f.names)}
    if f.enc == "status":
        return status_json(v)
    if f.enc == "split":
        return {f.names[0]: v & 0xFF, f.names[1]: v >> 8}
    if f.enc == "pcix":
        return "PCI-X" if v >> 56 & 1 else "PCI"
    if f.enc == "str":
        text = body[f.off:f.off + f.size].split(b"\0", 1)[0]
        return text.decode("ascii") if all(0x20 <= c < 0x7F for c in text) else None
    return v


def _from(f: J, value, where: str) -> bytes:
    top = (1 << 8 * f.size) - 1
    if f.enc == "pair":
        v = int_(value, "value", where, top)
    elif f.enc == "bits":
        v = sum(1 << i for i, n in enumerate(f.names) if isinstance(value, dict) and value.get(n))
    elif f.enc == "status":
        v = status_value(value, where)
    elif f.enc == "split":
        v = int_(value, f.names[0], where, 0xFF) | int_(value, f.names[1], where, 0xFF) << 8
    elif f.enc == "pcix":
        v = 0 if value == "PCI" else 1 << 56
    elif f.enc == "str":
        raw = str(value).encode("ascii", "replace")
        if len(raw) >= f.size:
            raise UsageError(where, f"is {len(raw)} characters; the field holds {f.size - 1}")
        return raw.ljust(f.size, b"\0")
    else:
        v = int_({"v": value}, "v", where, top)
    return v.to_bytes(f.size, "little")


class Flat:
    """A section of `size` bytes with a u64 validation word at 0 and these members."""

    def __init__(self, key: str, size: int, fields: tuple[J, ...]):
        self.key, self.size, self.fields = key, size, fields

    def fits(self, body: bytes) -> bool:
        return len(body) >= self.size

    def to_json(self, _i: int, body: bytes) -> dict:
        valid = u(body, 0, 8)
        out: dict = {}
        for f in self.fields:
            if f.bit is None or valid >> f.bit & 1:
                v = _to(f, body)
                if v is None:          # libcper leaves out text it cannot print
                    continue
                out[f.key] = v
                if f.enc == "hex":
                    out[f.key + "Hex"] = f"0x{v:016X}"
        return out

    def to_bytes(self, i: int, d: dict) -> bytes:
        buf = bytearray(self.size)
        valid = 0
        for f in self.fields:
            if f.key in d:
                buf[f.off:f.off + f.size] = _from(f, d[f.key], f"sections[{i}].{self.key}.{f.key}")
                valid |= 0 if f.bit is None else 1 << f.bit
        buf[0:8] = valid.to_bytes(8, "little")
        return bytes(buf)


GENERIC = Flat("GenericProcessor", 192, (   # UEFI N.2.4.1
    J("processorType", 8, 1, 0, "pair", ("IA32/X64", "IA64", "ARM")),
    J("processorISA", 9, 1, 1, "pair", ("IA32", "IA64", "X64", "ARM A32/T32", "ARM A64")),
    J("errorType", 10, 1, 2, "pair", ({0: "Unknown", 1: "Cache Error", 2: "TLB Error", 4: "Bus Error",
                                       8: "Micro-Architectural Error"},)),
    J("operation", 11, 1, 3, "pair", ("Unknown or Generic", "Data Read", "Data Write",
                                      "Instruction Execution")),
    J("flags", 12, 1, 4, "bits", ("restartable", "preciseIP", "overflow", "corrected")),
    J("level", 13, 1, 5),
    J("cpuVersionInfo", 16, 8, 6),
    J("cpuBrandString", 24, 128, 7, "str"),
    J("processorID", 152, 8, 8),
    J("targetAddress", 160, 8, 9),
    J("requestorID", 168, 8, 10),
    J("responderID", 176, 8, 11),
    J("instructionIP", 184, 8, 12),
))

PCI_BUS = Flat("PciBus", 72, (   # UEFI N.2.8
    J("errorStatus", 8, 8, 0, "status"),
    J("errorType", 16, 2, 1, "pair", ("Unknown/OEM Specific Error", "Data Parity Error", "System Error",
                                      "Master Abort", "Bus Timeout/No Device Present (No DEVSEL#)",
                                      "Master Data Parity Error", "Address Parity Error",
                                      "Command Parity Error")),
    J("busID", 18, 2, 2, "split", ("busNumber", "segmentNumber")),
    J("busAddress", 24, 8, 3),
    J("busData", 32, 8, 4),
    J("busCommandType", 40, 8, 5, "pcix"),
    J("busRequestorID", 48, 8, 6, "hex"),
    J("busCompleterID", 56, 8, 7, "hex"),
    J("targetID", 64, 8, 8),
))
