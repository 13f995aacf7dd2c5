"""Where a run's files go: one folder per run under results/, never overwritten.

    results/<run-id>/
      manifest.json                                    what ran, where, with which versions and commands
      compose.bench.yml                                the docker engine's override for this run
      targets/<name>.log                               each server's output
      locust/                                          the Locust master's and workers' logs
      calibration/<cpus>-cores/<target>/<scenario>/u<users>/   the probes
      ceiling/<baseline>/<scenario>/u<users>/          the bare apps
      steps/<target>/<scenario>/u<users>-r<repeat>/    each step: step.json and Locust's CSVs
      profiles/<target>/<scenario>/u<users>/           a profiled window: step.json, stacks.txt (collapsed)
      latency/<target>/<scenario>/p<percent>-r<repeat>/ the latency pass: an open-model window at percent of the peak
      report/                                          the analysis: tidy.csv, tables, charts, report.md/.html

User levels have four digits so folders sort in order; repeats count from 1.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"


def level(users: int) -> str:
    return f"u{users:04d}"


def step_dir(run_dir: Path, target: str, scenario: str, users: int, repeat: int) -> Path:
    return run_dir / "steps" / target / scenario / f"{level(users)}-r{repeat}"


def ceiling_dir(run_dir: Path, baseline: str, scenario: str, users: int) -> Path:
    return run_dir / "ceiling" / baseline / scenario / level(users)


def profile_dir(run_dir: Path, target: str, scenario: str, users: int) -> Path:
    return run_dir / "profiles" / target / scenario / level(users)


def latency_dir(run_dir: Path, target: str, scenario: str, percent: int, repeat: int) -> Path:
    return run_dir / "latency" / target / scenario / f"p{percent:03d}-r{repeat}"


def probe_dir(run_dir: Path, cores: float, target: str, scenario: str, users: int) -> Path:
    return run_dir / "calibration" / f"{cores:g}-cores" / target / scenario / level(users)
