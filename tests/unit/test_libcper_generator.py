"""Records made by libcper's own generator (cper-generate, built from the PyPI `cper` 0.0.4
sdist: tests/libcper_gen.py) decode typed in fwemu and encode back to the same bytes.

Without gcc/json-c or the registry these tests skip, unless FWEMU_REQUIRE_LIBCPER=1."""

from __future__ import annotations

import json
import os

import cper
import libcper_gen
import pytest

from fwemu import records
from fwemu.records import model as m
from fwemu.records import sections

# generator name -> the section class fwemu decodes it to
TYPED = {"memory": m.MemorySection, "arm": m.ArmSection, "pcie": m.PcieSection,
         "generic": m.ProcessorGenericSection, "firmware": m.FirmwareRefSection,
         "pcibus": sections.PciBusSection, "pcidev": sections.PciDeviceSection,
         "cxlprotocol": sections.CxlProtocolSection, "ia32x64": sections.X86ProcessorSection,
         "nvidia": sections.NvidiaSection, "memory2": sections.Memory2Section}
# libcper's generator makes a CXL component section as its 32-byte header plus 0..63 random
# bytes "that do not necessarily conform to the specification" (gen-section-cxl-component.c),
# shorter than any CXL event record, so fwemu keeps those bytes raw (and exactly).
RAW = ("cxlcomponent-media", "cxlcomponent-dram", "cxlcomponent-memory")


def _built(all_valid: bool):
    try:
        return libcper_gen.build_generator(all_valid)
    except (RuntimeError, OSError) as exc:
        if os.environ.get("FWEMU_REQUIRE_LIBCPER") == "1":
            pytest.fail(f"FWEMU_REQUIRE_LIBCPER=1 but {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def generator():
    return _built(False)


@pytest.fixture(scope="module")
def all_valid():
    return _built(True)


def _sections(generator, tmp_path, name: str, some_valid: bool = False):
    rec = libcper_gen.generate(generator, [name] * 6, tmp_path / f"{name}.cper", some_valid)
    got = libcper_gen.record_sections(rec)
    assert len(got) == 6
    assert len({body for _g, _s, _f, body in got}) > 1, "the generator made six equal sections"
    return got


@pytest.mark.parametrize("mode", ["random", "all-valid", "some-valid"])
@pytest.mark.parametrize("name", sorted(TYPED))
def test_generated_sections_decode_typed_and_encode_back(generator, all_valid, tmp_path, name, mode):
    """In each of the generator's validation modes: random bits (its CLI), every field
    valid, and its fixed SOME_VALID pattern."""
    exe = generator if mode == "random" else all_valid
    for guid, sev, _flags, body in _sections(exe, tmp_path, name, some_valid=mode == "some-valid"):
        block = libcper_gen.one_entry_block(guid, sev & 3, body)
        decoded = records.decode(block)
        section = decoded.entries[0].section
        assert isinstance(section, TYPED[name]), f"{name}: decoded as {type(section).__name__}"
        assert records.encode(decoded) == block
        if sections.is_section(section):      # the records/sections/ module on its own
            assert sections.encode(section) == body


@pytest.mark.parametrize("name", RAW)
def test_generated_cxl_component_sections_stay_raw_and_exact(generator, tmp_path, name):
    for guid, sev, _flags, body in _sections(generator, tmp_path, name):
        assert len(body) < 96     # 32-byte header + at most 63 bytes: no whole CXL event record
        block = libcper_gen.one_entry_block(guid, sev & 3, body)
        decoded = records.decode(block)
        assert isinstance(decoded.entries[0].section, m.RawSection)
        assert records.encode(decoded) == block


I63 = (1 << 63) - 1


def _as_cper_parse(v):
    """A JSON value as PyPI cper hands it to Python: integers saturate at 2**63 - 1."""
    if isinstance(v, dict):
        return {k: _as_cper_parse(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_as_cper_parse(x) for x in v]
    return min(v, I63) if isinstance(v, int) and not isinstance(v, bool) else v


# the generator's kinds fwemu writes libcper JSON for
JSON_KINDS = ("memory", "memory2", "arm", "generic", "ia32x64", "firmware", "pcibus", "pcidev", "nvidia", "cxlprotocol",
              "pcie") + RAW


@pytest.mark.parametrize("name", JSON_KINDS)
def test_generated_records_libcper_json_matches_cper_parse(all_valid, tmp_path, name):
    from fwemu.records import convert as cv

    from fwemu.errors import UsageError

    for k in range(4):
        rec = libcper_gen.generate(all_valid, [name] * (k + 1), tmp_path / f"{name}{k}.cper")
        if name in RAW and any(len(body) == 32 for *_h, body in libcper_gen.record_sections(rec)):
            # a CXL component section with no event log bytes: libcper writes no
            # cxlComponentEventLog, so its validation bit 2 cannot come back
            with pytest.raises(UsageError, match="cannot carry"):
                cv.convert(rec, "cper", "libcper-json")
            continue
        text = cv.convert(rec, "cper", "libcper-json")
        assert _as_cper_parse(json.loads(text)) == cper.parse(rec)
        assert cv.convert(text, "libcper-json", "cper") == rec


def test_random_validation_bits_are_refused_not_lost(generator, tmp_path):
    """The generator's own CLI sets random validation bits and leaves random bytes in the
    fields whose bit is clear: libcper's JSON drops those, so fwemu refuses to write it."""
    from fwemu.errors import UsageError
    from fwemu.records import convert as cv

    rec = libcper_gen.generate(generator, ["memory"], tmp_path / "m.cper")
    with pytest.raises(UsageError) as exc:
        cv.convert(rec, "cper", "libcper-json")
    assert exc.value.field == "section 0 (Platform Memory)" and "cannot carry" in exc.value.reason


def test_generated_pcie_records_read_back_from_cper_parse(all_valid, tmp_path):
    """cper.parse's dict of a generated PCIe record (libcper's own JSON) converts back to the record's bytes (records whose serial number is
    2**63 or more are skipped: cper.parse saturates it)."""
    from fwemu.records import convert as cv

    rec = libcper_gen.generate(all_valid, ["pcie"] * 8, tmp_path / "pcie.cper")
    back = cv.convert(json.dumps(cper.parse(rec)).encode(), "libcper-json", "cper")
    assert back[:128] == rec[:128] or int.from_bytes(rec[96:104], "little") > I63
    checked = 0
    for mine, theirs in zip(libcper_gen.record_sections(back), libcper_gen.record_sections(rec), strict=True):
        if int.from_bytes(theirs[3][40:48], "little") > I63:
            continue
        assert mine == theirs
        checked += 1
    assert checked >= 2
