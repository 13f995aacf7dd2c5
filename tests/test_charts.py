"""The report's charts, read back from the matplotlib figures: what kind of chart each run
gets, that every framework can be seen, and that a missing bar says why.

The data is a small tidy table written by hand (repeats of steps and ceilings, the columns
analysis/tidy.py makes), summarised by the report's own level_summary.
"""

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.text import Text

from analysis.charts import scenario_charts, scenario_figures
from analysis.tables import GENERATOR_MARK, comparison, level_summary

ORDER = ["fastapi", "flask", "django"]
BASELINES = {"fastapi": "bare-asgi", "flask": "bare-wsgi", "django": "bare-wsgi"}


def step(framework: str, users: int, rps: float, kind: str = "step", scenario: str = "json", bound: bool = False, wrk: float | None = None) -> dict:
    return {
        "kind": kind, "scenario": scenario, "framework": framework, "users": users, "status": "ok", "rps": rps,
        "requests": int(rps * 4), "failures": 0, "generator_bound": bound, "p50_ms": 1000 * users / rps,
        "p95_ms": 2000 * users / rps, "p99_ms": 3000 * users / rps, "locust_cpu_percent": 60.0,
        "locust_demand_percent": 65.0, "server_cpu_percent": 95.0, "server_peak_rss_mb": 80.0,
        "requests_per_cpu_second": rps / 0.95, "wrk_rps": wrk, "generator_load_percent": 65.0,
        "generator_reason": "Locust's cores 95% busy" if bound else None,
    }  # fmt: skip


def levels_of(rows: list[dict]) -> pd.DataFrame:
    return level_summary(pd.DataFrame(rows))


@pytest.fixture
def one_level():
    """json at 16 users only (the smoke profile), three repeats; fastapi generator-bound; only bare-asgi's ceiling."""
    rows = [step("fastapi", 16, rps, bound=True) for rps in (5000, 5200, 5100)]
    rows += [step("flask", 16, rps) for rps in (1500, 1600, 1550)]
    rows += [step("django", 16, rps) for rps in (1000, 1100, 1050)]
    rows += [step("bare-asgi", 16, 9000, kind="ceiling", wrk=27000)]
    figures = scenario_figures(levels_of(rows), "json", ORDER, BASELINES)
    yield figures
    for figure in figures.values():
        plt.close(figure)


@pytest.fixture
def two_levels():
    """json at 16 and 64 users; flask and django measure the same at 16 users (their markers would coincide)."""
    rows = []
    for users, repeat in itertools.product((16, 64), range(3)):
        rows += [step("fastapi", users, 5000 + 10 * repeat), step("flask", users, 1500 + repeat), step("django", users, 1500 + repeat)]
    rows += [step("bare-asgi", 64, 9000, kind="ceiling", wrk=27000), step("bare-wsgi", 64, 3000, kind="ceiling", wrk=4000)]
    figures = scenario_figures(levels_of(rows), "json", ORDER, BASELINES)
    yield figures
    for figure in figures.values():
        plt.close(figure)


def bars(ax) -> list:
    return [bar for container in ax.containers if isinstance(container, BarContainer) for bar in container]


def texts(figure) -> str:
    return "\n".join(t.get_text() for t in figure.findobj(Text))


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def lines_through(ax) -> list:
    """Drawn lines (not markers alone) that join two or more points."""
    return [line for line in ax.get_lines() if line.get_linestyle() not in ("None", "none", "") and len(line.get_xdata()) > 1]


def test_one_user_level_is_drawn_as_bars_with_the_repeats_spread(one_level):
    ax = one_level["json-throughput"].axes[0]
    assert [label.get_text() for label in ax.get_xticklabels()] == ORDER
    assert [round(bar.get_height()) for bar in bars(ax)] == [5100, 1550, 1050]  # the medians
    # The IQR of the repeats as error bars, one per framework; no line joins anything.
    (errors,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(errors.lines[2][0].get_segments()) == 3
    assert lines_through(ax) == []
    # The generator-bound level is a hollow, hatched bar with its mark, and the legend says so.
    fastapi = bars(ax)[0]
    assert fastapi.get_hatch() and fastapi.get_facecolor()[3] == 0
    assert all(bar.get_facecolor()[3] > 0 for bar in bars(ax)[1:])
    assert f"5,100{GENERATOR_MARK}" in texts(one_level["json-throughput"])
    assert any("generator-bound" in label for label in legend_labels(ax))


def test_one_user_level_latency_and_resources_are_grouped_bars(one_level):
    (ax,) = one_level["json-latency"].axes
    assert len(bars(ax)) == 9  # p50, p95, p99 × three frameworks
    assert [label.get_text() for label in ax.get_xticklabels()] == ["p50", "p95", "p99"]
    assert set(ORDER) <= set(legend_labels(ax))
    for ax in one_level["json-resources"].axes:
        assert [label.get_text() for label in ax.get_xticklabels()] == ORDER and len(bars(ax)) == 3
        assert lines_through(ax) == []
    assert len(bars(one_level["json-efficiency"].axes[0])) == 3


def test_share_of_ceiling_shows_every_framework_and_says_why_one_has_no_bar(one_level):
    figure = one_level["json-efficiency"]
    ax = figure.axes[1]
    assert [label.get_text() for label in ax.get_xticklabels()] == ORDER
    assert len(bars(ax)) == 1  # only fastapi's server has a ceiling here
    assert "flask: no ceiling measured for its server (bare-wsgi)" in texts(figure)
    assert "django: no ceiling measured for its server (bare-wsgi)" in texts(figure)
    assert "fastapi: no ceiling" not in texts(figure)


def test_several_levels_keep_lines_and_no_marker_hides_another(two_levels):
    ax = two_levels["json-throughput"].axes[0]
    assert len(lines_through(ax)) == 3  # one line per framework over the levels
    assert [label.get_text() for label in ax.get_xticklabels()] == ["16", "64"]
    # flask and django have the same median at 16 users: their markers must still both be seen.
    points = []
    for line in ax.get_lines():
        if line.get_marker() in ("None", "none", "", None):
            continue
        xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
        for (x, y), shown in zip(xy, line.get_transform().transform(xy)):
            if x == 16 and y == 1501:
                points.append((tuple(shown), line.get_marker()))
    assert len(points) >= 2
    for (a, marker_a), (b, marker_b) in itertools.combinations(points, 2):
        assert np.hypot(*np.subtract(a, b)) >= 4 or marker_a != marker_b, points
    assert len({marker for _, marker in points}) == 2  # and told apart by shape too
    assert set(ORDER) <= set(legend_labels(ax))


def test_several_levels_share_of_ceiling_has_every_framework(two_levels):
    ax = two_levels["json-efficiency"].axes[1]
    assert [label.get_text() for label in ax.get_xticklabels()] == ORDER and len(bars(ax)) == 3
    assert "no ceiling" not in texts(two_levels["json-efficiency"])


def test_a_ceiling_without_wrk_gives_no_share_and_the_chart_says_why():
    """Locust's figure on a bare app is Locust's limit: no share is computed from it."""
    rows = [step(name, 16, 1000) for name in ORDER]
    rows += [step("bare-asgi", 16, 9000, kind="ceiling", wrk=27000), step("bare-wsgi", 16, 3000, kind="ceiling")]
    levels = levels_of(rows)
    figures = scenario_figures(levels, "json", ORDER, BASELINES)
    try:
        assert len(bars(figures["json-efficiency"].axes[1])) == 1
        assert "flask: bare-wsgi measured by Locust only (no wrk)" in texts(figures["json-efficiency"])
    finally:
        for figure in figures.values():
            plt.close(figure)
    table = comparison(levels, "json", ORDER, BASELINES)
    assert table.loc["fastapi", "share of server ceiling"] == f"{1000 / 27000:.2f}"
    assert table.loc["flask", "share of server ceiling"] == "n/a† (no wrk)"


def test_a_scenario_without_ceilings_says_so_for_each_framework():
    rows = [step(name, 16, 100, scenario="io") for name in ORDER]
    figures = scenario_figures(levels_of(rows), "io", ORDER, BASELINES)
    try:
        text = texts(figures["io-efficiency"])
        for name in ORDER:
            assert f"{name}: no ceiling measured for its server ({BASELINES[name]})" in text
    finally:
        for figure in figures.values():
            plt.close(figure)


def test_pngs_are_written_for_both_kinds(one_level):
    rows = [step("fastapi", 16, 5000), step("flask", 16, 1500)]
    pngs = scenario_charts(levels_of(rows), "json", ORDER, BASELINES)
    assert set(pngs) == {"json-throughput", "json-latency", "json-resources", "json-efficiency"}
    assert all(png.startswith(b"\x89PNG") for png in pngs.values())


def test_disturbed_levels_are_crossed_in_bars_and_lines_and_the_legend_says_so():
    from analysis.tables import DISTURBED_MARK, comparison, resources

    # flask's second repeat was disturbed (others took its cores): its level is marked, at one level and at several.
    def rows_at(*levels):
        rows = []
        for users in levels:
            rows += [step("fastapi", users, rps) for rps in (5000, 5100)]
            rows += [{**step("flask", users, rps), "disturbed": shaken, "foreign_percent": pct, "steal_percent": 0.0}
                     for rps, shaken, pct in ((1500, False, 1.0), (1400, True, 42.0))]  # fmt: skip
        return levels_of(rows)

    levels = rows_at(16)
    figures = scenario_figures(levels, "json", ORDER, BASELINES)
    try:
        ax = figures["json-throughput"].axes[0]
        fastapi, flask = bars(ax)
        assert "x" in flask.get_hatch() and not fastapi.get_hatch()
        assert f"1,450{DISTURBED_MARK}" in texts(figures["json-throughput"])
        assert any("disturbed" in label for label in legend_labels(ax))
    finally:
        for figure in figures.values():
            plt.close(figure)
    # The tables carry the mark, and the share others took.
    assert comparison(levels, "json", ORDER, BASELINES).loc["flask", "peak req/s"] == f"1,450{DISTURBED_MARK}"
    assert comparison(levels, "json", ORDER, BASELINES).loc["fastapi", "peak req/s"] == "5,050"
    assert resources(levels, "json", ORDER).loc["flask", "others' CPU %"] == f"42{DISTURBED_MARK}"

    figures = scenario_figures(rows_at(16, 64), "json", ORDER, BASELINES)
    try:
        ax = figures["json-throughput"].axes[0]
        crosses = [line for line in ax.get_lines() if line.get_marker() == "x" and len(line.get_xdata())]
        assert [list(line.get_xdata()) for line in crosses] == [[16, 64]]  # flask's two levels, and only those
        assert any("disturbed" in label for label in legend_labels(ax))
    finally:
        for figure in figures.values():
            plt.close(figure)
