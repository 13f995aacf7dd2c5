"""The framework tax (analysis/tax.py) on known rates, and the profiles (analysis/flames.py,
lab/run/profiling.py): collapsed stacks parsed and grouped by layer, a flame graph drawn, and a
real server profiled with py-spy while wrk loads it."""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import pandas as pd
import pytest
from conftest import ROOT, cannot_test_here, chromium_flags

from analysis import flames, tax
from lab import catalog
from lab.engines.local import LocalTarget
from lab.load import wrk
from lab.run import profiling

# -- the tax -------------------------------------------------------------------------------------


def level(name: str, kind: str, per_cpu: float, low=None, high=None, scenario="json", reference=True, fidelity=1.0) -> dict:
    row = {"kind": kind, "scenario": scenario, "framework": name, "users": 32, "requests_per_cpu_second": per_cpu,
           "requests_per_cpu_second_min": per_cpu, "requests_per_cpu_second_max": per_cpu, "faithful": 0.9 <= fidelity <= 1.1}  # fmt: skip
    if reference:
        row.update(reference_requests_per_cpu_second=per_cpu, reference_requests_per_cpu_second_min=low or per_cpu,
                   reference_requests_per_cpu_second_max=high or per_cpu)  # fmt: skip
    return row


def test_each_rung_pays_its_layer_over_the_rung_below_as_a_share_of_its_own_request():
    levels = pd.DataFrame([level("bare-asgi", "ceiling", 40_000), level("starlette", "step", 20_000, 19_000, 21_000), level("fastapi", "step", 10_000)])
    rows = {r["rung"]: r for r in tax.ladder_rows(levels, "json")}
    assert rows["bare-asgi"]["CPU µs per request"] == pytest.approx(25) and "tax" not in rows["bare-asgi"]
    # Starlette: 50 µs a request, 25 of them its own: half of its request's CPU.
    assert rows["starlette"]["tax"] == pytest.approx(0.5)
    assert rows["fastapi"]["tax"] == pytest.approx(0.5) and rows["fastapi"]["over"] == "starlette"
    # The range crosses the extremes: Starlette between 19,000 and 21,000 req per CPU-second.
    assert rows["fastapi"]["tax_low"] == pytest.approx(1 - 10_000 / 19_000) and rows["fastapi"]["tax_high"] == pytest.approx(1 - 10_000 / 21_000)
    assert tax.sentence(levels, "json").startswith("On json, the most expensive layer is starlette over bare-asgi")
    assert tax.chart(levels, "json").startswith(b"\x89PNG")
    # A ladder of one rung taxes nothing; Litestar's ladder is absent here.
    assert {r["ladder"] for r in rows.values()} == {"Uvicorn (ASGI)"}


def test_elsewhere_the_budgets_numbers_are_used_and_an_unfaithful_target_is_marked_and_not_the_answer():
    levels = pd.DataFrame([level("falcon", "step", 3_000, scenario="validate", reference=False),
                           level("flask", "step", 1_500, scenario="validate", reference=False, fidelity=0.8)])  # fmt: skip
    table = tax.table(levels, "validate")
    assert list(table["rung"]) == ["falcon", "flask‡"]
    assert list(table["from"]) == ["budget (Locust)", "budget (Locust)"]
    assert table["its layer over the rung below"].iloc[0] == "the lowest rung measured here"
    assert tax.sentence(levels, "validate") is None  # the only tax rests on an unfaithful number


# -- collapsed stacks ----------------------------------------------------------------------------

STACKS = """process 41:"gunicorn: worker [app:app]";run (gunicorn/arbiter.py:202);handle (gunicorn/workers/sync.py:140);wsgi_app (flask/app.py:1511);json (app.py:40);dumps (json/__init__.py:231) 30
process 42:"gunicorn: worker [app:app]";run (gunicorn/arbiter.py:202);handle (gunicorn/workers/sync.py:140);wsgi_app (flask/app.py:1511) 50
process 42:"gunicorn: worker
[app:app]";run (gunicorn/arbiter.py:202);accept (socket.py:293) 20
"""


def test_collapsed_stacks_are_merged_across_workers_and_grouped_by_layer():
    profile = flames.parse(STACKS)
    assert profile.samples == 100
    run = profile.root.children["run (gunicorn/arbiter.py)"]
    assert run.samples == 100 and run.layer == "server"  # two workers, one box; line numbers merged
    assert profile.layers() == {"framework": 0.5, "validation and serialisation": 0.3, "standard library": 0.2}
    assert profile.top(2) == [("wsgi_app (flask/app.py)", "framework", 0.5), ("dumps (json/__init__.py)", "validation and serialisation", 0.3)]
    assert flames.layer("bench/views.py") == "app code" and flames.layer("psycopg/cursor.py") == "database driver"
    assert flames.layer("pydantic/main.py") == "validation and serialisation" and flames.layer("numpy/core.py") == flames.OTHER


def test_the_flame_graph_is_one_valid_svg_with_a_box_per_frame_and_names_escaped():
    profile = flames.parse(STACKS + 'process 9:"x";<script>alert(1)</script> (evil.py:1) 5\n')
    drawn = flames.svg(profile, "flask & friends")
    root = ElementTree.fromstring(drawn)  # well-formed XML
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("wsgi_app (flask/app.py): 80 samples") for t in titles)
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn


# -- a real profile ------------------------------------------------------------------------------


def test_a_real_server_is_profiled_while_wrk_loads_it(tmp_path):
    problem = profiling.problem()
    if problem:
        cannot_test_here(f"no profile here: {problem}")
    if not wrk.available():
        cannot_test_here("wrk is not installed (apt-get install wrk)")
    cores = sorted(os.sched_getaffinity(0))
    target = LocalTarget(catalog.services()["bare-asgi"], [cores[0]], tmp_path / "bare-asgi.log")
    target.start()
    try:
        target.wait_healthy()
        with profiling.recording(target.pid(), tmp_path / "stacks.txt") as found:
            time.sleep(0.3)
            wrk.run(target.url + "/json", 16, 2, [cores[-1]])
    finally:
        target.stop()
    assert found["exit_code"] == 0 and "problem" not in found, found
    profile = flames.read(tmp_path / "stacks.txt")
    assert profile.samples > 50
    layers = profile.layers()
    assert layers.get("server", 0) > 0.2, layers  # Uvicorn and httptools do most of a bare app's work


@pytest.mark.e2e
def test_a_profiled_run_links_a_flame_graph_that_renders_in_a_real_browser(tmp_path):
    if profiling.problem():
        cannot_test_here(f"no profile here: {profiling.problem()}")
    command = [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "servers", "--frameworks", "fastapi",
               "--scenarios", "json", "--users", "8", "--duration", "2", "--warmup", "0", "--repeats", "1", "--budget", "0.5",
               "--results", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    step = json.loads((run_dir / "profiles/fastapi/json/u0008/step.json").read_text())
    assert step["kind"] == "profile" and step["status"] == "ok" and step["profile"]["sampler"] == "py-spy", step
    assert (run_dir / "profiles/fastapi/json/u0008/stacks.txt").stat().st_size > 0
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    text = (run_dir / "report" / "report.md").read_text()
    assert "## Where the time goes: CPU profiles" in text and "[fastapi on json](flames/fastapi-json.svg)" in text
    html = (run_dir / "report" / "report.html").read_text()
    assert '<a href="flames/fastapi-json.svg">fastapi on json</a>' in html
    # The flame graph, opened in a real browser: its boxes are there, the server's among them.
    flame = (run_dir / "report" / "flames" / "fastapi-json.svg").resolve()
    dom = subprocess.run([*chromium_flags(tmp_path / "chromium"), "--dump-dom", flame.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<rect") > 5 and "uvicorn" in dom.stdout and "samples" in dom.stdout


def test_where_ptrace_is_not_allowed_the_profile_is_skipped_with_one_line_saying_why(tmp_path, monkeypatch):
    from lab.run import profiling

    yama = tmp_path / "ptrace_scope"
    monkeypatch.setattr(profiling, "YAMA", yama)
    yama.write_text("3\n")
    assert profiling.problem() == "ptrace is disabled on this kernel (Yama ptrace_scope 3)"
    yama.write_text("1\n")
    monkeypatch.setattr(profiling.os, "geteuid", lambda: 1000)
    assert profiling.problem() == "ptrace of another process needs root here (Yama ptrace_scope 1)"
    monkeypatch.setattr(profiling.os, "geteuid", lambda: 0)
    assert profiling.problem() is None
