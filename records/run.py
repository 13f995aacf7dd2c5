"""The two records a run writes to disk, as versioned dataclasses: the run's manifest.json and
each step's step.json. The runner writes them and the analysis reads them back through this
module only, so a change of layout is a new version here, and a reader refuses a version it
does not know instead of misreading it (as pyperf does with its JSON format).

Stdlib only: the analysis imports this on any machine. Files are written and read by
records/files.py (atomic writes, capped reads); where they go, records/layout.py.

    version 1   the first layout (step.json had no version field)
    version 2   one Locust master per run: locust.workers per step, timings in the manifest
                (later, still version 2: step.noise, the neighbour-noise guard's numbers, lab/run/noise.py;
                an optional field that a reader without it ignores and a record without it
                leaves None, so no new version; likewise manifest.budget, the calibration, and
                step.reference with manifest.fidelity, the whole-core reference, lab/run/reference.py;
                and step.latency, an open-model window of the latency pass, lab/run/stages.py)
"""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .files import RecordError, read_json, write_json

MANIFEST_VERSION = 2
STEP_VERSION = 2
KNOWN_VERSIONS = (1, 2)
# Bounds of what a run holds: the runner refuses options beyond them, the analysis a record
# beyond them (a typo, or a shared run made to exhaust the reader).
MAX_USERS = 10_000
MAX_DURATION = 3600
MAX_REPEATS = 100


@dataclass
class Manifest:
    run_id: str
    status: str = "running"  # running, complete, partial, empty, interrupted, failed
    reason: str | None = None  # why a run failed before it could measure
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    engine: str | None = None
    engine_details: dict = field(default_factory=dict)
    profile: dict = field(default_factory=dict)
    effective: dict = field(default_factory=dict)
    matrix: dict = field(default_factory=dict)
    cores: dict = field(default_factory=dict)
    host: dict = field(default_factory=dict)
    git: dict = field(default_factory=dict)
    locust: dict = field(default_factory=dict)
    scenarios: dict = field(default_factory=dict)
    targets: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    database: dict = field(default_factory=dict)
    unavailable: dict = field(default_factory=dict)
    wrk: dict = field(default_factory=dict)
    # The server's CPU budget and how it was chosen (lab/run/calibrate.py): mode, cpus, probes, needs.
    budget: dict = field(default_factory=dict)
    # Per target: its requests per CPU-second at the budget over those on its whole cores (lab/run/reference.py).
    fidelity: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    manifest_version: int = MANIFEST_VERSION


@dataclass
class StepRecord:
    framework: str
    scenario: str
    users: int
    repeat: int
    kind: str = "step"  # step; ceiling (a bare app: its server's ceiling); probe (calibration); profile (lab/run/profiling.py)
    status: str = "failed"  # ok, failed, skipped
    reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    locust: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    wrk: dict | None = None
    noise: dict | None = None  # CPU time others took on the lab's cores in the window (lab/run/noise.py)
    # wrk on the same server on its whole cores, no quota, right before the window (lab/run/reference.py).
    reference: dict | None = None
    # A profiled window (kind "profile"): the sampler, its rate, its stacks file (lab/run/profiling.py).
    profile: dict | None = None
    # An open-model window (kind "latency"): rate asked and achieved, send lag, percentiles, the
    # encoded HdrHistogram, the server's throttling (locustfiles/_open_model.py, lab/run/stages.py).
    latency: dict | None = None
    step_version: int = STEP_VERSION


def write(path: Path, record: Manifest | StepRecord) -> None:
    write_json(path, asdict(record))


def _build(cls, data: dict, version_key: str, path: Path):
    version = data.get(version_key, 1)
    if version not in KNOWN_VERSIONS:
        raise RecordError(
            f"{path}: {version_key} {version!r} is not one this lab knows ({', '.join(map(str, KNOWN_VERSIONS))}); "
            "it was written by another version of the lab: read it with that version"
        )
    known = {f.name for f in fields(cls)}
    try:
        record = cls(**{key: value for key, value in data.items() if key in known})
    except TypeError as problem:
        raise RecordError(f"{path}: missing or bad field ({problem})") from None
    for f in fields(cls):
        value = getattr(record, f.name)
        if f.type is dict and not isinstance(value, dict):
            raise RecordError(f"{path}: field {f.name!r} should be an object, not {type(value).__name__}")
    return record


def read_manifest(path: Path) -> Manifest:
    data = read_json(path)
    if "run_id" not in data:
        data["run_id"] = path.parent.name
    return _build(Manifest, data, "manifest_version", path)


def read_step(path: Path) -> StepRecord:
    return _build(StepRecord, read_json(path), "step_version", path)


def budget_headline(budget: dict) -> str:
    """The server's CPU budget and how it was chosen, in one line: the console's and the report's.

    A shared run's manifest is untrusted: numbers that are not numbers are "not recorded"."""
    from .rules import HEADROOM_GOAL, number

    cpus, goal = number(budget.get("cpus")), number(budget.get("goal", HEADROOM_GOAL))
    if cpus is None or goal is None:
        return "server budget: not recorded"
    unit = "core" if cpus <= 1 else "cores"
    mode, reason = budget.get("mode"), str(budget.get("reason") or "not calibrated")[:400]
    if mode == "auto" and budget.get("goal_met"):
        return f"server budget {cpus:g} {unit}, chosen so Locust had at least {1 - goal:.0%} headroom"
    if mode == "auto":
        return f"server budget {cpus:g} {unit}: {reason}"
    if mode == "explicit":
        return f"server budget {cpus:g} {unit} (SERVER_CPUS): " + (f"Locust keeps at least {1 - goal:.0%} headroom" if budget.get("goal_met") else reason)
    return f"server budget {cpus:g} {unit} ({reason})"
