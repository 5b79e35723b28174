"""`fwemu record convert` and `record build --from-json` through the CLI: files, forms,
options, and one-line errors with exit 2."""

from __future__ import annotations

import json
import struct

import cper
import pytest
from cper_wrap import NOTIFY_MCE, wrap_record


# each test's own state and runtime directories; `cli_run` is conftest's in-process CLI
pytestmark = pytest.mark.usefixtures("cli_isolated")


def _build(cli_run, path, *argv):
    rc, _o, err = cli_run("record", "build", *argv, "-o", str(path))
    assert rc == 0, err
    return path.read_bytes()


def test_block_cper_json_block_through_files(cli_run, tmp_path):
    blk = _build(cli_run, tmp_path / "m.bin", "memory-ue", "--address", "0x61234000")
    rc, out, err = cli_run("record", "convert", str(tmp_path / "m.bin"), "--to", "cper", "-o", str(tmp_path / "m.cper"))
    assert rc == 0, err
    assert out.strip() == f"wrote block -> cper, {len(blk) + 108} bytes to {tmp_path / 'm.cper'}"
    rec = (tmp_path / "m.cper").read_bytes()
    assert rec[:4] == b"CPER" and rec[80:96] == NOTIFY_MCE.bytes_le
    rc, out, err = cli_run("record", "convert", str(tmp_path / "m.cper"), "--to", "libcper-json")
    assert rc == 0, err
    assert json.loads(out) == cper.parse(rec)
    (tmp_path / "m.json").write_text(out)
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "m.json"), "--to", "block", "-o", str(tmp_path / "b.bin"))
    assert rc == 0, err
    assert (tmp_path / "b.bin").read_bytes() == blk


def test_hex_input_and_header_options(cli_run, tmp_path):
    blk = _build(cli_run, tmp_path / "m.bin", "memory-ce", "--timestamp", "none")
    (tmp_path / "m.hex").write_text(blk.hex() + "\n")
    rc, out, err = cli_run("record", "convert", str(tmp_path / "m.hex"), "--hex", "--to", "cper",
                         "--record-id", "0x42", "--notification", "cmc", "--record-timestamp", "none")
    assert rc == 0, err
    rec = bytes.fromhex(out.strip())
    assert rec == wrap_record(blk, record_id=0x42)
    assert struct.unpack_from("<Q", rec, 96)[0] == 0x42


@pytest.mark.parametrize("argv, message", [
    (["--to", "cper", "--notification", "nope"], "--notification: 'nope' is neither a GUID nor one of"),
    (["--to", "cper", "--record-id", "-1"], "--record-id: -1 is outside 0 .. 0xffffffffffffffff"),
    (["--to", "cper", "--platform-id", "xyz"], "--platform-id: 'xyz' is not a GUID"),
    (["--from", "cper", "--to", "block"], "record: no CPER signature"),
    (["--to", "cper", "--hex"], "FILE: --hex given but the input is not hex text"),
])
def test_bad_input_is_one_line_exit_2(cli_run, tmp_path, argv, message):
    _build(cli_run, tmp_path / "a.bin", "arm-cache-ue")
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "a.bin"), *argv)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_bad_libcper_json_is_one_line(cli_run, tmp_path):
    (tmp_path / "x.json").write_text('{"header": {"revision": {"major": 1, "minor": 0}}, '
                                     '"sectionDescriptors": [], "sections": []}')
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "x.json"), "--to", "block")
    assert rc == 2 and err.strip() == "fwemu: error: header.severity: missing"


def test_build_from_json_accepts_decode_json_envelope(cli_run, tmp_path):
    blk = _build(cli_run, tmp_path / "m.bin", "pcie-ue")
    rc, out, err = cli_run("record", "decode", str(tmp_path / "m.bin"), "--json")
    assert rc == 0, err
    (tmp_path / "env.json").write_text(out)
    assert _build(cli_run, tmp_path / "b.bin", "--from-json", str(tmp_path / "env.json")) == blk
    # KIND with --from-json is checked against the model, not ignored
    assert _build(cli_run, tmp_path / "c.bin", "pcie-ce", "--from-json", str(tmp_path / "env.json")) == blk
    rc, _o, err = cli_run("record", "build", "memory-ue", "--from-json", str(tmp_path / "env.json"))
    assert rc == 2
    assert err.strip() == (f"fwemu: error: KIND: memory-ue makes memory sections, but entry 0 of "
                           f"{tmp_path / 'env.json'} is a pcie section (omit KIND to build any model)")


def test_build_needs_kind_or_from_json(cli_run):
    rc, _o, err = cli_run("record", "build")
    assert rc == 2 and err.strip() == "fwemu: error: KIND: missing: name a scenario, or give --from-json FILE"


def test_build_from_other_fwemu_output_is_refused(cli_run, tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"fwemu_version": "0.1.0", "status": 0, "verdict": {}}))
    rc, _o, err = cli_run("record", "build", "--from-json", str(tmp_path / "s.json"))
    assert rc == 2 and "is fwemu output without a `record`" in err


@pytest.mark.parametrize("argv, message", [
    (["m.cper", "--to", "block", "--record-id", "5"],
     "--record-id: applies to a block input only; this cper input has its own record header"),
    (["m.bin", "--to", "cper", "--entry-revision", "0x200"], "--entry-revision: applies to --to block only"),
    (["m.cper", "--to", "block", "--entry-revision", "0x200"],
     "--entry-revision: 0x200 entries have no timestamp, and the record has one"),
    (["m.json", "--to", "cper", "--hex"], "--hex: the input is JSON text, not hex"),
])
def test_options_that_do_not_apply_are_errors(cli_run, tmp_path, argv, message):
    _build(cli_run, tmp_path / "m.bin", "memory-ue")
    assert cli_run("record", "convert", str(tmp_path / "m.bin"), "--to", "cper", "-o", str(tmp_path / "m.cper"))[0] == 0
    assert cli_run("record", "convert", str(tmp_path / "m.bin"), "--to", "libcper-json", "-o", str(tmp_path / "m.json"))[0] == 0
    rc, _o, err = cli_run("record", "convert", str(tmp_path / argv[0]), *argv[1:])
    assert rc == 2 and err.strip().startswith("fwemu: error: " + message), err


def test_entry_revision_without_timestamps(cli_run, tmp_path):
    blk = _build(cli_run, tmp_path / "m.bin", "memory-ce")
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "m.bin"), "--to", "cper", "--record-timestamp", "none",
                        "-o", str(tmp_path / "m.cper"))
    assert rc == 0, err
    rc, out, err = cli_run("record", "convert", str(tmp_path / "m.cper"), "--to", "block", "--entry-revision", "0x201")
    assert rc == 0, err
    got = bytes.fromhex(out.strip())
    # a 64-byte entry header of revision 0x201, then the same 80-byte memory body
    assert struct.unpack_from("<H", got, 20 + 20)[0] == 0x201
    assert len(got) == 20 + 64 + 80 and got[-80:] == blk[-80:]


def test_a_section_without_a_libcper_json_writer_is_one_line(cli_run, tmp_path):
    # libcper decodes DMAr generic sections; fwemu does not write that JSON
    _build(cli_run, tmp_path / "x.bin", "raw", "--guid", "5b51fef7-c79d-4434-8f1b-aa62de3e2c64", "--data", "00" * 64)
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "x.bin"), "--to", "libcper-json")
    assert rc == 2
    assert err.strip() == "fwemu: error: section 0 (DMAr Generic): fwemu does not write libcper's GenericDmar JSON yet"


def test_pcie_through_libcper_json_and_what_it_cannot_carry(cli_run, tmp_path):
    blk = _build(cli_run, tmp_path / "p.bin", "pcie-ue")
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "p.bin"), "--to", "cper", "-o", str(tmp_path / "p.cper"))
    assert rc == 0, err
    rc, out, err = cli_run("record", "convert", str(tmp_path / "p.bin"), "--to", "libcper-json")
    assert rc == 0, err
    assert json.loads(out) == cper.parse((tmp_path / "p.cper").read_bytes())
    (tmp_path / "p.json").write_text(out)
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "p.json"), "--to", "block", "-o", str(tmp_path / "b.bin"))
    assert rc == 0, err
    assert (tmp_path / "b.bin").read_bytes() == blk
    # the version's reserved upper half (bytes 14-15): libcper neither shows nor reads it
    _build(cli_run, tmp_path / "r.bin", "pcie-ue", "--section-reserved", "0x1")
    rc, _o, err = cli_run("record", "convert", str(tmp_path / "r.bin"), "--to", "libcper-json")
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("fwemu: error: section 0 (PCIe): libcper's JSON cannot carry bytes 14-15"), err
