"""Numbers C and Python share come from the C headers, and nothing disagrees with them.

_build_ffi.py declares every object-like `#define FW_*`/`FWA_*` of its HEADERS to cffi, so
`lib.NAME` is the compiler's value. These tests read the headers on their own (a second,
independent parse and evaluation of each macro) and check that:
- every such #define is in `lib`, with the value the header's text gives;
- each Python table keyed by a family of protocol numbers (reply codes, SDEI refusal
  reasons, STATUS keys, message types, capabilities) covers exactly that family, so a code
  added to proto.h without its Python name, or a Python key proto.h lacks, fails here;
- Python constants that restate the core's (record severities, entry flags, section kinds)
  hold the same values;
- PROTOCOL.md's message table names each type with proto.h's number.
"""

from __future__ import annotations

import pathlib
import re

import pytest

from fwemu import _build_ffi
from fwemu._corelib import lib
from fwemu.channel import protocol as P
from fwemu.records import codec, model

ROOT = pathlib.Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"

_LINE = re.compile(r"^\s*#\s*define\s+(FWA?_\w+)(\([^)]*\))?(?:\s+(.*?))?\s*(?:/\*.*)?$")


def _c_to_py(expr: str) -> str:
    """An integer C expression as Python: unsigned suffixes dropped, `/` as floor division
    (every operand here is non-negative where it divides)."""
    expr = re.sub(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    return expr.replace("/", "//")


def header_macros() -> tuple[dict[str, int], set[str]]:
    """(object-like FW_/FWA_ macro -> value, function-like macro names) over the headers."""
    texts: dict[str, str] = {}
    funcs: dict[str, tuple[list[str], str]] = {}
    for h in _build_ffi.HEADERS:
        for line in (CSRC / h).read_text(encoding="utf-8").splitlines():
            m = _LINE.match(line)
            if not m or m.group(3) is None:     # include guards have no value
                continue
            name, params, body = m.groups()
            if params is not None:
                funcs[name] = ([p.strip() for p in params[1:-1].split(",")], _c_to_py(body))
            else:
                texts[name] = _c_to_py(body)
    env: dict[str, object] = {}
    for name, (params, body) in funcs.items():
        env[name] = eval(f"lambda {', '.join(params)}: {body}", {})  # noqa: S307 - our headers
    values: dict[str, int] = {}

    def value(name: str) -> int:
        if name not in values:
            refs = {r: value(r) for r in re.findall(r"\bFWA?_\w+\b", texts[name]) if r in texts}
            values[name] = int(eval(texts[name], {**env, **refs}))  # noqa: S307
        return values[name]

    for name in texts:
        value(name)
    return values, set(funcs)


def test_every_header_define_is_in_lib_with_its_value():
    values, funcs = header_macros()
    assert len(values) > 100 and "FWA_SDEI_WHY_STATE" in values and "FW_FRAME_MAX_WIRE" in values
    assert funcs == {"FW_COBS_MAX"}
    assert set(_build_ffi.CONSTANTS) == set(values), "the cffi build declares other names than the headers define"
    wrong = {n: (v, getattr(lib, n, None)) for n, v in values.items() if getattr(lib, n, None) != v}
    assert not wrong, f"header value vs lib value: {wrong}"


def _family(prefix: str, exclude: tuple[str, ...] = ()) -> dict[str, int]:
    values, _ = header_macros()
    return {n: v for n, v in values.items() if n.startswith(prefix) and n not in exclude}


@pytest.mark.parametrize("table, prefixes", [
    ("CODE_NAMES", ("FWA_OK", "FWA_E_")),
    ("SDEI_WHY", ("FWA_SDEI_WHY_",)),
    ("STATUS_KEYS", ("FWA_S_",)),
    ("TYPE_NAMES", ("FWA_T_", "FWA_EV_")),
])
def test_protocol_tables_cover_their_family(table, prefixes):
    want: dict[str, int] = {}
    for p in prefixes:
        want.update(_family(p, exclude=("FWA_EV_FIRST",)))
    got = getattr(P, table)
    assert set(got) == set(want.values()), (
        f"protocol.{table} keys {sorted(got)} vs proto.h {dict(sorted(want.items(), key=lambda kv: kv[1]))}")


def test_protocol_names_match_proto_h():
    for value, name in P.TYPE_NAMES.items():
        assert getattr(lib, f"FWA_{name}" if name.startswith("EV_") else f"FWA_T_{name}") == value
    assert {f"FWA_CAP_{k.upper()}": v for k, v in P.CAPS.items()} == _family("FWA_CAP_")
    assert {P.ST_REGISTERED, P.ST_ENABLED, P.ST_RUNNING, P.ST_PE_MASKED, P.ST_CRITICAL} <= set(
        _family("FWA_SDEI_ST_").values())


def test_record_constants_match_the_core():
    # records/ restates some of cper.h's numbers as Python names; they must stay equal
    assert {s.name: int(s) for s in model.Severity} == {
        n.removeprefix("FW_SEV_"): v for n, v in _family("FW_SEV_").items()}
    flags = {"PRIMARY": model.FLAG_PRIMARY, "CONTAINMENT": model.FLAG_CONTAINMENT_WARNING,
             "RESET": model.FLAG_RESET, "THRESHOLD": model.FLAG_THRESHOLD_EXCEEDED,
             "RESOURCE": model.FLAG_RESOURCE_NOT_ACCESSIBLE, "LATENT": model.FLAG_LATENT}
    assert flags == {n.removeprefix("FW_GDE_FLAG_"): v for n, v in _family("FW_GDE_FLAG_").items()}
    kinds = {n: v for n, v in _family("FW_SEC_").items() if n != "FW_SEC_RAW"}
    assert set(codec._DECODERS) == set(kinds.values())
    for fn, kind in ((codec._decode_mem, "MEM"), (codec._decode_arm, "ARM"), (codec._decode_pcie, "PCIE"),
                     (codec._decode_proc, "PROC"), (codec._decode_fwref, "FWREF")):
        assert codec._DECODERS[kinds[f"FW_SEC_{kind}"]] is fn


def test_protocol_md_message_table_matches_proto_h():
    rows = re.findall(r"^\| (0x[0-9A-F]{2}) \| (\w+) \|", (ROOT / "protocol" / "PROTOCOL.md").read_text(),
                      re.M)
    assert len(rows) >= 17
    for number, name in rows:
        c = f"FWA_{name}" if name.startswith("EV_") else f"FWA_T_{name}"
        assert getattr(lib, c) == int(number, 16), f"PROTOCOL.md says {name} is {number}"


def test_every_declared_struct_matches_its_header():
    # The cdef's structs are copies of the headers'; cffi compares a struct's layout with
    # the compiler's when the type is first used (a wrong field type is an ffi.error then,
    # not at build time, unlike a wrong function prototype), so use every one here.
    from fwemu._corelib import ffi

    names = re.findall(r"}\s*(\w+)\s*;", _build_ffi.CDEF)
    assert len(names) >= 20 and "fw_ack_reg" in names and "fwa_agent" in names
    for name in names:
        assert ffi.sizeof(name) > 0
