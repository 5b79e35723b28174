"""records.Packer.pack_columns (the C slot-table encoder, csrc/pack.c) gives the bytes of
Packer.pack of each row, for random templates and random values of every section kind a
scenario posts; bad values, columns of the wrong shape and empty batches."""

from __future__ import annotations

import dataclasses
import uuid
from array import array

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import arm_sections, fwref_sections, memory_sections, pcie_sections, proc_sections
from test_sections_properties import arm_ras, cxl_event, cxl_protocol, memory2, nvidia, pci_bus, pci_device, x86

from fwemu import records, scenarios
from fwemu.errors import UsageError
from fwemu.records import model as m
from fwemu.records import sections as S
from fwemu.records.batch import _limits

# random sections per class (the property-test strategies of tests/unit)
STRATEGIES = {
    m.MemorySection: memory_sections(), m.ArmSection: arm_sections, m.PcieSection: pcie_sections(),
    m.ProcessorGenericSection: proc_sections, m.FirmwareRefSection: fwref_sections,
    S.CxlProtocolSection: cxl_protocol(), S.CxlGeneralMediaSection: cxl_event(S.CxlGeneralMediaSection),
    S.CxlDramSection: cxl_event(S.CxlDramSection), S.CxlMemoryModuleSection: cxl_event(S.CxlMemoryModuleSection),
    S.PciBusSection: pci_bus(), S.PciDeviceSection: pci_device(), S.X86ProcessorSection: x86,
    S.NvidiaSection: nvidia, S.Memory2Section: memory2(), S.ArmRasSection: arm_ras(),
}


def _scenario_class(kind: str) -> type | None:
    """The section class of a scenario's block (None: a scenario with no integer fields)."""
    if kind == "raw":
        return None      # raw bytes of any GUID: nothing for a Packer to vary
    sec = scenarios.build(kind).entries[0].section
    return type(sec) if _limits(sec) else None


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KINDS = [k for k in scenarios.SCENARIOS if _scenario_class(k) is not None]


def test_every_scenario_with_integer_fields_is_covered():
    assert len(KINDS) == len(scenarios.SCENARIOS) - 1
    assert {_scenario_class(k) for k in KINDS} <= set(STRATEGIES)


@st.composite
def templates(draw, cls):
    """A one-entry block around a random section of `cls`: random entry header (revision,
    severity, flags, FRU id and text, timestamp), block status and raw data; sometimes the
    section's validation bits given explicitly."""
    sec = draw(STRATEGIES[cls])
    if draw(st.booleans()):
        try:
            sec = dataclasses.replace(sec, explicit_validation_bits=draw(st.integers(0, 0xFFFF_FFFF)))
        except (TypeError, UsageError):
            pass        # a kind with no validation word (or none that wide)
    revision = draw(st.sampled_from([0x0300, 0x0200, 0x0301]))
    ts = draw(st.none() | st.builds(m.Timestamp, second=st.integers(0, 59))) if revision >= 0x0300 else None
    entry = m.Entry(sec, severity=draw(st.integers(0, 3)), flags=draw(st.integers(0, 255)),
                    fru_id=draw(st.none() | st.builds(uuid.UUID, int=st.integers(0, (1 << 128) - 1))),
                    fru_text=draw(st.none() | st.binary(min_size=1, max_size=20).filter(lambda b: not b.endswith(b"\0"))),
                    timestamp=ts, revision=revision)
    return m.StatusBlock([entry], raw_data=draw(st.binary(max_size=24)),
                         block_status=draw(st.none() | st.integers(1, 0xFFFF_FFFF)))


@SETTINGS
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_pack_columns_is_pack_of_each_row(kind, data):
    template = data.draw(templates(_scenario_class(kind)))
    limits = _limits(template.entries[0].section)
    fields = data.draw(st.lists(st.sampled_from(sorted(limits)), min_size=1, max_size=4, unique=True))
    try:
        p = records.Packer(template, fields)
    except UsageError:
        return          # the model refuses those fields set to 0 (tests/unit/test_packer.py)
    n = data.draw(st.integers(0, 12))
    rows = [tuple(data.draw(st.integers(0, limits[f])) for f in fields) for _ in range(n)]
    columns = [[row[j] for row in rows] for j in range(len(fields))]
    want = [p.pack(*row) for row in rows]
    assert p.pack_columns(columns) == b"".join(want)
    assert p.pack_columns_list([array("Q", c) for c in columns]) == want
    assert p.pack_columns(dict(zip(fields, columns, strict=True))) == b"".join(want)
    if rows:
        assert p.stride == len(want[0])


def _packer() -> records.Packer:
    return records.Packer(m.StatusBlock([m.Entry(m.MemorySection(error_type=3))]),
                          ["physical_address", "node", "row"])


@pytest.mark.parametrize("field, bad, message", [
    (0, 1 << 64, "does not fit (0 .. 0xffffffffffffffff)"),
    (1, 0x10000, "does not fit (0 .. 0xffff)"),
    (2, 1 << 18, "does not fit (0 .. 0x3ffff)"),
    (1, -1, "does not fit (0 .. 0xffff)"),
    (2, True, "must be an integer, got True"),
    (0, 1.0, "must be an integer, got 1.0"),
    (1, None, "must be an integer, got None"),
])
@pytest.mark.parametrize("index", [0, 17, 99])
def test_a_bad_value_anywhere_is_refused_by_field_and_index(field, bad, message, index):
    p = _packer()
    columns = [list(range(100)) for _ in range(3)]
    columns[field][index] = bad
    name = p.fields[field]
    want = f"{name}[{index}]: " + (f"{bad:#x} " if message.startswith("does") else "") + message
    with pytest.raises(UsageError) as exc:
        p.pack_columns(columns)
    assert str(exc.value).startswith(want)
    with pytest.raises(UsageError):    # pack() of that row refuses it too
        p.pack(*(c[index] for c in columns))


def test_the_first_bad_value_in_record_order_is_named():
    p = _packer()
    columns = [array("Q", range(50)), list(range(50)), list(range(50))]
    columns[2][30] = 1 << 18          # checked in C
    columns[1][20] = 1 << 16          # earlier record, checked in C
    with pytest.raises(UsageError, match=r"^node\[20\]: 0x10000 does not fit"):
        p.pack_columns(columns)
    columns[2][10] = -5               # a value no uint64 holds, earlier still
    with pytest.raises(UsageError, match=r"^row\[10\]: -0x5 does not fit"):
        p.pack_columns(columns)
    # a refused batch leaves nothing behind
    good = [list(range(3))] * 3
    assert p.pack_columns_list(good) == [p.pack(i, i, i) for i in range(3)]


def test_in_range_values_that_a_narrow_slot_could_truncate_are_kept():
    # the row is 18 bits: its low 16 at one offset, bits 17:16 (and the ROW_EXT bit) elsewhere
    p = _packer()
    rows = [(1, 2, 0xFFFF), (1, 2, 0x10000), (1, 2, 0x3FFFF), (1, 2, 0)]
    assert p.pack_columns_list(list(zip(*rows, strict=True))) == [p.pack(*r) for r in rows]


@pytest.mark.parametrize("columns, message", [
    ([[1, 2], [1, 2]], "columns: 2 given for 3 fields"),
    ([[1, 2], [1, 2], [1, 2], [1, 2]], "columns: 4 given for 3 fields"),
    ([[1, 2], [1], [1, 2]], "columns: node has 1 values, physical_address has 2"),
    ([[1, 2], [1, 2], array("Q", [1, 2, 3])], "columns: row has 3 values, physical_address has 2"),
    ({"physical_address": [1], "node": [1]}, "columns: no column for row"),
    ({"physical_address": [1], "node": [1], "row": [1], "bank": [1]}, "columns: 'bank' is not one of"),
    ([[1, 2], 5, [1, 2]], "columns: a column is a sequence of integers, got int"),
    ("abc", "columns: a sequence of columns"),
])
def test_columns_of_the_wrong_shape_are_refused(columns, message):
    with pytest.raises(UsageError) as exc:
        _packer().pack_columns(columns)
    assert str(exc.value).startswith(message)


def test_no_records():
    p = _packer()
    assert p.pack_columns([[], [], []]) == b""
    assert p.pack_columns_list([array("Q"), array("Q"), []]) == []


def test_a_packer_that_varies_no_field_refuses_columns():
    """With no varied field there is no column to count the records by: refused, not b""."""
    p = records.Packer(m.StatusBlock([m.Entry(m.MemorySection(error_type=3))]), [])
    for columns in ([], {}):
        with pytest.raises(UsageError, match="columns: this Packer varies no field"):
            p.pack_columns(columns)
    assert len(p.pack()) > 20


def test_buffer_columns():
    p = _packer()
    rows = [(0x8000_0000 + 4096 * i, i, i * 3) for i in range(40)]
    want = b"".join(p.pack(*r) for r in rows)
    cols = list(zip(*rows, strict=True))
    assert p.pack_columns([array("Q", c) for c in cols]) == want
    assert p.pack_columns([memoryview(array("Q", c)) for c in cols]) == want
    assert p.pack_columns([array("I", c) if max(c) < 1 << 32 else array("Q", c) for c in cols]) == want
    assert p.pack_columns([iter(c) for c in cols]) == want      # any iterable of ints
    assert p.pack_columns([tuple(c) for c in cols]) == want
    # a uint64 buffer holding a value past the field's limit is refused like a list's
    node = array("Q", cols[1])
    node[7] = 1 << 40
    with pytest.raises(UsageError, match=r"^node\[7\]: 0x10000000000 does not fit"):
        p.pack_columns([array("Q", cols[0]), node, list(cols[2])])


def test_pack_calls_before_and_after_do_not_change_the_batch():
    # Packer.pack writes values into the Packer's copy of the template; the column encoder
    # must not take a varied field's last value for a constant
    p = records.Packer(m.StatusBlock([m.Entry(m.MemorySection(physical_address=1, row=5))]), ["row"])
    first = p.pack(0x30000)
    rows = [(0x1,), (0x20000,)]
    assert p.pack_columns_list([[1, 0x20000]]) == [p.pack(*r) for r in rows]
    assert p.pack(0x30000) == first
