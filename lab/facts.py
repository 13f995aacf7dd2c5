"""Facts about this machine and this checkout, for the manifest: the host, the git state, a
Python's version and packages. Read, never changed."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import psutil

from .catalog import ROOT


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
