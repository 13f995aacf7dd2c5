"""The runner's rules on a fake engine (tests/support/fake_engine.py): in seconds, no servers.

What is checked here is the sequencing around the real things: which steps are skipped and
why, one warm-up per (target, scenario), ceilings first, a lost Locust worker, a target that
dies, Ctrl-C, and the run's status and exit code. The real engines, servers and Locust are
exercised end to end in test_e2e_local.py, test_docker_e2e.py and test_faults.py.
"""

import json

import pytest
from support.fake_engine import FakeEngine, FakeGate, Script

from lab.errors import LabError
from lab.run.bench import EXIT_CODES, Bench
from lab.run.plan import Options


def run(tmp_path, script: Script, **options) -> tuple[dict, dict]:
    """A run on the fake engine; its manifest and its step records by (framework, scenario, users, repeat)."""
    defaults = dict(profile="quick", engine="local", results=tmp_path, scenarios="json,db", users="8", repeats=2, warmup=2, duration=3)
    bench = Bench(Options(**{**defaults, **options}), engine_factory=lambda name, run_dir, settings: FakeEngine(run_dir, script),
                  gate=FakeGate(script))  # fmt: skip
    try:
        run_dir, _status = bench.run()
    except KeyboardInterrupt:
        (run_dir,) = tmp_path.iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    steps = {}
    for path in run_dir.glob("*/*/*/*/step.json"):
        record = json.loads(path.read_text())
        steps[(record["kind"], record["framework"], record["scenario"], record["users"], record["repeat"])] = record
    return manifest, steps


def windows(script: Script) -> list[tuple]:
    return [call[1:] for call in script.calls if call[0] == "window"]


def test_a_clean_run_measures_every_step_after_the_ceilings_and_is_complete(tmp_path):
    script = Script()
    manifest, steps = run(tmp_path, script)
    measured = [key for key, record in steps.items() if key[0] == "step" and record["status"] == "ok"]
    assert len(measured) == 3 * 2 * 2  # frameworks x scenarios x repeats
    assert manifest["status"] == "complete" and manifest["exit_code"] == EXIT_CODES["complete"] == 0
    # Ceilings first: each server's bare app, at the highest level, on json only (db has none).
    targets_in_order = [window[0] for window in windows(script)]
    assert targets_in_order[:2] == ["bare-asgi", "bare-wsgi"]
    assert {key[1] for key in steps if key[0] == "ceiling"} == {"bare-asgi", "bare-wsgi"}
    # One Locust for the run: started once, stopped once, after the last window.
    assert script.calls.count(("locust", "start")) == 1 and script.calls.count(("locust", "stop")) == 1
    last_window = max(i for i, call in enumerate(script.calls) if call[0] == "window")
    assert script.calls.index(("locust", "stop")) > last_window and script.calls[-1] == ("engine", "close")
    assert manifest["manifest_version"] == 2 and set(manifest["timings"]) >= {"setup_s", "targets_s", "steps_s"}


def test_warm_up_runs_once_per_target_and_scenario_before_its_first_window(tmp_path):
    script = Script()
    run(tmp_path, script)
    seen: dict[tuple, list[float]] = {}
    for target, user_class, _users, warmup in windows(script):
        seen.setdefault((target, user_class), []).append(warmup)
    assert seen[("fastapi", "JsonUser")] == [2, 0]  # two repeats: the first warmed, the second not
    assert all(warmups[0] == 2 and not any(warmups[1:]) for warmups in seen.values())


def test_no_warm_up_and_no_ceilings_when_the_profile_says_so(tmp_path):
    script = Script()
    manifest, steps = run(tmp_path, script, profile="smoke", scenarios="json", warmup=0, repeats=1)
    assert not [key for key in steps if key[0] == "ceiling"]
    assert all(window[3] == 0 for window in windows(script))
    assert manifest["baselines"] == {}


def test_a_target_that_does_not_start_or_fails_the_contract_is_skipped_with_its_reason(tmp_path):
    script = Script(fails_to_start={"flask"}, fails_contract={"django"})
    manifest, steps = run(tmp_path, script)
    for key, record in steps.items():
        if key[1] == "flask":
            assert record["status"] == "skipped" and "server exited (code 1)" in record["reason"]
        elif key[1] == "django":
            assert record["status"] == "skipped" and "fails the endpoint contract" in record["reason"]
        else:
            assert record["status"] == "ok"
    assert not {w[0] for w in windows(script)} & {"flask", "django"}, "a skipped target is never loaded"
    assert manifest["status"] == "partial" and manifest["exit_code"] == 3
    assert set(manifest["unavailable"]) == {"flask", "django"}


def test_database_down_for_a_target_skips_only_its_database_steps(tmp_path):
    script = Script(no_database={"fastapi"})
    _manifest, steps = run(tmp_path, script)
    assert steps[("step", "fastapi", "db", 8, 1)]["status"] == "skipped"
    assert "database unavailable for fastapi" in steps[("step", "fastapi", "db", 8, 1)]["reason"]
    assert steps[("step", "fastapi", "json", 8, 1)]["status"] == "ok"
    assert steps[("step", "flask", "db", 8, 1)]["status"] == "ok"


def test_a_lost_worker_fails_that_step_with_the_reason_and_the_next_step_gets_its_workers_back(tmp_path):
    script = Script(worker_lost_in_window=4)  # two ceilings, then the 2nd step
    manifest, steps = run(tmp_path, script, scenarios="json", repeats=1)
    lost = steps[("step", "flask", "json", 8, 1)]
    assert lost["status"] == "failed" and "Locust worker w1 was lost" in lost["reason"]
    assert steps[("step", "django", "json", 8, 1)]["status"] == "ok"
    # Before every window the engine replaces workers that exited.
    assert script.calls.count(("locust", "ensure_workers")) == len(windows(script))
    assert manifest["status"] == "partial"


def test_a_target_that_dies_in_a_step_fails_it_and_its_later_steps_are_skipped(tmp_path):
    script = Script(dies_in_window={"flask": 1})
    _manifest, steps = run(tmp_path, script)
    assert steps[("step", "flask", "json", 8, 1)]["status"] == "failed"
    assert "during the step" in steps[("step", "flask", "json", 8, 1)]["reason"]
    assert steps[("step", "flask", "db", 8, 1)]["status"] == "skipped"
    assert steps[("step", "django", "db", 8, 2)]["status"] == "ok"


def test_ctrl_c_keeps_the_finished_steps_stops_everything_and_says_interrupted(tmp_path):
    script = Script(interrupt_in_window=5)
    manifest, steps = run(tmp_path, script, scenarios="json", repeats=2)
    assert manifest["status"] == "interrupted" and manifest["exit_code"] == 130
    assert len([r for r in steps.values() if r["kind"] == "step" and r["status"] == "ok"]) == 2
    started = {call[1] for call in script.calls if call[0] == "start"}
    stopped = {call[1] for call in script.calls if call[0] == "stop"}
    assert started == stopped, "every target started is stopped"
    assert ("locust", "stop") in script.calls and script.calls[-1] == ("engine", "close")


def test_a_run_that_measured_nothing_says_so_and_exits_non_zero(tmp_path):
    script = Script(fails_to_start={"fastapi", "flask", "django"})
    manifest, steps = run(tmp_path, script, scenarios="json", repeats=1)
    assert manifest["status"] == "empty" and manifest["exit_code"] == 1
    assert all(r["status"] == "skipped" for r in steps.values() if r["kind"] == "step")


@pytest.mark.parametrize("kind", ["step", "ceiling"])
def test_every_record_is_versioned_and_read_back_through_the_records_module(tmp_path, kind):
    from records import run as records

    run(tmp_path, Script(), scenarios="json", repeats=1)
    (run_dir,) = tmp_path.iterdir()
    manifest = records.read_manifest(run_dir / "manifest.json")
    assert manifest.manifest_version == records.MANIFEST_VERSION
    folder = "steps" if kind == "step" else "ceiling"
    for path in run_dir.glob(f"{folder}/*/*/*/step.json"):
        record = records.read_step(path)
        assert record.kind == kind and record.step_version == records.STEP_VERSION


def test_what_a_killed_run_left_is_swept_first_and_said(tmp_path, capsys):
    script = Script(sweep=["removed 2 container(s) left running by run 20261125-010203-quick-docker, whose runner was killed"])
    manifest, _ = run(tmp_path, script, scenarios="json", repeats=1)
    assert script.calls[0] == ("engine", "sweep") and manifest["status"] == "complete"
    assert "removed 2 container(s) left running by run 20261125-010203-quick-docker" in " ".join(capsys.readouterr().out.split())


def test_a_sweep_refused_because_another_run_is_live_closes_nothing_and_leaves_no_folder(tmp_path):
    script = Script(sweep="run 20261125-030405-quick-docker is still using the lab's containers")
    bench = Bench(Options(profile="quick", engine="local", results=tmp_path, scenarios="json"),
                  engine_factory=lambda name, run_dir, settings: FakeEngine(run_dir, script), gate=FakeGate(script))  # fmt: skip
    with pytest.raises(LabError, match="still using the lab's containers"):
        bench.run()
    # Closing the engine would take down the live run's containers.
    assert script.calls == [("engine", "sweep")]
    assert list(tmp_path.iterdir()) == []
