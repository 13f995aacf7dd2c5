"""Every verdict rule of analysis/claims.py, table-driven, on constructed peaks: each outcome of each rule.

A peak is what check_claims hands the rules: one framework's best level from
analysis.tables.level_summary (median req/s, its flags, the repeats' summary).
"""

import pandas as pd
import pytest

from analysis.claims import (
    DISTURBED, FAILS, FIDELITY_NOT_MEASURED, FREE_COST, GENERATOR_BOUND, HOLDS, METHOD_DEPENDENT, METHOD_TOLERANCE, NOT_TESTED, PARTLY,
    RATIO_TOLERANCE, check_claims, combined_verdict, faster_verdict, interface_verdict, ratio_verdict, validation_verdict,
)  # fmt: skip
from analysis.stats import summarise
from analysis.tables import level_summary


def peak(*repeats: float, bound: bool = False, disturbed: bool = False, faithful: bool | None = True, whole: float | None = None) -> pd.Series:
    """`whole`: req/s on the whole cores (the reference); by default 2.5x the budget's, so ratios agree both ways."""
    summary = summarise(repeats)
    whole = 2.5 * summary["median"] if whole is None and faithful is not None else whole
    return pd.Series({"rps": summary["median"], "generator_bound": bound, "disturbed": disturbed, "unstable": False, "_summary": summary,
                      "faithful": faithful, "reference_rps": whole})  # fmt: skip


# Repeats that do not overlap one another (rankable) or do (a tie).
FAST = peak(3900, 4000, 4100)
SLOW = peak(990, 1000, 1010)  # FAST / SLOW = 4.0
NEAR_FAST = peak(1040, 1060, 1080)  # overlaps SLOWISH
SLOWISH = peak(1000, 1050, 1070)


@pytest.mark.parametrize(
    "fast, slow, post_ratio, expected",
    [
        pytest.param(None, SLOW, 4.0, NOT_TESTED, id="fast-not-measured"),
        pytest.param(FAST, None, 4.0, NOT_TESTED, id="slow-not-measured"),
        pytest.param(peak(3900, 4000, 4100, disturbed=True), SLOW, 4.0, DISTURBED, id="fast-disturbed"),
        pytest.param(FAST, peak(990, 1000, 1010, disturbed=True), 4.0, DISTURBED, id="slow-disturbed"),
        pytest.param(peak(3900, 4000, 4100, disturbed=True, bound=True), SLOW, 4.0, DISTURBED, id="disturbed-before-generator-bound"),
        pytest.param(peak(3900, 4000, 4100, bound=True), SLOW, 4.0, GENERATOR_BOUND, id="fast-generator-bound"),
        pytest.param(FAST, peak(990, 1000, 1010, bound=True), 4.0, GENERATOR_BOUND, id="slow-generator-bound"),
        pytest.param(FAST, SLOW, 4.0, HOLDS, id="the-posts-ratio"),
        pytest.param(FAST, SLOW, 4.0 * RATIO_TOLERANCE, HOLDS, id="holds-at-the-tolerance-below"),
        pytest.param(FAST, SLOW, 4.0 / RATIO_TOLERANCE, HOLDS, id="holds-at-the-tolerance-above"),
        pytest.param(FAST, SLOW, 4.0 * RATIO_TOLERANCE * 1.01, PARTLY, id="same-order-smaller-margin"),
        pytest.param(FAST, SLOW, 1.5, PARTLY, id="same-order-larger-margin"),
        pytest.param(SLOW, FAST, 4.0, FAILS, id="order-reversed"),
        pytest.param(NEAR_FAST, SLOWISH, 3.0, FAILS, id="same-order-but-repeats-overlap"),
        # The method's fidelity (lab/run/reference.py): judged only on numbers the budget did not bend.
        pytest.param(peak(3900, 4000, 4100, faithful=None), SLOW, 4.0, FIDELITY_NOT_MEASURED, id="fast-fidelity-not-measured"),
        pytest.param(FAST, peak(990, 1000, 1010, faithful=None), 4.0, FIDELITY_NOT_MEASURED, id="slow-fidelity-not-measured"),
        pytest.param(peak(3900, 4000, 4100, disturbed=True, faithful=None), SLOW, 4.0, DISTURBED, id="disturbed-before-fidelity"),
        pytest.param(peak(3900, 4000, 4100, faithful=False), SLOW, 4.0, METHOD_DEPENDENT, id="fast-unfaithful"),
        pytest.param(FAST, peak(990, 1000, 1010, faithful=False), 4.0, METHOD_DEPENDENT, id="slow-unfaithful"),
        # Both faithful, but the budget's 4.0 against the whole cores' 4.0 x 1.11: the methods disagree, never "holds".
        pytest.param(peak(3900, 4000, 4100, whole=10_000 * METHOD_TOLERANCE * 1.01), peak(990, 1000, 1010, whole=2500), 4.0,
                     METHOD_DEPENDENT, id="ratios-disagree-beyond-the-tolerance"),
        pytest.param(peak(3900, 4000, 4100, whole=10_000 * METHOD_TOLERANCE * 0.99), peak(990, 1000, 1010, whole=2500), 4.0,
                     HOLDS, id="ratios-agree-within-the-tolerance"),
        pytest.param(peak(3900, 4000, 4100, whole=10_000 / (METHOD_TOLERANCE * 1.01)), peak(990, 1000, 1010, whole=2500), 4.0,
                     METHOD_DEPENDENT, id="whole-core-ratio-smaller"),
    ],
)
def test_ratio_verdict(fast, slow, post_ratio, expected):
    assert ratio_verdict(fast, slow, post_ratio) == expected


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        pytest.param([], NOT_TESTED, id="no-ratios"),
        pytest.param([HOLDS, HOLDS], HOLDS, id="all-hold"),
        pytest.param([FAILS], FAILS, id="all-fail"),
        pytest.param([PARTLY, PARTLY], PARTLY, id="all-partly"),
        pytest.param([HOLDS, DISTURBED], DISTURBED, id="one-disturbed"),
        pytest.param([GENERATOR_BOUND, DISTURBED], DISTURBED, id="disturbed-before-generator-bound"),
        pytest.param([HOLDS, GENERATOR_BOUND], GENERATOR_BOUND, id="one-generator-bound"),
        pytest.param([GENERATOR_BOUND, NOT_TESTED], GENERATOR_BOUND, id="generator-bound-before-not-tested"),
        pytest.param([HOLDS, NOT_TESTED], NOT_TESTED, id="one-not-tested"),
        pytest.param([HOLDS, FAILS], PARTLY, id="holds-and-fails"),
        pytest.param([PARTLY, FAILS], PARTLY, id="partly-and-fails"),
        pytest.param([HOLDS, METHOD_DEPENDENT], METHOD_DEPENDENT, id="one-method-dependent"),
        pytest.param([METHOD_DEPENDENT, FIDELITY_NOT_MEASURED], FIDELITY_NOT_MEASURED, id="not-measured-before-method-dependent"),
        pytest.param([GENERATOR_BOUND, FIDELITY_NOT_MEASURED], GENERATOR_BOUND, id="generator-bound-before-fidelity"),
    ],
)
def test_combined_verdict(verdicts, expected):
    assert combined_verdict(verdicts) == expected


@pytest.mark.parametrize(
    "first, others, expected",
    [
        pytest.param(None, {"flask": SLOW}, NOT_TESTED, id="first-not-measured"),
        pytest.param(FAST, {}, NOT_TESTED, id="nothing-to-compare-with"),
        pytest.param(peak(3900, 4000, 4100, disturbed=True), {"flask": SLOW}, DISTURBED, id="first-disturbed"),
        pytest.param(FAST, {"flask": SLOW, "django": peak(900, 950, 1000, disturbed=True)}, DISTURBED, id="another-disturbed"),
        pytest.param(FAST, {"flask": peak(990, 1000, 1010, bound=True)}, GENERATOR_BOUND, id="generator-bound"),
        pytest.param(FAST, {"flask": SLOW, "django": SLOWISH}, HOLDS, id="faster-than-all"),
        pytest.param(SLOWISH, {"flask": SLOW, "django": FAST}, PARTLY, id="faster-than-some"),
        pytest.param(SLOW, {"flask": FAST}, FAILS, id="slower-than-all"),
        pytest.param(NEAR_FAST, {"flask": SLOWISH}, FAILS, id="faster-but-within-the-spread"),
    ],
)
def test_faster_verdict(first, others, expected):
    assert faster_verdict(first, others) == expected


WSGI_BOTH = {"flask": "WSGI", "django": "WSGI"}
NO_ASYNC = {"quart": None, "django-asgi": None}
BOTH_ASYNC = {"quart": "ASGI", "django-asgi": "ASGI"}


@pytest.mark.parametrize(
    "interfaces, async_paths, expected",
    [
        pytest.param(WSGI_BOTH, NO_ASYNC, NOT_TESTED, id="wsgi-no-async-path-measured"),
        pytest.param({"flask": "WSGI", "django": None}, NO_ASYNC, NOT_TESTED, id="wsgi-and-one-not-run"),
        pytest.param(WSGI_BOTH, BOTH_ASYNC, HOLDS, id="wsgi-and-both-async-paths-ran-as-asgi"),
        pytest.param(WSGI_BOTH, {"quart": "ASGI", "django-asgi": None}, PARTLY, id="one-async-path"),
        pytest.param(WSGI_BOTH, {"quart": "WSGI", "django-asgi": "WSGI"}, NOT_TESTED, id="async-paths-not-asgi"),
        pytest.param({"flask": "WSGI", "django": None}, BOTH_ASYNC, PARTLY, id="async-paths-ran-but-a-blog-setup-did-not"),
        pytest.param({"flask": "WSGI", "django": "ASGI"}, BOTH_ASYNC, PARTLY, id="a-blog-setup-runs-asgi"),
    ],
)
def test_interface_verdict(interfaces, async_paths, expected):
    assert interface_verdict(interfaces, async_paths) == expected


@pytest.mark.parametrize(
    "costs, bound, disturbed, expected",
    [
        pytest.param({"flask": 0.3}, False, False, NOT_TESTED, id="first-not-measured"),
        pytest.param({"fastapi": 0.05, "flask": 0.3}, False, True, DISTURBED, id="disturbed"),
        pytest.param({"fastapi": 0.05}, True, True, DISTURBED, id="disturbed-before-generator-bound"),
        pytest.param({"fastapi": 0.05, "flask": 0.3}, True, False, GENERATOR_BOUND, id="generator-bound"),
        pytest.param({"fastapi": FREE_COST, "flask": 0.3}, False, False, HOLDS, id="free-at-the-limit"),
        pytest.param({"fastapi": 0.2, "flask": 0.3, "django": 0.4}, False, False, PARTLY, id="cheaper-than-the-others"),
        pytest.param({"fastapi": 0.35, "flask": 0.3, "django": 0.4}, False, False, FAILS, id="not-cheaper-than-all"),
        pytest.param({"fastapi": 0.2}, False, False, FAILS, id="costly-and-nothing-to-compare"),
    ],
)
def test_validation_verdict(costs, bound, disturbed, expected):
    assert validation_verdict(costs, bound, "fastapi", disturbed) == expected


# -- the rules as check_claims applies them to a run's levels ----------------------------------------


def tidy_rows(scenario: str, framework: str, rps: list[float], disturbed: list[bool] | None = None, users: int = 8) -> list[dict]:
    disturbed = disturbed or [False] * len(rps)
    return [
        {"kind": "step", "scenario": scenario, "framework": framework, "users": users, "repeat": i + 1, "status": "ok", "rps": value,
         "requests": int(value * 4), "failures": 0, "generator_bound": False, "disturbed": shaken, "foreign_percent": 40.0 if shaken else 1.0,
         "steal_percent": 0.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "locust_cpu_percent": 50.0, "locust_demand_percent": 55.0,
         "server_cpu_percent": 95.0, "server_peak_rss_mb": 80.0, "requests_per_cpu_second": value, "wrk_rps": None,
         # The whole-core reference beside each repeat: 2.5x the budget's req/s at the same cost per request.
         "reference_rps": 2.5 * value, "reference_requests_per_cpu_second": value, "fidelity": 1.0}  # fmt: skip
        for i, (value, shaken) in enumerate(zip(rps, disturbed))
    ]


MANIFEST = {"cores": {"server": [0], "locust": [1]}, "targets": {name: {"interface": "ASGI" if name == "fastapi" else "WSGI"} for name in ("fastapi", "flask", "django")}}


def test_one_disturbed_repeat_of_a_peak_makes_every_claim_resting_on_it_inconclusive():
    rows = tidy_rows("json", "fastapi", [4000, 4050, 3950], disturbed=[False, True, False])
    rows += tidy_rows("json", "flask", [1000, 1010, 990]) + tidy_rows("json", "django", [800, 810, 790])
    table = check_claims(level_summary(pd.DataFrame(rows)), MANIFEST)
    assert table.loc["1/2", "verdict"] == table.loc["1/3", "verdict"] == DISTURBED
    assert table.loc["2/3", "verdict"] == ratio_verdict(peak(1000, 1010, 990), peak(800, 810, 790), 9000 / 7000)  # untouched
    assert table.loc["1", "verdict"] == f"{DISTURBED} (by its ratios)"
    assert table.loc["2", "verdict"] == f"{DISTURBED} (by its ratios)"  # flask's ratios include fastapi's
    assert "@8 users disturbed" in table.loc["1/2", "conditions"]
    assert table.loc["1", "this run"].startswith("4,000 req/s!")


def test_without_disturbance_the_same_numbers_get_the_rules_verdicts():
    rows = tidy_rows("json", "fastapi", [4000, 4050, 3950]) + tidy_rows("json", "flask", [1000, 1010, 990])
    table = check_claims(level_summary(pd.DataFrame(rows)), MANIFEST)
    assert table.loc["1/2", "verdict"] == ratio_verdict(peak(4000, 4050, 3950), peak(1000, 1010, 990), 34000 / 9000) == HOLDS
    assert table.loc["1/2", "this run"] == "4.00 at the budget; 4.00 on the whole cores"
    assert table.loc["1/3", "verdict"] == NOT_TESTED
    assert "disturbed" not in table.loc["1/2", "conditions"]


def test_a_ratio_the_budget_bent_is_method_dependent_with_both_numbers():
    # fastapi's cost per request at the budget was 0.8 of its whole core's: its numbers are marked, its ratios not judged.
    rows = [dict(row, fidelity=0.8, reference_rps=row["rps"] * 2.5 / 0.8) for row in tidy_rows("json", "fastapi", [4000, 4050, 3950])]
    rows += tidy_rows("json", "flask", [1000, 1010, 990])
    levels = level_summary(pd.DataFrame(rows))
    table = check_claims(levels, MANIFEST)
    assert table.loc["1/2", "verdict"] == METHOD_DEPENDENT
    assert table.loc["1/2", "this run"] == "4.00 at the budget; 5.00 on the whole cores"
    assert table.loc["1", "verdict"] == f"{METHOD_DEPENDENT} (by its ratios)"
    assert table.loc["1", "this run"].startswith("4,000 req/s‡")


def test_the_json_ratios_are_judged_on_wrk_at_the_budget_with_locusts_beside_them():
    # Locust's figures cost flask 0.8 of its whole core's per request (its way of closing connections);
    # wrk's at the budget, in every repeat, keep the whole core's cost: the claims are judged on wrk's.
    rows = [dict(row, wrk_rps=row["rps"] * 1.02, wrk_requests_per_cpu_second=row["rps"] * 1.02 / 0.97, wrk_fidelity=0.98)
            for row in tidy_rows("json", "fastapi", [4000, 4050, 3950])]  # fmt: skip
    rows += [dict(row, fidelity=0.8, wrk_rps=row["rps"] * 1.25, wrk_requests_per_cpu_second=row["rps"] * 1.25, wrk_fidelity=1.0, reference_rps=row["rps"] * 2.5 * 1.25)
             for row in tidy_rows("json", "flask", [1000, 1010, 990])]  # fmt: skip
    table = check_claims(level_summary(pd.DataFrame(rows)), MANIFEST)
    # wrk: 4,080 / 1,250 = 3.26 at the budget; whole cores 10,000 / 3,125 = 3.20; Locust 4.00.
    assert table.loc["1/2", "this run"] == "3.26 (wrk) at the budget; 3.20 on the whole cores; Locust 4.00"
    assert table.loc["1/2", "verdict"] == HOLDS  # 3.26 is within 1.25x of the post's 3.78
    assert table.loc["2", "this run"] == "1,250 req/s (wrk at the budget) (0.14× the post's)"
    # The same run without wrk at the budget would rest on Locust's bent flask: never "holds".
    bare = [{key: value for key, value in row.items() if not key.startswith("wrk_")} for row in rows]
    assert check_claims(level_summary(pd.DataFrame(bare)), MANIFEST).loc["1/2", "verdict"] == METHOD_DEPENDENT


def test_without_a_reference_no_throughput_claim_is_judged():
    rows = tidy_rows("json", "fastapi", [4000, 4050, 3950]) + tidy_rows("json", "flask", [1000, 1010, 990]) + tidy_rows("json", "django", [800, 810, 790])
    rows = [{key: value for key, value in row.items() if key not in ("reference_rps", "reference_requests_per_cpu_second", "fidelity")} for row in rows]
    table = check_claims(level_summary(pd.DataFrame(rows)), MANIFEST)
    assert {table.loc[claim, "verdict"] for claim in ("1/2", "1/3", "2/3")} == {FIDELITY_NOT_MEASURED}
    assert table.loc["1", "verdict"] == f"{FIDELITY_NOT_MEASURED} (by its ratios)"
