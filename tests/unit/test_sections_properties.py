"""Property tests for the newer section kinds (records/sections/), over field values and
validation bits:

    decode(encode(x)) == x              (a model whose validation bits are derived)
    encode(decode(encode(x))) == encode(x), and that decode is a fixed point
                                        (a model with any explicit validation bits)
    encode(decode(b)) == b              (any bytes under these GUIDs, typed or raw)
    block_from_json(json(x)) == x, check(encode(x)).valid
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu import records
from fwemu.records import sections as S
from fwemu.records.model import Entry, RawSection, StatusBlock, block_from_json

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

u64 = st.integers(0, (1 << 64) - 1)


def opt(s):
    return st.none() | s


def layout_kwargs(draw, cls, skip=()) -> dict:
    """Every layout field of a LayoutSection class: None or a value for the ones with a
    validation bit, a value for the others; reserved bytes of any content."""
    kw = {}
    for f in cls.LAYOUT.fields:
        if f.computed or f.name in skip:
            continue
        val = st.binary(min_size=f.size, max_size=f.size) if f.raw else st.integers(0, f.maximum)
        kw[f.name] = draw(val if f.bit is None else opt(val))
    n = cls.LAYOUT.reserved_len
    kw["reserved"] = draw(st.binary(min_size=n, max_size=n) | st.just(b""))
    return kw


SBDF = ("agent_segment", "agent_bus", "agent_device", "agent_function", "agent_address_reserved")


@st.composite
def cxl_protocol(draw):
    rcrb = draw(st.booleans())
    kw = layout_kwargs(draw, S.CxlProtocolSection, skip=("agent_type",) + (SBDF if rcrb else ()))
    # the agent address is a union chosen by the agent type: 1 = the RCRB base
    kw["agent_type"] = 1 if rcrb else draw(opt(st.integers(0, 255).filter(lambda t: t != 1)))
    if rcrb:
        kw["rcrb_base_address"] = draw(opt(u64))
    kw["dvsec"] = draw(opt(st.binary(max_size=40)))
    kw["error_log"] = draw(opt(st.binary(max_size=96)))
    kw["trailing"] = draw(st.binary(max_size=12))
    return S.CxlProtocolSection(**kw)


def cxl_event(cls):
    @st.composite
    def strategy(draw):
        kw = layout_kwargs(draw, cls)
        kw["trailing"] = draw(st.binary(max_size=12))
        return cls(**kw)
    return strategy()


@st.composite
def pci_bus(draw):
    return S.PciBusSection(**layout_kwargs(draw, S.PciBusSection))


@st.composite
def pci_device(draw):
    kw = layout_kwargs(draw, S.PciDeviceSection)
    kw["registers"] = draw(opt(st.lists(st.tuples(u64, u64), max_size=3)))
    kw["trailing"] = draw(st.binary(max_size=15))
    return S.PciDeviceSection(**kw)


x86_infos = st.builds(S.X86ErrorInfo, type=st.sampled_from(list(S.x86_processor.CHECK_TYPES.values())),
                      check_info=opt(u64), target_id=opt(u64), requestor_id=opt(u64),
                      responder_id=opt(u64), ip=opt(u64))
x86_contexts = st.builds(S.X86Context, register_type=st.integers(0, 0xFFFF),
                         registers=st.binary(max_size=40), msr_address=st.integers(0, 0xFFFF_FFFF),
                         mm_register_address=u64)
x86 = st.builds(S.X86ProcessorSection, apic_id=opt(u64), cpuid_info=opt(st.binary(min_size=48, max_size=48)),
                error_info=st.lists(x86_infos, max_size=3), context=st.lists(x86_contexts, max_size=2),
                trailing=st.binary(max_size=8))

nvidia = st.builds(S.NvidiaSection, signature=st.binary(max_size=16), error_type=st.integers(0, 0xFFFF),
                   error_instance=st.integers(0, 0xFFFF), severity=st.integers(0, 255),
                   socket=st.integers(0, 255), instance_base=u64,
                   registers=st.lists(st.tuples(u64, u64), max_size=3), trailing=st.binary(max_size=8),
                   reserved=st.binary(max_size=1))


@st.composite
def memory2(draw):
    kw = layout_kwargs(draw, S.Memory2Section)
    word = draw(opt(st.integers(0, 0xFFFF)))     # bank, or its group/address halves
    if word is not None and draw(st.booleans()):
        kw["bank"] = word
    elif word is not None:
        kw["bank_group"] = draw(opt(st.just(word >> 8)))
        kw["bank_address"] = draw(opt(st.just(word & 0xFF)))
    return S.Memory2Section(**kw)


syndromes = st.builds(S.ErrorSyndrome, index=st.integers(0, 0xFFFF_FFFF), ras_revision=st.integers(0, 255),
                      err_fr=u64, err_status=u64, err_addr=u64, err_misc3=u64,
                      reserved=st.binary(min_size=3, max_size=3))


aux_data = st.builds(S.AuxData, contexts=st.lists(st.builds(
    S.AuxContext, local=st.booleans(), address_space_id=st.integers(0, 0xFFFF),
    registers=st.lists(st.tuples(u64, u64), max_size=2)), max_size=2),
    pairs=st.lists(st.builds(S.AuxPair, key=st.uuids(), value=u64), max_size=2), version=st.integers(0, 255))


@st.composite
def arm_ras(draw):
    kw = {f.name: draw(st.binary(min_size=f.size, max_size=f.size) if f.raw else st.integers(0, f.maximum))
          for f in S.ArmRasSection.LAYOUT.fields if not f.computed}
    kw["reserved"] = draw(st.binary(min_size=9, max_size=9) | st.just(b""))
    kw["error_syndromes"] = draw(st.lists(syndromes, max_size=3))
    if draw(st.booleans()):
        kw["auxiliary_data"] = draw(st.binary(max_size=40) | aux_data)
    else:
        kw["trailing"] = draw(st.binary(max_size=8))
    return S.ArmRasSection(**kw)


SECTIONS = (cxl_protocol() | cxl_event(S.CxlGeneralMediaSection) | cxl_event(S.CxlDramSection)
            | cxl_event(S.CxlMemoryModuleSection) | pci_bus() | pci_device() | x86 | nvidia
            | memory2() | arm_ras())
severities = st.sampled_from([0, 2, 3])


def block_of(sec, sev) -> StatusBlock:
    return StatusBlock([Entry(sec, severity=sev)])


@SETTINGS
@given(SECTIONS, severities)
def test_decode_inverts_encode(sec, sev):
    blk = block_of(sec, sev)
    raw = records.encode(blk)
    assert records.check(raw).valid
    assert records.decode(raw) == blk
    assert type(sec).decode(sec.encode()) == sec


@SETTINGS
@given(SECTIONS, severities)
def test_json_roundtrip(sec, sev):
    blk = block_of(sec, sev)
    assert block_from_json(json.loads(json.dumps(blk.to_json()))) == blk


@SETTINGS
@given(SECTIONS, st.data())
def test_explicit_validation_bits_keep_the_bytes(sec, data):
    """Any wire validation bits: the bytes survive decode -> encode, and the decoded model
    is a fixed point (a field whose bit is cleared and whose bytes are zero reads back as
    absent: the model's canonical form of those bytes)."""
    if isinstance(sec, S.X86ProcessorSection):     # bits 13:2 are the structure counts
        noise = data.draw(u64) & ~0x3FFC
        sec.explicit_validation_bits = (sec.derived_validation_bits() & 0x3FFC) | noise
    elif isinstance(sec, S.NvidiaSection):          # no validation bits: a count instead
        sec.number_regs = data.draw(st.integers(len(sec.registers), 255))
    elif isinstance(sec, S.ArmRasSection):          # no validation bits, computed offsets
        pass
    else:
        sec.explicit_validation_bits = data.draw(st.integers(0, sec.LAYOUT.valid_max))
    body = sec.encode()
    back = S.decode(sec.GUID, body)
    assert back is not None and back.encode() == body
    assert S.decode(sec.GUID, back.encode()) == back


GUIDS = [mod.GUID for mod in S.MODULES]
FIXED = {S.cxl_protocol.GUID: 116, S.cxl_general_media.GUID: 144, S.cxl_dram.GUID: 144,
         S.cxl_memory_module.GUID: 144, S.pci_bus.GUID: 72, S.pci_device.GUID: 40,
         S.x86_processor.GUID: 64, S.nvidia.GUID: 32, S.memory2.GUID: 96, S.arm_ras.GUID: 80}


@SETTINGS
@given(st.sampled_from(GUIDS), st.data())
def test_any_bytes_encode_back_unchanged(guid, data):
    size = data.draw(st.integers(0, FIXED[guid] + 48))
    body = data.draw(st.binary(min_size=size, max_size=size))
    raw = records.encode(StatusBlock([Entry(RawSection(guid=guid, data=body))]))
    blk = records.decode(raw)
    assert records.encode(blk) == raw
    sec = blk.entries[0].section
    if len(body) < FIXED[guid] or (guid in (S.pci_bus.GUID, S.memory2.GUID) and len(body) != FIXED[guid]):
        assert isinstance(sec, RawSection)  # PCI bus and memory 2 are fixed-size, as PCIe is
    elif guid not in (S.x86_processor.GUID, S.arm_ras.GUID):   # typed only when counts/offsets fit
        assert not isinstance(sec, RawSection), type(sec)


@pytest.mark.parametrize("mod", S.MODULES, ids=lambda m: m.KIND)
def test_every_module_exposes_the_table_interface(mod):
    assert mod.Section.KIND == mod.KIND and mod.Section.GUID == mod.GUID
    assert S.BY_GUID[mod.GUID] is mod and S.CLASSES[mod.KIND] is mod.Section
    for name in ("print_section", "ghes_proc"):
        assert callable(getattr(mod, name))
    assert mod.__doc__ and "| off |" in mod.__doc__ or mod.KIND.startswith("cxl-")
