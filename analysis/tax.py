"""The framework tax, layer by layer: what each rung of a ladder costs per request.

A ladder is a server with ever more framework on it: a bare app (no framework, its server's
floor), then frameworks that do more per request. Per scenario, each rung's requests per
CPU-second gives its CPU per request (1 / rate); a rung's tax is what it adds over the rung
below, as a share of its own request's CPU ("FastAPI's own layer is 22% of a FastAPI request").

The numbers are the faithful ones (docs/budget.md): on json, each target's requests per
CPU-second on its whole cores (wrk, the reference beside every json step: the budget cannot
bend them); on other scenarios, its requests per CPU-second at the budget with Locust, marked
‡ when the target's fidelity does not hold. Ranges cross the repeats' extremes.
"""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .tables import UNFAITHFUL_MARK, unfaithful  # noqa: E402

# Each ladder: its label and its rungs, from the bare app up. A rung missing from a run is left out.
LADDERS = [
    ("Uvicorn (ASGI)", ["bare-asgi", "starlette", "fastapi"]),
    ("Uvicorn (ASGI), Litestar", ["bare-asgi", "litestar"]),
    ("Gunicorn sync (WSGI)", ["bare-wsgi", "falcon", "flask", "django"]),
]
SCENARIOS = ("json", "validate")


def rates(levels: pd.DataFrame, scenario: str) -> dict[str, dict]:
    """Per target (and bare app): its requests per CPU-second on `scenario`, the range, and where it comes from."""
    found: dict[str, dict] = {}
    rows = levels[levels["scenario"] == scenario] if not levels.empty else levels
    for row in rows.itertuples():
        if scenario == "json" and _number(getattr(row, "reference_requests_per_cpu_second", None)):
            value = row.reference_requests_per_cpu_second
            low, high = _range(row, "reference_requests_per_cpu_second", value)
            source, marked = "whole cores (wrk)", False
        elif row.kind == "step" and _number(row.requests_per_cpu_second):
            value = row.requests_per_cpu_second
            low, high = _range(row, "requests_per_cpu_second", value)
            source, marked = "budget (Locust)", unfaithful(row._asdict())
        else:
            continue
        best = found.get(row.framework)
        if best is None or value > best["rate"]:  # several levels: the best is the framework's own cost
            found[row.framework] = {"rate": value, "low": low, "high": high, "source": source, "unfaithful": marked}
    return found


def ladder_rows(levels: pd.DataFrame, scenario: str) -> list[dict]:
    """One row per rung measured on `scenario`: its CPU per request and what it adds over the rung below."""
    found = rates(levels, scenario)
    rows = []
    for label, rungs in LADDERS:
        present = [name for name in rungs if name in found]
        if len(present) < 2:
            continue  # a floor alone taxes nothing
        for lower, upper in zip([None, *present], present):
            rate = found[upper]
            cpu_us = 1e6 / rate["rate"]
            row = {"ladder": label, "rung": upper, "req per CPU-second": rate["rate"], "low": rate["low"], "high": rate["high"],
                   "CPU µs per request": cpu_us, "over": lower, "source": rate["source"], "unfaithful": rate["unfaithful"]}  # fmt: skip
            if lower is not None:
                below = found[lower]
                row["tax"] = 1 - rate["rate"] / below["rate"]
                # The widest the two ranges allow either way.
                row["tax_low"] = 1 - rate["high"] / below["low"]
                row["tax_high"] = 1 - rate["low"] / below["high"]
            rows.append(row)
    return rows


def table(levels: pd.DataFrame, scenario: str) -> pd.DataFrame:
    rows = ladder_rows(levels, scenario)
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(
        {
            "ladder": [r["ladder"] for r in rows],
            "rung": [r["rung"] + (UNFAITHFUL_MARK if r["unfaithful"] else "") for r in rows],
            "req per CPU-second": [f"{r['req per CPU-second']:,.0f}" + _span(r["low"], r["high"], "{:,.0f}") for r in rows],
            "CPU µs per request": [f"{r['CPU µs per request']:.0f}" for r in rows],
            "its layer over the rung below": [_tax(r) for r in rows],
            "from": [r["source"] for r in rows],
        }
    )
    return frame.set_index("ladder")


def sentence(levels: pd.DataFrame, scenario: str) -> str | None:
    """Which layer costs most on this scenario, in words."""
    taxed = [r for r in ladder_rows(levels, scenario) if "tax" in r and not r["unfaithful"]]
    if not taxed:
        return None
    worst = max(taxed, key=lambda r: r["tax"])
    return (f"On {scenario}, the most expensive layer is {worst['rung']} over {worst['over']} ({worst['ladder']}): "
            f"{worst['tax']:.0%} of a {worst['rung']} request's CPU ({worst['tax_low']:.0%}–{worst['tax_high']:.0%}).")  # fmt: skip


def chart(levels: pd.DataFrame, scenario: str) -> bytes | None:
    """Per ladder, a bar per rung: its CPU per request, split into what each layer below it costs."""
    rows = ladder_rows(levels, scenario)
    if not rows:
        return None
    figure, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    colours = plt.get_cmap("tab10").colors
    ticks, y = [], 0.0
    for label, _ in LADDERS:
        ladder = [r for r in rows if r["ladder"] == label]
        for index, row in enumerate(ladder):
            start = 0.0
            for layer_index, layer in enumerate(ladder[: index + 1]):
                ax.barh(y, layer["CPU µs per request"] - start, left=start, color=colours[layer_index % len(colours)], edgecolor="white")
                start = layer["CPU µs per request"]
            ticks.append((y, f"{row['rung']} ({label})"))
            y += 1
        y += 0.5  # a gap between ladders
    ax.set_yticks([at for at, _ in ticks], [name for _, name in ticks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("CPU µs per request (each colour: one layer, the bare server first)")
    ax.set_title(f"The framework tax on {scenario}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _range(row, column: str, value: float) -> tuple[float, float]:
    low, high = getattr(row, f"{column}_min", None), getattr(row, f"{column}_max", None)
    return (low if _number(low) else value, high if _number(high) else value)


def _number(value) -> bool:
    return value is not None and not pd.isna(value) and value > 0


def _span(low: float, high: float, form: str) -> str:
    return "" if low == high else f" ({form.format(low)}–{form.format(high)})"


def _tax(row: dict) -> str:
    if "tax" not in row:
        return "the floor" if row["rung"].startswith("bare-") else "the lowest rung measured here"
    return f"{row['tax']:.0%} ({row['tax_low']:.0%}–{row['tax_high']:.0%}) over {row['over']}"
