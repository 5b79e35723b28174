"""The streaming summary of a long run (session._Tally): bounded memory, exact counts,
max and mean, percentiles exact up to SAMPLES latencies and from a uniform sample above."""

from __future__ import annotations

from fwemu.board import load_board
from fwemu.injection import Injection
from fwemu.session import _Tally

SOURCE = load_board("sim").sources[0]


def ended(id: int, state: str, reason: str, latency: float | None) -> Injection:
    """An ended injection: its state, reason and latency (notified at 0, consumed at it)."""
    return Injection(id=id, scenario="memory-ue", source=SOURCE, pe=0, record=b"", timeout=5.0, accepted_wall=0.0,
                     t_accepted=0.0, state=state, reason=reason, t_notified=None if latency is None else 0.0,
                     t_consumed=latency)


def test_exact_up_to_the_sample_size():
    t = _Tally()
    for k in range(1, 1001):                       # latencies 1 .. 1000 ms
        t.add(ended(k, "consumed", "", k / 1000))
    s = t.summary()
    assert s["count"] == 1000 and s["states"] == {"consumed": 1000}
    assert (s["p50_ms"], s["p99_ms"], s["max_ms"]) == (501.0, 991.0, 1000.0)
    assert s["mean_ms"] == 500.5 and s["latency_sampled"] is False
    assert [i.id for i in t.last] == list(range(991, 1001))


def test_above_the_sample_size_memory_stays_and_percentiles_are_sampled():
    t = _Tally(samples=2000)
    n = 50_000
    for k in range(n):                             # uniform over 0 .. 49.999 ms, in order
        t.add(ended(k + 1, "consumed" if k % 10 else "timed-out", "slow" if k % 10 == 0 else "",
                  k / 1_000_000))
    s = t.summary()
    assert len(t.lat) == 2000 and s["latency_sampled"] is True
    assert s["count"] == n and s["states"] == {"consumed": n - n // 10, "timed-out": n // 10}
    assert s["max_ms"] == 49.999 and abs(s["mean_ms"] - 24.9995) < 1e-6       # exact
    assert abs(s["p50_ms"] - 25.0) < 2.5 and abs(s["p99_ms"] - 49.5) < 1.0       # a uniform sample
    assert s["reasons"] == [{"state": "timed-out", "reason": "slow", "count": n // 10,
                             "first": 1, "last": n - 9}]


def test_percentiles_and_max_are_the_reported_latencies():
    """The tally keeps latencies unrounded and rounds what it reports: its p50, p99 and max
    are the latency_ms values of the injections' own records, ties at the fifth decimal and
    float noise included."""
    import random
    rng = random.Random(7)
    lats = [rng.choice((0.0000125, 0.0000135, 0.00001245, 0.0001)) + rng.randrange(1000) * 1e-7
            for _ in range(999)]
    t = _Tally()
    injs = [ended(k + 1, "consumed", "", lat) for k, lat in enumerate(lats)]
    for inj in injs:
        t.add(inj)
    shown = sorted(inj.to_json()["latency_ms"] for inj in injs)
    s = t.summary()
    assert s["p50_ms"] == shown[int(0.5 * len(shown))] and s["p99_ms"] == shown[int(0.99 * len(shown))]
    assert s["max_ms"] == shown[-1]
