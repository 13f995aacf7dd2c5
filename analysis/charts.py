"""Charts per scenario from the per-level summary (analysis/tables.level_summary), as PNG bytes.

The flags of the tables are drawn too: a generator-bound level (†) is a hollow marker, an
unstable one (~) has a red ring, and each chart's legend says so.
"""

import io

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .tables import GENERATOR_MARK, UNSTABLE_MARK, peak_levels, scenario_steps  # noqa: E402

COLOURS = plt.get_cmap("tab10").colors
FLAG_COLOUR = "#d62728"
# Same inputs, same bytes: no timestamp or version in the PNG.
PNG_METADATA = {"Software": None}


def scenario_charts(levels: pd.DataFrame, scenario: str, order: list[str], baselines: dict[str, str]) -> dict[str, bytes]:
    """{file stem: PNG} for one scenario: throughput, latency, resources, efficiency."""
    return {name: _png(figure) for name, figure in scenario_figures(levels, scenario, order, baselines).items()}


def scenario_figures(levels: pd.DataFrame, scenario: str, order: list[str], baselines: dict[str, str]) -> dict:
    """{file stem: matplotlib Figure} for one scenario (the caller closes them)."""
    steps = scenario_steps(levels, scenario)
    if steps.empty:
        return {}
    colour = {name: COLOURS[i % len(COLOURS)] for i, name in enumerate(order)}
    groups = [(name, steps[steps["framework"] == name].sort_values("users")) for name in order if name in set(steps["framework"])]
    return {
        f"{scenario}-throughput": _throughput(groups, colour, scenario),
        f"{scenario}-latency": _latency(groups, colour, scenario),
        f"{scenario}-resources": _resources(groups, colour, scenario),
        f"{scenario}-efficiency": _efficiency(groups, colour, scenario, levels, baselines),
    }


def _throughput(groups, colour, scenario) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(7, 4))
    for name, rows in groups:
        # Error bars: the interquartile range of the repeats around their median.
        spread = [(rows["rps"] - rows["rps_q25"]).clip(lower=0), (rows["rps_q75"] - rows["rps"]).clip(lower=0)]
        ax.errorbar(rows["users"], rows["rps"], yerr=spread, color=colour[name], capsize=4, linewidth=1.5, label=name)
        _flagged_markers(ax, rows, "rps", colour[name])
    _finish(ax, f"{scenario}: throughput (median of repeats, bars: IQR)", "req/s")
    return figure


def _latency(groups, colour, scenario) -> plt.Figure:
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, column in zip(axes, ("p50_ms", "p95_ms", "p99_ms")):
        for name, rows in groups:
            ax.plot(rows["users"], rows[column], color=colour[name], linewidth=1.5, label=name)
            _flagged_markers(ax, rows, column, colour[name])
        _finish(ax, f"{scenario}: {column[:3]} latency", "ms", legend=column == "p50_ms")
    return figure


def _resources(groups, colour, scenario) -> plt.Figure:
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column, title, unit in (
        (axes[0], "server_cpu_percent", "server CPU", "% of one core"),
        (axes[1], "server_peak_rss_mb", "server peak memory (RSS, all processes)", "MB"),
    ):
        for name, rows in groups:
            ax.plot(rows["users"], rows[column], color=colour[name], linewidth=1.5, label=name)
            _flagged_markers(ax, rows, column, colour[name])
        _finish(ax, f"{scenario}: {title}", unit, legend=ax is axes[0])
    return figure


def _efficiency(groups, colour, scenario, levels, baselines) -> plt.Figure:
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, rows in groups:
        axes[0].plot(rows["users"], rows["requests_per_cpu_second"], color=colour[name], linewidth=1.5, label=name)
        _flagged_markers(axes[0], rows, "requests_per_cpu_second", colour[name])
    _finish(axes[0], f"{scenario}: requests per server CPU-second", "requests / CPU-s")
    # Share of the server ceiling: each framework's peak over its server's bare app, same scenario.
    ceilings = levels[(levels["kind"] == "ceiling") & (levels["scenario"] == scenario)].set_index("framework")["rps"]
    peaks = peak_levels(pd.concat([rows for _, rows in groups]))
    names, shares = [], []
    for name, _ in groups:
        ceiling = ceilings.get(baselines.get(name))
        if ceiling:
            names.append(name)
            shares.append(peaks.loc[name, "rps"] / ceiling)
    ax = axes[1]
    if names:
        bars = ax.bar(names, shares, color=[colour[n] for n in names])
        for bar, name in zip(bars, names):
            row = peaks.loc[name]
            if row["generator_bound"]:
                bar.set_facecolor("none")
                bar.set_edgecolor(colour[name])
                bar.set_hatch("//")
            ax.annotate(f"{bar.get_height():.2f}{_marks(row)}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
        ax.axhline(1, color="grey", linewidth=0.8, linestyle="--")
        ax.set_ylim(0, max(1.1, max(shares) * 1.15))
        ax.set_title(f"{scenario}: peak as share of its server's ceiling", fontsize=10)
        ax.set_ylabel("framework peak / bare app")
        if any(peaks.loc[name, "generator_bound"] for name in names):
            ax.legend(handles=[Patch(facecolor="none", edgecolor="black", hatch="//", label=f"{GENERATOR_MARK} generator-bound (a floor)")], fontsize=8)
    else:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no server ceiling measured for {scenario}", ha="center", va="center", transform=ax.transAxes)
    return figure


def _flagged_markers(ax, rows: pd.DataFrame, column: str, colour) -> None:
    """Filled markers for sound levels, hollow for generator-bound, a red ring for unstable."""
    bound = rows["generator_bound"].astype(bool)
    noisy = rows["unstable"].astype(bool)
    ax.plot(rows.loc[~bound, "users"], rows.loc[~bound, column], "o", color=colour, markersize=6, linestyle="none")
    ax.plot(rows.loc[bound, "users"], rows.loc[bound, column], "o", markerfacecolor="white", markeredgecolor=colour,
            markeredgewidth=1.8, markersize=7, linestyle="none")  # fmt: skip
    ax.plot(rows.loc[noisy, "users"], rows.loc[noisy, column], "o", markerfacecolor="none", markeredgecolor=FLAG_COLOUR,
            markeredgewidth=1.5, markersize=12, linestyle="none")  # fmt: skip
    for row in rows[bound | noisy].itertuples():
        ax.annotate(_marks(row._asdict()), (row.users, getattr(row, column)), textcoords="offset points", xytext=(6, 4), color=FLAG_COLOUR)


def _marks(row) -> str:
    return (GENERATOR_MARK if row["generator_bound"] else "") + (UNSTABLE_MARK if row["unstable"] else "")


def _flag_legend() -> list[Line2D]:
    return [
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="black", label=f"{GENERATOR_MARK} generator-bound (a floor)"),
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOUR, markersize=10, label=f"{UNSTABLE_MARK} unstable repeats"),
    ]


def _finish(ax, title: str, unit: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("concurrent users")
    ax.set_ylabel(unit)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # room above the highest marker
    # User levels usually double: a log2 axis spaces them evenly, ticked at the levels measured.
    levels = sorted({float(x) for line in ax.lines for x in line.get_xdata()})
    if levels:
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [f"{x:g}" for x in levels])
        ax.minorticks_off()
    ax.grid(True, alpha=0.3)
    if legend:
        handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + _flag_legend(), fontsize=8, loc="best")


def _png(figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, metadata=PNG_METADATA)
    plt.close(figure)
    return buffer.getvalue()
