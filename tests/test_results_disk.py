"""A results disk that is read-only, nearly full, or fills up during a run: one clear line, never a
traceback, and a manifest that says how the run ended (never left "running").

Real file systems: a small tmpfs mounted for each test (needs root; CI runs as root).
"""

import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT, cannot_test_here, processes_logging_under

pytestmark = pytest.mark.e2e


@contextmanager
def tmpfs(path: Path, size: str):
    if os.geteuid() != 0:
        cannot_test_here("mounting a small tmpfs as the results disk needs root")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "lab-results-test", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def bench(results: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi",
               "--warmup", "0", "--results", str(results), *args]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def one_line_error(output: str) -> str:
    """The one error the run printed (rich wraps it at the terminal's width: joined again)."""
    assert "Traceback" not in output, output[-3000:]
    assert output.count("error:") == 1, output[-3000:]
    text = " ".join(output.split())
    return text[text.index("error:") :]


def test_a_read_only_results_disk_is_refused_before_anything_starts(tmp_path):
    with tmpfs(tmp_path / "disk", "64m") as disk:
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        process = bench(disk)
        output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert one_line_error(output).startswith(f"error: cannot create a run folder in {disk}: Read-only file system (pass --results <folder>")
    assert processes_logging_under(tmp_path) == []


def test_a_nearly_full_results_disk_is_refused_before_anything_starts(tmp_path):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        process = bench(disk)
        output, _ = process.communicate(timeout=120)
        assert list(disk.iterdir()) == []  # no run folder, no reserve
    assert process.returncode == 2, output
    assert "has 8 MB free; a run needs 50 MB" in one_line_error(output)


def test_a_disk_that_fills_up_during_the_run_fails_it_in_one_line_and_records_why(tmp_path):
    with tmpfs(tmp_path / "disk", "60m") as disk:
        process = bench(disk, "--users", "4", "--duration", "4", "--repeats", "3")
        try:
            # Once the first step has been measured, something else takes every free byte.
            deadline = time.monotonic() + 300
            while not list(disk.glob("*/steps/*/*/*/step.json")):
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-3000:]
                time.sleep(0.2)
            with open(disk / "filler", "wb") as filler:
                try:
                    while True:
                        filler.write(b"\0" * 2**20)
                        filler.flush()
                except OSError:
                    pass
            output, _ = process.communicate(timeout=300)
        finally:
            process.kill()
        (run_dir,) = [p for p in disk.iterdir() if p.is_dir()]
        manifest = json.loads((run_dir / "manifest.json").read_text())
        leftovers = [p.name for p in disk.iterdir() if p.name.startswith(".reserve")]
    assert process.returncode == 2, output[-3000:]
    assert "cannot write the results: No space left on device" in one_line_error(output)
    assert manifest["status"] == "failed" and manifest["exit_code"] == 2
    assert manifest["reason"].startswith("cannot write the results: No space left on device")
    assert leftovers == []
    assert processes_logging_under(tmp_path) == []
