"""CPER records in GHES status blocks: the typed model, encode/decode/check via the C core.

    from fwemu import records
    blk = records.StatusBlock([records.Entry(records.MemorySection(physical_address=0x60000000))])
    raw = records.encode(blk)            # bytes (the C core's: records.encode_c)
    assert records.decode(raw) == blk    # back through the C decoder
    records.check(raw).valid             # the Linux kernel's verdict
"""

from .batch import Packer
from .codec import Verdict, check, decode, encode, encode_c, encode_many
from .model import Entry, RawSection, Section, Severity, StatusBlock, Timestamp, block_from_json
from .sections import (
    ArmContext, ArmErrorInfo, ArmSection, FirmwareRefSection, MemorySection, PcieSection,
    ProcessorGenericSection,
)

__all__ = [
    "ArmContext", "ArmErrorInfo", "ArmSection", "Entry", "FirmwareRefSection", "MemorySection",
    "Packer", "PcieSection", "ProcessorGenericSection", "RawSection", "Section", "Severity", "StatusBlock",
    "Timestamp", "Verdict", "block_from_json", "check", "decode", "encode", "encode_c", "encode_many",
]
