"""The statistics and flags on known inputs."""

import math

import numpy as np
import pytest

from analysis import stats
from records import rules


def test_summarise_median_quartiles_and_spread():
    summary = stats.summarise([100, 110, 90, 105, 95])
    assert summary["n"] == 5
    assert summary["median"] == 100
    assert (summary["q25"], summary["q75"]) == (95, 105)
    assert summary["spread"] == pytest.approx(0.10)
    assert summary["ci_low"] <= 100 <= summary["ci_high"]


def test_summarise_ignores_missing_values_and_one_repeat_has_no_spread():
    summary = stats.summarise([200, None, float("nan")])
    assert summary["n"] == 1 and summary["median"] == 200
    assert math.isnan(summary["spread"])
    assert math.isnan(stats.summarise([])["median"])


def test_bootstrap_interval_is_reproducible_and_narrows_with_agreement():
    wide = stats.bootstrap_median_ci(np.array([50.0, 100, 150, 200, 250]))
    assert wide == stats.bootstrap_median_ci(np.array([50.0, 100, 150, 200, 250]))
    narrow = stats.bootstrap_median_ci(np.array([149.0, 150, 150, 151, 150]))
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_unstable_only_above_the_threshold_and_with_repeats():
    assert stats.unstable(0.25, 3)
    assert not stats.unstable(0.05, 3)
    assert not stats.unstable(0.25, 1)
    assert not stats.unstable(float("nan"), 3)


def test_generator_bound_by_cpu_or_by_ceiling():
    assert rules.generator_bound(95, 100, None)
    assert rules.generator_bound(50, 950, 1000)  # within 10% of the ceiling
    assert not rules.generator_bound(50, 850, 1000)
    assert not rules.generator_bound(None, 100, None)
    assert not rules.generator_bound(float("nan"), 100, float("nan"))


@pytest.mark.parametrize(
    "load, rps, ceiling, wrk, short, saturated, reason",
    [
        (95, 100, None, None, False, False, "Locust's cores 95% busy (limit 90%)"),
        (89, 100, None, None, False, False, None),
        (50, 950, 1000, None, False, False, "950 req/s is within 10% of Locust's own ceiling on this server (1,000)"),
        (50, 800, 1000, 1000, False, False, "Locust got 0.80 of wrk's 1,000 req/s on the same target (limit 0.85)"),
        (50, 860, 1000, 1000, False, False, None),
        # A server that used its whole budget set the pace: wrk's other figure is the server's variation.
        (50, 800, 1000, 1000, False, True, None),
        # Locust faster than wrk (a quota's arrival pattern): not the generator.
        (50, 1300, 5000, 1000, False, False, None),
        (40, 100, None, None, True, True, "calibration: at this budget the target needs more of Locust than its headroom allows"),
    ],
)
def test_every_generator_bound_rule_with_its_reason(load, rps, ceiling, wrk, short, saturated, reason):
    assert rules.generator_reason(load, rps, ceiling, wrk, short, saturated) == reason
    assert rules.generator_bound(load, rps, ceiling, wrk, short, saturated) is (reason is not None)


def test_generator_load_is_the_fullest_measure_of_its_cores():
    # Two workers sharing one core at 47% each: neither is busy alone, the core is full (94%).
    assert rules.generator_load(47.0, 52.0, 96.5, 97.1) == 97.1
    assert rules.generator_load(None, float("nan"), 40.0, None) == 40.0
    assert rules.generator_load(None, None) is None


def test_a_server_is_saturated_at_nine_tenths_of_its_budget():
    assert rules.saturated(36.5, 0.4) and not rules.saturated(35.0, 0.4)
    assert rules.saturated(180, 2) and not rules.saturated(None, 1) and not rules.saturated(50, None)


def test_ranking_guard_refuses_overlapping_repeats():
    a = stats.summarise([100, 102, 104])
    b = stats.summarise([101, 103, 105])
    c = stats.summarise([200, 201, 202])
    assert not stats.rankable(a, b)
    assert stats.rankable(a, c) and stats.rankable(c, a)
