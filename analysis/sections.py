"""Two of the report's sections: the framework tax (analysis/tax.py) and where the time goes
(the profiled windows' flame graphs and hottest frames, analysis/flames.py)."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from . import flames, tax
from .blocks import Block
from .tidy import AnalysisError, check_name, inside

TAX_INTRO = (
    "Each ladder is one server with ever more framework on it, from its bare app up. A rung's CPU per request is 1 over "
    "its requests per CPU-second; its layer's tax is what it adds over the rung below, as a share of its own request's "
    "CPU. On json the rates are the whole-core reference's (wrk, no quota: the budget cannot bend them), elsewhere the "
    "budget's with Locust, marked ‡ where the target's fidelity does not hold; ranges cross the repeats' extremes."
)
PROFILE_INTRO = (
    "One more window per target after the measured steps, with py-spy sampling every process of the server 100 times a "
    "second (never a measured step). Layers are where the innermost frame's code lives; the hottest frames are those "
    "with the most samples of their own. `profiled req/s` beside `measured req/s` (the step's median at the same level) "
    "is what the sampler cost. Each flame graph opens in a browser."
)


def tax_blocks(levels: pd.DataFrame) -> list[Block]:
    blocks = []
    for scenario in tax.SCENARIOS:
        table = tax.table(levels, scenario) if not levels.empty else pd.DataFrame()
        if table.empty:
            continue
        blocks += [Block("h2", f"The framework tax ({scenario})"), Block("p", TAX_INTRO)]
        sentence = tax.sentence(levels, scenario)
        if sentence:
            blocks.append(Block("p", sentence))
        blocks.append(Block("table", table=table, align="left"))
        png = tax.chart(levels, scenario)
        if png:
            blocks.append(Block("chart", text=f"tax-{scenario}", png=png))
    return blocks


def profile_blocks(report, path_for: Callable[[str], Path]) -> list[Block]:
    """The profiled windows: a flame graph file each (written through `path_for`), a table of layers and hot frames."""
    rows = report.frame[report.frame["kind"] == "profile"] if not report.frame.empty else report.frame
    if rows.empty:
        return []
    measured = report.frame[(report.frame["kind"] == "step") & (report.frame["status"] == "ok")]
    table, links, skipped = [], [], []
    for row in rows.itertuples():
        if row.status != "ok":
            skipped.append(f"{row.framework} {row.scenario}: {row.status}: {(row.reason or '').splitlines()[0]}")
            continue
        try:
            profile = flames.read(inside(report.run_dir, report.run_dir / row.step_dir / "stacks.txt"))
        except (OSError, ValueError, AnalysisError) as problem:
            skipped.append(f"{row.framework} {row.scenario}: no profile ({str(problem)[:200]})")
            continue
        if not profile.samples:
            skipped.append(f"{row.framework} {row.scenario}: the profile holds no samples")
            continue
        name = check_name("flame graph", f"{row.framework}-{row.scenario}.svg", row.step_dir)
        path_for(name).write_text(flames.svg(profile, f"{row.framework} on {row.scenario}, {row.users} users"))
        links.append(f"[{row.framework} on {row.scenario}](flames/{name})")
        same = measured[(measured["framework"] == row.framework) & (measured["scenario"] == row.scenario) & (measured["users"] == row.users)]
        shares = profile.layers()
        table.append({
            "target": row.framework, "scenario": row.scenario, "samples": profile.samples,
            "profiled req/s": f"{row.rps:,.0f}", "measured req/s": f"{same['rps'].median():,.0f}" if not same.empty else "",
            **{layer: f"{shares.get(layer, 0):.0%}" for layer in flames.COLOURS},
            "hottest frames": "; ".join(f"{frame} {share:.0%}" for frame, _, share in profile.top(3)),
        })  # fmt: skip
    blocks = [Block("h2", "Where the time goes: CPU profiles"), Block("p", PROFILE_INTRO)]
    if table:
        blocks += [Block("table", table=pd.DataFrame(table).set_index("target"), align="left"), Block("p", "Flame graphs:"), Block("ul", items=links)]
    if skipped:
        blocks += [Block("p", "Not profiled:"), Block("ul", items=skipped)]
    return blocks
