"""Two runs side by side: the same steps, the change, and whether it is beyond the runs' own spread.

Runs are only comparable when what could move a number is the same in both; the manifest
facts that must match are listed once, in COMPARABLE.
"""

from pathlib import Path

import pandas as pd

from .stats import beyond_spread
from .tables import _number, rps_cell


def _command_line(target: dict) -> list[str]:
    # Absolute paths (venvs, clones) differ between machines; the program and its arguments are what ran.
    return [Path(arg).name if arg.startswith("/") else arg for arg in target.get("command_line") or []]


def _packages(target: dict) -> dict[str, str]:
    return dict(line.partition("==")[::2] for line in target.get("packages") or [])


# (what, how to read it from a manifest): a run-wide fact that must be equal in both runs.
COMPARABLE = [
    ("engine", lambda m: m.get("engine")),
    ("CPU model", lambda m: (m.get("host") or {}).get("cpu_model")),
    ("core plan", lambda m: m.get("cores")),
    ("Locust version", lambda m: (m.get("locust") or {}).get("version")),
    ("step duration (s)", lambda m: (m.get("effective") or {}).get("duration_s")),
]
# The same, per target that both runs measured.
COMPARABLE_PER_TARGET = [
    ("server command line", lambda t: " ".join(_command_line(t))),
    ("Python", lambda t: t.get("python")),
]


def differences(a: dict, b: dict) -> list[str]:
    """One line per fact that differs between the manifests of run A and run B."""
    lines = [f"{what} differs: A {read(a)!r}, B {read(b)!r}" for what, read in COMPARABLE if read(a) != read(b)]
    targets_a, targets_b = a.get("targets") or {}, b.get("targets") or {}
    for name in [n for n in targets_a if n in targets_b]:
        ta, tb = targets_a[name], targets_b[name]
        lines += [f"{name}: {what} differs: A {read(ta)!r}, B {read(tb)!r}" for what, read in COMPARABLE_PER_TARGET if read(ta) != read(tb)]
        pa, pb = _packages(ta), _packages(tb)
        changed = [f"{p} {pa.get(p) or '-'} -> {pb.get(p) or '-'}" for p in sorted(set(pa) | set(pb), key=str.lower) if pa.get(p) != pb.get(p)]
        if changed:
            lines.append(f"{name}: package versions differ: {', '.join(changed)}")
    return lines


def compare(levels_a: pd.DataFrame, levels_b: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """A row per (framework, scenario, users) measured in both runs."""
    keys = ["framework", "scenario", "users"]
    steps_a, steps_b = (levels[levels["kind"] == "step"] if not levels.empty else levels for levels in (levels_a, levels_b))
    if steps_a.empty or steps_b.empty:
        return pd.DataFrame()
    both = steps_a.merge(steps_b, on=keys, suffixes=("_a", "_b"))
    if both.empty:
        return both
    both = both.assign(_order=both["framework"].map({name: i for i, name in enumerate(order)})).sort_values(["scenario", "users", "_order"])

    def side(row, suffix):
        """One run's level, as tables.rps_cell reads it."""
        return {name[: -len(suffix)]: value for name, value in row.items() if name.endswith(suffix)}

    beyond = [beyond_spread(row["_summary_a"], row["_summary_b"]) for _, row in both.iterrows()]
    table = pd.DataFrame(
        {
            "framework": both["framework"],
            "scenario": both["scenario"],
            "users": both["users"].map(lambda v: f"{v:.0f}"),
            "req/s A": [rps_cell(side(row, "_a")) for _, row in both.iterrows()],
            "req/s B": [rps_cell(side(row, "_b")) for _, row in both.iterrows()],
            "change": _change(both["rps_a"], both["rps_b"]),
            "beyond spread": ["?" if b is None else "yes" if b else "no" for b in beyond],
            "p95 ms A": both["p95_ms_a"].map(_number),
            "p95 ms B": both["p95_ms_b"].map(_number),
            "p95 change": _change(both["p95_ms_a"], both["p95_ms_b"]),
        }
    )
    return table.set_index("framework")


def _change(a: pd.Series, b: pd.Series) -> list[str]:
    return ["" if pd.isna(x) or pd.isna(y) or not x else f"{100 * (y - x) / x:+.1f}%" for x, y in zip(a, b)]


LEGEND = (
    "`change` is B relative to A. `beyond spread`: yes when the interquartile ranges of the repeats of A and B do "
    "not overlap (analysis/stats.py), no when they do, ? with fewer than two repeats a side. Marks as in tables.md: "
    "† generator-bound, ~ unstable."
)
