"""The typed core API: requests parsed once, one session interface wherever the firmware
runs, results typed from what the firmware journalled."""

from __future__ import annotations

import pytest

from fwemu import api
from fwemu.errors import UnreachableError, UsageError
from fwemu.request import InjectRequest, Variant


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


def test_field_names_and_options_name_the_same_field():
    r = InjectRequest("memory-ue", {"address": 0x60000000, "error_type": 3, "--bank": "2", "bank-group": "1"})
    assert r.fields == {"address": "0x60000000", "error_type": "0x3", "bank": "2", "bank_group": "1"}
    assert InjectRequest.from_wire(r.to_wire()) == r
    mixed = r.replace(mix=(Variant("memory-ce", 2, {"address": "random:0x60000000:0x61000000:0x1000"}),))
    assert InjectRequest.from_wire(mixed.to_wire()) == mixed


@pytest.mark.parametrize("kwargs, field", [
    ({"pe": "x"}, "--pe"), ({"pe": True}, "--pe"), ({"report": "some"}, "report"),
    ({"mix": tuple(Variant("memory-ce") for _ in range(65))}, "mix"),
])
def test_a_bad_request_names_its_field(kwargs, field):
    with pytest.raises(UsageError) as e:
        InjectRequest("memory-ue", **kwargs)
    assert e.value.field == field


def test_a_variant_weight_must_be_positive():
    with pytest.raises(UsageError) as e:
        Variant("memory-ce", 0)
    assert e.value.field == "weight"


def test_local_session_results_are_what_the_journal_holds(tmp_path):
    from fwemu import journal
    j = tmp_path / "j.jsonl"
    with api.open_session("sim", api.SessionOptions(journal=str(j), daemon=False)) as fw:
        assert fw.via == "in-process"
        res = fw.inject(InjectRequest("memory-ue", {"address": "0x60000000:0x60004000:0x1000"}, count=4,
                                      pe="0,1"))
    assert res.exit_code == 0 and res.os_up and res.summary.states == {"consumed": 4}
    assert [o.pe for o in res.injections] == [0, 1, 0, 1]
    finals = {ln["id"]: ln for ln in journal.read(j) if ln.get("event") == "consumed"}
    for o in res.injections:
        assert o.consumed and o.latency_ms == finals[o.id]["latency_ms"]
        assert o.record == bytes.fromhex(finals[o.id]["record"])
    assert any("Memory failure: 0x60003: recovery action" in ln for ln in res.os_log)


def test_exit_code_follows_the_worst_state_and_the_os(tmp_path):
    with api.open_session("sim", api.SessionOptions(journal="none", daemon=False)) as fw:
        fatal = fw.inject(InjectRequest("memory-fatal"))
    assert fatal.summary.states == {"consumed": 1} and not fatal.os_up and fatal.exit_code == 6
    with api.open_session("sim", api.SessionOptions(journal="none", daemon=False, sim={"deaf": True})) as fw:
        lost = fw.inject(InjectRequest("memory-ce", timeout=0.05))
    assert lost.summary.states == {"timed-out": 1} and lost.exit_code == 3


def test_a_required_daemon_that_is_not_there_is_one_line():
    with pytest.raises(UnreachableError) as e:
        api.open_session("sim", api.SessionOptions(daemon=True))
    assert "no daemon serves board 'sim'" in str(e.value)


def test_on_final_sees_every_injection_once(tmp_path):
    seen = []
    with api.open_session("sim", api.SessionOptions(journal="none", daemon=False)) as fw:
        res = fw.inject(InjectRequest("memory-ce", count=300, pe="random:0:4", seed=4), on_final=seen.append)
    assert sorted(o.id for o in seen) == list(range(1, 301))
    assert res.summary.count == 300
