"""The results tree: results/<run-id>/manifest.json and one folder per step.

    results/<run-id>/
      manifest.json                     what ran, where, with what (written as the run goes)
      targets/<framework>.log           each server's own output
      steps/<framework>/<scenario>/u<users>-r<repeat>/
        step.json                       the step: parameters, status, times, resource use
        locust_stats.csv ...            Locust's own CSV files, final numbers
        locust.log                      Locust's output

A run folder is never reused: a second run gets a new id.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psutil

from .catalog import ROOT

RESULTS = ROOT / "results"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data: dict) -> None:
    """Write via a temporary file and rename, so an interrupted write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    os.replace(tmp, path)


def step_dir(run_dir: Path, framework: str, scenario: str, users: int, repeat: int) -> Path:
    return run_dir / "steps" / framework / scenario / f"u{users:04d}-r{repeat}"


def new_run_dir(results: Path, profile: str, engine: str) -> Path:
    """A fresh folder; the id sorts by time, and an existing one is never reused."""
    results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{profile}-{engine}"
    for attempt in range(100):
        run_dir = results / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {results}")


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain")) if commit else None}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_facts() -> dict:
    return {
        "hostname": platform.node(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": sorted(os.sched_getaffinity(0)),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "lab_python": sys.version.split()[0],
    }


def pip_freeze(python: Path) -> list[str]:
    result = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, timeout=60)
    return result.stdout.split()


def python_version(python: Path) -> str:
    result = subprocess.run([str(python), "--version"], capture_output=True, text=True, timeout=30)
    return (result.stdout or result.stderr).strip()
