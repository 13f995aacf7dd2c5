"""A real run of a tiny matrix: real servers, the real runner, one real Locust master with its
workers for the whole run, then the analysis."""

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--scenarios", "json,validate",
        "--users", "4", "--duration", "2", "--warmup", "1", "--results", str(results),
    ]  # fmt: skip
    # Two local workers on one Locust core: the master must merge both into one window.
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "LOCUST_WORKERS": "2"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def test_manifest_records_what_ran(tiny_run):
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["engine"] == "local"
    assert manifest["matrix"]["steps"] == 6
    assert set(manifest["cores"]["server"]).isdisjoint(manifest["cores"]["locust"])
    for name in ("fastapi", "flask", "django"):
        target = manifest["targets"][name]
        assert target["cores"] == manifest["cores"]["server"]
        assert target["python"].startswith("Python 3.12")
        assert any(p.lower().startswith(name + "==") for p in target["packages"])
        assert target["command_line"], "the exact server command line is recorded"
    assert manifest["targets"]["flask"]["workers"] == 2 * len(manifest["cores"]["server"]) + 1
    assert manifest["locust"]["version"] == "2.47.0"
    # One master and its workers for the whole run, recorded with their exact command lines.
    assert manifest["locust"]["workers"] == 2 and manifest["locust"]["processes"] == 3
    assert "--master" in manifest["locust"]["master_command"] and "--worker" in manifest["locust"]["worker_command"]
    assert manifest["exit_code"] == 0 and set(manifest["timings"]) >= {"targets_s", "locust_start_s", "steps_s"}


def aggregated(folder):
    with open(folder / "locust_stats.csv", newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


def test_every_step_keeps_locusts_own_numbers_for_exactly_its_window(tiny_run):
    steps = sorted(tiny_run.glob("steps/*/*/*/step.json"))
    assert len(steps) == 6
    for step_file in steps:
        step = json.loads(step_file.read_text())
        assert step["status"] == "ok", step
        total = aggregated(step_file.parent)
        # What the web UI showed for the window, read from the master once the step stopped.
        web = next(row for row in json.loads((step_file.parent / "locust_web_stats.json").read_text())["stats"] if row["name"] == "Aggregated")
        assert int(total["Request Count"]) == web["num_requests"] == step["locust"]["total_requests"] > 0
        assert int(total["Failure Count"]) == web["num_failures"] == 0
        assert float(total["Requests/s"]) == pytest.approx(web["total_rps"]) == step["locust"]["total_rps"]
        # (Locust clamps its median, not its 50% column, to the fastest response: compare like with like.)
        for column, key in (("Median Response Time", "median_response_time"), ("95%", "response_time_percentile_0.95"),
                            ("99%", "response_time_percentile_0.99")):  # fmt: skip
            assert float(total[column]) == pytest.approx(web[key]), column
        percentiles = [float(total[c]) for c in ("50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%")]
        assert percentiles == sorted(percentiles) and percentiles[-1] > 0  # (a sub-ms median rounds to 0)
        # Exact: the master's window holds what the workers counted between the two flushes,
        # no request of the ramp before it, none lost after it.
        workers = step["locust"]["workers"]
        assert len(workers) == 2 and all(w["requests"] > 0 for w in workers), "both workers carried load"
        assert sum(w["requests"] for w in workers) == int(total["Request Count"])
        window = step["locust"]["window_end"] - step["locust"]["window_start"]
        assert window == pytest.approx(2, abs=0.5)
        assert int(total["Request Count"]) / window == pytest.approx(float(total["Requests/s"]), rel=0.1)
        assert step["server"]["cpu_seconds"] > 0 and step["server"]["peak_rss_mb"] > 10
        assert 0 < step["locust"]["cpu_percent"] <= 110


def test_warmup_runs_before_the_first_window_of_each_target_and_scenario(tiny_run):
    for step_file in tiny_run.glob("steps/*/*/*/step.json"):
        step = json.loads(step_file.read_text())
        assert step["locust"]["warmup_s"] == (1 if step["repeat"] == 1 else 0)
    assert not list(tiny_run.glob("warmup"))


def test_analysis_reads_the_run_and_prints_a_row_per_framework(tiny_run):
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "report", str(tiny_run)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    for scenario in ("json", "validate"):
        assert f"{scenario}: peak per framework" in result.stdout  # the console summary
        assert f"## {scenario}" in (tiny_run / "report" / "tables.md").read_text()
    tidy = [row for row in csv.DictReader(open(tiny_run / "report" / "tidy.csv")) if row["kind"] == "step"]
    assert len(tidy) == 6
    assert {row["framework"] for row in tidy} == {"fastapi", "flask", "django"}
    assert all(float(row["rps"]) > 0 for row in tidy)
    rows = [line.split("|") for line in (tiny_run / "report" / "tables.md").read_text().splitlines() if line.startswith("|")]
    for name in ("fastapi", "flask", "django"):
        assert sum(1 for cells in rows if cells[1].strip() == name) >= 2  # in both scenario tables, at least
