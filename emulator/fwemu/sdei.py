"""The SDEI dispatcher's event state machine and explicit-dispatch rules, as TF-A keeps them
(services/std_svc/sdei: sdei_state.c and sdei_dispatch_event; firmware-conventions.md §1).

The transitions are a table, not branches: (state, action) → new state, or a refusal,
checked cell by cell against TF-A's own sdei_state.c by tests/unit/test_sdei_tfa.py.
States are R(unning) E(nabled) G(registered) with lower case = clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

# states
UNREGISTERED: Final = "reg"
REGISTERED: Final = "reG"
ENABLED: Final = "rEG"
RUNNING: Final = "REG"
RUNNING_DISABLED: Final = "ReG"
RUNNING_UNREGISTER_PENDING: Final = "Reg"

NOP: Final = object()  # accepted, no change
X = None        # refused

# The actions, in the order of sdei_state.c's columns (TF-A's sdei_action_t, DO_* lower-cased):
# the client's calls, then the dispatcher's own DISPATCH.
ACTIONS: Final = ("register", "release", "enable", "disable", "unregister", "routing", "context",
           "complete", "complete_resume", "dispatch")

# sdei_state_table (TF-A 2.12.1 sdei_state.c), row by row, in its order: the next state,
# NOP, or X (refused). States in TF-A's spelling (the constants above). The two impossible
# states, rEg and REg (enabled without registered), refuse everything: they have no row.
_ROWS = {
    #       REG    REL  ENA    DISA   UREG   ROUT CTX  COMP   COMPR  DISP
    "reg": ("reG", NOP, X,     X,     X,     X,   X,   X,     X,     X),
    "Reg": (X,     X,   X,     X,     X,     X,   NOP, "reg", "reg", X),
    "reG": (X,     X,   "rEG", NOP,   "reg", NOP, X,   X,     X,     X),
    "ReG": (X,     X,   "REG", NOP,   "Reg", X,   NOP, "reG", "reG", X),
    "rEG": (X,     X,   NOP,   "reG", "reg", X,   X,   X,     X,     "REG"),
    "REG": (X,     X,   NOP,   "ReG", "Reg", X,   NOP, "rEG", "rEG", X),
}

# (state, action) → next state or NOP; absent = refused.
TRANSITIONS: Final[dict[tuple[str, str], object]] = {
    (state, action): nxt
    for state, row in _ROWS.items() for action, nxt in zip(ACTIONS, row, strict=True) if nxt is not X
}
# the same table as state → {action: next state or NOP}: the dispatcher's lookups (no
# (state, action) tuple made and hashed per call: SDEI ran three per injection)
_NEXT: Final[dict[str, dict[str, object]]] = {
    state: {action: nxt for (st, action), nxt in TRANSITIONS.items() if st == state} for state in _ROWS}
_NO_ROW: Final[dict[str, object]] = {}     # the impossible states: everything refused
assert set(_ROWS) == {UNREGISTERED, REGISTERED, ENABLED, RUNNING, RUNNING_DISABLED,
                      RUNNING_UNREGISTER_PENDING}

# SDEI return codes (SDEI v1.0 §5.1.1 table)
SDEI_SUCCESS = 0
SDEI_NOT_SUPPORTED = -1
SDEI_INVALID_PARAMETERS = -2
SDEI_DENIED = -3
SDEI_PENDING = -5
SDEI_OUT_OF_RESOURCE = -10


class SdeiError(Exception):
    def __init__(self, code: int, reason: str):
        self.code = code
        self.reason = reason
        super().__init__(reason)


@dataclass
class EventState:
    number: int
    critical: bool
    shared: bool
    explicit: bool
    state: str = UNREGISTERED


@dataclass
class SdeiDispatcher:
    """Per-PE state for private events, one state for shared ones; per-PE mask and the
    stack of running dispatches (at most normal then critical)."""

    pe_count: int
    events: dict[int, EventState] = field(default_factory=dict)
    private: dict[tuple[int, int], EventState] = field(default_factory=dict)
    masked: list[bool] = field(default_factory=list)
    running: list[list[int]] = field(default_factory=list)  # per PE: events in dispatch
    # event → its state per PE (a shared event's one state at every index): `private` and
    # `events` indexed without a (number, pe) key made per lookup
    per_pe: dict[int, list[EventState]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.masked = [True] * self.pe_count  # PEs start masked until the client unmasks
        self.running = [[] for _ in range(self.pe_count)]

    def define(self, number: int, critical: bool, shared: bool, explicit: bool) -> None:
        proto = EventState(number, critical, shared, explicit)
        self.events[number] = proto
        self.per_pe[number] = [proto] * self.pe_count
        if not shared:
            for pe in range(self.pe_count):
                self.private[(number, pe)] = self.per_pe[number][pe] = EventState(number, critical, shared, explicit)

    def _state(self, number: int, pe: int) -> EventState:
        states = self.per_pe.get(number)
        if states is None:
            raise SdeiError(SDEI_INVALID_PARAMETERS, f"event {number} is not defined by the platform")
        if 0 <= pe < len(states):
            return states[pe]
        ev = self.events[number]     # no such PE: a shared event's state, else KeyError
        return ev if ev.shared else self.private[(number, pe)]

    def call(self, action: str, number: int, pe: int) -> None:
        """An SDEI call from the client (one of ACTIONS but dispatch)."""
        if action not in ACTIONS or action == "dispatch":
            raise ValueError(f"not an SDEI client call: {action!r}")
        if number == 0 and action == "register":
            # event 0 is SDEI_EVENT_SIGNAL's, bound to a secure SGI; Linux refuses it for GHES
            raise SdeiError(SDEI_INVALID_PARAMETERS, "event 0 is reserved for SDEI_EVENT_SIGNAL")
        ev = self._state(number, pe)
        nxt = _NEXT.get(ev.state, _NO_ROW).get(action)
        if nxt is None:
            raise SdeiError(SDEI_DENIED, f"{action} refused in state {ev.state}")
        if nxt is not NOP:
            ev.state = nxt  # type: ignore[assignment]
        if action in ("complete", "complete_resume") and number in self.running[pe]:
            self.running[pe].remove(number)

    def register_all_pes(self, number: int) -> None:
        """What Linux does for a private event: register + enable on every PE."""
        ev = self.events.get(number)
        pes = [0] if ev is not None and ev.shared else range(self.pe_count)
        for pe in pes:
            self.call("register", number, pe)
            self.call("enable", number, pe)

    def unmask(self, pe: int) -> None:
        self.masked[pe] = False

    def mask(self, pe: int) -> None:
        self.masked[pe] = True

    def refusal(self, number: int, pe: int) -> str | None:
        """Why sdei_dispatch_event(number) on `pe` would return -1, or None: TF-A's checks in
        TF-A's order (masked PE, event 0, no mapping, not explicit, outstanding critical,
        normal while normal outstanding, state table); tests/unit/test_sdei_tfa.py."""
        if not 0 <= pe < self.pe_count:
            return f"no PE {pe}"
        if self.masked[pe]:
            return f"PE {pe} is masked (the client has not called SDEI_PE_UNMASK)"
        if number == 0:
            return "event 0 cannot be dispatched explicitly"
        ev = self.events.get(number)
        if ev is None:
            return f"event {number} has no mapping on this platform"
        if not ev.explicit:
            return f"event {number} is bound to an interrupt, not an explicit event"
        if self.running[pe]:   # the outstanding dispatch is the top of the PE's stack
            r = self.running[pe][-1]
            if self.events[r].critical:
                return f"a critical event ({r}) is running on PE {pe}: nothing preempts it"
            if not ev.critical:
                return f"a normal event ({r}) is running on PE {pe} and event {number} is normal"
        state = self._state(number, pe).state
        if "dispatch" not in _NEXT.get(state, _NO_ROW):
            why = {UNREGISTERED: "not registered", REGISTERED: "registered but disabled"}.get(state, "already running")
            return f"event {number} is {why} on PE {pe}"
        return None

    def dispatch(self, number: int, pe: int) -> None:
        reason = self.refusal(number, pe)
        if reason:
            raise SdeiError(SDEI_DENIED, reason)
        ev = self._state(number, pe)      # refusal() found (state, "dispatch") in the table
        ev.state = _NEXT[ev.state]["dispatch"]  # type: ignore[assignment]
        self.running[pe].append(number)

    def snapshot(self) -> dict[str, object]:
        out: dict[int, dict[str, object]] = {}
        for n, ev in sorted(self.events.items()):
            states = [ev.state] if ev.shared else [self.private[(n, pe)].state for pe in range(self.pe_count)]
            out[n] = {"priority": "critical" if ev.critical else "normal",
                      "shared": ev.shared, "explicit": ev.explicit, "state": states}
        return {"events": out, "masked": list(self.masked), "running": [list(r) for r in self.running]}
