"""The farm's parts that need no lab: channel URLs, the labgrid driver on a local target,
merging and summarising journals, and `fwemu farm run`'s checks before it reaches a
coordinator (tests/integration/test_farm.py runs it against a real labgrid lab)."""

from __future__ import annotations

import io
import json

import pytest

from fwemu import cli, journal_merge
from fwemu.errors import UsageError
from fwemu.labgrid import channel_url


def test_channel_urls():
    assert channel_url("127.0.0.1", 4001) == "rfc2217://127.0.0.1:4001?ign_set_control"
    assert channel_url("lab", 4001, "rfc2217", 2.5) == "rfc2217://lab:4001?ign_set_control&timeout=2.5"
    assert channel_url("127.0.0.1", 4002, "raw", 3.0) == "socket://127.0.0.1:4002"
    assert channel_url("::1", 4002, "raw") == "socket://[::1]:4002"
    with pytest.raises(UsageError, match="protocol: 'telnet'"):
        channel_url("h", 1, "telnet")
    with pytest.raises(UsageError, match="port: 70000"):
        channel_url("h", 70000)


def test_the_driver_on_a_local_target():
    labgrid = pytest.importorskip("labgrid")
    from labgrid.resource import NetworkSerialPort, RawSerialPort

    from fwemu.labgrid.driver import FwemuAgentDriver

    t = labgrid.Target("t1")
    NetworkSerialPort(t, name=None, host="127.0.0.1", port=4001, protocol="rfc2217")
    d = FwemuAgentDriver(t, name=None, board="sim-agent", timeout=2.0)
    t.activate(d)
    assert d.url == "rfc2217://127.0.0.1:4001?ign_set_control&timeout=2"
    cmd = d.command("inject", "memory-ue", journal="j.jsonl")
    assert cmd[-9:] == ["inject", "memory-ue", "--url", d.url, "--json", "--board", "sim-agent", "--journal",
                        "j.jsonl"]
    t2 = labgrid.Target("t2")
    RawSerialPort(t2, name=None, port="/dev/ttyUSB7")
    d2 = FwemuAgentDriver(t2, name=None)
    t2.activate(d2)
    assert d2.url == "/dev/ttyUSB7"


def _journal(path, run, rows):
    """A journal with a run line and (id, state, latency, m_accepted, m_end) injections."""
    lines = [{"event": "run", "run": run, "m_start": 100.0, "wall_start": 5000.0}]
    for i, state, lat, m0, m1 in rows:
        lines.append({"event": "accepted", "id": i, "run": run, "m_accepted": m0})
        fin = {"id": i, "run": run, "event": state, "state": state, "m_accepted": m0, "m_end": m1}
        if lat is not None:
            fin["latency_ms"] = lat
        lines.append(fin)
    lines.append({"event": "run-end", "run": run, "m_at": rows[-1][4] + 0.01})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"cut short\n')
    return str(path)


def test_summaries_and_merge(tmp_path):
    a = _journal(tmp_path / "a.jsonl", "ra", [(1, "consumed", 1.0, 100.0, 100.5), (2, "consumed", 3.0, 100.5, 101.0),
                                              (3, "refused", None, 101.0, 102.0)])
    b = _journal(tmp_path / "b.jsonl", "rb", [(1, "timed-out", None, 100.2, 100.3), (2, "consumed", 2.0, 100.4, 100.6)])
    total = journal_merge.Summary()
    sa, sb = journal_merge.summarize(a, total), journal_merge.summarize(b, total)
    assert sa.to_json() == {"count": 3, "states": {"consumed": 2, "refused": 1}, "rate": 1.5, "p50_ms": 3.0,
                            "p99_ms": 3.0}
    assert sb.to_json()["rate"] == 5.0 and sb.states == {"timed-out": 1, "consumed": 1}
    t = total.to_json(total=True)
    assert t == {"count": 5, "states": {"consumed": 3, "refused": 1, "timed-out": 1}, "rate": 6.5, "p50_ms": 2.0,
                 "p99_ms": 3.0}
    out = io.StringIO()
    n = journal_merge.merge([({"place": "pa"}, a), ({"place": "pb"}, b)], out)
    merged = [json.loads(x) for x in out.getvalue().splitlines()]
    assert n == len(merged) == 14           # the cut-short last line of each is left out
    for place, path in (("pa", a), ("pb", b)):
        own = [json.loads(x) for x in open(path).read().splitlines()[:-1]]
        assert [{k: v for k, v in x.items() if k != "place"} for x in merged if x["place"] == place] == own
    # interleaved by time: b's injection ending at 100.3 comes before a's ending at 100.5
    order = [(x["place"], x.get("id"), x["event"]) for x in merged if x["event"] != "accepted"]
    assert order.index(("pb", 1, "timed-out")) < order.index(("pa", 1, "consumed"))


def test_latency_samples_are_bounded(monkeypatch):
    monkeypatch.setattr(journal_merge, "SAMPLES", 100)
    lat = journal_merge.Latencies()
    for v in range(10_000):
        lat.add(float(v))
    assert len(lat.values) == 100 and lat.seen == 10_000
    assert 2_000 < lat.quantile(0.5) < 8_000       # a uniform sample, not the first 100


@pytest.mark.parametrize("argv, words", [
    (["farm", "run", "--tag", "ras=ghes", "--board", "sim-agent"], ["WORKLOAD", "missing"]),
    (["farm", "run", "--tag", "ras=ghes", "--board", "sim-agent", "--", "inject", "memory-ue", "--url", "x"],
     ["WORKLOAD", "--url is set by the farm"]),
    (["farm", "run", "--tag", "ras=ghes", "--places", "0", "--", "inject", "memory-ue"], ["--places", "0 is outside"]),
    (["farm", "run", "--tag", "ras=ghes", "--board", "sim", "--", "inject", "memory-ue"], ["--board", "'sim'"]),
    (["farm", "run", "--tag", "ras", "--board", "sim-agent", "--", "inject", "memory-ue"], ["--tag", "KEY=VALUE"]),
    (["farm", "run", "--board", "sim-agent", "--", "inject", "memory-ue"], ["--tag", "missing"]),
])
def test_farm_run_refuses_bad_input_in_one_line(capsys, tmp_path, argv, words):
    pytest.importorskip("labgrid")
    rc = cli.main(argv + ["--dir", str(tmp_path / "d")] if "--" not in argv else
                  argv[:argv.index("--")] + ["--dir", str(tmp_path / "d")] + argv[argv.index("--"):])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    for w in words:
        assert w in err[0]


class _Entry:
    def __init__(self, cls, params, avail=True):
        self.data = {"cls": cls, "params": params, "avail": avail}
        self.cls, self.params, self.avail = cls, params, avail


class _Place:
    def __init__(self, paths):
        self.acquired_resources = paths


def _coordinator(places, resources, on_sync=None):
    """A Coordinator over a stand-in session: serial_resources/wait_serial read only the
    session's places and resources, refreshed by sync()."""
    pytest.importorskip("labgrid")
    from fwemu.labgrid.coordinator import Coordinator

    c = Coordinator.__new__(Coordinator)
    c.session = type("S", (), {"places": places, "resources": resources})()
    c.sync = on_sync or (lambda: None)
    return c


def test_wait_serial_waits_for_the_exporters_port():
    """An exporter's RawSerialPort has no port until its ser2net runs (after the acquire)."""
    entry = _Entry("NetworkSerialPort", {"host": "h", "port": None, "extra": {"path": "/dev/pts/3"}}, avail=False)
    syncs = []

    def sync():
        syncs.append(1)
        if len(syncs) == 3:
            entry.params["port"], entry.data["avail"], entry.avail = 40123, True, True
    c = _coordinator({"p": _Place([["ex", "g", "NetworkSerialPort", "NetworkSerialPort"],
                                   ["ex", "g", "NetworkService", "NetworkService"]])},
                     {"ex": {"g": {"NetworkSerialPort": entry, "NetworkService": _Entry("NetworkService", {})}}},
                     sync)
    port = c.wait_serial("p", None, 5.0)
    assert port.params["port"] == 40123 and len(syncs) == 3 and port.path == "ex/g/NetworkSerialPort/NetworkSerialPort"
    from fwemu.errors import UnreachableError

    with pytest.raises(UnreachableError, match="is not available"):
        entry.avail = False
        c.wait_serial("p", None, 0.0)


def test_wait_serial_without_or_with_several_serial_resources():
    from fwemu.errors import UnreachableError

    c = _coordinator({"p": _Place([["ex", "g", "NetworkService", "svc"]])}, {"ex": {"g": {"svc": _Entry("NetworkService", {})}}})
    with pytest.raises(UnreachableError, match="place p: has no serial resource"):
        c.wait_serial("p", None, 1.0)
    two = {"a": _Entry("NetworkSerialPort", {"host": "h", "port": 1}), "b": _Entry("NetworkSerialPort", {"host": "h", "port": 2})}
    c = _coordinator({"p": _Place([["ex", "g", "NetworkSerialPort", "a"], ["ex", "g", "NetworkSerialPort", "b"]])},
                     {"ex": {"g": two}})
    with pytest.raises(UsageError, match="--resource: place p has 2 serial resources"):
        c.wait_serial("p", None, 1.0)
    assert c.wait_serial("p", "b", 1.0).params["port"] == 2
