"""Scenarios: named error kinds (memory-ue, pcie-ce, …) → a status block, from field options.

One table (OPTIONS: scenario_options.py's for the older section kinds, this module's for
the newer ones) says which command-line field options exist, how each is parsed and
which scenarios it applies to; `record build` and `inject` both register it, so the two
commands can never disagree on a field. An option given for a scenario it does not apply
to is a usage error (exit 2), never silently ignored.
"""

from __future__ import annotations

import argparse
import os
from bisect import bisect_right
from collections.abc import Callable, Sequence
import time
from typing import Any, Final, NamedTuple
import uuid

from . import uniq
from ._corelib import CData, ffi, lib
from .board import SCENARIO_MIN_BLOCK_LENGTH
from .errors import CoreError, UsageError
from .request import field_flag
from .records import codec
from .records import model as m
from .records import sections as sec
from . import scenario_options as so
# the kinds and parsers, used here and re-exported (other modules read them from here)
from .scenario_options import (
    ADDRESS as ADDRESS, ALL as ALL, ARM as ARM, ARM_FIELDS as ARM_FIELDS, CXL as CXL,
    CXL_EVENTS as CXL_EVENTS, DEFAULT_ADDRESS as DEFAULT_ADDRESS, DEVICE_ID as DEVICE_ID,
    MAX_FIELD_FILE as MAX_FIELD_FILE, MEM_FIELDS as MEM_FIELDS, MEMORY as MEMORY, NEWER as NEWER,
    NO_RAW as NO_RAW, PCIE as PCIE, SCENARIOS as SCENARIOS, U8 as U8, U16 as U16, U24 as U24,
    U32 as U32, Option as Option, _bytes_upto as _bytes_upto, _guid as _guid,
    _per_kind as _per_kind, parse_bdf as parse_bdf, parse_bytes as parse_bytes,
    parse_flags as parse_flags, parse_int as parse_int, parse_timestamp as parse_timestamp,
    read_limited as read_limited,
)


assert set(SCENARIOS) == set(SCENARIO_MIN_BLOCK_LENGTH), "board_model.py and scenario_options.py disagree"

# A scenario's parsed field options by dest: each value is what its Option's parser gives
# (an int, bytes, a BDF tuple, a Timestamp, a GUID, ...), so its type follows the key,
# which mypy cannot track through the option table.
FieldValues = dict[str, Any]


def parse_agent_type(name: str, text: str) -> int:
    key = text.strip().lower()
    if key in sec.cxl_protocol.AGENT_NAMES:
        return sec.cxl_protocol.AGENT_NAMES[key]
    try:
        return parse_int(name, key, U8)
    except UsageError:
        raise UsageError(name, f"unknown agent type {text!r} ({', '.join(sec.cxl_protocol.AGENT_NAMES)}, "
                         "or a number)") from None


def parse_regs(name: str, text: str) -> list[tuple[int, int]]:
    """ADDR=VALUE[,ADDR=VALUE...] register data pairs."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in part:
            raise UsageError(name, f"{part!r} is not ADDR=VALUE")
        a, val = part.split("=", 1)
        pairs.append((parse_int(name, a, 0xFFFF_FFFF_FFFF_FFFF), parse_int(name, val, 0xFFFF_FFFF_FFFF_FFFF)))
    return pairs


def parse_check_type(name: str, text: str) -> uuid.UUID:
    key = text.strip().lower()
    if key in sec.x86_processor.CHECK_TYPES:
        return sec.x86_processor.CHECK_TYPES[key]
    try:
        return m.parse_guid(name, text)
    except UsageError:
        raise UsageError(name, f"{text!r}: one of {', '.join(sec.x86_processor.CHECK_TYPES)} or a GUID") from None


def _ascii16(what: str) -> Callable[[str, str], bytes]:
    """A parser of ASCII text of at most 16 bytes (the NVIDIA signature, the Arm RAS user data)."""
    def parse(name: str, text: str) -> bytes:
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            raise UsageError(name, "must be ASCII text") from None
        if len(raw) > 16:
            raise UsageError(name, f"is {len(raw)} characters; the {what} holds 16")
        return raw
    return parse


_signature, _user_data = _ascii16("signature"), _ascii16("user data")


def parse_component_type(name: str, text: str) -> int:
    key = text.strip().lower()
    if key in sec.arm_ras.COMPONENT_TYPES:
        return sec.arm_ras.COMPONENT_TYPES.index(key)
    try:
        return parse_int(name, key, U8)
    except UsageError:
        raise UsageError(name, f"unknown component type {text!r} ({', '.join(sec.arm_ras.COMPONENT_TYPES)}, "
                         "or a number)") from None


OPTIONS = so.BASE_OPTIONS + (
    # CXL protocol error
    Option("--agent-type", ("cxl-protocol",), "CXL agent: rcd, rch-dp, device (default), ld, fmld, "
           "rp, dsp, usp, or a number", parse_agent_type),
    Option("--rcrb", ("cxl-protocol",), "RCRB base address (the agent address of an rch-dp agent)"),
    Option("--ras-uncor-status", ("cxl-protocol",), "CXL RAS uncorrectable error status "
           "(default 0x80, Mem_Data_ECC; 0 when --severity is corrected)", maximum=U32),
    Option("--ras-cor-status", ("cxl-protocol",), "CXL RAS correctable error status "
           "(default 0x2, Mem_Data_ECC, when --severity is corrected)", maximum=U32),
    Option("--header-log", ("cxl-protocol",), "CXL RAS header log (up to 64 bytes): hex or @FILE",
           parse_bytes),
    Option("--dvsec", ("cxl-protocol",), "CXL DVSEC bytes: hex or @FILE", parse_bytes),
    Option("--capability", PCIE + ("cxl-protocol",), "PCIe capability structure (up to 60 bytes): "
           "hex or @FILE", lambda n, t: _bytes_upto(n, t, 60)),
    # CXL component events
    Option("--dpa", CXL_EVENTS[:2], "device physical address of the event (default 0x1000)"),
    Option("--event-type", CXL_EVENTS, "memory event type (general media: 0 ECC error, 1 invalid "
           "address, 2 data path error; DRAM: 0 media ECC, 1 scrub media ECC, 2 invalid address, "
           "3 data path error) / device event type (memory module: 0 health status change, ...)",
           maximum=U8),
    Option("--descriptor", CXL_EVENTS[:2], "memory event descriptor (bit 0 uncorrectable, 1 threshold, "
           "2 poison list overflow)", maximum=U8),
    Option("--transaction-type", CXL_EVENTS[:2], "transaction type (1 host read, 2 host write, "
           "3 host scan media, 4 host inject poison, 5 internal media scrub, ...)", maximum=U8),
    Option("--channel", CXL_EVENTS[:2], "memory channel", maximum=U8),
    Option("--nibble-mask", ("cxl-dram",), "nibble mask (24 bits)", maximum=U24),
    Option("--component-id", CXL_EVENTS, "component id (up to 16 bytes): hex or @FILE", parse_bytes),
    Option("--validity-flags", CXL_EVENTS, "the event's validity flags (default: those of the "
           "fields the scenario fills)", maximum=U16),
    Option("--record-flags", CXL_EVENTS, "event record flags (bits 1:0 severity: 0 info, 1 warning, "
           "2 failure, 3 fatal; 2 permanent, 3 maintenance needed, ...)", maximum=U24),
    Option("--handle", CXL_EVENTS, "event record handle", maximum=U16),
    Option("--event-timestamp", CXL_EVENTS, "the event record's timestamp (ns)"),
    Option("--health-status", ("cxl-memory-module",), "health status", maximum=U8),
    Option("--media-status", ("cxl-memory-module",), "media status", maximum=U8),
    Option("--life-used", ("cxl-memory-module",), "life used (percent)", maximum=U8),
    Option("--temperature", ("cxl-memory-module",), "device temperature (u16, two's complement degC)",
           maximum=U16),
    Option("--dirty-shutdowns", ("cxl-memory-module",), "dirty shutdown count", maximum=U32),
    # PCI/PCI-X bus and device
    Option("--bus", ("pci-bus",), "bus number (default 1)", maximum=U8),
    Option("--segment", ("pci-bus",), "segment number (default 0)", maximum=U8),
    Option("--bus-data", ("pci-bus",), "bus data"),
    Option("--bus-command", ("pci-bus",), "bus command (bit 56: PCI-X; default 0x6, memory read)"),
    Option("--class-code", PCIE + ("pci-device",), "class code (24 bits, default 0x020000)", maximum=U24),
    Option("--mem-regs", ("pci-device",), "memory-mapped register pairs ADDR=VALUE[,ADDR=VALUE...]",
           parse_regs),
    Option("--io-regs", ("pci-device",), "IO register pairs ADDR=VALUE[,ADDR=VALUE...]", parse_regs),
    # IA32/X64 processor
    Option("--apic-id", ("x86-proc",), "local APIC id (default 0)"),
    Option("--cpuid", ("x86-proc",), "CPUID info (up to 48 bytes): hex or @FILE", parse_bytes),
    Option("--check-type", ("x86-proc",), "error information type: cache (default), tlb, bus, ms "
           "or a GUID", parse_check_type),
    Option("--check-info", ("x86-proc",), "check information (default: a data-read L1 cache check, "
           "uncorrected unless --severity corrected)"),
    Option("--ip", ("x86-proc", "generic-cpu"), "instruction pointer"),
    # NVIDIA
    Option("--signature", ("nvidia",), "error signature (ASCII, up to 16 characters; default "
           "PCIe-DPC)", _signature),
    Option("--socket", ("nvidia",), "socket (default 0)", maximum=U8),
    Option("--regs", ("nvidia",), "register pairs ADDR=VALUE[,ADDR=VALUE...]", parse_regs),
    # Arm RAS node
    Option("--node-revision", ("arm-ras",), "the node header's revision (default 1)", maximum=U32),
    Option("--component-type", ("arm-ras",), "node type: processor (default), memory, smmu, vendor, "
           "gic, pcie, proxy, or a number", parse_component_type),
    Option("--ip-instance-format", ("arm-ras",), "IP instance format (0 PE MPIDR, default; 1 system "
           "physical address; 2 local address; 3 SoC-specific)", maximum=U8),
    Option("--ip-instance", ("arm-ras",), "IP instance bytes (up to 16; default: the MPIDR): hex or @FILE",
           parse_bytes),
    Option("--ip-type-format", ("arm-ras",), "IP type format (0 PE MIDR/REVIDR/AIDR, default; 1 SMMU "
           "IIDR; 2 GIC IIDR; 3 PIDR)", maximum=U8),
    Option("--ip-type", ("arm-ras",), "IP type bytes (up to 24; default: the MIDR): hex or @FILE",
           parse_bytes),
    Option("--user-data", ("arm-ras",), "user data (ASCII, up to 16 characters)", _user_data),
    Option("--record-index", ("arm-ras",), "error record index (default 0)", maximum=U32),
    Option("--ras-revision", ("arm-ras",), "RAS extension revision byte (REVISION:ARCHVER; default "
           "0x10)", maximum=U8),
    *(Option(f"--err-{r}", ("arm-ras",), f"ERR<n>{r.upper()}" + note) for r, note in (
        ("fr", " (default 0x1: ED)"), ("ctlr", " (default 0x1: ED)"),
        ("status", " (default AV|V|UE|UET=UER 0xe0300000; AV|V|CE 0xc2000000 when corrected)"),
        ("misc0", ""), ("misc1", ""), ("misc2", ""), ("misc3", ""))),
    Option("--aux-data", ("arm-ras",), "auxiliary data bytes (tables 22-26): hex or @FILE", parse_bytes),
    Option("--mpam-partid", ("arm-ras",), "auxiliary data of one key-value pair: the MPAM PARTID",
           maximum=U16),
) + so.SECTION_OPTIONS + (
    # raw / vendor section
    Option("--guid", ("raw",), "section type GUID of the raw section", _guid),
    Option("--data", ("raw",), "section body: hex or @FILE", parse_bytes),
)
BY_FLAG = {o.flag: o for o in OPTIONS}


_BYTE_OPTIONS = frozenset(o.flag for o in OPTIONS if o.parse is parse_bytes or o.flag in ("--capability", "--aer-info"))


def inline_files(key: str, text: str) -> str:
    """A field's text with its @FILE values read into hex, for a daemon, whose working
    directory is not ours."""
    flag = field_flag(key)
    if flag in _BYTE_OPTIONS and text.startswith("@"):
        return parse_bytes(flag, text).hex()
    if flag in ("--arm-context",):
        return so.inline_files(text)
    return text


def add_field_options(parser: argparse.ArgumentParser) -> None:
    """Registers every field option as a string; `build()` parses it for the scenario."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for opt in OPTIONS:
        title = FIELD_GROUPS[_group_of(opt)]
        group = groups.get(title) or groups.setdefault(title, parser.add_argument_group(title))
        kinds = "" if opt.kinds in (ALL, MEMORY, ARM, PCIE, ("raw",), MEM_FIELDS, ARM_FIELDS, ("generic-cpu",),
                                    ("firmware-ref",)) else \
            (" [all but raw]" if opt.kinds == NO_RAW else f" [{', '.join(opt.kinds)}]")
        group.add_argument(opt.flag, dest=f"f_{opt.dest}", metavar="V", default=None,
                           action="append" if opt.repeat else "store", help=f"{opt.help}{kinds}")


FIELD_GROUPS = {"common": "record fields, every scenario (raw: the block header and entry only)",
                "memory": f"memory error section ({', '.join(MEMORY)}) and section 2 (memory2)",
                "arm": f"ARM processor error section ({', '.join(ARM)}; --mpidr/--midr: arm-ras)",
                "pcie": f"PCIe error section ({', '.join(PCIE)})",
                "cpu": "processor generic error section (generic-cpu)",
                "fwref": "firmware error record reference section (firmware-ref)",
                "newer": f"CXL, PCI/PCI-X, IA32/X64, NVIDIA, memory 2, Arm RAS sections ({', '.join(NEWER)})",
                "raw": "vendor section (raw --guid G --data HEX)"}


def _group_of(opt: Option) -> str:
    if opt.kinds in (ALL, NO_RAW, ADDRESS) or opt.flag == "--validation-bits":
        return "common"
    if opt.kinds[0] in MEMORY:
        return "memory"
    if opt.kinds[0] in PCIE:
        return "pcie"
    if opt.kinds == ARM_FIELDS:
        return "arm"
    return {ARM: "arm", ("raw",): "raw", ("generic-cpu",): "cpu",
            ("firmware-ref",): "fwref"}.get(opt.kinds, "newer")


def fields_from_args(args: argparse.Namespace) -> dict[str, str]:
    fields = {}
    for opt in OPTIONS:
        value = getattr(args, f"f_{opt.dest}", None)
        if value is None:
            continue
        if opt.repeat:      # one text, so journals, daemons and campaigns carry it as any field
            value = so.ENTRY_SEP.join(v if isinstance(v, str) else " ".join(map(str, v)) for v in value)
        elif not isinstance(value, str):      # argparse gives `--flag=--` as a list without the '--'
            value = " ".join(map(str, value))
        fields[opt.dest] = value      # keyed by field name (request.field_key), as below the CLI
    return fields


def build(kind: str, fields: dict[str, str] | None = None, *, mpidr: int | None = None,
          sequence: int = 0) -> m.StatusBlock:
    """The status block for scenario `kind` with textual field values applied, keyed by
    field name (`address`) or option (`--address`); errors name the option.

    mpidr: the target PE's MPIDR (ARM scenarios); sequence: the timestamp's uniqueness
    counter (see Timestamp)."""
    if kind not in SCENARIOS:
        raise UsageError("scenario", f"unknown scenario {kind!r} (one of: {', '.join(SCENARIOS)})")
    fields = fields or {}
    v: FieldValues = {}
    for key, text in fields.items():
        flag = field_flag(key)
        opt = BY_FLAG.get(flag)
        if opt is None:
            raise UsageError(flag, "unknown field option")
        if kind not in opt.kinds:
            raise UsageError(flag, f"does not apply to {kind} (applies to: {', '.join(opt.kinds)})")
        v[opt.dest] = opt.convert(text, kind)
    if kind in MEM_FIELDS and "bank" in v and ("bank_group" in v or "bank_address" in v):
        raise UsageError("--bank", "conflicts with --bank-group/--bank-address (they share one field)")

    default_sev = {"memory-ue": 0, "memory-ce": 2, "memory-fatal": 1, "arm-cache-ue": 0,
                   "arm-tlb": 2, "pcie-ue": 0, "pcie-ce": 2, "generic-cpu": 2, "firmware-ref": 3, "raw": 0,
                   "cxl-protocol": 0, "cxl-general-media": 0, "cxl-dram": 2, "cxl-memory-module": 3,
                   "pci-bus": 0, "pci-device": 0, "x86-proc": 0, "nvidia": 0, "memory2": 0,
                   "arm-ras": 0}[kind]
    severity: int = v.get("severity", default_sev)
    section = _section(kind, v, int(severity), mpidr)
    revision = v.get("entry_revision", 0x0300)
    ts = v.get("timestamp", "now" if revision >= 0x0300 else None)
    if ts is not None and revision < 0x0300:
        raise UsageError("--entry-revision", f"{revision:#06x} is the 64-byte entry header, which has no "
                         "timestamp: give --timestamp none (or leave it out)")
    if ts == "now":
        ts = m.Timestamp.now(sequence)
    elif isinstance(ts, m.Timestamp) and sequence:
        ts = m.Timestamp(**{**ts.__dict__, "sequence": sequence})
    entry = m.Entry(section=section, severity=v.get("section_severity", severity),
                    flags=v.get("flags", m.FLAG_PRIMARY), fru_id=v.get("fru_id"),
                    fru_text=v.get("fru_text"), timestamp=ts, revision=revision,
                    error_data_length=v.get("error_data_length"))
    return m.StatusBlock(entries=[entry], severity=severity, raw_data=v.get("raw_data", b""),
                         data_length=v.get("data_length"), raw_data_offset=v.get("raw_data_offset"),
                         block_status=v.get("block_status"))


def _section(kind: str, v: FieldValues, severity: int, mpidr: int | None) -> m.Section:
    addr = v.get("address", DEFAULT_ADDRESS)
    if kind in NEWER:
        return _newer_section(kind, v, severity, addr, mpidr)
    valid = v.get("validation_bits")
    if kind in MEMORY:
        names = ("pa_mask", "error_status", "node", "card", "module", "bank", "device", "column",
                 "bit_position", "rank", "card_handle", "module_handle", "row", "bank_group",
                 "bank_address", "chip_id", "requestor_id", "responder_id", "target_id")
        extra = {("physical_address_mask" if n == "pa_mask" else n): v[n] for n in names if n in v}
        default_type = {"memory-ue": 3, "memory-ce": 2, "memory-fatal": 3}[kind]
        return sec.MemorySection(physical_address=addr, error_type=v.get("error_type", default_type),
                                 explicit_validation_bits=valid, reserved=v.get("section_reserved", 0), **extra)
    if kind in ARM:
        return _arm_section(kind, v, severity, mpidr, addr, valid)
    if kind in PCIE:
        return _pcie_section(kind, v, valid)
    if kind == "generic-cpu":
        corrected = severity == m.Severity.CORRECTED
        return sec.ProcessorGenericSection(
            proc_type=v.get("proc_type", 2), proc_isa=v.get("proc_isa", 4),
            proc_error_type=v.get("proc_error_type", 0x01), operation=v.get("operation", 1),
            flags=v.get("proc_flags", 0x08 if corrected else 0x01), level=v.get("level", 1),
            cpu_version=v.get("cpu_version"), cpu_brand=v.get("cpu_brand"), target_addr=addr,
            requestor_id=v.get("requestor_id"), responder_id=v.get("responder_id"), ip=v.get("ip"),
            # MPIDR_EL1 as the PE reads it (bit 31 is RES1), as the ARM section's mpidr: the
            # same with or without a PE
            proc_id=v.get("proc_id", (0 if mpidr is None else mpidr) | 0x80000000),
            explicit_validation_bits=valid, reserved=v.get("section_reserved", 0))
    if kind == "firmware-ref":
        return sec.FirmwareRefSection(record_type=v.get("ref_type", 2), revision=v.get("ref_revision", 2),
                                      record_identifier=v.get("ref_id", 0),
                                      record_identifier_guid=v.get("ref_guid", uuid.UUID(int=0)),
                                      trailing=v.get("ref_trailing", b""),
                                      reserved=v.get("section_reserved", 0))
    if "guid" not in v:
        raise UsageError("--guid", "the raw scenario needs the section type GUID")
    return m.RawSection(guid=v["guid"], data=v.get("data", b""))


def _arm_section(kind: str, v: FieldValues, severity: int, mpidr: int | None, addr: int,
                 valid: int | None) -> sec.ArmSection:
    corrected = severity == m.Severity.CORRECTED
    # the one-entry options, and what each --arm-info entry leaves out: data access,
    # generic read, level 1, the corrected bit per severity; flags: first
    base = {"type": v.get("arm_type", sec.arm.ARM_TYPE_CACHE if kind == "arm-cache-ue" else sec.arm.ARM_TYPE_TLB),
            "multiple_error": v.get("multiple_error"), "flags": 1,
            "error_info": v.get("error_info", 0x450017 | (0x4000000 if corrected else 0)),
            "virt_fault_addr": v.get("virt_address"), "physical_fault_addr": addr}
    infos = [sec.ArmErrorInfo(**{**base, **e}) for e in v.get("arm_info", [{}])]
    contexts = [sec.ArmContext(**c) for c in v.get("arm_context", [])]
    return sec.ArmSection(error_info=infos, context=contexts, context_align=v.get("context_align", 16),
                        mpidr=v.get("mpidr", 0x80000000 if mpidr is None else mpidr | 0x80000000),
                        affinity_level=v.get("affinity_level", 0),
                        running_state=v.get("running_state", 1), psci_state=v.get("psci_state", 0),
                        midr=v.get("midr", 0x410FD490), vendor=v.get("vendor", b""),
                        explicit_validation_bits=valid, reserved=v.get("section_reserved", 0))


def _pcie_section(kind: str, v: FieldValues, valid: int | None) -> sec.PcieSection:
    seg, bus, dev, fn = _bdf(v)
    ue = kind == "pcie-ue"
    aer = bytearray(v["aer_info"].ljust(96, b"\0")) if "aer_info" in v else None
    if aer is None:
        aer = bytearray(96)
        aer[0:4] = (0x00010001).to_bytes(4, "little")  # AER capability header: id 1, version 1
        aer[12:16] = (0x00062030).to_bytes(4, "little")  # uncorrectable severity: the spec default
        aer[4:8] = (0x4000 if ue else 0).to_bytes(4, "little")    # completion timeout
        aer[16:20] = (0 if ue else 0x1).to_bytes(4, "little")     # receiver error
    if "aer_uncor_status" in v:
        aer[4:8] = v["aer_uncor_status"].to_bytes(4, "little")
    if "aer_cor_status" in v:
        aer[16:20] = v["aer_cor_status"].to_bytes(4, "little")
    major, minor = v.get("pcie_version", (3, 0))
    bridge = "bridge_status" in v or "bridge_control" in v
    return sec.PcieSection(port_type=v.get("port_type", 0), version_major=major, version_minor=minor,
                         command=v.get("pci_command", 0x0406), status=v.get("pci_status", 0x0010),
                         vendor_id=v.get("vendor_id", 0x13B5), device_id=v.get("device_id", 0x0100),
                         class_code=v.get("class_code", 0x020000), function=fn, device=dev, segment=seg,
                         bus=bus, secondary_bus=v.get("secondary_bus", 0), slot=v.get("slot", 0),
                         serial_number=v.get("serial"),
                         bridge_secondary_status=v.get("bridge_status", 0) if bridge else None,
                         bridge_control=v.get("bridge_control", 0) if bridge else None,
                         capability=v.get("capability"), aer_info=bytes(aer),
                         explicit_validation_bits=valid, reserved=v.get("section_reserved", 0))


DEFAULT_DPA = 0x1000


def _bdf(v: FieldValues) -> tuple[int, int, int, int]:
    """--bdf (default 0000:01:00.0), its device and function numbers replaced by
    --device-number / --function-number where given (a byte a BDF's text cannot name)."""
    seg, bus, dev, fn = v.get("bdf", (0, 1, 0, 0))
    return seg, bus, v.get("device_number", dev), v.get("function_number", fn)


def _newer_section(kind: str, v: FieldValues, severity: int, addr: int, mpidr: int | None = None) -> m.Section:
    """The sections of records/sections/ with the scenario's defaults and field options."""
    corrected = severity == m.Severity.CORRECTED
    seg, bus, dev, fn = _bdf(v)
    if kind == "cxl-protocol":
        agent = v.get("agent_type", sec.cxl_protocol.DEVICE)
        uncor = v.get("ras_uncor_status", 0 if corrected else 0x80)
        cor = v.get("ras_cor_status", 0x2 if corrected else 0)
        header = v.get("header_log", b"")
        if len(header) > 64:
            raise UsageError("--header-log", f"is {len(header)} bytes; the header log holds 64")
        ras = sec.RasCapability(uncor_status=uncor, cor_status=cor, header_log=header.ljust(64, b"\0"),
                                # First Error Pointer (bits 5:0): the lowest uncorrectable bit
                                cap_control=(uncor & -uncor).bit_length() - 1 if uncor else 0)
        where = ({"rcrb_base_address": v.get("rcrb", 0)} if agent == sec.cxl_protocol.RCH_DP else
                 {"agent_segment": seg, "agent_bus": bus, "agent_device": dev, "agent_function": fn})
        if "rcrb" in v and agent != sec.cxl_protocol.RCH_DP:
            raise UsageError("--rcrb", "only an rch-dp agent (--agent-type rch-dp) has an RCRB address")
        named = next((k for k in ("bdf", "device_number", "function_number") if k in v), None)
        if named and agent == sec.cxl_protocol.RCH_DP:     # nowhere to write it: never ignored
            raise UsageError("--" + named.replace("_", "-"), "an rch-dp agent is named by its RCRB address "
                             "(--rcrb), not a bus/device/function")
        device = agent in sec.cxl_protocol.DEVICE_AGENTS
        return sec.CxlProtocolSection(
            agent_type=agent, **where, vendor_id=v.get("vendor_id", 0x8086),
            device_id=v.get("device_id", 0x0D93), class_code=0x0502,
            serial_number=v.get("serial", 1) if device or "serial" in v else None,
            capability=v.get("capability"), dvsec=v.get("dvsec"), error_log=ras.to_bytes())
    if kind in CXL_EVENTS:
        common = dict(vendor_id=v.get("vendor_id", 0x8086), device_id=v.get("device_id", 0x0D93),
                      segment=seg, bus=bus, device=dev, function=fn, slot=0,
                      serial_number=v.get("serial", 1), record_flags=v.get("record_flags", 0),
                      handle=v.get("handle", 1), event_timestamp=v.get("event_timestamp", 0))
        comp = v.get("component_id")
        if comp is not None and len(comp) > 16:
            raise UsageError("--component-id", f"is {len(comp)} bytes; the component id holds 16")
        if kind == "cxl-general-media":
            flags = 0x3 | (0x8 if comp is not None else 0)          # channel, rank (, component id)
            return sec.CxlGeneralMediaSection(
                **common, dpa=v.get("dpa", DEFAULT_DPA), descriptor=v.get("descriptor", 0 if corrected else 1),
                event_type=v.get("event_type", 0), transaction_type=v.get("transaction_type", 1),
                validity_flags=v.get("validity_flags", flags), channel=v.get("channel", 0),
                rank=v.get("rank", 0), component_id=comp or bytes(16))
        if kind == "cxl-dram":
            flags = 0x7B | (0x4 if "nibble_mask" in v else 0) | (0x100 if comp is not None else 0)
            return sec.CxlDramSection(
                **common, dpa=v.get("dpa", DEFAULT_DPA), descriptor=v.get("descriptor", 0 if corrected else 1),
                event_type=v.get("event_type", 0), transaction_type=v.get("transaction_type", 1),
                validity_flags=v.get("validity_flags", flags), channel=v.get("channel", 0),
                rank=v.get("rank", 0), nibble_mask=v.get("nibble_mask", 0),
                bank_group=v.get("bank_group", 0), bank=v.get("bank", 0), row=v.get("row", 0),
                column=v.get("column", 0), component_id=comp or bytes(16))
        return sec.CxlMemoryModuleSection(
            **common, event_type=v.get("event_type", 0), health_status=v.get("health_status", 0),
            media_status=v.get("media_status", 0), life_used=v.get("life_used", 0),
            device_temp=v.get("temperature", 40), dirty_shutdown_count=v.get("dirty_shutdowns", 0),
            validity_flags=v.get("validity_flags", 0x1 if comp is not None else 0),
            component_id=comp or bytes(16))
    if kind == "pci-bus":
        return sec.PciBusSection(
            error_status=v.get("error_status"), error_type=v.get("error_type", 1),
            segment=v.get("segment", 0), bus=v.get("bus", 1), bus_address=addr,
            bus_data=v.get("bus_data"), bus_command=v.get("bus_command", 0x6),
            requestor_id=v.get("requestor_id"), completer_id=v.get("responder_id"),
            target_id=v.get("target_id"))
    if kind == "pci-device":
        if seg > U8:
            raise UsageError("--bdf", f"segment {seg:#x} does not fit the PCI device section's 8 bits")
        mem, io = v.get("mem_regs", []), v.get("io_regs", [])
        regs = bool(mem or io)
        return sec.PciDeviceSection(
            error_status=v.get("error_status"), vendor_id=v.get("vendor_id", 0x13B5),
            device_id=v.get("device_id", 0x0100), class_code=v.get("class_code", 0x020000),
            segment=seg, bus=bus, device=dev, function=fn,
            memory_number=len(mem) if regs else None, io_number=len(io) if regs else None,
            registers=mem + io if regs else None)
    if kind == "memory2":
        names = ("error_status", "node", "card", "module", "bank", "device", "row", "column", "rank",
                 "bit_position", "chip_id", "requestor_id", "responder_id", "target_id", "card_handle",
                 "module_handle", "bank_group", "bank_address")
        return sec.Memory2Section(
            physical_address=addr, physical_address_mask=v.get("pa_mask"),
            error_type=v.get("error_type", 2 if corrected else 3),
            status=v.get("status", 0 if corrected else sec.memory2.STATUS_UNCORRECTED),
            **{n: v[n] for n in names if n in v})
    if kind == "arm-ras":
        return _arm_ras_section(v, corrected, addr, mpidr)
    if kind == "nvidia":
        return sec.NvidiaSection(signature=v.get("signature", b"PCIe-DPC"), socket=v.get("socket", 0),
                                 registers=v.get("regs", []))
    # x86-proc: one error information structure (a data-read level-1 check, corrected or not)
    check = v.get("check_info", 0x17 | 1 << 16 | 3 << 18 | 1 << 22 | (0 if corrected else 1 << 26))
    info = sec.X86ErrorInfo(type=v.get("check_type", sec.x86_processor.CHECK_TYPES["cache"]),
                            check_info=check, target_id=addr, requestor_id=v.get("requestor_id"),
                            responder_id=v.get("responder_id"), ip=v.get("ip"))
    return sec.X86ProcessorSection(apic_id=v.get("apic_id", 0), cpuid_info=v.get("cpuid"),
                                   error_info=[info])


def _arm_ras_section(v: FieldValues, corrected: bool, addr: int, mpidr: int | None) -> m.Section:
    """A processor node (the target PE's MPIDR and a Neoverse N2 MIDR) with one error record."""
    for flag, name, size, other in (("--ip-instance", "ip_instance", 16, "mpidr"),
                                    ("--ip-type", "ip_type", 24, "midr")):
        if len(v.get(name, b"")) > size:
            raise UsageError(flag, f"is {len(v[name])} bytes; the field holds {size}")
        if name in v and other in v:      # the MPIDR / MIDR go into these bytes
            raise UsageError(flag, f"conflicts with --{other} (both fill the {name.replace('_', ' ')})")
    pe = v.get("mpidr", 0x80000000 if mpidr is None else mpidr | 0x80000000)
    aux = v.get("aux_data")
    if "mpam_partid" in v:
        if aux is not None:
            raise UsageError("--mpam-partid", "conflicts with --aux-data (both are the auxiliary data)")
        aux = sec.AuxData(pairs=[sec.AuxPair(sec.MPAM_PARTID, v["mpam_partid"])])
    status = 0xC2000000 if corrected else 0xE0300000     # AV|V + CE=0b10, or AV|V|UE + UET=0b11 (UER)
    record = sec.ErrorSyndrome(
        index=v.get("record_index", 0), ras_revision=v.get("ras_revision", 0x10),
        err_fr=v.get("err_fr", 1), err_ctlr=v.get("err_ctlr", 1), err_status=v.get("err_status", status),
        err_addr=addr, err_misc0=v.get("err_misc0", 0), err_misc1=v.get("err_misc1", 0),
        err_misc2=v.get("err_misc2", 0), err_misc3=v.get("err_misc3", 0))
    return sec.ArmRasSection(
        revision=v.get("node_revision", 1), component_type=v.get("component_type", 0),
        ip_instance_format=v.get("ip_instance_format", 0), ip_type_format=v.get("ip_type_format", 0),
        ip_instance=v.get("ip_instance", pe.to_bytes(8, "little")),
        ip_type=v.get("ip_type", v.get("midr", 0x410FD490).to_bytes(8, "little")),
        user_data=v.get("user_data", b""), error_syndromes=[record], auxiliary_data=aux)


# header fields written as given instead of derived (fault injection): records made with
# them are built whole, not from the templates below
AS_WRITTEN = frozenset(("entry_revision", "error_data_length", "data_length", "raw_data_offset",
                        "block_status"))


class _MemTemplate(NamedTuple):
    """A memory scenario's C structs, which fw_encode_mem_block completes with an address
    and a timestamp per record."""

    status: CData       # fw_estatus *
    raw: CData          # the raw data status points into, kept alive with it
    gde: CData          # fw_gde *
    section: CData      # fw_mem_section *
    content: bytes      # the content key less address and timestamp


class _BytesTemplate(NamedTuple):
    """Any other scenario's encoded record, its timestamp patched per record."""

    data: bytearray
    content: bytes


# what a record's timestamps are kept unique over: a record's bytes less the timestamp, or
# for a memory template its content key and the address
_ContentKey = bytes | tuple[bytes, int]


def _address(text: str | None) -> int:
    """A memory template's --address value (the default when none is given)."""
    return parse_int("--address", text, 0xFFFF_FFFF_FFFF_FFFF) if text else DEFAULT_ADDRESS


class RecordFactory:
    """Builds scenario records fast, each one unique per board (DESIGN rule 6).

    The first record for a (scenario, fields, PE) is built through the model; later ones
    reuse it as a template. Memory scenarios go through the C core's single-record call
    (`fw_encode_mem_block`: new physical address and timestamp per record); the others
    have their timestamp patched into the cached bytes.

    Uniqueness: two records can be equal only when their content is, so each distinct
    content (the record's bytes less its timestamp: the same for a memory error on PE 0
    and on PE 1) gets timestamps no other record of that content on the board has had.
    The timestamp's second and its 7 sequence bits (Linux prints only bit 0 of that byte)
    come from the board's StampAllocator (uniq.py), which keeps them unique across
    factories, processes and restarts through a locked state file next to the journal.
    Content repeated past the tokens of a second moves on to the next second's timestamp
    (it runs ahead of the wall clock; `warnings` says so, at most once a second). A fixed
    `--timestamp` gets that second's 128 sequence values, board-wide; past them a record
    may repeat an earlier one, and `warnings` says so.
    """

    TS_OFFSET: Final = 20 + 64        # the first entry's GDE timestamp (revision 0x0300)
    CACHE: Final = 256

    def __init__(self, mpidrs: Sequence[int], board: str | None = None,
                 state_path: str | os.PathLike[str] | None = None):
        """board: the board's name, whose state file holds the uniqueness tokens (None:
        tokens kept in memory, unique within this factory only); state_path: that file."""
        self.mpidrs = mpidrs
        self.stamps = uniq.StampAllocator(board, state_path)
        # (scenario, fields (less the address, for memory), PE) -> template
        self._templates: dict[tuple[str, tuple[tuple[str, str], ...], int],
                              _MemTemplate | _BytesTemplate] = {}
        self._wall = -1
        self._floor = -1
        # Per content: the last token it used this second, and those running ahead of the wall.
        self._last: dict[_ContentKey, int] = {}
        self._ahead: dict[_ContentKey, int] = {}
        self._ts_base: dict[int, int] = {}    # second -> timestamp u64 (sequence 0)
        self._warned = -1
        self._fixed_last: dict[tuple[int, bytes], int] = {}   # (timestamp, record) -> sequence
        self._out = ffi.new("uint8_t[]", 4096)
        self._run_buf: CData | None = None     # make_many's records

    def _ts_for(self, second: int) -> int:
        ts = self._ts_base.get(second)
        if ts is None:
            t = time.gmtime(second)
            ts = m.Timestamp(year=t.tm_year, month=t.tm_mon, day=t.tm_mday, hour=t.tm_hour,
                             minute=t.tm_min, second=t.tm_sec).to_u64()
            if len(self._ts_base) > 64:
                self._ts_base.clear()
            self._ts_base[second] = ts
        return ts

    def _content_key(self, data: bytes) -> bytes:
        """A record's bytes with the timestamp zeroed: equal for equal content, whatever
        fields or PE it was asked for with (bytes cache their hash: cheap as a dict key)."""
        o = self.TS_OFFSET
        return data[:o] + bytes(8) + data[o + 8:]

    def _unique_ts(self, ckey: _ContentKey, warnings: list[str] | None) -> int:
        wall = int(time.time())
        if wall != self._wall:      # a new second: content starts again at the wall's second,
            self._wall = wall       # except content still running ahead of it
            self._floor = floor = wall << 7
            self._ahead = {k: v for k, v in self._ahead.items() if v >= floor}
            self._last = dict(self._ahead)
        last = self._last.get(ckey)
        t = self._floor if last is None else last + 1
        stamps = self.stamps          # StampAllocator.next_live, inlined (the hot path)
        ends = stamps._ends
        if ends and t < ends[-1]:
            a = stamps._starts[bisect_right(ends, t)]
            if t < a:
                t = a
        else:
            t = stamps._reserve_live(t, wall)
        self._last[ckey] = t
        second = t >> 7
        if second > wall:
            self._ahead[ckey] = t
            if warnings is not None and wall != self._warned:
                self._warned = wall
                warnings.append(f"this second's 128 timestamp sequence values are used up on the board "
                                f"(identical content repeated, or many processes): its timestamp now runs "
                                f"{second - wall} s ahead so every record stays unique for Linux's "
                                "10-s duplicate cache")
        return self._ts_for(second) | ((t & 0x7F) << 25)   # Timestamp.sequence: flag byte bits 7:1

    def _fixed(self, scenario: str, fields: dict[str, str], mpidr: int,
               warnings: list[str] | None) -> bytes:
        """A user-given timestamp: that second's sequence values, unique on the board."""
        blk = build(scenario, fields, mpidr=mpidr)
        ts = blk.entries[0].timestamp
        data = bytearray(codec.encode(blk))
        if ts is None:   # --timestamp none: nothing to vary (firmware warns about repeats)
            return bytes(data)
        key = m.timestamp_u64(ts)
        lk = (key, bytes(data))
        last = self._fixed_last.get(lk, -1)
        seq = self.stamps.take_fixed(key, last)
        if seq is None:
            seq = (last + 1) % 128
            if warnings is not None:
                warnings.append(f"all 128 sequence values of timestamp {fields['timestamp']} are in use "
                                "on this board: this record may repeat an earlier one byte for byte (Linux "
                                "drops a repeat within 10 s on the SEA/SDEI/SEI path); leave --timestamp "
                                "at 'now' to keep records unique")
        if len(self._fixed_last) > 4096:
            self._fixed_last.clear()
        self._fixed_last[lk] = seq
        o = self.TS_OFFSET + 3
        data[o] = (data[o] & 1) | (seq << 1)
        return bytes(data)

    @staticmethod
    def may_repeat(fields: dict[str, str]) -> bool:
        """make() cannot vary the timestamp freely for these fields, so a record can repeat
        an earlier one byte for byte (the caller watches for it): a given timestamp (that
        second's 128 sequence values), or header fields as written (an entry revision may
        leave no timestamp at all, and the templates assume the 72-byte entry header)."""
        return fields.get("timestamp", "now") != "now" or not AS_WRITTEN.isdisjoint(fields)

    BATCH: Final = 256     # make_many: records encoded per C call

    def make_many(self, items: Sequence[tuple[str, dict[str, str], int]], unique: bool,
                  warnings: Sequence[list[str]]) -> list[bytes]:
        """make(scenario, fields, pe, unique, warnings[i]) of each item, in order: the same
        bytes, timestamps and warnings. A run of memory records whose only field is the
        address (an address sweep) shares one template: their timestamps are taken in the
        same order and the records encoded in one C call (fw_batch_mem)."""
        out: list[bytes] = []
        n, i = len(items), 0
        while i < n:
            scenario, fields, pe = items[i]
            out.append(self.make(scenario, fields, pe, unique, warnings[i]))
            i += 1
            if not unique or scenario not in MEMORY or len(fields) != ("address" in fields):
                continue
            tpl = self._templates.get((scenario, (), pe))    # (the one make() just used)
            if not isinstance(tpl, _MemTemplate):
                continue
            j = i
            while j < n and j - i < self.BATCH:
                sj, fj, pj = items[j]
                if sj != scenario or pj != pe or len(fj) != ("address" in fj):
                    break
                j += 1
            if j > i:
                out.extend(self._mem_run(tpl, items, i, j, warnings))
                i = j
        return out

    def _mem_run(self, tpl: _MemTemplate, items: Sequence[tuple[str, dict[str, str], int]], i: int, j: int,
                 warnings: Sequence[list[str]]) -> list[bytes]:
        """Items i..j-1 (memory, one template, an address or none each) as make() makes them."""
        k = j - i
        addrs = ffi.new("uint64_t[]", k)
        stamps = ffi.new("uint64_t[]", k)
        content, unique_ts = tpl.content, self._unique_ts
        for x in range(k):
            addr = _address(items[i + x][1].get("address"))
            addrs[x] = addr
            stamps[x] = unique_ts((content, addr), warnings[i + x])
        stride = 4096       # (make()'s limit)
        buf = self._run_buf
        if buf is None or len(buf) < k * stride:
            buf = self._run_buf = ffi.new("uint8_t[]", self.BATCH * stride)
        length = lib.fw_batch_mem(tpl.status, tpl.gde, tpl.section, k, addrs, stamps, ffi.NULL, buf, stride)
        if length < 0:
            raise CoreError(f"C core refused the memory records (code {length})")
        view = ffi.buffer(buf, k * stride)
        return [view[x * stride:x * stride + length] for x in range(k)]

    def make(self, scenario: str, fields: dict[str, str], pe: int = 0, unique: bool = True,
             warnings: list[str] | None = None) -> bytes:
        mpidr = self.mpidrs[pe]
        if not unique:
            return codec.encode(build(scenario, fields, mpidr=mpidr))
        if self.may_repeat(fields):
            return self._fixed(scenario, fields, mpidr, warnings)
        addr_text = fields.get("address")
        fast_memory = scenario in MEMORY
        rest: tuple[tuple[str, str], ...]
        if fast_memory and len(fields) == (addr_text is not None):   # only an address, or nothing
            rest = ()
        else:
            rest = tuple(sorted((k, v) for k, v in fields.items() if k != "address"))
        key = (scenario, rest if fast_memory else tuple(sorted(fields.items())), pe)
        tpl = self._templates.get(key)
        if tpl is None:
            if any(k.startswith("--") for k in fields):    # (build() would take them, slowly and unlike the key)
                raise UsageError(next(k for k in fields if k.startswith("--")),
                                 "RecordFactory takes fields by name (request.field_key)")
            if len(self._templates) >= self.CACHE:
                self._templates.pop(next(iter(self._templates)))
            blk = build(scenario, fields, mpidr=mpidr)
            if fast_memory:
                e = blk.entries[0]
                assert isinstance(e.section, sec.MemorySection)     # a MEMORY scenario's section
                st, raw = codec.estatus_struct(blk)
                gde = ffi.new("fw_gde *", codec._gde_fields(e))
                # content less address and timestamp: the same template on every PE
                base = codec.encode(build(scenario, dict(rest), mpidr=mpidr))
                tpl = _MemTemplate(st, raw, gde, codec._mem_struct(e.section), self._content_key(base))
            else:
                data = bytearray(codec.encode(blk))
                tpl = _BytesTemplate(data, self._content_key(bytes(data)))
            self._templates[key] = tpl
        if isinstance(tpl, _MemTemplate):
            addr = _address(addr_text)
            ts = self._unique_ts((tpl.content, addr), warnings)
            length = lib.fw_encode_mem_block(tpl.status, tpl.gde, tpl.section, addr, ts, self._out, 4096)
            return bytes(ffi.buffer(self._out, length))
        data = tpl.data
        ts = self._unique_ts(tpl.content, warnings)
        data[self.TS_OFFSET:self.TS_OFFSET + 8] = ts.to_bytes(8, "little")
        return bytes(data)
