"""`fwemu record convert`'s logic: status block <-> full CPER record <-> libcper JSON.

Independent checks: tests/cper_wrap.py frames a block as a full record without fwemu's code,
and PyPI `cper` (libcper's decoder) says what libcper's JSON of a record is."""

from __future__ import annotations

import json
import struct
import uuid

import cper
import pytest
from cper_wrap import NOTIFY_CMC, NOTIFY_MCE, wrap_record
from hypothesis import given, settings
from hypothesis import strategies as st

from fwemu import records, scenarios
from fwemu.errors import UsageError
from fwemu.records import convert as cv
from fwemu.records import cper_record as cr
from fwemu.records import model as m

KINDS = [k for k in scenarios.SCENARIOS if k != "raw"]
MEMORY_KINDS = list(scenarios.MEMORY)
# libcper JSON both ways (arm-ras: libcper 0.0.4 predates its Arm RAS parser, so base64 both ways)
JSON_KINDS = MEMORY_KINDS + ["generic-cpu", "pci-device", "nvidia", "cxl-general-media", "cxl-dram",
                             "cxl-memory-module", "arm-cache-ue", "x86-proc", "arm-ras",
                             "firmware-ref", "pcie-ue", "pcie-ce"]
# scenario bytes libcper's JSON cannot hold: the PCI bus command's low bits, a CXL 2.0
# agent's address, the ARM error-information type 0x04 (TLB in UEFI 2.9A's bitmap), which
# libcper 0.0.4 reads as an enum and does not know, so it drops the word, and a memory 2
# physical address without an error status (libcper writes it under the status's bit)
CARRY_REFUSED = ["pci-bus", "cxl-protocol", "arm-tlb", "memory2"]
VENDOR = uuid.UUID("12345678-9abc-4def-8123-456789abcdef")


def _block(kind: str, **fields) -> bytes:
    return records.encode(scenarios.build(kind, {f"--{k.replace('_', '-')}": v for k, v in fields.items()}))


@pytest.mark.parametrize("kind", KINDS)
def test_block_to_cper_matches_the_independent_wrapper(kind):
    raw = _block(kind)
    notify = NOTIFY_CMC if struct.unpack_from("<I", raw, 16)[0] == 2 else NOTIFY_MCE
    got = cr.block_to_record(raw, cr.HeaderOptions(timestamp="none", notification=notify)).encode()
    assert got == wrap_record(raw, notify)


@pytest.mark.parametrize("kind", KINDS)
def test_block_cper_block_is_byte_identical(kind):
    raw = _block(kind)
    rec = cv.convert(raw, "block", "cper")
    assert rec[16:20] == struct.pack("<I", 2)             # the header's timestamp bit
    assert rec[24:32] == raw[20 + 64:20 + 72]              # the entry's timestamp, as it is
    assert cv.convert(rec, "cper", "block") == raw


def test_cper_block_cper_keeps_the_header_given_its_options():
    opts = cr.HeaderOptions(record_id=0x1122334455, creator_id=uuid.uuid4(), platform_id=uuid.uuid4(),
                            partition_id=uuid.uuid4(), notification=cr.NOTIFY["sea"], flags=4, persistence=9)
    rec = cv.convert(_block("arm-cache-ue"), "block", "cper", opts)
    assert struct.unpack_from("<I", rec, 16)[0] == 7 and struct.unpack_from("<Q", rec, 96)[0] == 0x1122334455
    assert rec[80:96] == cr.NOTIFY["sea"].bytes_le
    assert cv.convert(cv.convert(rec, "cper", "block"), "block", "cper", opts) == rec


@pytest.mark.parametrize("kind", JSON_KINDS)
def test_block_libcper_json_block_and_json_equals_cper_parse(kind):
    raw = _block(kind)
    text = cv.convert(raw, "block", "libcper-json")
    assert json.loads(text) == cper.parse(cv.convert(raw, "block", "cper"))
    assert cv.convert(text, "libcper-json", "block") == raw
    # libcper's own JSON converts back to the same record bytes
    rec = cv.convert(raw, "block", "cper")
    assert cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper") == rec


def test_every_scenario_is_either_converted_or_refused():
    assert sorted(JSON_KINDS + CARRY_REFUSED) == sorted(KINDS)


def test_pci_bus_command_bits_are_refused_not_lost():
    # libcper's JSON keeps only bit 56 of the bus command (PCI or PCI-X), the scenario
    # writes command 6 (memory read) in the low bits
    with pytest.raises(UsageError) as exc:
        cv.convert(_block("pci-bus"), "block", "libcper-json")
    assert exc.value.field == "section 0 (PCI/PCI-X Bus)" and "from byte 40 on" in exc.value.reason
    raw = _block("pci-bus", bus_command="0")
    assert cv.convert(cv.convert(raw, "block", "libcper-json"), "libcper-json", "block") == raw


def test_cxl_protocol_agent_types_libcper_knows_convert():
    # libcper names agent types 0 and 1 (CXL 1.1) only and drops the agent address and
    # serial of any other: the scenario's default (2, CXL device) is refused, an RCH DP is not
    with pytest.raises(UsageError, match="cannot carry"):
        cv.convert(_block("cxl-protocol"), "block", "libcper-json")
    for fields in ({"agent_type": "rch-dp", "rcrb": "0xfed10000"}, {"agent_type": "rcd", "bdf": "0003:04:05.6"}):
        raw = _block("cxl-protocol", **fields)
        text = cv.convert(raw, "block", "libcper-json")
        assert json.loads(text) == cper.parse(cv.convert(raw, "block", "cper"))
        assert cv.convert(text, "libcper-json", "block") == raw


def test_memory2_converts_where_libcper_s_two_sides_agree():
    # libcper 0.0.4 writes the physical address under the error-status bit (0) and reads it
    # back under bit 1, and reads a bank given as address/group back as bits 20 and 21
    with pytest.raises(UsageError) as exc:
        cv.convert(_block("memory2"), "block", "libcper-json")
    assert exc.value.field == "section 0 (Platform Memory 2)" and "from byte 0 on" in exc.value.reason
    for fields in ({"error_status": "0x100", "bank": "3"},
                   {"error_status": "0x10400", "bank_group": "2", "bank_address": "5", "row": "0x12345",
                    "card_handle": "0xdeadbeef", "chip_id": "9", "target_id": "0x77"}):
        raw = _block("memory2", **fields)
        text = cv.convert(raw, "block", "libcper-json")
        rec = cv.convert(raw, "block", "cper")
        assert json.loads(text) == cper.parse(rec)
        sec = json.loads(text)["sections"][0]["Memory2"]
        assert sec["physicalAddress"] == 0x60000000 and sec["status"] == {"value": 1, "state": "Uncorrected"}
        assert cv.convert(text, "libcper-json", "block") == raw
        assert cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper") == rec


def test_vendor_and_firmware_sections_convert_through_libcper_json():
    blk = m.StatusBlock([m.Entry(m.RawSection(guid=VENDOR, data=bytes(range(37))), fru_text=b"DIMM A1"),
                         m.Entry(m.FirmwareRefSection(record_type=2, revision=1, record_identifier=77,
                                                      record_identifier_guid=uuid.uuid4()),
                                 fru_id=uuid.uuid4(), severity=0)])
    raw = records.encode(blk)
    rec = cv.convert(raw, "block", "cper")
    doc = json.loads(cv.convert(raw, "block", "libcper-json"))
    assert doc == cper.parse(rec)
    assert doc["sections"][0] == {"Unknown": {"data": __import__("base64").b64encode(bytes(range(37))).decode()}}
    assert cv.convert(json.dumps(doc).encode(), "libcper-json", "block") == raw


MEM = st.one_of(st.none(), st.integers(1, 0xFFFF))
# PyPI cper hands json-c's numbers to Python as int64: a u64 of 2**63 or more comes back as
# 2**63 - 1 (test_cper_parse_saturates_u64), so the comparison stays below that
I63 = (1 << 63) - 1
U64 = st.one_of(st.none(), st.integers(0, I63))


@settings(max_examples=60, deadline=None)
@given(pa=U64, mask=U64, node=MEM, card=MEM, module=MEM, device=MEM, column=MEM, bitpos=MEM,
       rank=MEM, req=U64, resp=U64, target=U64, etype=st.one_of(st.none(), st.integers(0, 255)),
       bank=st.one_of(st.none(), st.tuples(st.integers(1, 255), st.integers(1, 255))),
       row=st.one_of(st.none(), st.integers(0x10000, (1 << 18) - 1)),
       handles=st.tuples(MEM, MEM), chip=st.one_of(st.none(), st.integers(0, 7)),
       record_id=st.integers(0, I63), flags=st.integers(0, 7),
       sev=st.sampled_from([0, 1, 2, 3]), plat=st.booleans())
def test_random_memory_records_round_trip_through_libcper_json(pa, mask, node, card, module, device, column,
                                                                bitpos, rank, req, resp, target, etype, bank,
                                                                row, handles, chip, record_id, flags, sev, plat):
    # chip id and the SMBIOS handles only show in libcper's JSON with ROW_EXT (row > 0xffff)
    extra = {"card_handle": handles[0], "module_handle": handles[1], "chip_id": chip} if row else {}
    sec = m.MemorySection(physical_address=pa, physical_address_mask=mask, node=node, card=card,
                          module=module, device=device, column=column, bit_position=bitpos, rank=rank,
                          requestor_id=req, responder_id=resp, target_id=target, error_type=etype,
                          bank_group=bank and bank[0], bank_address=bank and bank[1], row=row, **extra)
    raw = records.encode(m.StatusBlock([m.Entry(sec, severity=sev, timestamp=m.Timestamp(2025, 6, 7, 8, 9, 10))]))
    opts = cr.HeaderOptions(record_id=record_id, flags=flags, platform_id=uuid.uuid4() if plat else None)
    rec = cv.convert(raw, "block", "cper", opts)
    text = cv.convert(raw, "block", "libcper-json", opts)
    assert json.loads(text) == cper.parse(rec)
    assert cv.convert(text, "libcper-json", "block") == raw
    assert cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper") == rec


@pytest.mark.parametrize("make, field", [
    (lambda: m.StatusBlock([m.Entry(m.MemorySection(physical_address=1))], raw_data=b"xy"), "raw_data"),
    (lambda: m.StatusBlock([m.Entry(m.MemorySection(physical_address=1), timestamp=m.Timestamp(second=1)),
                            m.Entry(m.MemorySection(physical_address=2), timestamp=m.Timestamp(second=2))]),
     "timestamp"),
    (lambda: m.StatusBlock([m.Entry(m.MemorySection(physical_address=1))], block_status=0x3), "block_status"),
])
def test_what_a_record_cannot_carry_is_refused_by_name(make, field):
    with pytest.raises(UsageError) as exc:
        cv.convert(records.encode(make()), "block", "cper")
    assert exc.value.field == field


def test_libcper_json_that_would_not_come_back_is_refused():
    # bank group 0 with its bit set: libcper's JSON shows the same as no bank at all
    raw = records.encode(m.StatusBlock([m.Entry(m.MemorySection(physical_address=1, bank_group=0))]))
    with pytest.raises(UsageError) as exc:
        cv.convert(raw, "block", "libcper-json")
    assert exc.value.field == "section 0 (Platform Memory)" and "cannot carry" in str(exc.value)


def test_a_kind_fwemu_does_not_model_is_refused_by_name_both_ways():
    # libcper decodes DMAr generic sections; fwemu neither models nor converts them
    dmar = uuid.UUID("5b51fef7-c79d-4434-8f1b-aa62de3e2c64")
    raw = records.encode(m.StatusBlock([m.Entry(m.RawSection(guid=dmar, data=bytes(64)))]))
    with pytest.raises(UsageError) as exc:
        cv.convert(raw, "block", "libcper-json")
    assert str(exc.value) == "section 0 (DMAr Generic): fwemu does not write libcper's GenericDmar JSON yet"
    rec = cv.convert(raw, "block", "cper")
    with pytest.raises(UsageError) as exc:
        cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "block")
    assert exc.value.field == "sections[0].GenericDmar"


@pytest.mark.parametrize("kind", ["pcie-ue", "pcie-ce"])
def test_pcie_libcper_json_both_ways(kind):
    raw = _block(kind, serial="0x1122334455667788", bdf="0002:03:04.5", bridge_control="0x23")
    rec = cv.convert(raw, "block", "cper")
    text = cv.convert(raw, "block", "libcper-json")
    doc = json.loads(text)
    assert doc == cper.parse(rec)
    pcie = doc["sections"][0]["Pcie"]
    assert pcie["deviceID"]["segmentNumber"] == 2 and pcie["deviceID"]["functionNumber"] == 5
    assert pcie["deviceSerialNumber"] == 0x1122334455667788
    assert pcie["bridgeControlStatus"]["controlRegister"] == 0x23
    assert cv.convert(text, "libcper-json", "block") == raw
    assert cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper") == rec


def _pcie_json(sec: m.PcieSection) -> tuple[bytes, bytes, str]:
    """A PCIe section's block, its full record, and fwemu's libcper JSON of it."""
    raw = records.encode(m.StatusBlock([m.Entry(sec)]))
    return raw, cv.convert(raw, "block", "cper"), cv.convert(raw, "block", "libcper-json")


def test_pcie_capability_version_picks_the_registers_libcper_shows():
    # libcper shows the "2" registers (Device Capabilities 2 on) for a capability version of
    # 2 or more only; the version is the low nibble of the capability's byte 2
    for version, shown in ((1, False), (2, True)):
        cap = bytes([0x10, 0, version | 0x40]) + bytes(range(3, 60))
        _raw, rec, text = _pcie_json(m.PcieSection(port_type=4, capability=cap))
        got = json.loads(text)["sections"][0]["Pcie"]["capabilityStructure"]
        assert got == cper.parse(rec)["sections"][0]["Pcie"]["capabilityStructure"]
        assert ("link_status2" in got) == shown
        assert got["pcie_capabilities"]["device_port_type"] == {"raw": 4, "value": "DOWNSTREAM"}


# what libcper's PCIe JSON cannot carry, and the words naming it in the refusal
PCIE_REFUSED = [
    (dict(version_major=0x1F, version_minor=0), "byte 13 (version major)"),     # not BCD
    (dict(version_major=3, version_minor=0xA0), "byte 12 (version minor)"),
    (dict(port_type=4, reserved=0x1), "bytes 14-15"),                              # version's upper half
    (dict(port_type=4, reserved=0x5 << 16), "bytes 20-23"),
    (dict(vendor_id=1, reserved=0x7 << 48), "byte 39"),
    (dict(vendor_id=1, slot=0x8 | 2), "byte 37"),                                  # slot number bits 2:0
    (dict(port_type=4, explicit_validation_bits=0x101), "validation bits 8-63"),
    (dict(port_type=4, aer_info=b"\1", explicit_validation_bits=0x1), "without validation bit 7"),
    (dict(command=6, explicit_validation_bits=0), "without validation bit 2"),
]


@pytest.mark.parametrize("fields, named", PCIE_REFUSED)
def test_pcie_bytes_libcper_json_cannot_carry_are_refused_by_name(fields, named):
    with pytest.raises(UsageError) as exc:
        _pcie_json(m.PcieSection(**fields))
    assert exc.value.field == "section 0 (PCIe)" and "cannot carry" in exc.value.reason
    assert named in exc.value.reason


def test_pcie_bytes_past_the_section_are_refused_by_name():
    pcie = uuid.UUID("d995e954-bbc1-430f-ad91-b44dcb3c6f35")
    raw = records.encode(m.StatusBlock([m.Entry(m.RawSection(guid=pcie, data=bytes(210)))]))
    with pytest.raises(UsageError) as exc:
        cv.convert(raw, "block", "libcper-json")
    assert exc.value.field == "section 0 (PCIe)" and "bytes 208-209" in exc.value.reason


BCD = st.builds(lambda hi, lo: hi << 4 | lo, st.integers(0, 9), st.integers(0, 9))
U8, U16 = st.integers(0, 0xFF), st.integers(0, 0xFFFF)


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


@st.composite
def _pcie_sections(draw):
    """Random PCIe sections: any group of fields there or not, random validation bits at
    times, version bytes mostly BCD, reserved bits mostly clear, random capability (its
    version low at times) and AER bytes."""
    f: dict = {"port_type": draw(_maybe(st.integers(0, 0xFFFF_FFFF))),
               "serial_number": draw(_maybe(st.integers(0, I63)))}
    if draw(st.booleans()):
        f["version_major"], f["version_minor"] = draw(st.tuples(st.one_of(BCD, BCD, U8), st.one_of(BCD, BCD, U8)))
    if draw(st.booleans()):
        f["command"], f["status"] = draw(st.tuples(U16, U16))
    if draw(st.booleans()):
        (f["vendor_id"], f["device_id"], f["class_code"], f["function"], f["device"], f["segment"], f["bus"],
         f["secondary_bus"]) = draw(st.tuples(U16, U16, st.integers(0, 0xFF_FFFF), U8, U8, U16, U8, U8))
        slot = st.integers(0, 0x1FFF).map(lambda n: n << 3)      # the slot number, bits 15:3
        f["slot"] = draw(st.one_of(slot, slot, U16))
    if draw(st.booleans()):
        f["bridge_secondary_status"], f["bridge_control"] = draw(st.tuples(U16, U16))
    if draw(st.booleans()):
        cap = bytearray(draw(st.binary(min_size=60, max_size=60)))
        if draw(st.booleans()):
            cap[2] = cap[2] & 0xF0 | draw(st.integers(0, 1))
        f["capability"] = bytes(cap)
    f["aer_info"] = draw(_maybe(st.binary(min_size=96, max_size=96)))
    f["explicit_validation_bits"] = draw(st.one_of(st.none(), st.none(), U8, st.integers(0, (1 << 64) - 1)))
    f["reserved"] = draw(st.one_of(st.just(0), st.just(0), st.integers(0, (1 << 56) - 1)))
    return m.PcieSection(**f)


def _pcie_uncarried(sec: m.PcieSection) -> set[str]:
    """The documented reasons libcper's JSON cannot carry this section, as the refusal
    names them (the UEFI N.2.7 layout: sections/pcie.py)."""
    v = sec.validation_bits
    out = set()
    if v >> 8:
        out.add("validation bits 8-63")
    groups = (("port_type",), ("version_major", "version_minor"), ("command", "status"),
              ("vendor_id", "device_id", "class_code", "function", "device", "segment", "bus", "secondary_bus",
               "slot"), ("serial_number",), ("bridge_secondary_status", "bridge_control"), ("capability",),
              ("aer_info",))
    for bit, names in enumerate(groups):
        values = [getattr(sec, n) for n in names]
        if not v >> bit & 1 and any(any(x) if isinstance(x, bytes) else x for x in values if x is not None):
            out.add(f"without validation bit {bit}")
    for what, b in (("minor", sec.version_minor), ("major", sec.version_major)):
        if v & 2 and b is not None and (b >> 4 > 9 or b & 0xF > 9):
            out.add(f"(version {what})")
    for mask, named in ((0xFFFF, "bytes 14-15"), (0xFFFF_FFFF << 16, "bytes 20-23"), (0xFF << 48, "byte 39")):
        if sec.reserved & mask:
            out.add(named)
    if (sec.slot or 0) & 7:
        out.add("byte 37")
    return out


@settings(max_examples=200, deadline=None)
@given(sec=_pcie_sections())
def test_random_pcie_sections_convert_or_are_refused_for_a_documented_reason(sec):
    raw = records.encode(m.StatusBlock([m.Entry(sec)]))
    rec = cv.convert(raw, "block", "cper")
    expected = _pcie_uncarried(sec)
    try:
        text = cv.convert(raw, "block", "libcper-json")
    except UsageError as exc:
        assert exc.field == "section 0 (PCIe)" and "cannot carry" in exc.reason
        assert expected and any(why in exc.reason for why in expected), (expected, str(exc))
        return
    assert not expected
    assert json.loads(text) == cper.parse(rec)
    assert cv.convert(text, "libcper-json", "block") == raw
    assert cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper") == rec


def _word(*fields: tuple[int, int]) -> int:
    """An ARM error-information word (UEFI N.2.4.4.1-3): validation bits 15:0, then each
    (first bit, value) field; a field's validation bit is its index among the fields."""
    w = 0
    for bit, (first, value) in enumerate(fields):
        w |= 1 << bit | value << first
    return w


CACHE_FIELDS = ((16, 1), (18, 3), (22, 2), (25, 1), (26, 0), (27, 1), (28, 1))
BUS_FIELDS = CACHE_FIELDS + ((29, 2), (31, 1), (32, 3), (34, 0x1A5))


@pytest.mark.parametrize("info", [
    m.ArmErrorInfo(type=0, error_info=_word(*CACHE_FIELDS), multiple_error=2, flags=0xF),   # libcper's enum: cache
    m.ArmErrorInfo(type=1, error_info=_word(*CACHE_FIELDS[:5]), virt_fault_addr=0x7000),     # TLB
    m.ArmErrorInfo(type=2, error_info=_word(*BUS_FIELDS) | 1 << 11 | 1 << 43, physical_fault_addr=1),  # bus
    m.ArmErrorInfo(type=3, flags=1),                                                        # micro-architectural
])
def test_arm_error_information_as_libcper_reads_it(info):
    sec = m.ArmSection(error_info=[info, m.ArmErrorInfo(type=2, error_info=_word(*CACHE_FIELDS[:2]))],
                       mpidr=0x81000100, affinity_level=1, running_state=1, psci_state=0x10, midr=0x410FD0C0,
                       vendor=b"\x01\x02\x03")
    raw = records.encode(m.StatusBlock([m.Entry(sec)]))
    text = cv.convert(raw, "block", "libcper-json")
    assert json.loads(text) == cper.parse(cv.convert(raw, "block", "cper"))
    assert cv.convert(text, "libcper-json", "block") == raw


def _ctx(kind: int, size: int) -> m.ArmContext:
    # bytes below 0x80, so no 64-bit register reaches 2**63 (cper.parse saturates there)
    return m.ArmContext(type=kind, registers=bytes((7 * k + kind) & 0x7F for k in range(size)))


def test_arm_context_blocks_back_to_back_convert():
    # one of each type libcper names (sizes: its register tables), a misc register, and a
    # type it does not know (base64)
    contexts = [_ctx(0, 64), _ctx(1, 96), _ctx(2, 64), _ctx(3, 8), _ctx(4, 256), _ctx(5, 136), _ctx(6, 120),
                _ctx(7, 80), m.ArmContext(type=8, registers=struct.pack("<HQ", 0x5A5A, 0x1122)), _ctx(11, 24)]
    sec = m.ArmSection(error_info=[m.ArmErrorInfo(type=0, error_info=_word(*CACHE_FIELDS))], context=contexts,
                       context_align=1, mpidr=1)
    raw = records.encode(m.StatusBlock([m.Entry(sec)]))
    text = cv.convert(raw, "block", "libcper-json")
    doc = json.loads(text)
    assert doc == cper.parse(cv.convert(raw, "block", "cper"))
    assert doc["sections"][0]["ArmProcessor"]["contextInfo"][4]["registerArray"]["x1"] == \
        int.from_bytes(contexts[4].registers[8:16], "little")
    assert cv.convert(text, "libcper-json", "block") == raw


def test_arm_padded_contexts_are_what_libcper_makes_of_them():
    # UEFI's 16-byte padding (fwemu's default): libcper reads the blocks back to back, takes
    # the padding after the first for a second header, fails, and writes the whole section
    # as base64, which converts back exactly
    sec = m.ArmSection(context=[_ctx(4, 256), _ctx(5, 136)])
    raw = records.encode(m.StatusBlock([m.Entry(sec)]))
    text = cv.convert(raw, "block", "libcper-json")
    doc = json.loads(text)
    assert doc == cper.parse(cv.convert(raw, "block", "cper"))
    assert list(doc["sections"][0]) == ["Unknown"]
    assert cv.convert(text, "libcper-json", "block") == raw


def test_arm_unshown_bits_are_refused():
    # libcper shows the access mode under bit 8 and reads it back under bit 11: either alone
    for word in (1 << 11 | 1 << 43, 1 << 8 | 1 << 43):
        sec = m.ArmSection(error_info=[m.ArmErrorInfo(type=2, error_info=word)])
        with pytest.raises(UsageError, match="cannot carry"):
            cv.convert(records.encode(m.StatusBlock([m.Entry(sec)])), "block", "libcper-json")


def test_detect():
    raw = _block("memory-ue")
    assert cv.detect(raw) == "block"
    assert cv.detect(cv.convert(raw, "block", "cper")) == "cper"
    assert cv.detect(b'  {"header": {}}') == "libcper-json"


def test_cper_parse_saturates_u64_where_fwemu_keeps_the_value():
    raw = _block("memory-ue")
    rec = cv.convert(raw, "block", "cper", cr.HeaderOptions(record_id=(1 << 64) - 2))
    assert cper.parse(rec)["header"]["recordID"] == I63           # PyPI cper's conversion
    doc = json.loads(cv.convert(rec, "cper", "libcper-json"))
    assert doc["header"]["recordID"] == (1 << 64) - 2              # what the bytes hold
    assert cv.convert(json.dumps(doc).encode(), "libcper-json", "cper") == rec


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2, 1 << 65) | st.text(max_size=8),
                           lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=12), kids,
                                                                                     max_size=4), max_leaves=12)


def _mutated_json(draw_doc, path, value):
    """libcper's JSON of a memory record with one member (by path) replaced."""
    node = draw_doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(draw_doc).encode()


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from([("header",), ("header", "severity"), ("header", "timestamp"), ("header", "recordID"),
                             ("header", "notificationType"), ("sectionDescriptors",), ("sectionDescriptors", 0),
                             ("sectionDescriptors", 0, "flags"), ("sectionDescriptors", 0, "fruText"),
                             ("sectionDescriptors", 0, "sectionType"), ("sections",), ("sections", 0),
                             ("sections", 0, "Memory"), ("sections", 0, "Memory", "bank"),
                             ("sections", 0, "Memory", "physicalAddress"), ("sections", 0, "Memory", "errorStatus"),
                             ("sections", 0, "Memory", "extended")]),
       value=JSON_VALUES)
def test_bad_libcper_json_is_a_usage_error_or_converts(path, value):
    """Whatever a member holds, converting gives bytes or one UsageError naming a field."""
    doc = json.loads(cv.convert(_block("memory-ue", error_status="0x10400"), "block", "libcper-json"))
    data = _mutated_json(doc, path, value)
    try:
        out = cv.convert(data, "libcper-json", "block")
    except UsageError as exc:
        assert exc.field and exc.reason
    else:
        assert records.check(out).valid


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), form=st.sampled_from(["block", "cper"]))
def test_random_bytes_are_a_usage_error_or_convert(data, form):
    src = cr.SIGNATURE + data if form == "cper" else data
    try:
        cv.convert(src, form, "libcper-json" if form == "cper" else "cper")
    except UsageError as exc:
        assert exc.field and exc.reason


@settings(max_examples=200, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
       to=st.sampled_from(["block", "libcper-json"]))
def test_a_damaged_record_is_a_usage_error_or_converts(edits, to):
    rec = bytearray(cv.convert(_block("memory-ce", error_status="0x10400"), "block", "cper"))
    for pos, byte in edits:
        rec[pos % len(rec)] = byte
    try:
        out = cv.convert(bytes(rec), "cper", to)
    except UsageError as exc:
        assert exc.field and exc.reason
    else:
        assert out
