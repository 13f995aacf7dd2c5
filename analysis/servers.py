"""Is it the framework or the server? The same framework across servers, the same server across
frameworks, from a run that measured the variants (PROFILE=servers).

Each target's framework and server come from the run's manifest (services/<name>/service.toml,
recorded by the runner). A ratio compares peak req/s on one scenario and carries its spread: the
low end is the first's lower quartile over the second's upper one, the high end the reverse,
so a ratio whose range spans 1 cannot tell the two apart.
"""

import pandas as pd

from .tables import DISTURBED_MARK, GENERATOR_MARK, marks, peak_levels, scenario_steps


def setups(manifest: dict) -> pd.DataFrame:
    """Target -> framework, server, interface, whether it is the blog's setup, its baseline
    (manifests before variants: the name is the framework)."""
    rows = []
    for name, target in (manifest.get("targets") or {}).items():
        target = target if isinstance(target, dict) else {}
        rows.append({
            "target": name,
            "framework": str(target.get("framework") or name),
            "server": str(target.get("server") or "?"),
            "interface": str(target.get("interface") or "?"),
            "blog": target.get("kind", "framework") == "framework",
            "baseline": target.get("baseline"),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["target", "framework", "server", "interface", "blog", "baseline"]).set_index("target")


def ratio(fast: pd.Series, slow: pd.Series) -> tuple[float, float, float]:
    """(ratio of medians, low, high): the ends cross the two quartile ranges."""
    return fast["rps"] / slow["rps"], fast["rps_q25"] / slow["rps_q75"], fast["rps_q75"] / slow["rps_q25"]


def ratio_cell(fast: pd.Series, slow: pd.Series) -> str:
    middle, low, high = ratio(fast, slow)
    return f"{middle:.2f} ({low:.2f}–{high:.2f})"


def peaks(levels: pd.DataFrame, scenario: str, manifest: dict) -> pd.DataFrame:
    """Each target's peak on `scenario`, with its framework and server from the manifest: what
    the tables and the sentence below all read."""
    found = peak_levels(scenario_steps(levels, scenario))
    if found.empty:
        return found
    found = found.rename_axis("target").drop(columns=["framework"], errors="ignore")
    return found.join(setups(manifest), how="inner")


def _rps(row: pd.Series) -> str:
    return f"{row['rps']:,.0f}{marks(row)}"


def same_framework(peaks: pd.DataFrame, ceilings: dict[str, float | None]) -> pd.DataFrame:
    """A row per target (of `peaks()`), grouped by framework: the server, req/s, and the ratio to
    that framework's blog setup (its row says 1.00; without it in the run, its slowest);
    frameworks measured on one server only are left out."""
    if peaks.empty:
        return pd.DataFrame()
    rows = []
    for framework, group in peaks.groupby("framework", sort=False):
        if len(group) < 2:
            continue
        blog = group[group["blog"]]
        reference = blog.iloc[0] if not blog.empty else group.loc[group["rps"].idxmin()]
        for name, row in group.sort_values("rps", ascending=False).iterrows():
            ceiling = ceilings.get(row["baseline"])
            rows.append({
                "target": name,
                "framework": framework,
                "server": f"{row['server']} ({row['interface']})",
                "peak req/s": _rps(row),
                "× the blog's setup": ratio_cell(row, reference),
                "share of its server's ceiling": f"{row['rps'] / ceiling:.2f}" if ceiling else "",
            })  # fmt: skip
    return pd.DataFrame(rows).set_index("target") if rows else pd.DataFrame()


def same_server(peaks: pd.DataFrame) -> pd.DataFrame:
    """A row per target (of `peaks()`), grouped by server: the framework, req/s, and the ratio to
    the fastest framework on that server; servers that ran one framework only are left out."""
    if peaks.empty:
        return pd.DataFrame()
    rows = []
    for server, group in peaks.groupby("server", sort=False):
        if group["framework"].nunique() < 2:
            continue
        fastest = group.loc[group["rps"].idxmax()]
        for name, row in group.sort_values("rps", ascending=False).iterrows():
            rows.append({
                "target": name,
                "server": server,
                "framework": f"{row['framework']} ({row['interface']})",
                "peak req/s": _rps(row),
                "× the fastest here": ratio_cell(row, fastest),
            })  # fmt: skip
    return pd.DataFrame(rows).set_index("target") if rows else pd.DataFrame()


def answer(peaks: pd.DataFrame, scenario: str) -> str | None:
    """One sentence on `scenario` from its `peaks()`: how far the server moves one framework, and
    how far the framework moves one server (the widest of each, fastest over slowest, medians),
    or None when the run cannot say. The tables beside it carry each ratio's range."""
    if peaks.empty:
        return None
    # No answer rests on a number the generator may have set, or that a neighbour disturbed.
    peaks = peaks[~peaks["generator_bound"].astype(bool) & ~peaks["disturbed"].astype(bool)]

    def widest(by: str, other: str) -> tuple[float, str] | None:
        best = None
        for key, group in peaks.groupby(by, sort=False):
            if group[other].nunique() < 2:
                continue
            fast, slow = group.loc[group["rps"].idxmax()], group.loc[group["rps"].idxmin()]
            spread = fast["rps"] / slow["rps"]
            text = f"{spread:.2f}× ({key}: {fast.name} {_rps(fast)} vs {slow.name} {_rps(slow)} req/s)"
            best = max(best or (0, ""), (spread, text))
        return best

    by_server, by_framework = widest("framework", "server"), widest("server", "framework")
    if not by_server or not by_framework:
        return None
    verdict = "the server moves the numbers more than the framework does" if by_server[0] > by_framework[0] else "the framework moves the numbers more than the server does"
    return (f"On {scenario}, {verdict}: changing the server changes one framework up to {by_server[1]}; changing the framework "
            f"on one server, up to {by_framework[1]} (numbers marked {GENERATOR_MARK} or {DISTURBED_MARK} left out).")  # fmt: skip
