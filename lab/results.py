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

import errno
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psutil

from .catalog import ROOT, LabError

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


# A quick run writes a few MB and its report a few more: refuse to start with less than this free.
MIN_FREE_BYTES = 50 * 2**20
# Kept beside the run and freed before its last manifest write, so that a disk that fills up
# during the run still gets the run's end (failed, and why) recorded.
RESERVE_BYTES = 2**20


def new_run_dir(results: Path, profile: str, engine: str) -> Path:
    """A fresh folder; the id sorts by time, and an existing one is never reused. A results
    folder that cannot be written or is nearly full is refused in one line, before anything runs."""
    where = "pass --results <folder> to write elsewhere"
    try:
        results.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(results).free
    except OSError as problem:
        raise LabError(f"cannot use the results folder {results}: {problem.strerror or problem} ({where})") from None
    sweep_reserves(results)
    if free < MIN_FREE_BYTES:
        raise LabError(f"the results folder {results} has {free / 2**20:.0f} MB free; a run needs {MIN_FREE_BYTES // 2**20} MB "
                       f"(free some space, or {where})")  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{profile}-{engine}"
    for attempt in range(100):
        run_dir = results / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as problem:
            raise LabError(f"cannot create a run folder in {results}: {problem.strerror or problem} ({where})") from None
        try:
            make_reserve(run_dir)
        except OSError as problem:
            reserve(run_dir).unlink(missing_ok=True)
            run_dir.rmdir()
            raise LabError(f"cannot write in the results folder {results}: {problem.strerror or problem} ({where})") from None
        return run_dir
    raise LabError(f"could not create a new run folder under {results}")


def reserve(run_dir: Path) -> Path:
    """The run's reserve of disk space: beside its folder, so it is never part of the run. Its
    first line names the runner, so a later run can remove the reserve of one that was killed."""
    return run_dir.parent / f".reserve-{run_dir.name}"


def make_reserve(run_dir: Path) -> None:
    head = (this_runner() + "\n").encode()
    reserve(run_dir).write_bytes(head + b"\0" * (RESERVE_BYTES - len(head)))


def sweep_reserves(results: Path) -> None:
    """Remove the reserves of runs whose runner is gone (killed: it never freed its own)."""
    for path in results.glob(".reserve-*"):
        try:
            with open(path, "rb") as handle:
                runner = handle.readline(200).decode(errors="replace").strip()
            if not runner_alive(runner):
                path.unlink()
        except OSError:
            continue


def disk_error(problem: OSError, results: Path) -> bool:
    """Is this the results disk failing (full, read-only, gone), rather than, say, a socket?"""
    if problem.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return True
    name = problem.filename
    return isinstance(name, (str, Path)) and Path(name).resolve().is_relative_to(results.resolve())


# -- who started a run ---------------------------------------------------------------------------


def this_runner() -> str:
    """This process as host:pid:start time, which no later process on this host can share."""
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.0f}"


def runner_alive(runner: str) -> bool:
    """May the runner named so still be running? Yes unless it was on this host and is gone: a
    runner on another host (a shared Docker engine) cannot be checked from here."""
    host, _, rest = runner.partition(":")
    pid, _, started = rest.partition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    try:
        return f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except psutil.Error:
        return False


def runner_words(runner: str) -> str:
    host, _, rest = runner.partition(":")
    return f"process {rest.partition(':')[0]} on {host}"


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
