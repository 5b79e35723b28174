"""Backends behind one registry, tested by their flags: a board's target.kind picks a
registered backend, a backend registered from outside is used by every caller unchanged,
and the per-kind refusals come from one table for every backend."""

from __future__ import annotations

import dataclasses

import pytest

from fwemu import api, targets
from fwemu.board import load_board
from fwemu.errors import UsageError
from fwemu.notification import KINDS, platform_refusal
from fwemu.request import InjectRequest
from fwemu.targets import Cap
from fwemu.targets.sim import SimTarget


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))


def test_every_shipped_board_has_a_backend_whose_class_is_a_target():
    for name in ("sim", "sim-agent", "qemu-virt", "tfa-qemu", "fvp", "rd-n2"):
        b = targets.backend_for(load_board(name))
        assert issubclass(b.load(), targets.Target) and b.kind == load_board(name).target.kind


def test_flags_of_the_sim_and_of_an_agent_url():
    sim = targets.open_target(load_board("sim"))
    try:
        assert {Cap.OS_MODEL, Cap.MACHINE_PER_SESSION, Cap.SEES_DROPS} <= sim.capabilities()
    finally:
        sim.close()
    agent_cls = targets.backend_for(load_board("fvp")).load()
    assert Cap.OS_MODEL not in agent_cls.caps and Cap.MACHINE_PER_SESSION not in agent_cls.caps


def test_a_board_naming_no_registered_backend_is_one_line():
    board = load_board("sim")
    odd = dataclasses.replace(board, target=dataclasses.replace(board.target, kind="scp"))
    with pytest.raises(UsageError) as e:
        targets.open_target(odd)
    assert e.value.field == "target.kind"
    assert "needs the 'scp' backend, which this fwemu does not have (it has: agent, qemu, sim)" in e.value.reason


class CountingSim(SimTarget):
    """A backend from outside fwemu: the sim, counting what it is asked to do."""

    opened = 0
    notified: list[tuple[str, int]] = []

    @classmethod
    def open(cls, board, *, sim=None, url=None):
        cls.opened += 1
        return cls.from_options(board, sim or {})

    def notify(self, source, pe):
        type(self).notified.append((source.notify, pe))
        super().notify(source, pe)


def test_a_registered_backend_is_what_every_caller_uses(monkeypatch):
    monkeypatch.setitem(targets.BACKENDS, "sim", targets.Backend("sim", __name__, "CountingSim", "test"))
    CountingSim.notified.clear()
    with api.open_session("sim", api.SessionOptions(journal="none", daemon=False)) as fw:
        res = fw.inject(InjectRequest("memory-ue", pe="0:2:1", count=2, fields={"address": "0x60000000,0x60001000"}))
    assert CountingSim.opened == 1
    assert CountingSim.notified == [("sea", 0), ("sea", 1)]
    assert res.summary.states == {"consumed": 2}


@pytest.mark.parametrize("kind", [k for k, v in KINDS.items() if not v.arm64])
def test_the_kinds_no_arm64_platform_raises_are_refused_alike(kind):
    assert platform_refusal(kind, 0, 4) == f"notification type {kind} cannot be raised on arm64"
    assert platform_refusal("sea", 4, 4, "the guest") == "no PE 4 (the guest has 4)"
    assert platform_refusal("sea", 3, 4) is None
