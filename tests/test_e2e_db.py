"""The database scenarios through the real runner: a /db run the analysis reads, and a run
whose database is down, which skips the database steps with a reason and still measures the rest."""

import csv
import json
import os
import subprocess
import sys

import pytest
from conftest import CLOSED_DATABASE_URL, ROOT

pytestmark = pytest.mark.e2e


def bench(results, scenarios: str, env: dict | None = None, exit_code: int = 0):
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--scenarios", scenarios,
        "--users", "4", "--duration", "2", "--warmup", "1", "--results", str(results),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})
    assert result.returncode == exit_code, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir, result.stdout


def steps(run_dir) -> dict[tuple[str, str], dict]:
    records = (json.loads(path.read_text()) for path in run_dir.glob("steps/*/*/*/step.json"))
    return {(record["framework"], record["scenario"]): record for record in records}


@pytest.fixture(scope="module")
def db_run(tmp_path_factory):
    return bench(tmp_path_factory.mktemp("results"), "db")[0]


@pytest.fixture(scope="module")
def db_down_run(tmp_path_factory):
    # The runner's own DATABASE_URL names a server that is down.
    server = CLOSED_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    return bench(tmp_path_factory.mktemp("results"), "json,db", {"DATABASE_URL": server}, exit_code=3)


def test_db_run_records_the_database_and_each_pool(db_run):
    manifest = json.loads((db_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    db = manifest["database"]
    assert db["available"] is True and db["url"].endswith("/lab_bench")
    assert db["server_version"] and db["max_connections"] and db["shared_buffers"]
    for name, pool in (("fastapi", 10), ("flask", 1), ("django", 1)):
        target = manifest["targets"][name]
        assert target["env"]["DATABASE_URL"] == db["url"]
        assert target["database"] == {"available": True, "pool_size": pool, "connections": pool * target["workers"]}


def test_db_steps_are_measured_without_failures(db_run):
    records = steps(db_run)
    assert set(records) == {(name, "db") for name in ("fastapi", "flask", "django")}
    for record in records.values():
        assert record["status"] == "ok", record
        with open(db_run / "steps" / record["framework"] / "db" / "u0004-r1" / "locust_stats.csv", newline="") as handle:
            total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
        assert int(total["Request Count"]) > 0 and int(total["Failure Count"]) == 0


def test_analysis_reads_the_db_run(db_run):
    command = [sys.executable, "-m", "analysis", "report", str(db_run)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "## db" in (db_run / "report" / "tables.md").read_text()
    tidy = [row for row in csv.DictReader(open(db_run / "report" / "tidy.csv")) if row["scenario"] == "db"]
    assert sorted(row["framework"] for row in tidy) == ["django", "fastapi", "flask"]
    assert all(float(row["rps"]) > 0 for row in tidy)


def test_database_down_skips_db_steps_with_a_reason_and_measures_json(db_down_run):
    run_dir, output = db_down_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    # Partial (exit 3): the database steps were skipped.
    assert manifest["status"] == "partial" and manifest["exit_code"] == 3
    assert manifest["database"]["available"] is False
    assert "127.0.0.1:1" in manifest["database"]["reason"]
    records = steps(run_dir)
    for name in ("fastapi", "flask", "django"):
        # The target is up and measured; only its database is missing, and the run says so per target.
        assert manifest["targets"][name]["database"]["available"] is False
        assert f"{name}: database unavailable" in " ".join(output.split())
        assert records[(name, "json")]["status"] == "ok"
        skipped = records[(name, "db")]
        assert skipped["status"] == "skipped"
        assert skipped["reason"].startswith(f"database unavailable for {name}: database unavailable: ")
        assert "refused" in skipped["reason"].lower()
    assert not list(run_dir.glob("steps/*/db/*/locust_stats.csv")), "no numbers are recorded for a skipped step"
