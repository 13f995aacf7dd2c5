"""One headless Locust run: the command line, the process, and what it left behind."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .catalog import Scenario

CSV_PREFIX = "locust"


@dataclass
class LocustRun:
    command: list[str]
    exit_code: int | None
    final: dict  # locust_final.json, written by locustfiles/_common.py at Locust's exit
    timed_out: bool


# All users start within a second (spawn rate = users), plus a second of slack;
# --reset-stats then drops everything measured during the ramp.
RAMP_SECONDS = 2
# Locust's own start-up and shutdown, for the time-left estimate only.
OVERHEAD_SECONDS = 3


def locust_command(scenario: Scenario, host: str, users: int, seconds: int, prefix: Path) -> list[str]:
    return [
        sys.executable, "-m", "locust",
        "-f", str(scenario.locustfile),
        "--headless",
        "--host", host,
        "--users", str(users),
        "--spawn-rate", str(users),
        "--run-time", f"{seconds}s",
        "--reset-stats",  # drop the ramp: stats restart once every user is running
        "--csv", str(prefix),
        "--csv-full-history",  # per-interval percentiles in _stats_history.csv, not cumulative ones
        "--only-summary",
        "--exit-code-on-error", "0",  # failed requests are data, not a crash
        "--stop-timeout", "0",
        "--loglevel", "WARNING",
    ]  # fmt: skip


def run_locust(
    scenario: Scenario, host: str, users: int, duration: int, out_dir: Path, cores: list[int], on_start=None
) -> LocustRun:
    """Run Locust pinned to `cores`; `duration` is the measured time, the ramp comes on top."""
    out_dir.mkdir(parents=True, exist_ok=True)
    prefix = out_dir / CSV_PREFIX
    command = locust_command(scenario, host, users, RAMP_SECONDS + duration, prefix)
    final_path = Path(f"{prefix}_final.json")
    cores_set = set(cores)
    timed_out = False
    with open(out_dir / "locust.log", "wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: os.sched_setaffinity(0, cores_set),
        )
        if on_start:
            on_start(process)
        try:
            # Bounded: Locust stops itself at --run-time; this only catches a hung generator.
            process.wait(timeout=RAMP_SECONDS + duration + 60)
        except subprocess.TimeoutExpired:
            timed_out = True
            process.kill()
            process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
    final = json.loads(final_path.read_text()) if final_path.exists() else {}
    return LocustRun(command=command, exit_code=process.returncode, final=final, timed_out=timed_out)


def expected_seconds(duration: int) -> int:
    """Wall time a step takes, for the progress estimate."""
    return RAMP_SECONDS + duration + OVERHEAD_SECONDS
