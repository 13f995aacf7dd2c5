"""The bench's latency pass, for real: the latency profile on the local engine, one framework,
short windows. After the closed-model step gives the peak, open-model windows at fixed shares
of it, each with its merged HdrHistogram and the server's throttling, under latency/."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

from lab.latency import MAX_RATE
from lab.load import openmodel
from lab.run.stages import LATENCY_PERCENTS
from records import layout
from records import run as records

pytestmark = pytest.mark.e2e


def test_the_latency_profile_measures_fixed_shares_of_the_peak(tmp_path):
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "latency", "--frameworks", "fastapi",
        "--duration", "3", "--warmup", "0", "--repeats", "1", "--budget", "all", "--results", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "LOCUST_WORKERS": "2"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    (step,) = [records.read_step(p) for p in (run_dir / "steps").glob("*/*/*/step.json")]
    peak = step.locust["total_rps"]
    for percent in LATENCY_PERCENTS:
        folder = layout.latency_dir(run_dir, "fastapi", "json", percent, 1)
        if peak * percent / 100 > MAX_RATE * 2:
            # More than two workers schedule faithfully: skipped and said so, never run slower.
            assert f"fastapi at {percent}%" in result.stdout and "above what 2 workers schedule" in result.stdout
            assert not folder.exists()
            continue
        record = records.read_step(folder / "step.json")
        assert record.kind == "latency" and record.status == "ok", record.reason
        latency = record.latency
        assert latency["percent_of_peak"] == percent
        assert latency["rate_asked"] == pytest.approx(peak * percent / 100, rel=0.01)
        assert latency["peak_rps"] == pytest.approx(peak, rel=0.01) and isinstance(latency["peak_faithful"], bool)
        assert latency["workers"] == 2
        assert set(latency["percentiles_ms"]) == {"50", "90", "99", "99.9", "max"}
        saved = json.loads((folder / "histogram.json").read_text())
        assert openmodel.decode(saved["histogram"]).get_total_count() == latency["ok"]
        assert f"latency fastapi json {percent}%" in result.stdout
