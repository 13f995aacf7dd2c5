"""The generator-bound flag as the analysis applies it to a run (analysis/tidy.py): constructed
run folders, real files, read the way a shared run is read. The rules themselves are
table-tested in tests/test_stats.py; here, what each row is compared with."""

from analysis.tidy import tidy
from records import run as records
from records.run import Manifest, StepRecord


def stats_csv(rps: float) -> str:
    requests = int(rps * 5)
    row = f"{requests},0,3,3.3,1.7,31.6,29.0,{rps},0.0,3,3,4,4,4,4,5,5,32,32,32"
    return (
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,"
        "Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        f"GET,/json,{row}\n,Aggregated,{row}\n"
    )


def write_step(run, name, rps, *, repeat=1, kind="step", workers=(40.0,), cores_cpu=None, busy=None, server_cpu=40.0, cpus=0.4, wrk=None):
    record = StepRecord(name, "json", 32, 0 if kind == "ceiling" else repeat, kind=kind, status="ok")
    record.locust = {
        "cpu_percent": max(workers), "demand_percent": max(workers), "window_start": 0, "window_end": 5,
        "cores": [1], "processes": {"cpu_percent": cores_cpu if cores_cpu is not None else sum(workers)},
    }  # fmt: skip
    if busy is not None:
        record.noise = {"window_s": 5.0, "busy_source": "cpuidle", "roles": {"locust": {"busy_cpu_s": busy / 20 - 0.5, "irq_cpu_s": 0.5}}}
    record.server = {"cpu_percent": server_cpu, "cpus": cpus, "cpu_seconds": server_cpu / 20}
    record.wrk = {"requests_per_s": wrk} if wrk else None
    folder = run / ("ceiling" if kind == "ceiling" else "steps") / name / "json" / (f"u0032-r{repeat}" if kind == "step" else "u0032")
    records.write(folder / "step.json", record)
    (folder / "locust_stats.csv").write_text(stats_csv(rps))


def run_folder(tmp_path, short=None):
    run = tmp_path / "20261125-000000-quick-docker"
    targets = {"fastapi": {"baseline": "bare-asgi"}, "flask": {"baseline": "bare-wsgi"}}
    manifest = Manifest(run.name, status="complete", engine="docker", targets=targets,
                        matrix={"frameworks": ["fastapi", "flask"], "scenarios": ["json"], "users": [32], "repeats": 2},
                        budget={"mode": "auto", "cpus": 0.4, "short": short or {}})  # fmt: skip
    records.write(run / "manifest.json", manifest)
    return run


def row(frame, name, repeat=1, kind="step"):
    return frame[(frame["framework"] == name) & (frame["repeat"] == repeat) & (frame["kind"] == kind)].iloc[0]


def test_two_workers_sharing_one_core_are_a_full_core_though_neither_is_busy(tmp_path):
    """The docker smoke run of the issue: two workers at 47% each on one core, no flag before."""
    run = run_folder(tmp_path)
    write_step(run, "flask", 1000, workers=(47.0, 47.0), cores_cpu=96.0)
    write_step(run, "fastapi", 3000, workers=(47.0,), cores_cpu=50.0)
    frame = tidy(run)
    assert row(frame, "flask")["generator_bound"] and row(frame, "flask")["generator_reason"] == "Locust's cores 96% busy (limit 90%)"
    assert not row(frame, "fastapi")["generator_bound"]


def test_a_core_full_of_other_work_counts_interrupts_included(tmp_path):
    run = run_folder(tmp_path)
    write_step(run, "flask", 1000, workers=(50.0,), busy=92.0)  # Locust at 50%, the core 92% busy
    write_step(run, "fastapi", 3000, workers=(50.0,), busy=70.0)
    frame = tidy(run)
    assert row(frame, "flask")["generator_reason"] == "Locust's cores 92% busy (limit 90%)"
    assert row(frame, "fastapi")["locust_cores_busy_percent"] == 70.0 and not row(frame, "fastapi")["generator_bound"]


def test_each_framework_is_held_to_locusts_ceiling_on_its_own_server(tmp_path):
    """Keep-alive (Uvicorn) and a connection per request (Gunicorn) cost Locust differently."""
    run = run_folder(tmp_path)
    write_step(run, "bare-asgi", 7000, kind="ceiling", workers=(99.0,), wrk=12000)
    write_step(run, "bare-wsgi", 2000, kind="ceiling", workers=(80.0,), wrk=2100)
    write_step(run, "fastapi", 3500)
    write_step(run, "flask", 1900)  # within 10% of Locust's 2,000 on Gunicorn; far below its 7,000 on Uvicorn
    frame = tidy(run)
    assert not row(frame, "fastapi")["generator_bound"]
    assert row(frame, "flask")["generator_ceiling_rps"] == 2000 and row(frame, "flask")["generator_bound"]
    # A ceiling measured by Locust alone is Locust's limit; with wrk beside it, it is the server's.
    assert row(frame, "bare-asgi", 0, "ceiling")["generator_bound"]  # Locust's cores 99% busy
    assert not row(frame, "bare-wsgi", 0, "ceiling")["generator_bound"]


def test_a_ceiling_without_wrk_is_generator_bound(tmp_path):
    run = run_folder(tmp_path)
    write_step(run, "bare-wsgi", 2000, kind="ceiling", workers=(60.0,))
    assert row(tidy(run), "bare-wsgi", 0, "ceiling")["generator_reason"] == "no wrk: Locust cannot reach a bare app's ceiling"


def test_wrk_on_one_repeat_judges_every_repeat_of_that_level_unless_the_server_was_saturated(tmp_path):
    run = run_folder(tmp_path)
    write_step(run, "fastapi", 2000, repeat=1, server_cpu=30.0, wrk=3000)
    write_step(run, "fastapi", 2100, repeat=2, server_cpu=30.0)
    write_step(run, "flask", 700, repeat=1, server_cpu=39.5, wrk=1000)  # used its whole 0.4 core: the server's pace
    frame = tidy(run)
    for repeat in (1, 2):
        assert row(frame, "fastapi", repeat)["wrk_rps"] == 3000 and row(frame, "fastapi", repeat)["generator_bound"]
    assert row(frame, "fastapi", 2)["generator_reason"] == "Locust got 0.70 of wrk's 3,000 req/s on the same target (limit 0.85)"
    assert not row(frame, "flask")["generator_bound"]


def test_calibration_short_of_headroom_flags_that_target_on_the_probed_scenario(tmp_path):
    run = run_folder(tmp_path, short={"flask": ["json"]})
    write_step(run, "flask", 700)
    write_step(run, "fastapi", 3000)
    frame = tidy(run)
    assert row(frame, "flask")["generator_reason"].startswith("calibration:")
    assert not row(frame, "fastapi")["generator_bound"]
