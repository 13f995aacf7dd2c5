"""Charts per scenario from the per-level summary (analysis/tables.level_summary), as PNG bytes.

With one user level (the smoke profile) each chart is bars, one per framework, since a line
needs two points; with several, lines over the levels, each framework with a marker shape
of its own and shifted a few points sideways, so equal values never hide one another.

The flags of the tables are drawn too: a generator-bound level (†) is a hollow marker or a
hollow hatched bar, an unstable one (~) has a red ring or a red edge, a disturbed one (!) a
black cross over its marker or cross-hatching on its bar, and each chart's legend says so. A framework that has no bar in a chart gets a line in it saying why.
"""

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only, no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from .tables import DISTURBED_MARK, GENERATOR_MARK, UNSTABLE_MARK, marks, peak_levels, scenario_steps, server_ceilings  # noqa: E402

COLOURS = plt.get_cmap("tab10").colors
MARKERS = ("o", "s", "D", "^", "v", "P", "X")
# How far apart, sideways, the frameworks' markers at one user level are drawn (points).
DODGE_POINTS = 7
FLAG_COLOUR = "#d62728"
DISTURBED_COLOUR = "black"
# Same inputs, same bytes: no timestamp or version in the PNG.
PNG_METADATA = {"Software": None}


@dataclass
class Style:
    """Each framework's colour, marker shape and sideways shift (in points) on line charts."""

    colour: dict
    marker: dict
    shift: dict

    def transform(self, ax, name: str):
        return offset_copy(ax.transData, fig=ax.figure, x=self.shift[name], y=0, units="points")


def scenario_charts(levels: pd.DataFrame, scenario: str, order: list[str], baselines: dict[str, str]) -> dict[str, bytes]:
    """{file stem: PNG} for one scenario: throughput, latency, resources, efficiency."""
    return {name: _png(figure) for name, figure in scenario_figures(levels, scenario, order, baselines).items()}


def scenario_figures(levels: pd.DataFrame, scenario: str, order: list[str], baselines: dict[str, str]) -> dict:
    """{file stem: matplotlib Figure} for one scenario (the caller closes them)."""
    steps = scenario_steps(levels, scenario)
    if steps.empty:
        return {}
    groups = [(name, steps[steps["framework"] == name].sort_values("users")) for name in order if name in set(steps["framework"])]
    names = [name for name, _ in groups]
    style = Style(
        colour={name: COLOURS[order.index(name) % len(COLOURS)] for name in names},
        marker={name: MARKERS[order.index(name) % len(MARKERS)] for name in names},
        shift={name: (i - (len(names) - 1) / 2) * DODGE_POINTS for i, name in enumerate(names)},
    )
    one_level = steps["users"].nunique() == 1
    return {
        f"{scenario}-throughput": _throughput(groups, style, scenario, one_level),
        f"{scenario}-latency": _latency(groups, style, scenario, one_level),
        f"{scenario}-resources": _resources(groups, style, scenario, one_level),
        f"{scenario}-efficiency": _efficiency(groups, style, scenario, one_level, levels, baselines),
    }


def _throughput(groups, style, scenario, one_level) -> plt.Figure:
    figure, ax = plt.subplots(figsize=(7, 4))
    if one_level:
        rows = _peaks(groups)
        _bars(ax, rows, "rps", style, spread=True, labels=True)
        _finish_bars(ax, f"{scenario}: throughput at {_users(rows)} users (median of repeats, error bars: IQR)", "req/s", rows)
        return figure
    for name, rows in groups:
        # Error bars: the interquartile range of the repeats around their median.
        spread = [(rows["rps"] - rows["rps_q25"]).clip(lower=0), (rows["rps_q75"] - rows["rps"]).clip(lower=0)]
        ax.errorbar(rows["users"], rows["rps"], yerr=spread, capsize=4, linewidth=1.5, label=name, **_line_style(ax, style, name))
        _track(ax, rows["users"], rows[["rps", "rps_q75"]].max(axis=1))
        _flagged_markers(ax, rows, "rps", style, name)
    _finish(ax, f"{scenario}: throughput (median of repeats, error bars: IQR)", "req/s")
    return figure


def _latency(groups, style, scenario, one_level) -> plt.Figure:
    columns = ("p50_ms", "p95_ms", "p99_ms")
    if one_level:
        # One group per percentile, a bar per framework in each.
        figure, ax = plt.subplots(figsize=(7, 4))
        rows = _peaks(groups)
        width = 0.8 / len(rows)
        for i, (name, row) in enumerate(rows.iterrows()):
            positions = [group + (i - (len(rows) - 1) / 2) * width for group in range(len(columns))]
            bars = ax.bar(positions, [row[c] for c in columns], width, color=style.colour[name], label=name)
            for bar in bars:
                _flag_bar(bar, row, style.colour[name])
        ax.set_xticks(range(len(columns)), [c[:3] for c in columns])
        _finish_bars(ax, f"{scenario}: latency at {_users(rows)} users (median of repeats)", "ms", rows, framework_legend=True)
        return figure
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    for ax, column in zip(axes, columns):
        for name, rows in groups:
            ax.plot(rows["users"], rows[column], linewidth=1.5, label=name, **_line_style(ax, style, name))
            _track(ax, rows["users"], rows[column])
            _flagged_markers(ax, rows, column, style, name)
        _finish(ax, f"{scenario}: {column[:3]} latency", "ms", legend=column == "p50_ms")
    return figure


def _resources(groups, style, scenario, one_level) -> plt.Figure:
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column, title, unit in (
        (axes[0], "server_cpu_percent", "server CPU", "% of one core"),
        (axes[1], "server_peak_rss_mb", "server peak memory (RSS, all processes)", "MB"),
    ):
        if one_level:
            rows = _peaks(groups)
            _bars(ax, rows, column, style)
            _finish_bars(ax, f"{scenario}: {title} ({_users(rows)} users)", unit, rows, legend=ax is axes[0])
            continue
        for name, rows in groups:
            ax.plot(rows["users"], rows[column], linewidth=1.5, label=name, **_line_style(ax, style, name))
            _track(ax, rows["users"], rows[column])
            _flagged_markers(ax, rows, column, style, name)
        _finish(ax, f"{scenario}: {title}", unit, legend=ax is axes[0])
    return figure


def _efficiency(groups, style, scenario, one_level, levels, baselines) -> plt.Figure:
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    if one_level:
        rows = _peaks(groups)
        _bars(axes[0], rows, "requests_per_cpu_second", style)
        _finish_bars(axes[0], f"{scenario}: requests per server CPU-second ({_users(rows)} users)", "requests / CPU-s", rows)
    else:
        for name, rows in groups:
            axes[0].plot(rows["users"], rows["requests_per_cpu_second"], linewidth=1.5, label=name, **_line_style(axes[0], style, name))
            _track(axes[0], rows["users"], rows["requests_per_cpu_second"])
            _flagged_markers(axes[0], rows, "requests_per_cpu_second", style, name)
        _finish(axes[0], f"{scenario}: requests per server CPU-second", "requests / CPU-s")
    _ceiling_share(axes[1], groups, style, scenario, levels, baselines)
    return figure


def _ceiling_share(ax, groups, style, scenario, levels, baselines) -> None:
    """Each framework's peak over its server's bare app (wrk's figure), same scenario; a line for each one without."""
    ceilings = server_ceilings(levels, scenario)
    peaks = peak_levels(pd.concat([rows for _, rows in groups]))
    names = [name for name, _ in groups]
    shares, missing = {}, []
    for name in names:
        baseline = baselines.get(name)
        ceiling = ceilings.get(baseline) if baseline else None
        if ceiling:
            shares[name] = peaks.loc[name, "rps"] / ceiling
        elif baseline in ceilings:
            missing.append(f"{name}: {baseline} measured by Locust only (no wrk): that is Locust's limit, not the server's")
        else:
            missing.append(f"{name}: no ceiling measured for its server ({baseline})" if baseline else f"{name}: no bare app for its server")
    if not shares:
        ax.set_axis_off()
        note = "\n".join([f"{scenario}: no server ceiling measured", *missing])
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=9)
        return
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.6, len(names) - 0.4)  # every framework's slot, with a bar or not
    for i, name in enumerate(names):
        if name not in shares:
            # The empty slot says it is empty on purpose; the x label says why.
            ax.text(i, 0.02, "no ceiling", rotation=90, ha="center", va="bottom", color="grey", fontsize=8)
            continue
        row = peaks.loc[name]
        (bar,) = ax.bar([i], [shares[name]], color=style.colour[name])
        _flag_bar(bar, row, style.colour[name])
        ax.annotate(f"{shares[name]:.2f}{_marks(row)}", (i, shares[name]), ha="center", va="bottom")
    ax.axhline(1, color="grey", linewidth=0.8, linestyle="--")
    ax.set_ylim(0, max(1.1, max(shares.values()) * 1.15))
    ax.set_title(f"{scenario}: peak as share of its server's ceiling", fontsize=10)
    ax.set_ylabel("framework peak / bare app")
    if missing:
        ax.set_xlabel("\n".join(missing), fontsize=8, color=FLAG_COLOUR)
    flagged = peaks.loc[list(shares)]
    if flagged["generator_bound"].any() or flagged["unstable"].any() or flagged["disturbed"].any():
        ax.legend(handles=_flag_patches(), fontsize=8)


# -- bars (one user level) -------------------------------------------------------------


def _peaks(groups) -> pd.DataFrame:
    """One row per framework (its only level), indexed by framework, in the frameworks' order."""
    return pd.concat([rows for _, rows in groups]).set_index("framework")


def _users(rows: pd.DataFrame) -> str:
    return f"{rows['users'].iloc[0]:g}"


def _bars(ax, rows: pd.DataFrame, column: str, style, spread: bool = False, labels: bool = False) -> None:
    """A bar per framework; with spread, the repeats' IQR as error bars; with labels, each value and its marks."""
    x = range(len(rows))
    yerr = None
    if spread:
        yerr = [(rows["rps"] - rows["rps_q25"]).clip(lower=0), (rows["rps_q75"] - rows["rps"]).clip(lower=0)]
    bars = ax.bar(x, rows[column], color=[style.colour[name] for name in rows.index], yerr=yerr, capsize=5, ecolor="black")
    for bar, (name, row) in zip(bars, rows.iterrows()):
        _flag_bar(bar, row, style.colour[name])
        if labels:
            top = max(row[column], row["rps_q75"]) if spread else row[column]  # above the error bar
            ax.annotate(f"{row[column]:,.0f}{_marks(row)}", (bar.get_x() + bar.get_width() / 2, top),
                        textcoords="offset points", xytext=(0, 3), ha="center", va="bottom", fontsize=8)  # fmt: skip
    ax.set_xticks(x, list(rows.index))


def _flag_bar(bar, row, colour) -> None:
    """Hollow and hatched when generator-bound (a floor), a red edge when unstable, cross-hatched when disturbed."""
    if row["generator_bound"]:
        bar.set_facecolor("none")
        bar.set_edgecolor(colour)
        bar.set_hatch("//")
    if row["unstable"]:
        bar.set_edgecolor(FLAG_COLOUR)
        bar.set_linewidth(2)
    if row.get("disturbed", False):
        bar.set_hatch((bar.get_hatch() or "") + "xx")
        if not row["unstable"]:
            bar.set_edgecolor(DISTURBED_COLOUR)


def _flag_patches() -> list[Patch]:
    return [
        Patch(facecolor="none", edgecolor="black", hatch="//", label=f"{GENERATOR_MARK} generator-bound (a floor)"),
        Patch(facecolor="none", edgecolor=FLAG_COLOUR, linewidth=2, label=f"{UNSTABLE_MARK} unstable repeats"),
        Patch(facecolor="none", edgecolor=DISTURBED_COLOUR, hatch="xx", label=f"{DISTURBED_MARK} disturbed (others used the cores): re-run"),
    ]


def _finish_bars(ax, title: str, unit: str, rows: pd.DataFrame, legend: bool = True, framework_legend: bool = False) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(unit)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)  # room for the value labels
    ax.grid(True, axis="y", alpha=0.3)
    if legend:
        handles = ax.get_legend_handles_labels()[0] if framework_legend else []
        ax.legend(handles=handles + _flag_patches(), fontsize=8, loc="best")


# -- lines (several user levels) ---------------------------------------------------------


def _line_style(ax, style, name) -> dict:
    return {"color": style.colour[name], "marker": style.marker[name], "markersize": 6, "transform": style.transform(ax, name)}


def _track(ax, x, y) -> None:
    """The data limits of a shifted line: matplotlib leaves artists with a shifted transform out of autoscaling."""
    points = pd.DataFrame({"x": x, "y": y}).dropna()
    ax.update_datalim(points.to_numpy(dtype=float))


def _flagged_markers(ax, rows: pd.DataFrame, column: str, style, name: str) -> None:
    """Over the line's filled markers: hollow for generator-bound levels, a red ring for unstable ones,
    a black cross for disturbed ones."""
    bound = rows["generator_bound"].astype(bool)
    noisy = rows["unstable"].astype(bool)
    shaken = rows["disturbed"].astype(bool) if "disturbed" in rows else pd.Series(False, index=rows.index)
    shape, colour, transform = style.marker[name], style.colour[name], style.transform(ax, name)
    ax.plot(rows.loc[bound, "users"], rows.loc[bound, column], shape, markerfacecolor="white", markeredgecolor=colour,
            markeredgewidth=1.8, markersize=7, linestyle="none", transform=transform, zorder=3)  # fmt: skip
    ax.plot(rows.loc[noisy, "users"], rows.loc[noisy, column], "o", markerfacecolor="none", markeredgecolor=FLAG_COLOUR,
            markeredgewidth=1.5, markersize=12, linestyle="none", transform=transform, zorder=3)  # fmt: skip
    ax.plot(rows.loc[shaken, "users"], rows.loc[shaken, column], "x", markeredgecolor=DISTURBED_COLOUR, markeredgewidth=2,
            markersize=11, linestyle="none", transform=transform, zorder=4, label="_disturbed")  # fmt: skip
    for row in rows[bound | noisy | shaken].itertuples():
        ax.annotate(_marks(row._asdict()), (row.users, getattr(row, column)), xycoords=transform, textcoords="offset points",
                    xytext=(6, 4), color=FLAG_COLOUR)  # fmt: skip


def _marks(row) -> str:
    return marks(row)


def _flag_legend() -> list[Line2D]:
    return [
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", markeredgecolor="black", label=f"{GENERATOR_MARK} generator-bound (a floor)"),
        Line2D([], [], marker="o", linestyle="none", markerfacecolor="none", markeredgecolor=FLAG_COLOUR, markersize=10, label=f"{UNSTABLE_MARK} unstable repeats"),
        Line2D([], [], marker="x", linestyle="none", markeredgecolor=DISTURBED_COLOUR, markersize=11, markeredgewidth=2,
               label=f"{DISTURBED_MARK} disturbed (others used the cores): re-run"),
    ]


def _finish(ax, title: str, unit: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("concurrent users")
    ax.set_ylabel(unit)
    ax.autoscale_view()
    ax.set_ylim(0, ax.get_ylim()[1] * 1.08)  # room above the highest marker
    # User levels usually double: a log2 axis spaces them evenly, ticked at the levels measured.
    levels = sorted({float(x) for line in ax.lines for x in line.get_xdata()})
    if levels:
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [f"{x:g}" for x in levels])
        ax.minorticks_off()
        # Room at both ends for the markers shifted sideways.
        ax.set_xlim(levels[0] / 2**0.4, levels[-1] * 2**0.4)
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
