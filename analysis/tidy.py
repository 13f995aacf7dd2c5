"""Results tree -> one tidy table: a row per step and repeat.

Reads only files (manifest.json, step.json, Locust's CSVs), through records/ (the versioned
records, the names rule, the rules that judge a step: stdlib only), and nothing of the runner, so
it works on a run folder from any machine. A run from elsewhere is untrusted: names are checked before they reach
a path, files are read with a size cap, and the numbers the analysis iterates over are bounded.
"""

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from records import names
from records import run as records
from records.files import MAX_RECORD_BYTES, RecordError
from records.files import read_json as read_record_json
from records.rules import disturbed, faithful, fidelity, generator_cores, generator_load, generator_reason, known, requests_per_cpu_second, saturated
from records.run import MAX_REPEATS, MAX_USERS

from .locust_csv import LocustCSVError, aggregate_row, read_stats


class AnalysisError(Exception):
    """Bad input for the analysis; the message names the file and the problem."""


# The cap on a run's JSON files (manifest.json, step.json) lives with the records.
MAX_JSON_BYTES = MAX_RECORD_BYTES
# Bounds on what the analysis iterates over. Real profiles: 1-5 repeats, up to 6 user levels of at
# most 256 users, 9 scenarios, 3 frameworks: 810 planned steps for the full sweep.
MAX_LIST = 1000  # entries in matrix.frameworks, .scenarios, .users
MAX_PLANNED_STEPS = 100_000  # repeats x scenarios x users x frameworks: what missing_steps() walks


def check_name(kind: str, value, where) -> str:
    """records.names.check_name, its refusal as an AnalysisError (the message names the file and field)."""
    try:
        return names.check_name(kind, value, where)
    except names.UnsafeName as problem:
        raise AnalysisError(str(problem)) from None


def inside(base: Path, path: Path) -> Path:
    """records.names.inside, its refusal as an AnalysisError."""
    try:
        return names.inside(base, path)
    except names.OutsidePath as problem:
        raise AnalysisError(str(problem)) from None


def bounded_int(value, low: int, high: int, what: str, where) -> int:
    """value as an int in [low, high] (JSON bools are not numbers here); otherwise AnalysisError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnalysisError(f"{where}: {what} must be a whole number from {low:,} to {high:,}, not {_short(value)}")
    try:
        number = int(value)
    except (ValueError, OverflowError):
        raise AnalysisError(f"{where}: {what} must be a whole number from {low:,} to {high:,}, not {_short(value)}") from None
    if not low <= number <= high:
        raise AnalysisError(f"{where}: {what} must be a whole number from {low:,} to {high:,}, not {_short(value)}")
    return number


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text):,} characters)"


COLUMNS = [
    "run_id", "engine", "profile", "kind", "framework", "scenario", "users", "repeat", "status", "reason",
    "requests", "failures", "failure_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "avg_ms", "max_ms",
    "locust_cpu_percent", "locust_demand_percent", "locust_cpu_warning", "locust_cores_cpu_percent", "locust_cores_busy_percent",
    "generator_load_percent", "server_cpus", "server_cpu_seconds", "server_cpu_percent",
    "server_peak_rss_mb", "requests_per_cpu_second", "wrk_rps", "wrk_requests_per_cpu_second", "generator_ceiling_rps", "generator_bound", "generator_reason",
    "reference_rps", "reference_requests_per_cpu_second", "fidelity", "faithful", "wrk_fidelity", "wrk_faithful",
    "foreign_percent", "steal_percent", "noise_role", "disturbed", "locust_format", "step_dir",
]  # fmt: skip


def read_json(path: Path) -> dict:
    """A run's JSON file, size-capped (records/files.py reads it), its refusal as an AnalysisError."""
    try:
        return read_record_json(path)
    except RecordError as problem:
        raise AnalysisError(str(problem)) from None


def load_manifest(run_dir: Path) -> dict:
    if not run_dir.is_dir():
        raise AnalysisError(f"{run_dir}: no such run folder")
    if not (run_dir / "manifest.json").exists():
        raise AnalysisError(f"{run_dir}: not a lab run (no manifest.json)")
    path = run_dir / "manifest.json"
    try:
        manifest = asdict(records.read_manifest(path))
    except RecordError as problem:
        raise AnalysisError(str(problem)) from None
    return check_manifest(manifest, path)


def read_step(step_file: Path) -> dict:
    try:
        return asdict(records.read_step(step_file))
    except RecordError as problem:
        raise AnalysisError(str(problem)) from None


def check_manifest(manifest: dict, where) -> dict:
    """The manifest if its names are plain names and its matrix is bounded; otherwise AnalysisError."""
    if "run_id" in manifest:
        check_name("run id", manifest["run_id"], where)
    matrix = manifest.get("matrix") or {}
    if not isinstance(matrix, dict):
        raise AnalysisError(f"{where}: matrix must be an object")
    sizes = [bounded_int(matrix.get("repeats", 1), 1, MAX_REPEATS, "matrix.repeats", where)]
    for field in ("frameworks", "scenarios", "users"):
        values = matrix.get(field) or []
        if not isinstance(values, list) or len(values) > MAX_LIST:
            raise AnalysisError(f"{where}: matrix.{field} must be a list of at most {MAX_LIST:,} entries")
        for value in values:
            if field == "users":
                bounded_int(value, 1, MAX_USERS, "matrix.users", where)
            else:
                check_name(f"matrix.{field} entry", value, where)
        sizes.append(max(len(values), 1))
    planned = sizes[0] * sizes[1] * sizes[2] * sizes[3]
    if planned > MAX_PLANNED_STEPS:
        raise AnalysisError(f"{where}: matrix plans {planned:,} steps (repeats x frameworks x scenarios x users), over the {MAX_PLANNED_STEPS:,} the analysis reads")
    for section in ("targets", "baselines"):
        entries = manifest.get(section) or {}
        if not isinstance(entries, dict):
            raise AnalysisError(f"{where}: {section} must be an object")
        for name, target in entries.items():
            check_name(f"{section} entry", name, where)
            if isinstance(target, dict) and target.get("baseline") is not None:
                check_name(f"{section}.{name}.baseline", target["baseline"], where)
    return manifest


def step_row(run_dir: Path, manifest: dict, step_file: Path) -> dict:
    step = read_step(step_file)
    row = {column: None for column in COLUMNS}
    try:
        row.update(
            run_id=manifest.get("run_id", run_dir.name),
            engine=manifest.get("engine"),
            profile=(manifest.get("profile") or {}).get("name"),
            kind=step.get("kind", "step"),
            framework=check_name("framework", step["framework"], step_file),
            scenario=check_name("scenario", step["scenario"], step_file),
            users=bounded_int(step["users"], 1, MAX_USERS, "users", step_file),
            repeat=bounded_int(step["repeat"], 0, MAX_REPEATS, "repeat", step_file),  # 0: a ceiling
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
        **{f"locust_{key}": value for key, value in generator_cores(locust, step.get("noise")).items()},
        server_cpu_seconds=cpu_seconds,
        server_cpu_percent=server.get("cpu_percent"),
        server_cpus=server.get("cpus") if isinstance(server.get("cpus"), (int, float)) and not isinstance(server.get("cpus"), bool) else None,
        server_peak_rss_mb=server.get("peak_rss_mb"),
    )
    noise = step.get("noise") or {}
    # Others' CPU time (and steal) on the worst of the server's and Locust's cores (lab/run/noise.py);
    # a step without a noise record (an older run) is not known to be disturbed.
    row.update(foreign_percent=noise.get("foreign_percent"), steal_percent=noise.get("steal_percent"), noise_role=noise.get("worst_role"),
               disturbed=disturbed(noise.get("foreign_percent"), noise.get("steal_percent")))  # fmt: skip
    if step.get("wrk"):
        row["wrk_rps"] = step["wrk"].get("requests_per_s")
        row["wrk_requests_per_cpu_second"] = step["wrk"].get("requests_per_cpu_s")
    # Requests served per second of server CPU over the measured window (both rates).
    row["requests_per_cpu_second"] = requests_per_cpu_second(row["rps"], row["server_cpu_percent"])
    reference = step.get("reference") or {}
    if isinstance(reference, dict) and reference.get("requests_per_cpu_s"):
        # The same server on its whole cores with wrk, right before the window (lab/run/reference.py).
        row["reference_rps"] = reference.get("requests_per_s")
        row["reference_requests_per_cpu_second"] = reference["requests_per_cpu_s"]
        # Each figure's fidelity: its requests per CPU-second at the budget over the whole cores'. wrk's
        # (the same client as the reference: the budget's effect alone) judges the claims; Locust's
        # also carries what Locust's way of sending costs the server (a bare app's figure is wrk's).
        row["wrk_fidelity"] = fidelity(row["wrk_requests_per_cpu_second"], row["reference_requests_per_cpu_second"])
        row["wrk_faithful"] = faithful(row["wrk_fidelity"])
        at_budget = row["wrk_requests_per_cpu_second"] if row["kind"] == "ceiling" else row["requests_per_cpu_second"]
        row["fidelity"] = fidelity(at_budget, row["reference_requests_per_cpu_second"])
        row["faithful"] = faithful(row["fidelity"])
    return row


def tidy(run_dir: Path) -> pd.DataFrame:
    """Every step of a run as one row; a step that failed or is unreadable keeps its reason."""
    run_dir = Path(run_dir)
    manifest = load_manifest(run_dir)
    paths = [path for folder in ("ceiling", "steps", "profiles") for path in sorted((run_dir / folder).glob("*/*/*/step.json"))]
    frame = pd.DataFrame([step_row(run_dir, manifest, path) for path in paths], columns=COLUMNS)
    flag_generator_bound(frame, manifest)
    return frame.sort_values(["kind", "scenario", "framework", "users", "repeat"], kind="stable").reset_index(drop=True)


def flag_generator_bound(frame: pd.DataFrame, manifest: dict) -> None:
    """Mark every row the generator may have limited, with the reason (the rules: records/rules.py)."""
    frame["generator_load_percent"] = [
        generator_load(r.locust_cpu_percent, r.locust_demand_percent, r.locust_cores_cpu_percent, r.locust_cores_busy_percent)
        for r in frame.itertuples()
    ]
    # wrk ran once per level (repeat 1), and in every repeat of a referenced json step: a repeat
    # without its own figure takes its level's.
    level = ["kind", "framework", "scenario", "users"]
    frame["wrk_rps"] = frame["wrk_rps"].fillna(frame.groupby(level, dropna=False)["wrk_rps"].transform(lambda values: values.dropna().max()))
    # Locust's ceiling for a framework: what Locust got from the bare app on the same server, same
    # scenario (the same connection pattern, so the same cost per request for Locust).
    ok = frame["status"] == "ok"
    ceilings = frame[ok & (frame["kind"] == "ceiling")].groupby(["framework", "scenario"])["rps"].max().to_dict()
    baseline_of = {name: target.get("baseline") if isinstance(target, dict) else None for name, target in (manifest.get("targets") or {}).items()}
    frame["generator_ceiling_rps"] = [
        ceilings.get((baseline_of.get(r.framework), r.scenario)) if r.kind == "step" else None for r in frame.itertuples()
    ]
    short = ((manifest.get("budget") or {}).get("short")) or {}
    reasons = []
    for r in frame.itertuples():
        if r.status != "ok":
            reasons.append(None)
        elif r.kind == "ceiling":
            # A ceiling's Locust figure is the generator's by design: the bare app's ceiling is wrk's.
            reasons.append(generator_reason(r.generator_load_percent, r.rps) or (None if known(r.wrk_rps) else "no wrk: Locust cannot reach a bare app's ceiling"))
        else:
            short_of_goal = isinstance(short, dict) and isinstance(short.get(r.framework), list) and r.scenario in short[r.framework]
            reasons.append(generator_reason(r.generator_load_percent, r.rps, r.generator_ceiling_rps, r.wrk_rps, short_of_goal,
                                            saturated(r.server_cpu_percent, r.server_cpus)))  # fmt: skip
    frame["generator_reason"] = reasons
    frame["generator_bound"] = [None if r.status != "ok" else reason is not None for r, reason in zip(frame.itertuples(), reasons)]


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

