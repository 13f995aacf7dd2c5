"""The report's latency section: the bench's latency pass (latency/<target>/<scenario>/p<percent>-r<repeat>/,
lab/run/stages.py), open-model windows at fixed shares of each framework's peak.

A table of p50/p90/p99/p99.9/max at each rate (the median over the repeats), the send lag, the
server's throttled share and any flag, with the closed model's p99 at the peak beside it; and a
latency-versus-load chart per framework ("the hockey stick") and the percentile distribution at each
rate (HdrHistogram's classic plot, from the recorded percentiles). Records are read through
records/run.py, as every step.json is.
"""

import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from records.files import RecordError  # noqa: E402
from records.run import read_step  # noqa: E402

from .blocks import Block  # noqa: E402
from .tidy import check_name, inside  # noqa: E402

FOLDER = re.compile(r"p(\d{3})-r(\d+)")
KEYS = ("50", "90", "99", "99.9", "max")
INTRO = (
    "Open model: each framework's json at fixed rates, shares of its peak (the closed-model steps' highest req/s), "
    "requests sent on a schedule fixed in advance and timed from when each was due, so a stall counts for every "
    "request it delayed (no coordinated omission; docs/latency.md). Percentiles are exact (HdrHistogram, 3 significant "
    "digits), the median over the repeats; `closed p99 @peak` is Locust's closed-model p99 at the peak, for comparison. "
    "`throttled` is the share of the window the server's CPU quota held it stopped: at 1% or more it can make the p99 on its own. "
    "† a peak Locust set (generator-bound): the rates are shares of Locust's ceiling, not the server's."
)


def rows(run_dir: Path) -> pd.DataFrame:
    found = []
    for path in sorted((run_dir / "latency").glob("*/*/*/step.json")):
        match = FOLDER.fullmatch(path.parent.name)
        if not match:
            continue
        try:
            inside(run_dir, path)
            check_name("target", path.parent.parent.parent.name, path)
            record = read_step(path)
        except (RecordError, ValueError):
            continue
        latency = record.latency or {}
        pcts = latency.get("percentiles_ms") or {}
        found.append({
            "framework": record.framework, "percent": int(match[1]), "repeat": int(match[2]), "status": record.status,
            "rate": latency.get("rate_asked"), "achieved": latency.get("rate_achieved"), "lag": latency.get("send_lag_ms"),
            "throttled": latency.get("throttled_share_percent"), "flags": "; ".join(latency.get("flags") or []),
            "peak": latency.get("peak_rps"), "bound": latency.get("peak_faithful") is False,
            **{f"p{key}": pcts.get(key) for key in KEYS},
        })  # fmt: skip
    return pd.DataFrame(found)


def table(frame: pd.DataFrame, closed_p99: dict[str, float]) -> pd.DataFrame:
    ok = frame[frame["status"] == "ok"]
    numbers = ["peak", "rate", "achieved", "lag", "throttled", *[f"p{k}" for k in KEYS]]
    ok = ok.assign(**{column: pd.to_numeric(ok[column], errors="coerce") for column in numbers})  # None (not recorded) -> NaN
    summary = ok.groupby(["framework", "percent"])[numbers].median(numeric_only=True).reset_index()
    flags = ok.groupby(["framework", "percent"])["flags"].apply(lambda f: "; ".join(sorted({x for x in f if x}))).reset_index()
    summary = summary.merge(flags, on=["framework", "percent"])
    bound = ok.groupby(["framework", "percent"])["bound"].any().reset_index()
    summary = summary.merge(bound, on=["framework", "percent"])
    shown = pd.DataFrame({
        "framework": summary["framework"], "% of peak": summary["percent"],
        "peak req/s": [("" if pd.isna(p) else f"{p:,.0f}") + (" †" if b else "") for p, b in zip(summary["peak"], summary["bound"])], "req/s asked": summary["rate"].map("{:,.0f}".format),
        "req/s sent": summary["achieved"].map("{:,.0f}".format),
        **{("max ms" if k == "max" else f"p{k} ms"): summary[f"p{k}"].map("{:,.2f}".format) for k in KEYS},
        "closed p99 @peak": summary["framework"].map(lambda f: f"{closed_p99[f]:,.0f}" if f in closed_p99 else ""),
        "send lag p99 ms": summary["lag"].map("{:,.1f}".format),
        "throttled %": summary["throttled"].map(lambda v: "" if pd.isna(v) else f"{v:g}"),
        "flags": summary["flags"],
    })  # fmt: skip
    return shown.set_index("framework")


def chart(frame: pd.DataFrame) -> bytes:
    """Latency against load per framework: p50, p99 and p99.9 (log scale) at each rate."""
    ok = frame[frame["status"] == "ok"].groupby(["framework", "percent"]).median(numeric_only=True).reset_index()
    fig, ax = plt.subplots(figsize=(7, 4))
    for framework, group in ok.groupby("framework"):
        group = group.sort_values("rate")
        line = ax.plot(group["rate"], group["p99"], marker="o", label=f"{framework} p99")[0]
        ax.plot(group["rate"], group["p50"], marker=".", linestyle=":", color=line.get_color(), label=f"{framework} p50")
        ax.plot(group["rate"], group["p99.9"], marker="^", linestyle="--", color=line.get_color(), label=f"{framework} p99.9")
    ax.set_yscale("log")
    ax.set_xlabel("requests per second (fixed rate, open model)")
    ax.set_ylabel("latency from intended send, ms")
    ax.set_title("json: latency against load")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


# The percentile distribution's x axis, as HdrHistogram's plots draw it: 1 / (1 - percentile), log
# scale, so 50%, 90%, 99%, 99.9% are evenly spaced; max one decade past p99.9.
SPREAD = {"50": 2, "90": 10, "99": 100, "99.9": 1_000, "max": 10_000}


def distribution_chart(frame: pd.DataFrame) -> bytes:
    """The percentile distribution per framework, one line per rate (HdrHistogram's classic plot),
    from the recorded percentiles (the median over the repeats)."""
    ok = frame[frame["status"] == "ok"]
    ok = ok.assign(**{f"p{key}": pd.to_numeric(ok[f"p{key}"], errors="coerce") for key in KEYS if f"p{key}" in ok})
    ok = ok.groupby(["framework", "percent"]).median(numeric_only=True).reset_index()
    frameworks = sorted(ok["framework"].unique())
    fig, axes = plt.subplots(1, len(frameworks), figsize=(3.2 * len(frameworks) + 1, 3.6), sharey=True, squeeze=False)
    for ax, framework in zip(axes[0], frameworks):
        for _, row in ok[ok["framework"] == framework].sort_values("percent").iterrows():
            values = [(SPREAD[key], row.get(f"p{key}")) for key in KEYS]
            points = [(x, v) for x, v in values if pd.notna(v) and v > 0]
            if points:
                ax.plot(*zip(*points), marker="o", label=f"{row['percent']}% of peak")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(list(SPREAD.values()), ["50%", "90%", "99%", "99.9%", "max"], fontsize=7)
        ax.set_title(framework, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("latency from intended send, ms")
    fig.suptitle("json: latency by percentile at each fixed rate", fontsize=10)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def blocks(report) -> list[Block]:
    frame = rows(report.run_dir)
    if frame.empty:
        return []
    levels = report.levels
    closed = {}
    if not levels.empty:
        json_steps = levels[(levels["kind"] == "step") & (levels["scenario"] == "json")]
        for framework, group in json_steps.groupby("framework"):
            closed[framework] = float(group.sort_values("rps").iloc[-1]["p99_ms"])
    found = [Block("h2", "Latency at fixed loads (open model)"), Block("p", INTRO)]
    if (frame["status"] == "ok").any():
        found += [Block("table", table=table(frame, closed), align="left"), Block("chart", text="latency-vs-load", png=chart(frame)),
                  Block("chart", text="latency-percentile-distribution", png=distribution_chart(frame))]
    failed = frame[frame["status"] != "ok"]
    if not failed.empty:
        found += [Block("p", "Not measured:"), Block("ul", items=[f"{r.framework} {r.percent}% r{r.repeat}: {r.status}" for r in failed.itertuples()])]
    return found
