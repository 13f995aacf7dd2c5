"""Tidy table -> per-level summary (long) -> comparison tables (wide), pandas-style.

Markers used in every table that shows a throughput:
  †  generator-bound: Locust may have set this number, not the target
  ~  unstable: the repeats spread more than analysis.stats.UNSTABLE_SPREAD
  !  disturbed: in at least one repeat other processes took the lab's cores (records.rules.disturbed)
  ‡  unfaithful: at the budget, with this figure's generator, the server's cost per request is not its
     whole core's (fidelity outside records.rules.FIDELITY_BAND)
"""

import pandas as pd

from records.rules import faithful

from .stats import FEW_REPEATS, rankable, summarise, unstable

GENERATOR_MARK = "†"
UNSTABLE_MARK = "~"
DISTURBED_MARK = "!"
UNFAITHFUL_MARK = "‡"


def framework_order(frame: pd.DataFrame, manifest: dict) -> list[str]:
    planned = (manifest.get("matrix") or {}).get("frameworks") or []
    seen = list(dict.fromkeys(frame.loc[frame["kind"] == "step", "framework"]))
    return [name for name in planned if name in seen] + [name for name in seen if name not in planned]


def level_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (kind, scenario, framework, users): the repeats summarised, flags combined."""
    ok = frame[frame["status"] == "ok"]
    rows = []
    for (kind, scenario, framework, users), group in ok.groupby(["kind", "scenario", "framework", "users"], sort=False):
        rps = summarise(group["rps"])
        requests = group["requests"].sum()
        # wrk's figures of the repeats it measured itself (tidy fills the others with their level's).
        own = group.get("wrk_requests_per_cpu_second")
        wrk_own = group.loc[own.notna(), "wrk_rps"].dropna() if own is not None and "wrk_rps" in group else pd.Series(dtype=float)
        rows.append(
            {
                "kind": kind,
                "scenario": scenario,
                "framework": framework,
                "users": users,
                "repeats": rps["n"],
                "rps": rps["median"],
                "rps_q25": rps["q25"],
                "rps_q75": rps["q75"],
                "rps_spread": rps["spread"],
                "rps_min": rps["min"],
                "rps_max": rps["max"],
                "rps_ci_low": rps["ci_low"],
                "rps_ci_high": rps["ci_high"],
                "unstable": unstable(rps["spread"], rps["n"]),
                "generator_bound": bool(group["generator_bound"].fillna(False).astype(bool).any()),
                # One disturbed repeat is enough: the median may rest on it.
                "disturbed": bool(group["disturbed"].fillna(False).astype(bool).any()) if "disturbed" in group else False,
                "disturbed_repeats": int(group["disturbed"].fillna(False).astype(bool).sum()) if "disturbed" in group else 0,
                "noise_percent": (group["foreign_percent"].fillna(0) + group["steal_percent"].fillna(0)).where(group["foreign_percent"].notna()).max()
                if "foreign_percent" in group else None,
                "p50_ms": group["p50_ms"].median(),
                "p95_ms": group["p95_ms"].median(),
                "p99_ms": group["p99_ms"].median(),
                "failure_pct": 100 * group["failures"].sum() / requests if requests else None,
                "locust_cpu_percent": group["locust_cpu_percent"].median(),
                "locust_demand_percent": group["locust_demand_percent"].median(),
                "server_cpu_percent": group["server_cpu_percent"].median(),
                "generator_load_percent": group["generator_load_percent"].max() if "generator_load_percent" in group else None,
                "generator_reason": next((r for r in group.get("generator_reason", []) if isinstance(r, str)), None),
                "server_peak_rss_mb": group["server_peak_rss_mb"].max(),
                "requests_per_cpu_second": group["requests_per_cpu_second"].median(),
                "requests_per_cpu_second_min": _extreme(group.get("requests_per_cpu_second"), min),
                "requests_per_cpu_second_max": _extreme(group.get("requests_per_cpu_second"), max),
                "wrk_requests_per_cpu_second": _median(group.get("wrk_requests_per_cpu_second")),
                "wrk_rps": _median(wrk_own) if not wrk_own.empty else _median(group.get("wrk_rps")),
                # The whole-core reference beside each repeat, and the budget's fidelity (lab/run/reference.py).
                "reference_rps": _median(group.get("reference_rps")),
                "reference_requests_per_cpu_second": _median(group.get("reference_requests_per_cpu_second")),
                "reference_requests_per_cpu_second_min": _extreme(group.get("reference_requests_per_cpu_second"), min),
                "reference_requests_per_cpu_second_max": _extreme(group.get("reference_requests_per_cpu_second"), max),
                "fidelity": _median(group.get("fidelity")),
                "fidelity_min": _extreme(group.get("fidelity"), min),
                "fidelity_max": _extreme(group.get("fidelity"), max),
                "faithful": faithful(_median(group.get("fidelity"))),
                # wrk's figure at the budget, the one the blog's throughput claims are judged on (analysis/claims.py).
                "wrk_fidelity": _median(group.get("wrk_fidelity")),
                "wrk_fidelity_min": _extreme(group.get("wrk_fidelity"), min),
                "wrk_fidelity_max": _extreme(group.get("wrk_fidelity"), max),
                "wrk_faithful": faithful(_median(group.get("wrk_fidelity"))),
                "_summary": rps,
                "_wrk_summary": summarise(wrk_own) if not wrk_own.empty else None,
            }
        )
    return pd.DataFrame(rows)


def scenario_steps(levels: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """The framework steps (not ceilings) of one scenario."""
    if levels.empty:
        return levels
    return levels[(levels["kind"] == "step") & (levels["scenario"] == scenario)]


def peak_levels(steps: pd.DataFrame) -> pd.DataFrame:
    """Each framework's best level (highest median req/s), indexed by framework."""
    if steps.empty:
        return steps.set_index("framework") if "framework" in steps else steps
    return steps.loc[steps.groupby("framework")["rps"].idxmax()].set_index("framework")


def _median(values) -> float | None:
    found = pd.to_numeric(values, errors="coerce").dropna() if values is not None else pd.Series(dtype=float)
    return float(found.median()) if not found.empty else None


def _extreme(values, pick) -> float | None:
    found = pd.to_numeric(values, errors="coerce").dropna() if values is not None else pd.Series(dtype=float)
    return float(pick(found)) if not found.empty else None


def with_fidelity(peaks: pd.DataFrame, levels: pd.DataFrame, scenario: str) -> pd.DataFrame:
    """Each framework's peak with its budget's fidelity and whole-core req/s, from the level that carries
    the reference (the highest, lab/run/reference.py), whichever level the peak is at."""
    if peaks.empty:
        return peaks
    steps = scenario_steps(levels, scenario)
    measured = steps[steps["reference_rps"].notna()] if "reference_rps" in steps else steps.iloc[0:0]
    chosen = measured.sort_values("users").groupby("framework").tail(1).set_index("framework")
    peaks = peaks.copy()
    # The reference's level also carries wrk's figure at the budget in every repeat (lab/run/steps.py).
    for column in ("fidelity", "faithful", "reference_rps", "wrk_rps", "wrk_fidelity", "wrk_faithful", "_wrk_summary"):
        peaks[column] = [chosen.loc[name, column] if name in chosen.index else None for name in peaks.index]
    peaks["wrk_disturbed"] = [bool(chosen.loc[name, "disturbed"]) if name in chosen.index else False for name in peaks.index]
    return peaks


def marks(row) -> str:
    return (
        (GENERATOR_MARK if row["generator_bound"] else "")
        + (UNSTABLE_MARK if row["unstable"] else "")
        + (DISTURBED_MARK if row.get("disturbed", False) else "")
        + (UNFAITHFUL_MARK if unfaithful(row) else "")
    )


def unfaithful(row) -> bool:
    """Measured, and outside the fidelity band (not measured is not unfaithful: it is unknown)."""
    value = row.get("faithful")
    return value is not None and not pd.isna(value) and not bool(value)


def rps_cell(row) -> str:
    """Median req/s with its spread: the full range of few repeats, ±half the IQR of many."""
    if pd.isna(row["rps"]):
        return ""
    if pd.isna(row["rps_spread"]):
        spread = ""
    elif row["repeats"] < FEW_REPEATS:
        spread = f" ({row['rps_min']:,.0f}–{row['rps_max']:,.0f})"
    else:
        spread = f" ±{100 * row['rps_spread'] / 2:.0f}%"
    return f"{row['rps']:,.0f}{spread}{marks(row)}"


def comparison(levels: pd.DataFrame, scenario: str, order: list[str], baselines: dict[str, str]) -> pd.DataFrame:
    """A row per framework: req/s at each level, the peak and its latency, ratios, ceiling share."""
    steps = scenario_steps(levels, scenario)
    if steps.empty:
        return pd.DataFrame()
    ceilings = server_ceilings(levels, scenario)
    wide = steps.assign(cell=steps.apply(rps_cell, axis=1)).pivot(index="framework", columns="users", values="cell")
    wide.columns = [f"req/s @{users}" for users in wide.columns]
    peaks = peak_levels(steps)
    fastest = peaks["rps"].max()
    table = wide.join(
        pd.DataFrame(
            {
                "peak req/s": peaks.apply(lambda r: f"{r['rps']:,.0f}{marks(r)}", axis=1),
                "users @peak": peaks["users"].map(lambda v: f"{v:.0f}"),
                "p50 ms": peaks["p50_ms"].map(_number),
                "p95 ms": peaks["p95_ms"].map(_number),
                "p99 ms": peaks["p99_ms"].map(_number),
                "failure %": steps.groupby("framework")["failure_pct"].max().map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
                "vs fastest": (peaks["rps"] / fastest).map(lambda v: f"{v:.2f}"),
                "share of server ceiling": [
                    _share(peaks.loc[name, "rps"], ceilings.get(baselines.get(name)), baselines.get(name) in ceilings) for name in peaks.index
                ],
                "rank": _rank_notes(peaks),
            }
        )
    )
    table = table.reindex([name for name in order if name in table.index])
    table.index.name = "framework"
    return table


def server_ceilings(levels: pd.DataFrame, scenario: str) -> dict[str, float | None]:
    """Each bare app's ceiling on a scenario: wrk's figure (a generator that can reach it), None
    where only Locust measured it (then it is Locust's limit, not the server's)."""
    rows = levels[(levels["kind"] == "ceiling") & (levels["scenario"] == scenario)]
    return {r.framework: (None if pd.isna(r.wrk_rps) else r.wrk_rps) for r in rows.itertuples()}


def resources(levels: pd.DataFrame, scenario: str, order: list[str]) -> pd.DataFrame:
    """At each framework's peak level: what the server spent and what the generator spent."""
    steps = scenario_steps(levels, scenario)
    if steps.empty:
        return pd.DataFrame()
    peaks = peak_levels(steps)
    table = pd.DataFrame(
        {
            "users @peak": peaks["users"].map(lambda v: f"{v:.0f}"),
            "server CPU %": peaks["server_cpu_percent"].map(_number),
            "server peak RSS MB": peaks["server_peak_rss_mb"].map(_number),
            "req per CPU-second": peaks["requests_per_cpu_second"].map(_number),
            "Locust CPU %": peaks["locust_cpu_percent"].map(_number),
            "Locust demand %": peaks["locust_demand_percent"].map(_number),
            # The fullest measure of Locust's cores (records/rules.py generator_load): what the † rule reads.
            "Locust cores %": peaks["generator_load_percent"].map(_number),
            # Others' CPU time plus steal on the worst of the lab's core sets, worst repeat; ! when disturbed.
            "others' CPU %": peaks.apply(lambda r: _number(r.get("noise_percent")) + (DISTURBED_MARK if r.get("disturbed", False) else ""), axis=1),
        }
    )
    table = table.reindex([name for name in order if name in table.index])
    table.index.name = "framework"
    return table


def ceilings(levels: pd.DataFrame) -> pd.DataFrame:
    rows = levels[levels["kind"] == "ceiling"]
    if rows.empty:
        return pd.DataFrame()
    table = pd.DataFrame(
        {
            "baseline": rows["framework"],
            "scenario": rows["scenario"],
            "users": rows["users"].map(lambda v: f"{v:.0f}"),
            "wrk req/s (the ceiling)": rows["wrk_rps"].map(_number),
            "Locust req/s": rows.apply(lambda r: f"{r['rps']:,.0f}{marks(r)}", axis=1),
            "Locust / wrk": (rows["rps"] / rows["wrk_rps"].astype(float)).map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
            "Locust cores %": rows["generator_load_percent"].map(_number),
            "server CPU %": rows["server_cpu_percent"].map(_number),
        }
    )
    return table.set_index("baseline")


def fidelity(levels: pd.DataFrame, order: list[str], scenario: str = "json") -> pd.DataFrame:
    """Per target and bare app: its cost per request at the budget, with wrk and with Locust, against its
    whole cores (lab/run/reference.py)."""
    rows = levels[(levels["scenario"] == scenario) & levels["reference_requests_per_cpu_second"].notna()] if "reference_requests_per_cpu_second" in levels else levels.iloc[0:0]
    if rows.empty:
        return pd.DataFrame()
    rank = {name: i for i, name in enumerate(order)}
    rows = rows.assign(_order=[(r.kind != "step", rank.get(r.framework, len(rank)), r.framework) for r in rows.itertuples()]).sort_values("_order")
    steps = rows["kind"] == "step"
    table = pd.DataFrame(
        {
            "target": rows["framework"] + rows["kind"].map(lambda kind: " (bare app)" if kind == "ceiling" else ""),
            "req/s on the whole cores (wrk)": rows["reference_rps"].map(_number),
            "req per CPU-second on the whole cores": rows["reference_requests_per_cpu_second"].map(_number),
            "req/s at the budget (wrk)": rows["wrk_rps"].map(_number),
            "req per CPU-second at the budget (wrk)": rows["wrk_requests_per_cpu_second"].map(_number),
            "fidelity (wrk)": [_fidelity_cell(r, "wrk_") for _, r in rows.iterrows()],
            "req/s at the budget (Locust)": [f"{r['rps']:,.0f}{marks(r)}" if is_step else "" for (_, r), is_step in zip(rows.iterrows(), steps)],
            "fidelity (Locust)": [_fidelity_cell(r) if is_step else "" for (_, r), is_step in zip(rows.iterrows(), steps)],
        }
    )
    return table.set_index("target")


def _fidelity_cell(row, prefix: str = "") -> str:
    value, low, high = (row.get(f"{prefix}fidelity{end}") for end in ("", "_min", "_max"))
    if value is None or pd.isna(value):
        return "not measured"
    text = f"{value:.2f}"
    if low is not None and high is not None and not pd.isna(low) and low != high:
        text += f" ({low:.2f}–{high:.2f})"
    return text + (f" {UNFAITHFUL_MARK}" if faithful(value) is False else "")


def ratios(levels: pd.DataFrame, pairs: list[tuple[str, str]], scenario: str = "json") -> pd.DataFrame:
    """Each pair's ratio at the budget (wrk, the judged one; and Locust's) beside the same ratio on the
    whole cores (wrk), at the level that carries the reference."""
    peaks = with_fidelity(peak_levels(scenario_steps(levels, scenario)), levels, scenario)
    rows = {}
    for fast, slow in pairs:
        if fast not in peaks.index or slow not in peaks.index:
            continue
        a, b = peaks.loc[fast], peaks.loc[slow]
        wrk_ratio, whole = ratio_of(a.get("wrk_rps"), b.get("wrk_rps")), ratio_of(a.get("reference_rps"), b.get("reference_rps"))
        rows[f"{fast} / {slow}"] = {
            "at the budget (wrk)": "not measured" if wrk_ratio is None else f"{wrk_ratio:.2f}",
            "on the whole cores (wrk)": "not measured" if whole is None else f"{whole:.2f}",
            "budget / whole": "" if wrk_ratio is None or whole is None else f"{wrk_ratio / whole:.2f}",
            "at the budget (Locust, peak)": f"{a['rps'] / b['rps']:.2f}",
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "ratio"
    return table


def ratio_of(a, b) -> float | None:
    """a / b where both are measured and b is not zero; None otherwise."""
    return float(a) / float(b) if a is not None and b is not None and not pd.isna(a) and not pd.isna(b) and b else None


def locust_vs_wrk(levels: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    rows = levels[(levels["kind"] == "step") & levels["wrk_rps"].notna()]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(_order=rows["framework"].map({name: i for i, name in enumerate(order)})).sort_values(["scenario", "_order"])
    table = pd.DataFrame(
        {
            "framework": rows["framework"],
            "scenario": rows["scenario"],
            "connections": rows["users"].map(lambda v: f"{v:.0f}"),
            "Locust req/s": rows.apply(lambda r: f"{r['rps']:,.0f}{marks(r)}", axis=1),
            "wrk req/s": rows["wrk_rps"].map(lambda v: f"{v:,.0f}"),
            "Locust / wrk": (rows["rps"] / rows["wrk_rps"]).map(lambda v: f"{v:.2f}"),
        }
    )
    return table.set_index("framework")


def _number(value) -> str:
    return "" if value is None or pd.isna(value) else f"{value:,.0f}"


def _share(rps, ceiling, measured: bool) -> str:
    """Peak over the server's ceiling; with only Locust's ceiling (no wrk) no number: it would be Locust's."""
    if not measured:
        return ""
    return f"n/a{GENERATOR_MARK} (no wrk)" if ceiling is None or pd.isna(ceiling) or not ceiling else f"{rps / ceiling:.2f}"


def _rank_notes(peaks: pd.DataFrame) -> pd.Series:
    """'tie with X' where a framework's repeats overlap the next faster one's; blank where rankable."""
    ordered = peaks.sort_values("rps", ascending=False)
    notes = {}
    for faster, slower in zip(ordered.index, ordered.index[1:]):
        if not rankable(ordered.loc[faster, "_summary"], ordered.loc[slower, "_summary"]):
            notes[slower] = f"tie with {faster}"
    return pd.Series({name: notes.get(name, "") for name in peaks.index})


def to_markdown(table: pd.DataFrame, align: str = "right") -> str:
    return table.to_markdown(stralign=align) if not table.empty else "_nothing measured_"
