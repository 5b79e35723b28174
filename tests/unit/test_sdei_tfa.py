"""fwemu's SDEI model against TF-A's own source, not against a copy of fwemu's table.

The oracle is TF-A 2.12.1's services/std_svc/sdei/ as unpacked by scripts/build-tfa-qemu.sh
(`$FWEMU_TFA_SRC`, else `${XDG_CACHE_HOME:-~/.cache}/fwemu-tfa/src/tf-a`):

- sdei_private.h: the state flag bit positions (SDEI_STATF_*), the unregistered state and
  the action enum (DO_*, whose order is the state table's column order);
- sdei_state.c: the composite-state macros (reg_ … REG_) and sdei_state_table, parsed here
  cell by cell; each cell is checked against fwemu's SdeiDispatcher through its API
  (call() for the client's actions, dispatch() for DO_DISPATCH);
- sdei_intr_mgmt.c: sdei_dispatch_event()'s `return -1` checks, in source order; every
  combination of violated preconditions must be refused by fwemu for the first one TF-A
  checks.

Without the TF-A source these tests skip, unless FWEMU_REQUIRE_TFA=1 (CI), where that is a
failure.
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from fwemu import sdei
from fwemu.sdei import SDEI_DENIED, SdeiDispatcher, SdeiError


def tfa_root() -> Path:
    env = os.environ.get("FWEMU_TFA_SRC")
    if env:
        return Path(env)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "fwemu-tfa" / "src" / "tf-a"


SDEI_DIR = Path("services") / "std_svc" / "sdei"
NEEDED = ("sdei_private.h", "sdei_state.c", "sdei_intr_mgmt.c")


def _strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def _c_int(expr: str, macros: dict[str, int]) -> int:
    """Value of a constant C expression made of integers (U/u suffix), known macros,
    parentheses, `|` and `<<` (all sdei_state.c's state macros use)."""
    def sub(m: re.Match) -> str:
        name = m.group(0)
        if re.fullmatch(r"\d+[uU]?", name):
            return name.rstrip("uU")
        if name not in macros:
            raise ValueError(f"unknown macro {name} in {expr!r}")
        return str(macros[name])
    py = re.sub(r"\b\w+\b", sub, expr)
    if not re.fullmatch(r"[\d\s|()<]+", py):
        raise ValueError(f"not a simple constant expression: {expr!r}")
    return int(eval(py, {"__builtins__": {}}))  # noqa: S307 - digits, |, <<, parens only


@dataclass
class Tfa:
    statf: dict[str, int]             # REGISTERED/ENABLED/RUNNING -> bit
    unregistered: int
    actions: list[str]                # column order: DO_REGISTER … DO_DISPATCH
    states: dict[str, int]            # "reg_" -> value, the composite-state macros
    table: dict[int, list[object]]    # state -> per action: "X", "NOP" or the next state
    dispatch_checks: list[str]        # sdei_dispatch_event's refusal conditions, in order

    def name(self, state: int) -> str:
        """fwemu's spelling of a state: R/E/G set, r/e/g clear (sdei_state.c's aliases)."""
        out = ""
        for flag, letter in (("RUNNING", "r"), ("ENABLED", "e"), ("REGISTERED", "g")):
            out += letter.upper() if state >> self.statf[flag] & 1 else letter
        return out


def parse_tfa(root: Path) -> Tfa:
    d = root / SDEI_DIR
    priv = _strip_comments((d / "sdei_private.h").read_text())
    state_c = _strip_comments((d / "sdei_state.c").read_text())
    intr = (d / "sdei_intr_mgmt.c").read_text()

    statf = {m[1]: int(m[2]) for m in re.finditer(r"#define\s+SDEI_STATF_(\w+)\s+(\d+)[uU]?\b", priv)}
    assert set(statf) == {"REGISTERED", "ENABLED", "RUNNING"}, statf
    m = re.search(r"#define\s+SDEI_STATE_UNREGISTERED\s+(\d+)[uU]?\b", priv)
    assert m, "SDEI_STATE_UNREGISTERED not found in sdei_private.h"
    unregistered = int(m[1])
    m = re.search(r"typedef\s+enum\s*\{(.*?)\}\s*sdei_action_t\s*;", priv, re.S)
    assert m, "sdei_action_t not found in sdei_private.h"
    enum = [(e[1], int(e[2])) for e in re.finditer(r"\bDO_(\w+)\s*=\s*(\d+)", m[1])]
    actions = [name for name, _ in sorted(enum, key=lambda e: e[1])]
    assert [v for _, v in sorted(enum, key=lambda e: e[1])] == list(range(len(actions)))
    assert "MAX" not in actions and actions[-1] == "DISPATCH", actions

    macros = {f"SDEI_STATF_{k}": v for k, v in statf.items()}
    for mm in re.finditer(r"#define\s+(\w+)\s+(\([^\n]*\)|\d+[uU]?)[ \t]*$", state_c, re.M):
        try:
            macros[mm[1]] = _c_int(mm[2], macros)
        except ValueError:
            pass   # MAX_STATES, the sdei_state_t casts: not needed
    states = {k: v for k, v in macros.items() if re.fullmatch(r"[rR][eE][gG]_", k)}
    assert len(states) == 8, states
    for k, v in states.items():   # the macros' names spell their bits
        assert k[:-1] == Tfa(statf, 0, [], {}, {}, []).name(v), (k, v)

    m = re.search(r"sdei_state_table\s*\[\s*MAX_STATES\s*\]\s*\[\s*DO_MAX\s*\]\s*=\s*\{(.*?)\n\};",
                  state_c, re.S)
    assert m, "sdei_state_table not found in sdei_state.c"
    table: dict[int, list[object]] = {}
    for row in re.finditer(r"\[\s*(\w+)\s*\]\s*=\s*\{([^}]*)\}", m[1]):
        cells = [c.strip() for c in row[2].split(",") if c.strip()]
        assert len(cells) == len(actions), (row[1], cells)
        table[states[row[1]]] = [
            "X" if c == "X___" else "NOP" if c == "NOP_" else states[c] for c in cells]
    assert sorted(table) == sorted(states.values()), "the table must have a row per state"

    m = re.search(r"\nint\s+sdei_dispatch_event\s*\([^)]*\)\s*\{(.*?)\n\}", intr, re.S)
    assert m, "sdei_dispatch_event() not found in sdei_intr_mgmt.c"
    body = _strip_comments(m[1])
    checks = [re.sub(r"\s+", " ", c[1]).strip()
              for c in re.finditer(r"\bif\s*\(((?:[^()]|\([^()]*\))*)\)\s*return\s+-1\s*;", body)]
    return Tfa(statf, unregistered, actions, states, table, checks)


@pytest.fixture(scope="module")
def tfa() -> Tfa:
    root = tfa_root()
    missing = [n for n in NEEDED if not (root / SDEI_DIR / n).is_file()]
    if missing:
        why = (f"TF-A source not found: {root / SDEI_DIR} lacks {', '.join(missing)} "
               "(set FWEMU_TFA_SRC, or run scripts/build-tfa-qemu.sh)")
        if os.environ.get("FWEMU_REQUIRE_TFA") == "1":
            pytest.fail(f"FWEMU_REQUIRE_TFA=1 but {why}")
        pytest.skip(why)
    return parse_tfa(root)


# --------------------------------------------------------------------------------------
# the state table

EV, PE = 5000, 1


def _dispatcher(pes: int = 4) -> SdeiDispatcher:
    d = SdeiDispatcher(pes)
    d.define(EV, critical=False, shared=False, explicit=True)
    for pe in range(pes):
        d.unmask(pe)
    return d


def test_actions_and_start_state_are_tf_as(tfa):
    assert tuple(a.lower() for a in tfa.actions) == sdei.ACTIONS
    assert tfa.name(tfa.unregistered) == sdei.UNREGISTERED
    d = _dispatcher()
    assert d.private[(EV, 0)].state == sdei.UNREGISTERED


def test_every_cell_of_tf_as_state_table(tfa):
    """For every state (the two impossible ones too) and every action, fwemu's next state
    or refusal is sdei_state_table's cell. All cells are checked before failing, so the
    message lists every difference."""
    wrong = []
    for state, row in sorted(tfa.table.items()):
        for action, cell in zip(tfa.actions, row, strict=True):
            act = action.lower()
            d = _dispatcher()
            ev = d.private[(EV, PE)]
            ev.state = tfa.name(state)
            try:
                if act == "dispatch":
                    d.dispatch(EV, PE)
                else:
                    d.call(act, EV, PE)
                got = "NOP" if ev.state == tfa.name(state) else ev.state
            except SdeiError as e:
                if e.code != SDEI_DENIED or ev.state != tfa.name(state):
                    got = f"refused with {e.code}, state now {ev.state}"
                else:
                    got = "X"
            want = cell if cell in ("X", "NOP") else tfa.name(cell)
            if got != want:
                wrong.append(f"{tfa.name(state)} --{act}--> fwemu {got}, TF-A {want}")
            # a private event's other PEs never move
            assert all(d.private[(EV, p)].state == sdei.UNREGISTERED for p in (0, 2, 3))
    assert not wrong, "fwemu's SDEI state table differs from TF-A's:\n" + "\n".join(wrong)


def test_dispatch_pushes_and_complete_pops(tfa):
    """DO_DISPATCH enters the running dispatch stack; both completions leave it."""
    for completion in ("complete", "complete_resume"):
        d = _dispatcher()
        d.call("register", EV, PE)
        d.call("enable", EV, PE)
        d.dispatch(EV, PE)
        assert d.running[PE] == [EV]
        d.call(completion, EV, PE)
        assert d.running[PE] == [] and d.private[(EV, PE)].state == "rEG"


# --------------------------------------------------------------------------------------
# sdei_dispatch_event()'s preconditions, in TF-A's order

# TF-A's condition (whitespace normalised) -> the name used below
KNOWN_CHECKS = {
    "state->pe_masked": "masked",
    "ev_num == SDEI_EVENT_0": "event0",
    "map == NULL": "unmapped",
    "!is_map_explicit(map)": "not-explicit",
    "is_event_critical(disp_ctx->map)": "critical-outstanding",
    "is_event_normal(map)": "normal-on-normal",
    "!can_sdei_state_trans(se, DO_DISPATCH)": "state",
}

# fwemu's reason text -> the same names
REASONS = [
    (r"PE \d+ is masked", "masked"),
    (r"event 0 cannot be dispatched", "event0"),
    (r"event \d+ has no mapping", "unmapped"),
    (r"event \d+ is bound to an interrupt", "not-explicit"),
    (r"a critical event \(\d+\) is running", "critical-outstanding"),
    (r"a normal event \(\d+\) is running on PE \d+ and event \d+ is normal", "normal-on-normal"),
    (r"event \d+ is (not registered|registered but disabled|already running)", "state"),
]

TARGETS = {"event0": 0, "unmapped": 4242, "interrupt": 1000, "normal": 5001, "critical": 5004}
STACKS = {"none": [], "normal": [5000], "critical": [5003], "normal+critical": [5000, 5003]}
TARGET_STATES = ("enabled", "registered", "unregistered")


def _violated(masked: bool, target: str, stack: str, tstate: str) -> set[str]:
    """Which of sdei_dispatch_event()'s conditions hold, each read as TF-A writes it."""
    top = STACKS[stack][-1] if STACKS[stack] else None
    out = set()
    if masked:
        out.add("masked")
    if target == "event0":
        out.add("event0")
    if target in ("event0", "unmapped"):
        out.add("unmapped")          # fwemu maps no event 0 (it is SDEI_EVENT_SIGNAL's)
    if target == "interrupt":
        out.add("not-explicit")
    if top is not None and top in (5003, 5004):
        out.add("critical-outstanding")
    if top is not None and target == "normal":
        out.add("normal-on-normal")
    if tstate != "enabled":
        out.add("state")
    return out


def _reason_name(reason: str | None) -> str | None:
    if reason is None:
        return None
    for pat, name in REASONS:
        if re.match(pat, reason):
            return name
    return f"unrecognised: {reason}"


def test_tf_as_dispatch_checks_are_the_known_ones(tfa):
    unknown = [c for c in tfa.dispatch_checks if c not in KNOWN_CHECKS]
    assert not unknown, f"sdei_dispatch_event() has checks this test does not model: {unknown}"
    assert set(tfa.dispatch_checks) == set(KNOWN_CHECKS), tfa.dispatch_checks


def test_dispatch_refusal_is_tf_as_first_failing_check(tfa):
    order = [KNOWN_CHECKS[c] for c in tfa.dispatch_checks]
    wrong = []
    for masked, target, stack, tstate in itertools.product(
            (False, True), TARGETS, STACKS, TARGET_STATES):
        d = SdeiDispatcher(2)
        d.define(5000, critical=False, shared=False, explicit=True)
        d.define(5001, critical=False, shared=False, explicit=True)
        d.define(5003, critical=True, shared=False, explicit=True)
        d.define(5004, critical=True, shared=False, explicit=True)
        d.define(1000, critical=False, shared=False, explicit=False)
        d.unmask(0)
        for ev in STACKS[stack]:
            d.register_all_pes(ev)
            d.dispatch(ev, 0)
        number = TARGETS[target]
        if number in d.events:
            if tstate != "unregistered":
                d.call("register", number, 0)
            if tstate == "enabled":
                d.call("enable", number, 0)
        if masked:
            d.mask(0)
        hit = _violated(masked, target, stack, tstate)
        want = next((c for c in order if c in hit), None)
        got = _reason_name(d.refusal(number, 0))
        if got != want:
            wrong.append(f"masked={masked} target={target} running={stack} state={tstate}: "
                         f"fwemu {got}, TF-A {want}")
    assert not wrong, "\n".join(wrong)
