"""The method checks itself (lab/run/reference.py, lab/engines/filler.py, the live budget of lab/engines/server_cgroup.py):
the fidelity rule on known numbers, a step's bracketed reference, and on a real server: the quota
set and lifted on the same processes, the server's exact CPU from its cgroup, and the idle fillers
at the lowest priority (they take nothing from a server that wants the core).
"""

import os
import subprocess
import sys
import time

import pytest
from conftest import cannot_test_here

from lab import catalog
from lab.engines import cgroups as cpu_quota
from lab.engines.filler import IdleFiller
from lab.engines.local import LocalTarget
from lab.load import wrk
from lab.run import reference
from lab.run.plan import plan_cores
from records.rules import FIDELITY_BAND, faithful, fidelity, requests_per_cpu_second
from records.run import StepRecord

# -- the rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "at_budget, whole, expected, holds",
    [
        (9000, 10000, 0.9, True),
        (11000, 10000, 1.1, True),
        (8900, 10000, 0.89, False),
        (11100, 10000, 1.11, False),
        (None, 10000, None, None),
        (9000, 0, None, None),
        ("9000", 10000, None, None),  # a shared run's record may hold anything
        (True, 10000, None, None),
        (float("nan"), 10000, None, None),
    ],
)
def test_fidelity_is_the_budgets_cost_per_request_over_the_whole_cores(at_budget, whole, expected, holds):
    found = fidelity(at_budget, whole)
    assert found == (pytest.approx(expected) if expected is not None else None)
    assert faithful(found) is holds
    assert FIDELITY_BAND == (0.90, 1.10)


def test_requests_per_cpu_second_are_two_rates_over_the_same_window():
    assert requests_per_cpu_second(3600, 40.0) == pytest.approx(9000)
    assert requests_per_cpu_second(3600, 0) is None and requests_per_cpu_second(None, 40) is None


def side(rps: float, per_cpu: float) -> dict:
    return {"requests_per_s": rps, "requests_per_cpu_s": per_cpu, "cpu_limit": {"method": "none"}}


def test_a_steps_reference_is_the_mean_of_wrk_before_and_after_its_window():
    both = reference.bracket(side(9000, 9100), side(8000, 8100))
    assert (both["requests_per_s"], both["requests_per_cpu_s"]) == (8500, 8600)
    assert both["before"]["requests_per_s"] == 9000 and both["after"]["requests_per_s"] == 8000
    one = reference.bracket(side(9000, 9100), {"problem": "wrk exited 1"})
    assert one["requests_per_cpu_s"] == 9100
    none = reference.bracket({"problem": "no cgroup"}, {"problem": "the step was not measured"})
    assert "requests_per_cpu_s" not in none and none["problem"] == "no cgroup; the step was not measured"


def record(name: str, kind: str, rps: float, cpu_percent: float, whole_per_cpu: float, wrk_per_cpu: float | None = None) -> StepRecord:
    found = StepRecord(name, "json", 32, 1 if kind == "step" else 0, kind=kind, status="ok")
    found.locust = {"total_rps": rps}
    found.server = {"cpu_percent": cpu_percent}
    found.wrk = {"requests_per_cpu_s": wrk_per_cpu} if wrk_per_cpu else None
    found.reference = {"requests_per_s": whole_per_cpu, "requests_per_cpu_s": whole_per_cpu}
    return found


def test_the_manifests_fidelity_is_each_targets_median_over_its_repeats_for_wrk_and_for_locust():
    # wrk at the budget keeps the whole core's cost (0.95-0.99); Locust's figures of the same steps do not.
    steps = [record("fastapi", "step", rps, 40.0, 10_000, wrk_per_cpu=wrk) for rps, wrk in ((3600, 9500), (4000, 9900), (4400, 9700))]
    steps += [record("flask", "step", 1000, 40.0, 3_000, wrk_per_cpu=2_900)]  # Locust: 2,500 per CPU-second, 0.83
    # A bare app's figure at the budget is wrk's: Locust cannot reach it.
    steps += [record("bare-asgi", "ceiling", 7000, 25.0, 30_000, wrk_per_cpu=29_000)]
    # No wrk window at the budget (an older run): wrk's fidelity is not measured, Locust's is.
    steps += [record("django", "step", 1000, 40.0, 2_500)]
    found = reference.summary(steps, 0.4)
    assert found["measured"] and found["budget"] == 0.4 and found["band"] == [0.9, 1.1]
    fastapi, flask, bare, django = (found["targets"][name] for name in ("fastapi", "flask", "bare-asgi", "django"))
    assert fastapi["fidelities"] == [0.9, 1.0, 1.1] and fastapi["fidelity"] == 1.0 and fastapi["faithful"] is True
    assert fastapi["wrk_fidelities"] == [0.95, 0.99, 0.97] and fastapi["wrk_fidelity"] == 0.97 and fastapi["wrk_faithful"] is True
    assert flask["fidelity"] == pytest.approx(0.833, abs=1e-3) and flask["faithful"] is False
    assert flask["wrk_fidelity"] == pytest.approx(0.967, abs=1e-3) and flask["wrk_faithful"] is True
    assert bare["fidelity"] == bare["wrk_fidelity"] == pytest.approx(29 / 30, abs=1e-3)
    assert django["wrk_fidelity"] is None and django["wrk_faithful"] is None and django["fidelity"] == pytest.approx(1.0)
    assert reference.not_measured("wrk is not installed") == {"measured": False, "reason": "wrk is not installed", "targets": {}}


def test_on_a_bigger_machine_the_server_keeps_a_whole_core_and_locust_gets_several():
    assert plan_cores(None, None, [0, 1]) == ([0], [1])
    assert plan_cores(None, None, [0, 1, 2]) == ([0], [1])
    assert plan_cores(None, None, [0, 1, 2, 3]) == ([0], [1, 2])
    assert plan_cores(None, None, list(range(8))) == ([0], [1, 2, 3, 4, 5, 6])
    assert plan_cores([2], None, list(range(4))) == ([2], [0, 1])


# -- a real server ------------------------------------------------------------------------------


def cgroups_or_skip():
    route = cpu_quota.find_route()
    if isinstance(route, str):
        cannot_test_here(f"no cgroup can be made here: {route}")
    return route


@pytest.fixture(scope="module")
def bare_asgi(tmp_path_factory):
    """The bare ASGI app on one core, in its own cgroup, at its whole core."""
    cgroups_or_skip()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: one for the server, one for wrk")
    target = LocalTarget(catalog.services()["bare-asgi"], [cores[0]], tmp_path_factory.mktemp("logs") / "bare-asgi.log")
    target.start()
    try:
        target.wait_healthy()
        yield target, cores
    finally:
        target.stop()


def test_the_budget_is_set_and_lifted_on_the_running_server_and_its_cpu_read_exactly(bare_asgi):
    if not wrk.available():
        cannot_test_here("wrk is not installed (apt-get install wrk)")
    target, cores = bare_asgi
    pid, workers = target.process.pid, target.describe()["workers"]
    held = target.limit(0.3)
    assert held["cpus"] == 0.3 and held["period_us"] == cpu_quota.PERIOD_US and held["quota_us"] == 30_000
    capped = wrk.run(target.url + "/json", 16, 2, [cores[-1]], cpu=target.cpu_seconds)
    free_limit = target.limit(None)
    free = wrk.run(target.url + "/json", 16, 2, [cores[-1]], cpu=target.cpu_seconds)
    assert free_limit["quota"] == "none"
    # The same processes either side: a budget changes the CPU they get, not what runs.
    assert target.process.pid == pid and target.describe()["workers"] == workers
    # The cgroup's accounting (exact): the quota held the server near 0.3 core; lifted, it used more.
    assert 0.2 <= capped["server_cpu_s"] / 2 <= 0.36, capped
    assert free["server_cpu_s"] / 2 > 0.5, free
    assert capped["requests_per_cpu_s"] > 0 and free["requests_per_cpu_s"] > 0


def busy_share(core: int, seconds: float) -> float:
    """The share of a core a plain busy loop pinned there gets over `seconds` (in a session of its own: an autogroup)."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=lambda: os.sched_setaffinity(0, {core}),
                           start_new_session=True)  # fmt: skip
    try:
        time.sleep(0.5)
        before = time.monotonic(), _cpu(hog.pid)
        time.sleep(seconds)
        return (_cpu(hog.pid) - before[1]) / (time.monotonic() - before[0])
    finally:
        hog.kill()
        hog.wait()


def _cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def test_idle_fillers_take_nothing_from_a_process_that_wants_the_core_and_fill_the_rest(tmp_path):
    cgroups_or_skip()
    cores = sorted(os.sched_getaffinity(0))
    with IdleFiller([cores[0]], tmp_path) as filler:
        assert filler.describe()["how"].startswith("a busy loop per core, SCHED_IDLE, each in a cgroup of the lowest CPU weight")
        time.sleep(0.5)
        alone = _cpu(filler.pids[0])
        time.sleep(1.0)
        # Nothing else on the core: the filler has it.
        assert _cpu(filler.pids[0]) - alone > 0.6
        # A process in a session of its own (an autogroup at the default weight) gets nearly the whole core beside it.
        assert busy_share(cores[0], 2.0) > 0.9
        filler.pause()
        paused = _cpu(filler.pids[0])
        time.sleep(0.5)
        assert _cpu(filler.pids[0]) - paused < 0.02
        filler.resume()
        pids = list(filler.pids)
    # Gone afterwards, its cgroups too.
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    route = cpu_quota.find_route()
    if route.parent is not None:
        assert not list(route.parent.glob(f"{cpu_quota.PREFIX}.{os.getpid()}.filler*"))


def test_the_whole_core_reference_lifts_the_budget_and_sets_it_again(bare_asgi, tmp_path):
    if not wrk.available():
        cannot_test_here("wrk is not installed (apt-get install wrk)")
    target, cores = bare_asgi
    target.limit(0.4)
    with IdleFiller([cores[0]], tmp_path) as filler:
        found = reference.measure(target, "/json", 16, 2, [cores[-1]], 0.4, filler)
    assert found["cpu_limit"]["quota"] == "none" and found["requests_per_cpu_s"] > 0
    # Lifted for wrk, the server used more than its budget; the budget is back for the window that follows.
    assert found["server_cpu_s"] / 2 > 0.5, found
    assert target.cpu_limit()["cpus"] == 0.4
    target.limit(None)
