"""Results tree -> one tidy table: a row per step and repeat.

Reads only files (manifest.json, step.json, Locust's CSVs), the records through lab/records.py
(stdlib only, versioned), so it works on a run folder from any machine.
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from lab import records

from .locust_csv import LocustCSVError, aggregate_row, read_stats
from .stats import disturbed, generator_bound


class AnalysisError(Exception):
    """Bad input for the analysis; the message names the file and the problem."""


COLUMNS = [
    "run_id", "engine", "profile", "kind", "framework", "scenario", "users", "repeat", "status", "reason",
    "requests", "failures", "failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms",
    "locust_cpu_percent", "locust_demand_percent", "locust_cpu_warning", "server_cpu_seconds", "server_cpu_percent",
    "server_peak_rss_mb", "requests_per_cpu_second", "wrk_rps", "generator_ceiling_rps", "generator_bound",
    "foreign_percent", "steal_percent", "noise_role", "disturbed", "locust_format", "step_dir",
]  # fmt: skip


def load_manifest(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise AnalysisError(f"{run_dir}: no such run folder")
    if not (run_dir / "manifest.json").exists():
        raise AnalysisError(f"{run_dir}: not a lab run (no manifest.json)")
    try:
        return asdict(records.read_manifest(run_dir / "manifest.json"))
    except records.RecordError as problem:
        raise AnalysisError(str(problem)) from None


def read_step(step_file: Path) -> dict:
    try:
        return asdict(records.read_step(step_file))
    except records.RecordError as problem:
        raise AnalysisError(str(problem)) from None


def step_row(run_dir: Path, manifest: dict, step_file: Path) -> dict:
    step = read_step(step_file)
    row = {column: None for column in COLUMNS}
    try:
        row.update(
            run_id=manifest.get("run_id", run_dir.name),
            engine=manifest.get("engine"),
            profile=(manifest.get("profile") or {}).get("name"),
            kind=step.get("kind", "step"),
            framework=step["framework"],
            scenario=step["scenario"],
            users=int(step["users"]),
            repeat=int(step["repeat"]),
            status=step["status"],
            reason=step.get("reason"),
            step_dir=str(step_file.parent.relative_to(run_dir)),
        )
    except (KeyError, TypeError, ValueError) as problem:
        raise AnalysisError(f"{step_file}: missing or bad field {problem}") from None
    if row["status"] != "ok":
        return row
    stats_path = step_file.parent / "locust_stats.csv"
    try:
        total = aggregate_row(read_stats(stats_path))
    except LocustCSVError as problem:
        row.update(status="unreadable", reason=str(problem))
        return row
    locust = step.get("locust") or {}
    server = step.get("server") or {}
    requests = int(total["requests"])
    cpu_seconds = server.get("cpu_seconds")
    row.update(
        requests=requests,
        failures=int(total["failures"]),
        failure_rate=(total["failures"] / requests) if requests else None,
        rps=float(total["rps"]),
        p50_ms=total["p50"],
        p95_ms=total["p95"],
        p99_ms=total["p99"],
        avg_ms=total["avg_ms"],
        max_ms=total["max_ms"],
        locust_format=total.get("locust_format"),
        locust_cpu_percent=locust.get("cpu_percent"),
        locust_demand_percent=locust.get("demand_percent"),
        locust_cpu_warning=locust.get("cpu_warning"),
        server_cpu_seconds=cpu_seconds,
        server_cpu_percent=server.get("cpu_percent"),
        server_peak_rss_mb=server.get("peak_rss_mb"),
    )
    noise = step.get("noise") or {}
    # Others' CPU time (and steal) on the worst of the server's and Locust's cores (lab/noise.py);
    # a step without a noise record (an older run) is not known to be disturbed.
    row.update(foreign_percent=noise.get("foreign_percent"), steal_percent=noise.get("steal_percent"), noise_role=noise.get("worst_role"),
               disturbed=disturbed(noise.get("foreign_percent"), noise.get("steal_percent")))  # fmt: skip
    if step.get("wrk"):
        row["wrk_rps"] = step["wrk"].get("requests_per_s")
    window = (locust.get("window_end") or 0) - (locust.get("window_start") or 0)
    if cpu_seconds and window > 0:
        # Requests served per second of server CPU over the measured window.
        row["requests_per_cpu_second"] = row["rps"] * window / cpu_seconds
    return row


def tidy(run_dir: Path) -> pd.DataFrame:
    """Every step of a run as one row; a step that failed or is unreadable keeps its reason."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    paths = sorted((run_dir / "ceiling").glob("*/*/*/step.json")) + sorted((run_dir / "steps").glob("*/*/*/step.json"))
    frame = pd.DataFrame([step_row(run_dir, manifest, path) for path in paths], columns=COLUMNS)
    flag_generator_bound(frame)
    return frame.sort_values(["kind", "scenario", "framework", "users", "repeat"], kind="stable").reset_index(drop=True)


def flag_generator_bound(frame: pd.DataFrame) -> None:
    """Mark every row the generator may have limited (see analysis/stats.py for the rule)."""
    ok = frame["status"] == "ok"
    ceilings = frame[ok & (frame["kind"] == "ceiling")].groupby("scenario")["rps"].max()
    frame["generator_ceiling_rps"] = frame["scenario"].map(ceilings)
    frame["generator_bound"] = [
        # A ceiling row is the ceiling: only Locust's CPU can say it was the generator's limit.
        generator_bound(
            _max(row.locust_cpu_percent, row.locust_demand_percent),
            row.rps,
            None if row.kind == "ceiling" else row.generator_ceiling_rps,
        )
        if row.status == "ok" else None
        for row in frame.itertuples()
    ]


def missing_steps(run_dir: Path, frame: pd.DataFrame) -> list[str]:
    """Steps the manifest's matrix planned that left no step.json (an interrupted run)."""
    matrix = load_manifest(Path(run_dir)).get("matrix") or {}
    done = {(r.framework, r.scenario, r.users, r.repeat) for r in frame.itertuples() if r.kind == "step"}
    missing = []
    for repeat in range(1, int(matrix.get("repeats", 1)) + 1):
        for scenario in matrix.get("scenarios", []):
            for users in matrix.get("users", []):
                for framework in matrix.get("frameworks", []):
                    if (framework, scenario, users, repeat) not in done:
                        missing.append(f"{framework} {scenario} u={users} r{repeat}")
    return missing


def _max(*values):
    present = [v for v in values if v is not None and not pd.isna(v)]
    return max(present) if present else None
