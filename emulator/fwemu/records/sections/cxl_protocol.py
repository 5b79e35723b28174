"""CXL Protocol Error Section (UEFI 2.10 N.2.13), GUID 80B9EFB4-52B5-4DE3-A777-68784B771048.

Layout (116-byte fixed part; Linux `struct cxl_cper_sec_prot_err`, edk2 Cper.h):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 1 | CXL agent type (0 RCD, 1 RCH downstream port, 2 device, 3 LD, 4 FM-managed LD, 5 root port, 6 DSP, 7 USP) | 0 |
| 9 | 7 | reserved | |
| 16 | 8 | agent address: RCRB base (agent type 1) or function @16, device @17, bus @18, segment u16 @19, reserved @21..23 | 1 |
| 24 | 16 | device id: vendor @24, device @26, subsystem vendor @28, subsystem @30, class code u16 @32, slot u16 @34 (bits 15:3), reserved @36..39 | 2 |
| 40 | 8 | device serial number (lower dword @40, upper @44) | 3 |
| 48 | 60 | PCIe capability structure | 4 |
| 108 | 2 | CXL DVSEC length | |
| 110 | 2 | CXL error log length | |
| 112 | 4 | reserved | |
| 116 | DVSEC length | CXL DVSEC | 5 |
| ... | error log length | CXL error log (the RAS capability structure: 6 u32 + 16-dword header log = 88 bytes) | 6 |

Linux: printed since v6.2 (`cper_print_prot_err`, abdbf1a25daf + 2fb6999dd06f), unknown
before (Debian's 6.1.192 prints `section type: unknown` and a hex dump); GHES hands it to
the CXL driver since v6.15 (36f257e3b0ba, 315c2f0b53ba). docs/kernel-profiles.md.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import ClassVar

from ...errors import UsageError
from ..kernel_profile import KernelProfile
from ..printk import get, hexdump
from . import _base as b
from ._base import F

GUID = uuid.UUID("80B9EFB4-52B5-4DE3-A777-68784B771048")
KIND = "cxl-protocol"
FIXED = 116
RAS_CAP_LEN = 88          # sizeof(struct cxl_ras_capability_regs)

AGENT_TYPES = ("Restricted CXL Device", "Restricted CXL Host Downstream Port", "CXL Device",
               "CXL Logical Device", "CXL Fabric Manager managed Logical Device",
               "CXL Root Port", "CXL Downstream Switch Port", "CXL Upstream Switch Port")
AGENT_NAMES = {"rcd": 0, "rch-dp": 1, "device": 2, "ld": 3, "fmld": 4, "rp": 5, "dsp": 6, "usp": 7}
RCD, RCH_DP, DEVICE, LD, FMLD, RP, DSP, USP = range(8)
SBDF_AGENTS = (RCD, DEVICE, LD, FMLD, RP, DSP, USP)     # identified by S:B:D.F
DEVICE_AGENTS = (RCD, DEVICE, LD, FMLD)                 # "CXL devices" (have a serial number)

BIT_AGENT_TYPE, BIT_AGENT_ADDRESS, BIT_DEVICE_ID, BIT_SERIAL = 0, 1, 2, 3
BIT_CAPABILITY, BIT_DVSEC, BIT_ERROR_LOG = 4, 5, 6

# The agent address is a union: the RCRB base for an RCH downstream port, else S:B:D.F.
# Both forms are in the table; a section uses one (by agent type), the other stays None.
LAYOUT = b.Layout(FIXED, (
    F("agent_type", 8, 1, BIT_AGENT_TYPE),
    F("agent_function", 16, 1, BIT_AGENT_ADDRESS), F("agent_device", 17, 1, BIT_AGENT_ADDRESS),
    F("agent_bus", 18, 1, BIT_AGENT_ADDRESS), F("agent_segment", 19, 2, BIT_AGENT_ADDRESS),
    F("agent_address_reserved", 21, 3, BIT_AGENT_ADDRESS),
    F("vendor_id", 24, 2, BIT_DEVICE_ID), F("device_id", 26, 2, BIT_DEVICE_ID),
    F("subsystem_vendor_id", 28, 2, BIT_DEVICE_ID), F("subsystem_id", 30, 2, BIT_DEVICE_ID),
    F("class_code", 32, 2, BIT_DEVICE_ID), F("slot", 34, 2, BIT_DEVICE_ID),
    F("serial_number", 40, 8, BIT_SERIAL),
    F("capability", 48, 60, BIT_CAPABILITY, raw=True),
    F("dvsec_length_field", 108, 2, computed=True),
    F("error_log_length_field", 110, 2, computed=True),
), reserved=((9, 7), (36, 4), (112, 4)))
# The RCRB form of the agent address (agent type 1).
RCRB = F("rcrb_base_address", 16, 8, BIT_AGENT_ADDRESS)


@dataclass
class RasCapability:
    """The CXL RAS capability structure (CXL 3.0 8.2.4.16) as the error log carries it."""

    uncor_status: int = 0
    uncor_mask: int = 0
    uncor_severity: int = 0
    cor_status: int = 0
    cor_mask: int = 0
    cap_control: int = 0
    header_log: bytes = bytes(64)

    def to_bytes(self) -> bytes:
        return struct.pack("<6I", self.uncor_status, self.uncor_mask, self.uncor_severity,
                           self.cor_status, self.cor_mask, self.cap_control) + \
            self.header_log.ljust(64, b"\0")[:64]


@dataclass
class CxlProtocolSection(b.LayoutSection):
    """CXL protocol error. `dvsec` / `error_log`: the bytes after the fixed part (None =
    absent; their validation bits derive from them). `dvsec_length` / `error_log_length`:
    the wire length fields when they do not match the bytes (None = len of the bytes).
    `trailing`: bytes after the error log. The agent address is S:B:D.F
    (`agent_segment`, `agent_bus`, `agent_device`, `agent_function`) or, for an RCH
    downstream port, `rcrb_base_address`."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "CXL Protocol Error"
    LAYOUT: ClassVar[b.Layout] = LAYOUT

    agent_type: int | None = None
    agent_segment: int | None = None
    agent_bus: int | None = None
    agent_device: int | None = None
    agent_function: int | None = None
    agent_address_reserved: int | None = None
    rcrb_base_address: int | None = None
    vendor_id: int | None = None
    device_id: int | None = None
    subsystem_vendor_id: int | None = None
    subsystem_id: int | None = None
    class_code: int | None = None
    slot: int | None = None
    serial_number: int | None = None
    capability: bytes | None = None
    dvsec: bytes | None = None
    error_log: bytes | None = None
    dvsec_length: int | None = None
    error_log_length: int | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        sbdf = ("agent_segment", "agent_bus", "agent_device", "agent_function", "agent_address_reserved")
        # the agent address is a union chosen by the agent type (decode reads it that way)
        if self.rcrb_base_address is not None:
            if self.agent_type != RCH_DP:
                raise UsageError("rcrb_base_address", "only an RCH downstream port (agent_type 1) "
                                 "has an RCRB base address; other agents have segment/bus/device/function")
            b.check_int("rcrb_base_address", self.rcrb_base_address, RCRB.maximum)
        if self.agent_type == RCH_DP and any(getattr(self, n) is not None for n in sbdf):
            raise UsageError("agent_segment", "an RCH downstream port (agent_type 1) is addressed "
                             "by rcrb_base_address, not segment/bus/device/function")
        for name in ("dvsec", "error_log"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, b.check_bytes(name, v, 0xFFFF))
        for name in ("dvsec_length", "error_log_length"):
            if getattr(self, name) is not None:
                b.check_int(name, getattr(self, name), 0xFFFF)
        self.trailing = b.check_bytes("trailing", self.trailing, 0xFFFF)
        self._check_layout()

    def derived_validation_bits(self) -> int:
        bits = super().derived_validation_bits()
        if self.rcrb_base_address is not None:
            bits |= 1 << BIT_AGENT_ADDRESS
        if self.dvsec is not None:
            bits |= 1 << BIT_DVSEC
        if self.error_log is not None:
            bits |= 1 << BIT_ERROR_LOG
        return bits

    def _computed(self) -> dict[str, int]:
        return {"dvsec_length_field": len(self.dvsec or b"") if self.dvsec_length is None
                else self.dvsec_length,
                "error_log_length_field": len(self.error_log or b"") if self.error_log_length is None
                else self.error_log_length}

    def _fixed(self) -> bytearray:
        out = super()._fixed()
        if self.rcrb_base_address is not None:
            out[16:24] = self.rcrb_base_address.to_bytes(8, "little")
        return out

    def _tail(self) -> bytes:
        return (self.dvsec or b"") + (self.error_log or b"") + self.trailing

    @classmethod
    def decode(cls, body: bytes):
        if len(body) < FIXED:
            return None
        valid, values, _res = LAYOUT.unpack(body)
        _bits, kw = cls._fields_from(body)
        if values["agent_type"] == RCH_DP:     # the union's other form
            for n in ("agent_segment", "agent_bus", "agent_device", "agent_function",
                      "agent_address_reserved"):
                kw[n] = None
            rcrb = int.from_bytes(body[16:24], "little")
            kw["rcrb_base_address"] = rcrb if valid >> BIT_AGENT_ADDRESS & 1 or rcrb else None
        dlen, elen = values["dvsec_length_field"], values["error_log_length_field"]
        tail = bytes(body[FIXED:])
        if dlen + elen <= len(tail):
            dvsec, error_log, trailing = tail[:dlen], tail[dlen:dlen + elen], tail[dlen + elen:]
            kw["dvsec"] = dvsec if valid >> BIT_DVSEC & 1 or dvsec else None
            kw["error_log"] = error_log if valid >> BIT_ERROR_LOG & 1 or error_log else None
            kw["trailing"] = trailing
            if kw["dvsec"] is None and dlen:       # length claimed, bytes all zero, bit clear
                kw["dvsec"] = dvsec
            if kw["error_log"] is None and elen:
                kw["error_log"] = error_log
        else:                                       # the lengths overrun the section
            kw.update(dvsec=None, error_log=None, trailing=tail, dvsec_length=dlen,
                      error_log_length=elen)
        try:
            sec = cls(**kw)
        except UsageError:
            return None
        if sec.validation_bits != valid:
            sec.explicit_validation_bits = valid
        return sec


Section = CxlProtocolSection


# ---- the kernel's wording ------------------------------------------------------------------

def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    """cper_estatus_print_section() for this GUID: None when the profile's kernel does not
    know it (the caller prints it as an unknown section)."""
    if not profile.cxl_prot_print:
        return None
    out = [f"{npfx}section_type: CXL Protocol Error"]
    if length < FIXED:
        return out + ["[Firmware Warn]: error section length is too small"]
    return out + cper_print_prot_err(npfx, body)


def cper_print_prot_err(pfx: str, p: bytes) -> list[str]:
    """cper_print_prot_err() (drivers/firmware/efi/cper_cxl.c; cxl_cper_print_prot_err()
    since v6.15, same output). Every line is `pr_info("%s <field>", pfx)`: one space more
    than the section_type line; the hex dumps use `pfx` itself."""
    valid = int.from_bytes(get(p, 0, 8), "little")
    agent = p[8] if len(p) > 8 else 0
    out = []
    if valid >> BIT_AGENT_TYPE & 1:
        name = AGENT_TYPES[agent] if agent < len(AGENT_TYPES) else "unknown"
        out.append(f"{pfx} agent_type: {agent}, {name}")
    if valid >> BIT_AGENT_ADDRESS & 1:
        if agent in SBDF_AGENTS:
            fn, dev, bus, seg = struct.unpack("<BBBH", get(p, 16, 5))
            out.append(f"{pfx} agent_address: {seg:04x}:{bus:02x}:{dev:02x}.{fn:x}")
        elif agent == RCH_DP:
            out.append(f"{pfx} rcrb_base_address: 0x{int.from_bytes(get(p, 16, 8), 'little'):016x}")
    if valid >> BIT_DEVICE_ID & 1 and agent in SBDF_AGENTS:
        vid, did, svid, sid, cc0, cc1, slot = struct.unpack("<HHHHBBH", get(p, 24, 12))
        out += [f"{pfx} slot: {slot >> 3}",
                f"{pfx} vendor_id: 0x{vid:04x}, device_id: 0x{did:04x}",
                f"{pfx} sub_vendor_id: 0x{svid:04x}, sub_device_id: 0x{sid:04x}",
                f"{pfx} class_code: {cc1:02x}{cc0:02x}"]
    if valid >> BIT_SERIAL & 1 and agent in DEVICE_AGENTS:
        lower, upper = struct.unpack("<II", get(p, 40, 8))
        out.append(f"{pfx} lower_dw: 0x{lower:08x}, upper_dw: 0x{upper:08x}")
    if valid >> BIT_CAPABILITY & 1 and agent in SBDF_AGENTS:
        out += hexdump(pfx, get(p, 48, 60), ascii=False)
    dvsec_len, err_len = struct.unpack("<HH", get(p, 108, 4))
    if valid >> BIT_DVSEC & 1:
        out += [f"{pfx} DVSEC length: 0x{dvsec_len:04x}", f"{pfx} CXL DVSEC:"]
        out += hexdump(pfx, get(p, FIXED, dvsec_len), ascii=False)
    if valid >> BIT_ERROR_LOG & 1:
        ras = FIXED + dvsec_len
        regs = struct.unpack("<6I", get(p, ras, 24))
        out += [f"{pfx} Error log length: 0x{err_len:04x}", f"{pfx} CXL Error Log:",
                f"{pfx} cxl_ras_uncor_status: 0x{regs[0]:08x}",
                f"{pfx} cxl_ras_uncor_mask: 0x{regs[1]:08x}",
                f"{pfx} cxl_ras_uncor_severity: 0x{regs[2]:08x}",
                f"{pfx} cxl_ras_cor_status: 0x{regs[3]:08x}",
                f"{pfx} cxl_ras_cor_mask: 0x{regs[4]:08x}",
                f"{pfx} cap_control: 0x{regs[5]:08x}",
                f"{pfx} Header Log Registers:"]
        out += hexdump(pfx, get(p, ras + 24, 64), ascii=False)
    return out


# ---- what GHES does with it (ghes_do_proc) --------------------------------------------------

def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    """The lines ghes_do_proc() leads to for this section. Since v6.15 it goes to
    `cxl_cper_post_prot_err()`: the record checks below (mainline wording: the checks moved
    to cxl_cper_sec_prot_err_valid() in ghes_helpers.c, which warns about a missing serial
    number for CXL devices only), then the kfifo for the CXL driver, which is not loaded
    on the sim (`cxl_cper_prot_err_work` is NULL: the record is dropped, silently).
    Before v6.15 it is a non-standard section."""
    if not profile.cxl_prot_post:
        return b.non_standard(KIND, GUID)
    p = body
    valid = int.from_bytes(get(p, 0, 8), "little")
    if not valid >> BIT_AGENT_ADDRESS & 1:
        return ["CXL CPER invalid agent type"]
    if not valid >> BIT_ERROR_LOG & 1:
        return ["CXL CPER invalid protocol error log"]
    err_len = int.from_bytes(get(p, 110, 2), "little")
    if err_len != RAS_CAP_LEN:
        return [f"CXL CPER invalid RAS Cap size ({err_len})"]
    out = []
    if get(p, 8, 1)[0] in DEVICE_AGENTS and not valid >> BIT_SERIAL & 1:
        out.append("[Firmware Warn]: CXL CPER no device serial number")
    return out + ["[sim] GHES: CXL protocol error for the CXL driver's kfifo: no CXL driver "
                  "registered (cxl_cper_prot_err_work is NULL), dropped"]
