"""The statistics and flags on known inputs."""

import math

import numpy as np
import pytest

from analysis import stats


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
    assert stats.generator_bound(95, 100, None)
    assert stats.generator_bound(50, 950, 1000)  # within 10% of the ceiling
    assert not stats.generator_bound(50, 850, 1000)
    assert not stats.generator_bound(None, 100, None)
    assert not stats.generator_bound(float("nan"), 100, float("nan"))


def test_ranking_guard_refuses_overlapping_repeats():
    a = stats.summarise([100, 102, 104])
    b = stats.summarise([101, 103, 105])
    c = stats.summarise([200, 201, 202])
    assert not stats.rankable(a, b)
    assert stats.rankable(a, c) and stats.rankable(c, a)
