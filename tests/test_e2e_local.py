"""A real run of a tiny matrix: real servers, the real runner, real Locust, then the analysis."""

import csv
import json
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
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
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


def test_every_step_kept_locust_final_numbers(tiny_run):
    steps = sorted(tiny_run.glob("steps/*/*/*/step.json"))
    assert len(steps) == 6
    for step_file in steps:
        step = json.loads(step_file.read_text())
        assert step["status"] == "ok", step
        with open(step_file.parent / "locust_stats.csv", newline="") as handle:
            total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
        final = json.loads((step_file.parent / "locust_final.json").read_text())
        # The CSV equals Locust's final in-memory numbers (not a second-old snapshot).
        assert int(total["Request Count"]) == final["total_requests"] > 0
        assert float(total["Requests/s"]) == pytest.approx(final["total_rps"])
        assert int(total["Failure Count"]) == 0
        assert step["server"]["cpu_seconds"] > 0 and step["server"]["peak_rss_mb"] > 10
        assert 0 < step["locust"]["cpu_percent"] <= 110


def test_warmup_is_thrown_away(tiny_run):
    assert not list(tiny_run.glob("warmup/**/*.csv"))
    assert not list(tiny_run.glob("steps/**/warmup*"))


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
