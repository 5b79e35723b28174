"""Field values that change across one request's injections (fwemu.sweep)."""

from __future__ import annotations

import pytest

from fwemu.errors import UsageError
from fwemu.sweep import Plan


def take(plan: Plan, n: int, flag: str) -> list[int]:
    """`n` values of one option; the plan gives fields by name (--row -> row)."""
    return [int(plan.next()[flag[2:].replace("-", "_")], 16) for _ in range(n)]


def test_a_sweep_steps_below_stop_then_starts_again():
    p = Plan({"address": "0x60000000:0x60003000:0x1000"})
    assert take(p, 5, "--address") == [0x60000000, 0x60001000, 0x60002000, 0x60000000, 0x60001000]


def test_a_sweep_whose_step_does_not_divide_the_span_stays_below_stop():
    p = Plan({"row": "0:10:4"})
    assert take(p, 4, "--row") == [0, 4, 8, 0]


def test_a_list_is_taken_in_turn_and_other_fields_pass_through():
    p = Plan({"error_status": "1,0x400,3", "bdf": "0000:03:00.0", "timestamp": "2025-05-20T12:34:56",
              "flags": "primary,latent"})
    got = [p.next() for _ in range(4)]
    assert [g["error_status"] for g in got] == ["0x1", "0x400", "0x3", "0x1"]
    assert all(g["bdf"] == "0000:03:00.0" and g["flags"] == "primary,latent" and
               g["timestamp"] == "2025-05-20T12:34:56" for g in got)


def test_random_values_are_aligned_in_range_and_the_seed_repeats_them():
    spec = {"address": "random:0x60000000:0x70000000:0x1000", "row": "random:0:0x40000"}
    a = take(Plan(spec, seed=7), 2000, "--address")
    assert all(0x60000000 <= v < 0x70000000 and v % 0x1000 == 0 for v in a)
    assert len(set(a)) > 1900                        # 65,536 pages: few repeats in 2,000
    assert take(Plan(spec, seed=7), 2000, "--address") == a
    assert take(Plan(spec, seed=8), 2000, "--address") != a
    # one option's values do not depend on which other options are random
    assert take(Plan({"address": spec["address"]}, seed=7), 2000, "--address") == a


def test_a_plain_value_does_not_vary():
    p = Plan({"address": "0x60001000"})
    assert not p.varies and p.fixed == {"address": "0x60001000"}


@pytest.mark.parametrize("flag,text,why", [
    ("--address", "0x1000:0x1000:1", "STOP must be above START"),
    ("--address", "0x2000:0x1000:1", "STOP must be above START"),
    ("--address", "0:0x1000:0", "STEP must not be 0"),
    ("--address", "0:0x1000", "a sweep is START:STOP:STEP"),
    ("--address", "0::1", "STOP is missing"),
    ("--address", "random:0:0x1000:3", "ALIGN must be a power of two"),
    ("--address", "random:0x800:0x1000:0x1000", "not a multiple of ALIGN"),
    ("--address", "random:0x1000:0x1000", "HIGH must be above LOW"),
    ("--address", "random:0x1000", "random takes"),
    ("--chip-id", "0:0x101:1", "chip-id"),            # 0x100 is above the field's 0xff
    ("--error-status", "1,,2", "a list value is missing"),
])
def test_a_bad_spec_names_the_option_and_the_reason(flag, text, why):
    with pytest.raises(UsageError) as e:
        Plan({flag: text})
    assert e.value.args[0] == flag or flag in str(e.value)
    assert why in str(e.value)


def test_a_sweep_is_checked_against_the_scenarios_own_maximum():
    with pytest.raises(UsageError) as e:
        Plan({"chip_id": "0:9:1"}, scenario="memory-ue")      # the memory section's 3 bits
    assert str(e.value) == "--chip-id: 9 is outside 0 .. 0x8"        # STOP is exclusive
    assert Plan({"chip_id": "0:9:1"}, scenario="memory2").varies   # section 2's 8 bits
