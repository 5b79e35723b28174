"""fwemu's HEST against a consumer nobody here wrote: ACPICA's iasl (Debian acpica-tools).

- Every table fwemu builds disassembles with `iasl -d` without a warning or an error, and
  the disassembled fields equal the board's values (the .dsl is parsed here, and compared
  with the Board, not with fwemu's own parser).
- The .dsl compiles back with iasl into the same entries.
- `iasl -T HEST` (ACPICA's own template), compiled by iasl, imports: every entry is
  recognised and its fields equal what the template says.

Without iasl these tests skip, unless FWEMU_REQUIRE_IASL=1 (CI), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from fwemu.board import NOTIFY_TYPES, Board, board_from_dict, list_boards
from fwemu.cli import main
from fwemu.hest import HestError, board_from_hest, build_hest, parse_hest
from fwemu.hest_lint import lint

# --------------------------------------------------------------------------------------
# iasl


@pytest.fixture(scope="module")
def iasl():
    path = shutil.which("iasl")
    if path is None:
        why = "iasl not found (Debian package acpica-tools; scripts/install-system-deps.sh)"
        if os.environ.get("FWEMU_REQUIRE_IASL") == "1":
            pytest.fail(f"FWEMU_REQUIRE_IASL=1 but {why}")
        pytest.skip(why)
    return path


# What iasl says when something is off. Console: "Warning ...", "Error ...". In the .dsl:
# inline in a field's value ("Checksum : 52     /* Incorrect checksum, should be 53 */",
# "Notify Type : 0C [Unknown Notify Type]") or on a line of its own ("**** Unknown HEST
# subtable type 0x5", "/**** ACPI subtable terminates early ...").
CONSOLE_TROUBLE = re.compile(r"\b(warning|error|remark)s?\b", re.I)
VALUE_TROUBLE = re.compile(r"/\*|\[unknown|invalid|reserved", re.I)
OK_CONSOLE = re.compile(r"Compilation successful\. 0 Errors, 0 Warnings, 0 Remarks")


def trouble(text: str) -> list[str]:
    """Every line of iasl output (console or .dsl) that reports a problem."""
    bad = []
    for ln in text.split("Raw Table Data")[0].splitlines():
        m = LINE.match(ln)
        if m:
            if VALUE_TROUBLE.search(m.group(2)) and not m.group(1).startswith("Reserved"):
                bad.append(ln)
        elif ln.startswith(("*", "/****")) or (CONSOLE_TROUBLE.search(ln)
                                               and not OK_CONSOLE.search(ln)
                                               and not ln.startswith((" *", "/*"))):
            bad.append(ln)
    return bad


def disassemble(iasl: str, data: bytes, tmp: Path, name: str = "t") -> tuple[str, str]:
    """(.dsl text, iasl console output)."""
    dat = tmp / f"{name}.dat"
    dat.write_bytes(data)
    r = subprocess.run([iasl, "-d", str(dat)], cwd=tmp, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return (tmp / f"{name}.dsl").read_text(), r.stdout + r.stderr


def compile_asl(iasl: str, asl: Path) -> tuple[bytes, str]:
    r = subprocess.run([iasl, str(asl)], cwd=asl.parent, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return asl.with_suffix(".aml").read_bytes(), r.stdout + r.stderr


# --------------------------------------------------------------------------------------
# A reader for iasl's data-table text (`iasl -d` output and `iasl -T` templates):
#   [03Ch 0060   1]                     Space ID : 00 [SystemMemory]      (-d)
#   [0001]                              Space ID : 00 [SystemMemory]      (-T)

LINE = re.compile(r"^\[[0-9A-Fa-f]+h? ?[^\]]*\]\s+(.+?)\s+:\s+(.*?)\s*$")
GROUPS = {"Error Status Address": "esa", "Read Ack Register": "read_ack", "Notify": "notify"}
GROUP_FIELDS = {"esa": {"Space ID", "Bit Width", "Bit Offset", "Encoded Access Width",
                        "Address"},
                "notify": {"Notify Type", "Notify Length", "Configuration Write Enable",
                           "PollInterval", "Vector", "Polling Threshold Value",
                           "Polling Threshold Window", "Error Threshold Value",
                           "Error Threshold Window"}}
GROUP_FIELDS["read_ack"] = GROUP_FIELDS["esa"]
BANK_FIRST = "Bank Number"


def value(text: str):
    text = re.sub(r"/\*.*?\*/", "", text).strip()
    if text.startswith('"'):
        return text[1:text.index('"', 1)]
    return int(text.split()[0], 16)


def read_dsl(text: str) -> tuple[dict, list[dict]]:
    """(header fields, [subtable fields]); group members are keyed 'esa.Address' etc.,
    banks collected in 'banks'."""
    header: dict = {}
    subs: list[dict] = []
    group = None
    for ln in text.splitlines():
        if ln.startswith("Raw Table Data"):
            break
        m = LINE.match(ln)
        if not m:
            continue
        name, raw = m.groups()
        if raw.startswith("[Generic Address Structure]") or \
                raw.startswith("[Hardware Error Notification Structure]"):
            group = GROUPS[name]
            continue
        if group and name not in GROUP_FIELDS[group]:
            group = None
        if name == "Subtable Type":
            subs.append({"Subtable Type": value(raw), "banks": []})
            continue
        target = subs[-1] if subs else header
        if name == BANK_FIRST:
            subs[-1]["banks"].append({})
        if subs and subs[-1]["banks"] and group is None and name in (
                BANK_FIRST, "Clear Status On Init", "Status Format", "Reserved",
                "Control Register", "Control Data", "Status Register", "Address Register",
                "Misc Register"):
            subs[-1]["banks"][-1][name] = value(raw)
            continue
        key = f"{group}.{name}" if group else name
        target[key] = value(raw)
    return header, subs


# --------------------------------------------------------------------------------------
# Boards: the shipped ones plus one with every notification type and field variation


def every_field_board() -> Board:
    base = 0x40000000
    sources, events = [], []
    for i, notify in enumerate(NOTIFY_TYPES):
        s = {"id": 100 + i, "type": "ghes" if i % 3 == 2 else "ghesv2", "notify": notify,
             "esa": base + 0x1000 * i + 8, "block": base + 0x1000 * i + 0x10,
             "block_length": 20 + 97 * i, "related_source_id": i if i % 2 else 0xFFFF,
             "records_to_preallocate": i + 1, "max_sections_per_record": 2 * i + 1,
             "max_raw_data_length": 1000 + i, "enabled": i != 5,
             "poll_interval_ms": 100 + i if notify == "polled" else 0,
             "vector": {"external": 33, "gsiv": 64, "sdei": 5000, "gpio": 7}.get(notify, 0)}
        if s["type"] == "ghesv2":
            s["read_ack"] = {"address": base + 0x1000 * i, "preserve": (0xFFFF << i) & 0xFFFF,
                             "write": 1 << i, "bit_offset": i % 2, "width": 16 - i % 2,
                             "access_size": 2 if i % 2 else 4}
        if i == 4:
            s["esa_gas"] = {"space_id": 0, "bit_width": 64, "bit_offset": 0, "access_size": 3}
        sources.append(s)
    events.append({"number": 5000, "priority": "critical"})
    return board_from_dict({"name": "every-field", "target": {"kind": "sim"},
                            "pes": {"count": 1},
                            "window": [{"name": "w", "base": base, "size": 0x10000,
                                        "access": "local"}],
                            "source": sources, "sdei_event": events})


BOARDS = [b for b in list_boards() if b.sources] + [every_field_board()]


def expected_subtable(s) -> dict:
    d = {"Subtable Type": s.hest_type, "Source Id": s.id, "Related Source Id":
         s.related_source_id, "Reserved": 0, "Enabled": int(s.enabled),
         "Records To Preallocate": s.records_to_preallocate,
         "Max Sections Per Record": s.max_sections_per_record,
         "Max Raw Data Length": s.max_raw_data_length,
         "esa.Space ID": s.esa_gas.space_id, "esa.Bit Width": s.esa_gas.bit_width,
         "esa.Bit Offset": s.esa_gas.bit_offset,
         "esa.Encoded Access Width": s.esa_gas.access_size, "esa.Address": s.esa,
         "notify.Notify Type": NOTIFY_TYPES[s.notify], "notify.Notify Length": 28,
         "notify.Configuration Write Enable": 0, "notify.PollInterval": s.poll_interval_ms,
         "notify.Vector": s.vector, "notify.Polling Threshold Value": 0,
         "notify.Polling Threshold Window": 0, "notify.Error Threshold Value": 0,
         "notify.Error Threshold Window": 0,
         "Error Status Block Length": s.block_length, "banks": []}
    if s.read_ack:
        ra = s.read_ack
        d.update({"read_ack.Space ID": ra.space_id, "read_ack.Bit Width": ra.width,
                  "read_ack.Bit Offset": ra.bit_offset,
                  "read_ack.Encoded Access Width": ra.access_size,
                  "read_ack.Address": ra.address, "Read Ack Preserve": ra.preserve,
                  "Read Ack Write": ra.write})
    return d


OEM = dict(oem_id="ARMLTD", oem_table_id="FWEMUT01", oem_revision=0x20260101,
           creator_id="FWEM", creator_revision=0x17)


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.name)
def test_iasl_disassembles_cleanly_with_board_values(iasl, tmp_path, board):
    data = build_hest(board, **OEM)
    dsl, console = disassemble(iasl, data, tmp_path)
    assert trouble(console) == [] and trouble(dsl) == []
    assert "Acpi Data Table [HEST] decoded" in console
    header, subs = read_dsl(dsl)
    assert header == {"Signature": "HEST", "Table Length": len(data), "Revision": 1,
                      "Checksum": data[9], "Oem ID": "ARMLTD", "Oem Table ID": "FWEMUT01",
                      "Oem Revision": 0x20260101, "Asl Compiler ID": "FWEM",
                      "Asl Compiler Revision": 0x17, "Error Source Count": len(board.sources)}
    assert subs == [expected_subtable(s) for s in board.sources]


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b.name)
def test_iasl_recompiles_the_same_entries(iasl, tmp_path, board):
    data = build_hest(board)
    disassemble(iasl, data, tmp_path)
    aml, console = compile_asl(iasl, tmp_path / "t.dsl")
    assert trouble(console) == []
    assert aml[36:] == data[36:] and parse_hest(aml).checksum_ok   # iasl sets its own creator


def test_iasl_notices_what_it_should(iasl, tmp_path):
    """The trouble detector is not blind: a bad checksum and a reserved notification type."""
    data = bytearray(build_hest(BOARDS[0]))
    data[9] ^= 1
    dsl, console = disassemble(iasl, bytes(data), tmp_path, "csum")
    assert any("Incorrect checksum" in ln for ln in trouble(dsl))
    data[9] ^= 1
    first = parse_hest(bytes(data)).entries[0].offset
    data[first + 32] = 12
    data[9] = (data[9] - (12 - build_hest(BOARDS[0])[first + 32])) & 0xFF
    dsl, _ = disassemble(iasl, bytes(data), tmp_path, "notify")
    assert any("Unknown Notify Type" in ln for ln in trouble(dsl))


# --------------------------------------------------------------------------------------
# ACPICA's own template

# iasl's names for the fields fwemu decodes (other than the GHES ones above).
COMMON = {"Source Id": "source_id", "Enabled": "enabled",
          "Records To Preallocate": "records_to_preallocate",
          "Max Sections Per Record": "max_sections_per_record"}
OTHER = {"Reserved1": "reserved1", "Flags (decoded below)": "flags",
         "Global Capability Data": "global_capability_data",
         "Global Control Data": "global_control_data", "Num Hardware Banks":
         "num_hardware_banks", "Bus": "bus", "Device": "device", "Function": "function",
         "DeviceControl": "device_control", "Uncorrectable Mask": "uncorrectable_mask",
         "Uncorrectable Severity": "uncorrectable_severity",
         "Correctable Mask": "correctable_mask", "Advanced Capabilities":
         "advanced_capabilities", "Root Error Command": "root_error_command",
         "2nd Uncorrectable Mask": "uncorrectable_mask2",
         "2nd Uncorrectable Severity": "uncorrectable_severity2",
         "2nd Advanced Capabilities": "advanced_capabilities2",
         "Max Raw Data Length": "max_raw_data_length"}
BANK = {"Bank Number": "bank_number", "Clear Status On Init": "clear_status_on_init",
        "Status Format": "status_format", "Reserved": "reserved",
        "Control Register": "control_register", "Control Data": "control_data",
        "Status Register": "status_register", "Address Register": "address_register",
        "Misc Register": "misc_register"}
NOTIFY = {"Notify Type": "type", "Notify Length": "length",
          "Configuration Write Enable": "config_write_enable", "PollInterval": "poll_interval",
          "Vector": "vector", "Polling Threshold Value": "polling_threshold_value",
          "Polling Threshold Window": "polling_threshold_window",
          "Error Threshold Value": "error_threshold_value",
          "Error Threshold Window": "error_threshold_window"}


def assert_entry_matches(entry, sub: dict) -> None:
    """Every field iasl printed for a subtable equals what fwemu parsed."""
    assert entry.type == sub["Subtable Type"]
    for name, val in sub.items():
        if name in ("Subtable Type", "banks") or (name.startswith("Reserved") and
                                                   entry.ghes is None):
            continue
        if name in COMMON:
            got = getattr(entry, COMMON[name]) if COMMON[name] in ("source_id", "enabled") \
                else (getattr(entry.ghes, COMMON[name]) if entry.ghes else
                      entry.fields[COMMON[name]])
        elif entry.ghes is not None:
            got = ghes_field(entry.ghes, name)
        elif name.startswith("notify."):
            got = entry.fields["notify"][NOTIFY[name[7:]]]
        else:
            got = entry.fields[OTHER[name]]
        assert got == val, (entry.label, name)
    banks = entry.fields.get("banks", [])
    assert [{BANK[k]: v for k, v in b.items()} for b in sub["banks"]] == banks


def ghes_field(g, name: str):
    gas = {"Space ID": "space_id", "Bit Width": "bit_width", "Bit Offset": "bit_offset",
           "Encoded Access Width": "access_size", "Address": "address"}
    if name.startswith("esa."):
        return getattr(g.esa, gas[name[4:]])
    if name.startswith("read_ack."):
        return getattr(g.read_ack, gas[name[9:]])
    if name.startswith("notify."):
        return getattr(g.notify, NOTIFY[name[7:]])
    return {"Related Source Id": g.related_source_id, "Reserved": g.flags,
            "Max Raw Data Length": g.max_raw_data_length,
            "Error Status Block Length": g.error_block_length,
            "Read Ack Preserve": g.read_ack_preserve, "Read Ack Write": g.read_ack_write}[name]


@pytest.fixture()
def template(iasl, tmp_path) -> Path:
    r = subprocess.run([iasl, "-T", "HEST"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return tmp_path / "hest.asl"


def test_iasl_template_imports(iasl, template, tmp_path, capsys):
    asl = template.read_text()
    header, subs = read_dsl(asl)
    aml, console = compile_asl(iasl, template)
    assert trouble(console) == []
    table = parse_hest(aml)
    assert table.checksum_ok and len(aml) == header["Table Length"]
    assert (table.oem_id, table.oem_table_id) == (header["Oem ID"], header["Oem Table ID"])
    assert table.error_source_count == header["Error Source Count"]
    assert len(table.entries) == len(subs) == asl.count("Subtable Type") >= 8
    assert {9, 10} <= {e.type for e in table.entries}
    for entry, sub in zip(table.entries, subs, strict=True):
        assert_entry_matches(entry, sub)
    # what Linux would make of it: the template's count (4) is not its 8 entries, its GHES
    # registers are at 0, and a GHES and a GHESv2 share source id 3
    rules = {f.rule for f in lint(table)}
    assert {"source-count", "gas-address-zero", "duplicate-source-id", "non-ghes"} <= rules
    # so it cannot be a board: the import says exactly why, with the offset
    with pytest.raises(HestError) as ei:
        board_from_hest(table, "template")
    assert "register address is 0" in str(ei.value) and ei.value.offset is not None
    rc = main(["hest", "import", str(template.with_suffix(".aml"))])
    err = capsys.readouterr().err
    assert rc == 2 and "offset 0x" in err and "entry[4]" in err


def test_iasl_template_made_usable_imports_as_a_board(iasl, template, tmp_path):
    """The template with real register addresses and distinct ids becomes a board whose
    sources equal the template's GHES entries."""
    asl = template.read_text()
    n = iter(range(1, 100))
    asl = re.sub(r"(Address : )0000000000000000",
                 lambda m: f"{m.group(1)}{0x50000000 + 0x1000 * next(n):016X}", asl)
    ids = iter(range(40, 100))
    asl = re.sub(r"(Source Id : )(\w+)", lambda m: f"{m.group(1)}{next(ids):04X}", asl)
    asl = asl.replace("Notify Type : 04 [NMI]", "Notify Type : 08 [SEA]")
    usable = tmp_path / "usable.asl"
    usable.write_text(asl)
    aml, console = compile_asl(iasl, usable)
    assert trouble(console) == []
    table = parse_hest(aml)
    _, subs = read_dsl(asl)
    for entry, sub in zip(table.entries, subs, strict=True):
        assert_entry_matches(entry, sub)
    skel = board_from_hest(table, "tmpl")
    board = board_from_dict(dict(skel))
    ghes = [(e, s) for e, s in zip(table.entries, subs, strict=True) if e.ghes is not None]
    assert [s.id for s in board.sources] == [e.source_id for e, _ in ghes]
    for src, (_e, sub) in zip(board.sources, ghes, strict=True):
        assert src.esa == sub["esa.Address"] and src.block_length == \
            sub["Error Status Block Length"]
        assert src.notify == {3: "sci", 8: "sea"}[sub["notify.Notify Type"]]
        assert src.related_source_id == sub["Related Source Id"]
        if src.read_ack:
            assert src.read_ack.address == sub["read_ack.Address"]
    skipped = [note for note in skel.notes if "skipped" in note]
    assert len(skipped) == len(table.entries) - len(ghes)


def test_iasl_reads_the_types_the_template_lacks(iasl, tmp_path):
    """IA-32 NMI (2) and PCIe root port AER (6) are not in the template: build them by
    hand, let iasl disassemble and recompile them, and read both with fwemu."""
    nmi = struct.pack("<HHIIII", 2, 7, 0, 3, 2, 0x100)
    root = struct.pack("<HHHBBII", 6, 8, 0, 1, 1, 1, 1) + \
        struct.pack("<IHHHHIIIII", 0x12, 3, 1, 5, 0, 1, 2, 3, 4, 7)
    body = nmi + root
    head = struct.pack("<4sIBB6s8sI4sII", b"HEST", 40 + len(body), 1, 0, b"FWEMU ",
                       b"FWEMUHST", 1, b"FWEM", 1, 2)
    data = bytearray(head + body)
    data[9] = -sum(data) & 0xFF
    dsl, console = disassemble(iasl, bytes(data), tmp_path)
    assert trouble(console) == [] and trouble(dsl) == []
    _, subs = read_dsl(dsl)
    table = parse_hest(bytes(data))
    for entry, sub in zip(table.entries, subs, strict=True):
        assert_entry_matches(entry, sub)
    aml, _ = compile_asl(iasl, tmp_path / "t.dsl")
    assert aml[36:] == bytes(data[36:])
