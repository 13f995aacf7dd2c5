"""A run's report under results/<run-id>/report/: tidy.csv, levels.csv, tables.md, report.md,
charts/*.png and a self-contained report.html.

Everything is built once as a list of blocks (headings, text, tables as DataFrames, charts as
PNG bytes) and rendered twice: as markdown and as HTML. tables.md is the tables alone;
report.md and report.html add the blog's claims checked and the charts.
"""

import base64
import html
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from records import rules
from records.run import budget_headline

from . import latency, servers, stats
from .archive import UNPACKED
from .blocks import Block
from .sections import profile_blocks, tax_blocks
from .charts import scenario_charts
from .claims import check_claims
from .tables import (
    DISTURBED_MARK, GENERATOR_MARK, UNFAITHFUL_MARK, UNSTABLE_MARK, ceilings, comparison, fidelity, framework_order, level_summary,
    locust_vs_wrk, peak_levels, ratios, resources, scenario_steps, server_ceilings, to_markdown,
)  # fmt: skip
from .tidy import AnalysisError, check_name, inside, load_manifest, missing_steps, read_json, tidy


def conditions(manifest: dict) -> list[str]:
    """The facts a reader needs before trusting a number: where, how, with what."""
    host = manifest.get("host") or {}
    cores = manifest.get("cores") or {}
    effective = manifest.get("effective") or {}
    locust = manifest.get("locust") or {}
    lines = [
        f"- run `{manifest.get('run_id')}`, status **{manifest.get('status')}**, engine {manifest.get('engine')}, "
        f"profile {(manifest.get('profile') or {}).get('name')}",
        f"- host: {host.get('cpu_model')}, {host.get('logical_cores')} logical cores, {host.get('memory_gb')} GB, kernel {host.get('kernel')}",
        f"- cores: server {cores.get('server')}, Locust {cores.get('locust')} ({locust.get('processes', 1)} Locust process, "
        f"Locust {locust.get('version')}, {locust.get('user_class')})",
        f"- {budget_line(manifest.get('budget') or {}, cores)}",
        f"- each step: {effective.get('duration_s')} s measured after a {locust.get('ramp_s')} s ramp, "
        f"{effective.get('repeats')} repeat(s), warm-up {effective.get('warmup_s')} s thrown away",
    ]
    for name, target in (manifest.get("targets") or {}).items():
        command = " ".join(target.get("command_line") or [])
        lines.append(f"- {name}: {target.get('processes')} process(es) on cores {target.get('cores')}: `{command}`")
    for name, reason in (manifest.get("unavailable") or {}).items():
        lines.append(f"- {name}: **not measured**: {reason.splitlines()[0]}")
    return lines


def budget_line(budget: dict, cores: dict) -> str:
    """The server's CPU budget and how it was chosen (records/run.py's headline), with Locust's capacity."""
    budget = budget if isinstance(budget, dict) else {}
    line = budget_headline({"cpus": cores.get("server_cpus"), **budget})
    found = budget.get("capacity_rps") if isinstance(budget.get("capacity_rps"), dict) else {}
    capacity = ", ".join(f"{str(pattern)[:40]} {rps:,.0f} req/s" for pattern, rps in list(found.items())[:4] if rules.number(rps) is not None)
    return line + (f" (Locust's capacity on its cores: {capacity})" if capacity else "")


LEGEND = (
    f"Columns: `req/s @N` is the median throughput over the repeats with N concurrent users, with the full range of "
    f"the repeats in brackets where there are fewer than {stats.FEW_REPEATS} (`±x%`, half their interquartile range relative "
    f"to that median, where there are more); `peak req/s` is the best of those, at "
    f"`users @peak`, where `p50/p95/p99 ms` are the response-time percentiles; `failure %` counts errors and wrong "
    f"answers (worst level); `vs fastest` is peak over the fastest framework's peak; `share of server ceiling` is peak "
    f"over the same server running a bare app with no framework (the rest is the framework's cost); `rank` says "
    f"`tie` where the repeats overlap the next faster framework's. Marks: `{GENERATOR_MARK}` generator-bound (Locust's "
    f"cores >= {rules.GENERATOR_CPU_LIMIT:.0f}% busy, or within {rules.GENERATOR_CEILING_MARGIN:.0%} of Locust's own ceiling on that server, or under "
    f"{rules.GENERATOR_WRK_RATIO} of wrk's figure on the same target, or short of headroom by calibration; the reasons are listed "
    f"under 'Generator-bound numbers'): the number is a floor, not the target's limit; `{UNSTABLE_MARK}` unstable (repeats spread more than "
    f"{stats.UNSTABLE_SPREAD:.0%}): too noisy to rank on; `{DISTURBED_MARK}` disturbed (in a repeat, other processes' CPU time "
    f"plus steal reached {rules.NOISE_LIMIT:.0f}% of the server's or Locust's cores): not this set-up's number, re-run; "
    f"`{UNFAITHFUL_MARK}` unfaithful (the method changed what a request costs the server: its requests per CPU-second "
    f"at the budget, with the generator of that figure, are outside {rules.FIDELITY_BAND[0]:.2f}-{rules.FIDELITY_BAND[1]:.2f} "
    f"of its whole cores', 'Does the method bend the answer?'); "
    f"`others' CPU %` is that share, worst repeat."
)

FIDELITY_INTRO = (
    "A fraction of a core (a CPU quota) lets one Locust core keep up with a server, but a quota can change what a "
    "request costs the server, and with it the frameworks' ratios. So before and after each json step at the highest "
    "level the lab lifts the quota and measures the same server, the same processes, on its whole cores with wrk (a C "
    "client that is never the limit here), then sets the quota again; in between, wrk and Locust each measure it at "
    "the budget. **Fidelity** is a figure's requests per CPU-second at the budget over those on the whole cores "
    "(median of the repeats, their range in brackets). wrk's isolates the budget: inside "
    f"{rules.FIDELITY_BAND[0]:.2f}-{rules.FIDELITY_BAND[1]:.2f} the budget served each request at the whole core's "
    f"cost, and the json claims are judged on it; outside, the target is marked `{UNFAITHFUL_MARK}`, and a ratio "
    "claim resting on it, or on a ratio that differs between the budget and the whole cores by more than 10%, is "
    "`method-dependent`, never `holds`. Locust's also carries what Locust's way of sending costs the server: "
    "Gunicorn's sync workers wait for the client to close each connection, and Locust (Python) closes later than "
    "wrk (C), which costs them context switches on every request; Locust's figures outside the band are marked "
    f"`{UNFAITHFUL_MARK}` in every table."
)


def latency_under_a_quota(budget: float, cores: int, period_ms: float) -> str:
    stall = (cores - budget) / cores * period_ms
    return (
        f"Latency under a fractional budget: a quota of {budget:g} of {cores} core(s) lets the server run that share of every "
        f"{period_ms:g} ms period and stops it for the rest once it has used it, so a request that arrives then waits up to "
        f"{stall:.0f} ms. Throughput and requests per CPU-second average over hundreds of periods and are not bent by it (the "
        "fidelity above says so); p95 and p99 at a fractional budget include those stalls: read them as this budget's "
        "latency, not the server's on a whole core."
    )


CLAIMS_INTRO = (
    "Absolute req/s depend on the hardware (the post gives no cores, workers or load generator): this run's "
    "numbers are shown beside the post's, and the verdicts judge the ratios between frameworks (peak req/s on the "
    "same scenario, same machine). The json claims are judged on wrk's figures at the budget (every repeat of the "
    "highest level), whose cost per request the whole-core reference checks; Locust's ratio is shown beside them "
    "(why it differs: 'Does the method bend the answer?'). The post's figures are in `analysis/claims.toml`, the "
    "verdict rules in `analysis/claims.py`."
)

CHART_NOTE = (
    f"Charts: with one user level, a bar per framework; with several, a line per framework over the levels, each "
    f"with its own marker shape, shifted a little sideways so equal values do not hide one another. Generator-bound "
    f"levels ({GENERATOR_MARK}, a floor) are hollow markers or hollow hatched bars, unstable repeats ({UNSTABLE_MARK}) "
    f"a red ring or a red edge, disturbed ones ({DISTURBED_MARK}) a black cross or cross-hatching; error bars on throughput are the interquartile range of the repeats. A framework "
    f"without a bar in the share-of-ceiling chart is named there with the reason."
)


@dataclass
class Report:
    run_dir: Path
    manifest: dict
    frame: pd.DataFrame
    levels: pd.DataFrame
    order: list[str]
    baselines: dict[str, str]

    @property
    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(self.frame.loc[self.frame["kind"] == "step", "scenario"]))


def load(run_dir: Path) -> Report:
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    frame = tidy(run_dir)
    baselines = {name: target.get("baseline") for name, target in (manifest.get("targets") or {}).items()}
    return Report(run_dir, manifest, frame, level_summary(frame), framework_order(frame, manifest), baselines)


def table_blocks(report: Report, charts: dict[str, dict[str, bytes]] | None = None) -> list[Block]:
    """The tables (tables.md); with charts, each scenario's charts follow its tables."""
    levels = report.levels
    blocks = []
    for scenario in report.scenarios:
        blocks += [
            Block("h2", scenario),
            Block("table", table=comparison(levels, scenario, report.order, report.baselines) if not levels.empty else levels),
            Block("p", f"Resources at the peak ({scenario}):"),
            Block("table", table=resources(levels, scenario, report.order) if not levels.empty else levels),
        ]
        blocks += [Block("chart", text=name, png=png) for name, png in (charts or {}).get(scenario, {}).items()]
        blocks += framework_or_server_blocks(report, scenario)
    if not levels.empty and not ceilings(levels).empty:
        blocks += [
            Block("h2", "Ceilings: bare apps, no framework"),
            Block("p", "A bare app's ceiling is wrk's figure (a generator in C that can reach it); Locust's is beside it, and is "
                       "Locust's own limit against that server. `share of server ceiling` divides by wrk's figure."),
            Block("table", table=ceilings(levels)),
        ]  # fmt: skip
    bound = levels[(levels["kind"] == "step") & levels["generator_bound"].astype(bool)] if not levels.empty else levels
    if not bound.empty:
        blocks += [
            Block("h2", f"Generator-bound numbers ({GENERATOR_MARK})"),
            Block("ul", items=[f"{r.framework} {r.scenario} u={r.users}: {r.generator_reason}" for r in bound.itertuples()]),
        ]
    if not levels.empty and not locust_vs_wrk(levels, report.order).empty:
        blocks += [Block("h2", "Locust against wrk, same target and connections"), Block("table", table=locust_vs_wrk(levels, report.order))]
    problems = report.frame[(report.frame["status"] != "ok") & (report.frame["kind"] != "profile")]
    if not problems.empty:
        blocks += [
            Block("h2", "Steps not measured"),
            Block("ul", items=[f"{r.framework} {r.scenario} u={r.users} r{r.repeat}: {r.status}: {(r.reason or '').splitlines()[0]}" for r in problems.itertuples()]),
        ]
    missing = missing_steps(report.run_dir, report.frame)
    if missing:
        blocks += [Block("h2", f"Steps missing ({len(missing)} planned, never run)"), Block("ul", items=missing)]
    return blocks


def framework_or_server_blocks(report: Report, scenario: str) -> list[Block]:
    """Where the run measured a framework on several servers (the variants): which one moves the numbers."""
    if report.levels.empty:
        return []
    peaks = servers.peaks(report.levels, scenario, report.manifest)
    by_framework = servers.same_framework(peaks, server_ceilings(report.levels, scenario))
    if by_framework.empty:
        return []  # no framework ran on two servers (no variants): the blog's setups alone cannot say
    by_server = servers.same_server(peaks)
    blocks = [Block("h2", f"Framework or server? ({scenario})")]
    sentence = servers.answer(peaks, scenario)
    if sentence:
        blocks.append(Block("p", sentence))
    blocks.append(Block("p", "A ratio's range crosses the two results' quartiles; a range that spans 1.00 cannot tell them apart."))
    blocks += [Block("p", f"The same framework on different servers ({scenario}), against the blog's setup of it:"), Block("table", table=by_framework)]
    if not by_server.empty:
        blocks += [Block("p", f"The same server with different frameworks ({scenario}), against the fastest on it:"), Block("table", table=by_server)]
    return blocks


def disturbed_steps(frame: pd.DataFrame) -> list[str]:
    """Each measured step (or ceiling) other processes disturbed, with how much they took and where."""
    rows = frame[(frame["status"] == "ok") & frame["disturbed"].fillna(False).astype(bool)]
    return [
        f"{r.framework} {r.scenario} u={r.users}" + (f" r{r.repeat}" if r.kind == "step" else " (ceiling)")
        + f": {rules.noise_words(r.foreign_percent, r.steal_percent, r.noise_role)}"
        for r in rows.itertuples()
    ]


def disturbed_line(count: int) -> str:
    return f"{count} steps disturbed: re-run"


def header_blocks(report: Report) -> list[Block]:
    blocks = [
        Block("h1", f"Results: {report.manifest.get('run_id', report.run_dir.name)}"),
        Block("ul", items=[line.removeprefix("- ") for line in conditions(report.manifest)]),
    ]
    shaken = disturbed_steps(report.frame)
    if shaken:
        blocks += [
            Block("p", f"**{disturbed_line(len(shaken))}** (marked `{DISTURBED_MARK}`; no verdict rests on them): other processes "
                       f"took at least {rules.NOISE_LIMIT:.0f}% of the lab's cores while they were measured."),
            Block("ul", items=shaken),
        ]  # fmt: skip
    return blocks + [Block("p", LEGEND)]


def claims_blocks(report: Report) -> list[Block]:
    return [Block("h2", "The blog's claims, checked"), Block("p", CLAIMS_INTRO), Block("table", table=check_claims(report.levels, report.manifest), align="left")]


# The ratios the blog's claims are judged on (analysis/claims.toml: 1/2, 1/3, 2/3).
BLOG_PAIRS = [("fastapi", "flask"), ("fastapi", "django"), ("flask", "django")]


def fidelity_blocks(report: Report) -> list[Block]:
    """Does the method bend the answer? Each target's budget against its whole cores, and the blog's ratios both ways."""
    found = report.manifest.get("fidelity") or {}
    blocks = [Block("h2", "Does the method bend the answer?")]
    if report.levels.empty or (isinstance(found, dict) and found.get("measured") is False):
        reason = found.get("reason") if isinstance(found, dict) else None
        return blocks + [Block("p", f"**Fidelity not measured**: {str(reason or 'this run has no whole-core reference')[:300]}. No throughput "
                                    "or ratio claim is judged (`inconclusive: fidelity not measured`).")]  # fmt: skip
    table = fidelity(report.levels, report.order)
    if table.empty:
        return blocks + [Block("p", "**Fidelity not measured**: no json step of this run has a whole-core reference.")]
    blocks += [Block("p", FIDELITY_INTRO), Block("table", table=table)]
    pairs = ratios(report.levels, BLOG_PAIRS)
    if not pairs.empty:
        blocks += [Block("p", "The blog's ratios on json, at the budget and on the whole cores (wrk), and Locust's at the budget:"), Block("table", table=pairs)]
    budget = (report.manifest.get("cores") or {}).get("server_cpus")
    cores = len((report.manifest.get("cores") or {}).get("server") or [])
    limit = (report.manifest.get("cores") or {}).get("server_cpu_limit") or {}
    period = limit.get("period_us") if isinstance(limit, dict) else None
    if isinstance(budget, (int, float)) and not isinstance(budget, bool) and 0 < budget < cores and isinstance(period, int):
        blocks.append(Block("p", latency_under_a_quota(budget, cores, period / 1000)))
    return blocks


# -- rendering ---------------------------------------------------------------------------


def to_md(blocks: list[Block], chart_dir: str = "charts") -> str:
    """Each block then a blank line, as tables.md has always been laid out."""
    parts = []
    for block in blocks:
        if block.kind in ("h1", "h2"):
            parts.append(f"{'#' * int(block.kind[1])} {block.text}")
        elif block.kind == "p":
            parts.append(block.text)
        elif block.kind == "ul":
            parts.append("\n".join(f"- {item}" for item in block.items))
        elif block.kind == "table":
            parts.append(to_markdown(block.table, block.align))
        elif block.kind == "chart":
            parts.append(f"![{block.text}]({chart_dir}/{block.text}.png)")
        parts.append("")
    return "\n".join(parts)


STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
table.claims td { text-align: left; max-width: 28em; }
code { background: #f4f4f4; padding: 0 .25em; font-size: .92em; word-break: break-all; }
img.chart { display: block; max-width: 100%; margin: .6em 0; }
.v-holds { color: #1a7f37; font-weight: 600; } .v-partly { color: #9a6700; font-weight: 600; }
.v-fails { color: #cf222e; font-weight: 600; } .v-other { color: #57606a; font-weight: 600; }
"""


def to_html(blocks: list[Block], title: str) -> str:
    body = []
    for block in blocks:
        if block.kind in ("h1", "h2"):
            body.append(f"<{block.kind}>{_inline(block.text)}</{block.kind}>")
        elif block.kind == "p":
            body.append(f"<p>{_inline(block.text)}</p>")
        elif block.kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block.items) + "</ul>")
        elif block.kind == "table":
            body.append(_html_table(block.table))
        elif block.kind == "chart":
            data = base64.b64encode(block.png).decode()
            body.append(f'<img class="chart" alt="{html.escape(block.text)}" src="data:image/png;base64,{data}">')
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


# The only links a report makes: to the flame graphs it wrote beside itself.
LINK = re.compile(r"\[([^\]]+)\]\((flames/[a-z0-9][a-z0-9._-]*\.svg)\)")


def _inline(text: str) -> str:
    """The little markdown the blocks use: `code`, **bold** and links to the report's own flame graphs."""
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = LINK.sub(r'<a href="\2">\1</a>', text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _html_table(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p><em>nothing measured</em></p>"
    is_claims = "verdict" in table.columns
    rows = ["<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in [table.index.name or "", *table.columns]) + "</tr>"]
    for index, row in table.iterrows():
        cells = [f"<td>{html.escape(str(index))}</td>"]
        for column, value in row.items():
            text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
            css = f' class="{_verdict_class(text)}"' if column == "verdict" else ""
            cells.append(f"<td{css}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table{" class=\"claims\"" if is_claims else ""}>' + "".join(rows) + "</table>"


def _verdict_class(verdict: str) -> str:
    for prefix, css in (("holds", "v-holds"), ("partly", "v-partly"), ("does not hold", "v-fails")):
        if verdict.startswith(prefix):
            return css
    return "v-other"


# -- the files ----------------------------------------------------------------------------


def build(run_dir: Path) -> Report:
    """Write every report file of a run; return what it was built from."""
    report = load(run_dir)
    out = report.run_dir / "report"
    out.mkdir(exist_ok=True)
    inside(report.run_dir, out)

    def output(folder: Path, name: str) -> Path:
        # Every file the report writes: a plain name, and still inside report/ once links are followed.
        return inside(out, folder / check_name("report file", name, report.run_dir / "report"))

    report.frame.to_csv(output(out, "tidy.csv"), index=False)
    if not report.levels.empty:
        report.levels.drop(columns=["_summary", "_wrk_summary"], errors="ignore").to_csv(output(out, "levels.csv"), index=False)
    header = header_blocks(report)
    output(out, "tables.md").write_text(to_md(header + table_blocks(report)))

    charts = {} if report.levels.empty else {s: scenario_charts(report.levels, s, report.order, report.baselines) for s in report.scenarios}
    flame_dir = output(out, "flames")
    flame_dir.mkdir(exist_ok=True)
    full = (header + claims_blocks(report) + fidelity_blocks(report) + tax_blocks(report.levels)
            + profile_blocks(report, lambda name: output(flame_dir, name)) + latency.blocks(report) + [Block("p", CHART_NOTE)]
            + table_blocks(report, charts))  # fmt: skip
    chart_dir = output(out, "charts")
    chart_dir.mkdir(exist_ok=True)
    for block in full:
        if block.kind == "chart":
            output(chart_dir, f"{block.text}.png").write_bytes(block.png)
    output(out, "report.md").write_text(to_md(full))
    output(out, "report.html").write_text(to_html(full, f"Results: {report.manifest.get('run_id', report.run_dir.name)}"))
    return report


def summary_rows(report: Report) -> dict[str, pd.DataFrame]:
    """Per scenario, each framework's peak with its flags: the console summary."""
    result = {}
    for scenario in report.scenarios:
        peaks = peak_levels(scenario_steps(report.levels, scenario))
        result[scenario] = peaks.reindex([name for name in report.order if name in peaks.index])
    return result


def latest_run(results: Path) -> tuple[Path, str]:
    """The run started last by its manifest's started_at, among runs made here (not unpacked) if
    there are any; with a line saying which and why. Folder names say nothing: a shared run
    can be called anything."""
    runs = sorted(p for p in Path(results).iterdir() if (p / "manifest.json").is_file()) if Path(results).is_dir() else []
    if not runs:
        raise AnalysisError(f"{results}: no runs yet; run `make bench` first")
    unpacked = [run for run in runs if (run / UNPACKED).exists()]
    here = [run for run in runs if run not in unpacked]
    candidates = here or unpacked
    started = {run: _started_at(run) for run in candidates}
    # Runs without a readable start time come first; equal times fall back to the name (-1, -2 suffixes).
    latest = max(candidates, key=lambda run: (started[run] is not None, started[run] or datetime.min.replace(tzinfo=timezone.utc), run.name))
    when = started[latest].isoformat() if started[latest] else "at an unknown time"
    if here:
        why = f"the newest of {_runs(len(here))} made here by the manifest's started_at; {_runs(len(unpacked), 'unpacked run')} not considered"
    else:
        why = f"the newest of {_runs(len(unpacked), 'unpacked run')} by the manifest's started_at (no run made here)"
    return latest, f"latest run: {latest.name} (started {when}, {why})"


def _runs(count: int, what: str = "run") -> str:
    return f"{count} {what}{'' if count == 1 else 's'}"


def _started_at(run: Path) -> datetime | None:
    try:
        value = read_json(run / "manifest.json").get("started_at")
        started = datetime.fromisoformat(value) if isinstance(value, str) else None
    except (AnalysisError, ValueError):
        return None
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)  # the runner writes UTC
    return started
