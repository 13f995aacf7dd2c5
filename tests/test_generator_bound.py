"""The generator-bound flag on real runs: raised when Locust is starved, not when it idles.

The tiny budget is real contention: busy processes pinned to Locust's core leave Locust
about a quarter of that core for the whole run, ceiling included.
"""

import json
import multiprocessing
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from analysis.tidy import tidy

pytestmark = pytest.mark.e2e


def spin(core: int) -> None:
    os.sched_setaffinity(0, {core})
    # Its own session: with autogroup scheduling, CPU is shared between sessions first,
    # and Locust runs in a session of its own.
    os.setsid()
    while True:
        pass


def bench(results, *args) -> "os.PathLike":
    command = [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "quick", "--frameworks", "fastapi", "--repeats", "1",
               "--duration", "3", "--warmup", "1", "--results", str(results), *args]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def test_starved_generator_is_flagged(tmp_path):
    locust_core = sorted(os.sched_getaffinity(0))[-1]
    hogs = [multiprocessing.Process(target=spin, args=(locust_core,), daemon=True) for _ in range(3)]
    for hog in hogs:
        hog.start()
    try:
        # A whole core, not the calibrated budget: a starved Locust makes calibration pick the
        # smallest rung (0.1 core), where the server's contract checks alone take minutes.
        run_dir = bench(tmp_path, "--scenarios", "json", "--users", "64", "--server-cpus", "1")
    finally:
        for hog in hogs:
            hog.kill()
    frame = tidy(run_dir)
    # The bare app does next to nothing per request, so against it a starved Locust is the limit.
    ceiling = frame[frame["kind"] == "ceiling"].iloc[0]
    assert ceiling["status"] == "ok"
    # Starved: it ran a fraction of the time but wanted the core nearly all of it.
    assert ceiling["locust_cpu_percent"] < 60
    assert ceiling["locust_demand_percent"] >= 90
    assert bool(ceiling["generator_bound"])
    record = json.loads((run_dir / ceiling["step_dir"] / "step.json").read_text())
    assert record["locust"]["demand_percent"] == ceiling["locust_demand_percent"]
    # The framework step shows the same starvation: Locust waited for its core far more than it ran.
    step = frame[frame["kind"] == "step"].iloc[0]
    assert step["status"] == "ok"
    assert step["locust_demand_percent"] > step["locust_cpu_percent"] + 20


def test_idle_generator_is_not_flagged(tmp_path):
    run_dir = bench(tmp_path, "--scenarios", "io", "--users", "4")
    frame = tidy(run_dir)
    step = frame[(frame["kind"] == "step") & (frame["framework"] == "fastapi")].iloc[0]
    assert step["status"] == "ok"
    assert step["locust_demand_percent"] < 50
    assert not bool(step["generator_bound"])
    # And the resource figures are real: the server worked, held memory, served requests per CPU-second.
    assert step["server_cpu_seconds"] > 0
    assert 10 < step["server_peak_rss_mb"] < 2000
    assert step["requests_per_cpu_second"] > 0
