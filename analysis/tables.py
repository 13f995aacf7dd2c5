"""Tidy table -> one comparison table per scenario (a row per framework)."""

import pandas as pd


def framework_order(frame: pd.DataFrame, manifest: dict) -> list[str]:
    planned = (manifest.get("matrix") or {}).get("frameworks") or []
    seen = list(dict.fromkeys(frame["framework"]))
    return [name for name in planned if name in seen] + [name for name in seen if name not in planned]


def comparison(frame: pd.DataFrame, scenario: str, order: list[str]) -> pd.DataFrame:
    """Median over repeats at each user level, then each framework's peak and latency there."""
    ok = frame[(frame["scenario"] == scenario) & (frame["status"] == "ok")]
    if ok.empty:
        return pd.DataFrame()
    per_level = ok.groupby(["framework", "users"], as_index=False).agg(
        rps=("rps", "median"),
        p50=("p50_ms", "median"),
        p95=("p95_ms", "median"),
        p99=("p99_ms", "median"),
        requests=("requests", "sum"),
        failures=("failures", "sum"),
    )
    wide = per_level.pivot(index="framework", columns="users", values="rps")
    wide.columns = [f"req/s @{users}" for users in wide.columns]
    peak = per_level.loc[per_level.groupby("framework")["rps"].idxmax()].set_index("framework")
    totals = per_level.groupby("framework")[["requests", "failures"]].sum()
    table = wide.join(
        pd.DataFrame(
            {
                "peak req/s": peak["rps"],
                "users @peak": peak["users"],
                "p50 ms": peak["p50"],
                "p95 ms": peak["p95"],
                "p99 ms": peak["p99"],
                "failure %": 100 * totals["failures"] / totals["requests"].where(totals["requests"] > 0),
            }
        )
    )
    table["vs fastest"] = table["peak req/s"] / table["peak req/s"].max()
    table = table.reindex([name for name in order if name in table.index])
    table.index.name = "framework"
    return table


def format_table(table: pd.DataFrame) -> str:
    shown = table.copy()
    for column in shown.columns:
        if column.startswith("req/s") or column == "peak req/s":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
        elif column == "vs fastest":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        elif column == "failure %":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        elif column.endswith("ms") or column == "users @peak":
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    return shown.to_markdown(stralign="right")
