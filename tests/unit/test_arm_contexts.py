"""ARM context-information blocks: the UEFI layout (each block zero-padded to a multiple of
16 bytes, N.2.4.4) by default, back to back on request, both decoded, and printed as the
modelled kernel version reads them (records.kernel_profile).

The expected kernel lines for the 6.1 profile are what Debian's 6.1.192 printed under QEMU
for the same bytes (tests/linux/test_qemu_linux.py re-checks them on the real kernel)."""

from __future__ import annotations

import struct
import uuid

import pytest

from fwemu import records
from fwemu.errors import UsageError
from fwemu.records import kernel_profile
from fwemu.records.kernel_text import format_estatus
from fwemu.records.model import ArmContext, ArmErrorInfo, ArmSection, Entry, StatusBlock, Timestamp

ARM_GUID = uuid.UUID("E19E3D16-BC11-11E4-9CAA-C2051D5D46B0").bytes_le
REGS0 = bytes(range(0x11, 0x11 + 20))      # 8 + 20 = 28 bytes: 4 bytes of padding
REGS1 = bytes(range(0xA1, 0xA1 + 16))      # 8 + 16 = 24 bytes: 8 bytes of padding
INFO = 0x0000080000450A87                  # bus + cache fields valid (see test_combined_type)


def section(**kw) -> ArmSection:
    return ArmSection(mpidr=0x80000000, midr=0x410FD0C0,
                      error_info=[ArmErrorInfo(type=0x0A, error_info=INFO)],
                      context=[ArmContext(type=5, registers=REGS0), ArmContext(type=4, registers=REGS1)],
                      **kw)


def block(sec) -> StatusBlock:
    return StatusBlock([Entry(sec, timestamp=Timestamp(2025, 5, 20, 12, 34, 56))])


def hand_built(padded: bool, ctx_pad: bytes = b"\0") -> bytes:
    """The section body written with struct from the layout, not by fwemu."""
    info = struct.pack("<BBHBHBQQQ", 0, 32, 0x04, 0x0A, 0, 0, INFO, 0, 0)
    ctxs = b""
    for ctype, regs in ((5, REGS0), (4, REGS1)):
        blk = struct.pack("<HHI", 0, ctype, len(regs)) + regs
        if padded:
            blk += (ctx_pad * 16)[:-len(blk) % 16]
        ctxs += blk
    n = 40 + len(info) + len(ctxs)
    return struct.pack("<IHHIB3xQQII", 1, 1, 2, n, 0, 0x80000000, 0x410FD0C0, 0, 0) + info + ctxs


def body_of(raw: bytes) -> bytes:
    assert raw[20:36] == ARM_GUID
    n = struct.unpack_from("<I", raw, 20 + 24)[0]
    return raw[20 + 72:20 + 72 + n]


# ---- encoding ------------------------------------------------------------------------------

def test_default_layout_pads_every_context_block_to_16():
    raw = records.encode(block(section()))
    body = body_of(raw)
    assert body == hand_built(padded=True)
    assert len(body) == 40 + 32 + 32 + 32
    assert struct.unpack_from("<I", body, 8)[0] == len(body)          # section_length
    assert body[72 + 28:72 + 32] == bytes(4)                          # block 0: 4 zero bytes
    assert struct.unpack_from("<HHI", body, 104) == (0, 4, 16)        # block 1 at a 16-byte step
    assert body[104 + 24:] == bytes(8)


def test_back_to_back_layout_on_request():
    body = body_of(records.encode(block(section(context_align=1))))
    assert body == hand_built(padded=False)
    assert struct.unpack_from("<HHI", body, 100) == (0, 4, 16)


def test_explicit_padding_bytes_are_written_verbatim():
    sec = section()
    sec.context[0].padding = b"\xAA\xBB\xCC\xDD"
    body = body_of(records.encode(block(sec)))
    assert body[100:104] == b"\xAA\xBB\xCC\xDD"


def test_context_align_other_values_refused():
    with pytest.raises(UsageError, match="context_align"):
        section(context_align=8)


# ---- decoding ------------------------------------------------------------------------------

def _wrap(body: bytes) -> bytes:
    gde = ARM_GUID + struct.pack("<IHBBI", 0, 0x0300, 0, 1, len(body)) + bytes(44)
    return struct.pack("<IIIII", 0x11, 0, 0, 72 + len(body), 0) + gde + body


@pytest.mark.parametrize("padded", [True, False])
def test_both_layouts_decode_to_two_contexts_and_reencode(padded):
    raw = _wrap(hand_built(padded))
    sec = records.decode(raw).entries[0].section
    assert isinstance(sec, ArmSection)
    assert [(c.type, c.registers, c.padding) for c in sec.context] == [(5, REGS0, None), (4, REGS1, None)]
    assert sec.vendor == b""                     # no phantom context, nothing swallowed
    assert sec.context_align == (16 if padded else 1)
    assert records.encode(records.decode(raw)) == raw


def test_non_zero_padding_is_kept():
    raw = _wrap(hand_built(True, ctx_pad=b"\x5A"))
    sec = records.decode(raw).entries[0].section
    assert sec.context_align == 16 and sec.context[0].padding == b"\x5A" * 4
    assert records.encode(records.decode(raw)) == raw


def test_json_round_trip_keeps_the_layout():
    for sec in (section(), section(context_align=1)):
        blk = block(sec)
        again = records.model.block_from_json(blk.to_json())
        assert records.encode(again) == records.encode(blk)


# ---- printing, per kernel profile ---------------------------------------------------------

P = "{1}[Hardware Error]: "
HEAD = [P + "Hardware error from APEI Generic Hardware Error Source: 0",
        P + "event severity: recoverable",
        P + " precise tstamp: 2025-05-20 12:34:56",
        P + " Error 0, type: recoverable",
        P + "  section_type: ARM processor error",
        P + "  MIDR: 0x00000000410fd0c0",
        P + "  Multiprocessor Affinity Register (MPIDR): 0x0000000080000000",
        P + "  Error info structure 0:",
        P + "  num errors: 1",
        P + "   error_type: 0x0a: cache error|bus error",
        P + "   error_info: 0x0000080000450a87",
        P + "    transaction type: Data Access",
        P + "    cache error, operation type: Generic read (type of instruction or data request "
            "cannot be determined)",
        P + "    bus error, operation type: Generic read (type of instruction or data request "
            "cannot be determined)",
        P + "    cache level: 1",
        P + "    affinity level at which the bus error occurred: 1",
        P + "  Context info structure 0:",
        P + "   register context type: AArch64 EL1 context registers",
        P + "   00000000: 14131211 18171615 1c1b1a19 201f1e1d",
        P + "   00000010: 24232221"]
BOTH_CONTEXTS = HEAD + [P + "  Context info structure 1:",
                        P + "   register context type: AArch64 general purpose registers",
                        P + "   00000000: a4a3a2a1 a8a7a6a5 acabaaa9 b0afaead"]
MISREAD = HEAD + [P + "  Context info structure 1:",
                  P + "   section length is too small",
                  P + "  firmware-generated error record is incorrect"]


def test_kernel_6_1_misreads_the_uefi_layout():
    """Debian 6.1.192 steps by 8 + size: block 1's header is read 4 bytes early."""
    assert format_estatus(block(section()), 0) == MISREAD
    assert format_estatus(block(section()), 0, profile=kernel_profile.get("6.1")) == MISREAD


def test_kernel_6_1_reads_back_to_back_blocks():
    assert format_estatus(block(section(context_align=1)), 0) == BOTH_CONTEXTS


def test_kernel_6_14_reads_the_uefi_layout():
    assert format_estatus(block(section()), 0, profile=kernel_profile.get("6.14")) == BOTH_CONTEXTS
    assert format_estatus(block(section()), 0, profile=kernel_profile.get("mainline")) == BOTH_CONTEXTS


def test_kernel_6_14_misreads_back_to_back_blocks():
    # block 1 is looked for 32 bytes after block 0, i.e. 4 bytes into it: version 0x10,
    # type 0 (from block 1's size field), size 0xa4a3a2a1 (its first registers)
    out = format_estatus(block(section(context_align=1)), 0, profile=kernel_profile.get("6.14"))
    assert out[:len(HEAD) + 2] == HEAD + [P + "  Context info structure 1:",
                                          P + "   register context type: AArch32 general purpose registers"]
    assert P + "   register context type: AArch64 general purpose registers" not in out


def test_single_padded_context_on_6_1_shows_the_padding_as_vendor_bytes():
    sec = ArmSection(midr=1, context=[ArmContext(type=5, registers=REGS0)])
    out = format_estatus(block(sec), 0)
    assert out[-2:] == [P + "  Vendor specific error info has 4 bytes:",
                        P + "   00000000: 00000000                             ...."]
    assert format_estatus(block(sec), 0, profile=kernel_profile.get("6.14"))[-1] == \
        P + "   00000010: 24232221"


def test_unknown_profile_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown kernel profile '5.10'"):
        kernel_profile.get("5.10")
