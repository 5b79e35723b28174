"""Records made by libcper's own generator (cper-generate, built from the PyPI `cper` 0.0.4
sdist: tests/libcper_gen.py) decode typed in fwemu and encode back to the same bytes.

Without gcc/json-c or the registry these tests skip, unless FWEMU_REQUIRE_LIBCPER=1."""

from __future__ import annotations

import os

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
         "nvidia": sections.NvidiaSection}
# libcper's generator makes a CXL component section as its 32-byte header plus 0..63 random
# bytes "that do not necessarily conform to the specification" (gen-section-cxl-component.c),
# shorter than any CXL event record, so fwemu keeps those bytes raw (and exactly).
RAW = ("cxlcomponent-media", "cxlcomponent-dram", "cxlcomponent-memory")


@pytest.fixture(scope="module")
def generator():
    try:
        return libcper_gen.build_generator()
    except (RuntimeError, OSError) as exc:
        if os.environ.get("FWEMU_REQUIRE_LIBCPER") == "1":
            pytest.fail(f"FWEMU_REQUIRE_LIBCPER=1 but {exc}")
        pytest.skip(str(exc))


def _sections(generator, tmp_path, name: str):
    rec = libcper_gen.generate(generator, [name] * 6, tmp_path / f"{name}.cper")
    got = libcper_gen.record_sections(rec)
    assert len(got) == 6
    assert len({body for _g, _s, _f, body in got}) > 1, "the generator made six equal sections"
    return got


@pytest.mark.parametrize("name", sorted(TYPED))
def test_generated_sections_decode_typed_and_encode_back(generator, tmp_path, name):
    for guid, sev, _flags, body in _sections(generator, tmp_path, name):
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
