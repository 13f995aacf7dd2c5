"""The server CPU budget (--server-cpus / SERVER_CPUS): refused when it cannot be, each server's
worker formula at a fraction, and a fractional budget that really caps a real server's CPU
through a real cgroup, which is gone afterwards, and the contract's time limits stretched to match."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal

import pytest
from conftest import DOCKER_ENV, ROOT

from lab.contract import client, conformance
from lab.engines import cgroups as cpu_quota
from lab.errors import LabError
from lab.run.plan import Options, make_plan

sys.path.insert(0, str(ROOT / "services" / "common"))
import workers  # noqa: E402  services/common/workers.py, what every start.sh runs

LAB = [sys.executable, "-m", "lab"]


# -- the option ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, cores, expected",
    [(None, "0", 1.0), ("0.5", "0", 0.5), (".25", "0", 0.25), ("1", "0", 1.0), (" 0.5 ", "0", 0.5), ("1.5", "0-1", 1.5), ("2", "0-1", 2.0), ("0.1", "0", 0.1)],
)
def test_a_budget_is_a_positive_number_of_cores_defaulting_to_the_server_cores(given, cores, expected):
    plan = make_plan(Options(server_cpus=given, server_cores=cores, locust_cores="2"), usable=[0, 1, 2])
    assert plan.server_cpus == expected


@pytest.mark.parametrize(
    "given, cores, says",
    [
        ("3", "0", "server budget 3 cores is more than the 1 server core (SERVER_CORES=0); use at most 1, or give more cores"),
        ("2.5", "0-1", "server budget 2.5 cores is more than the 2 server cores (SERVER_CORES=0,1); use at most 2, or give more cores"),
        ("0", "0", "server budget 0 cores leaves the server no CPU; use auto, all, or a number from 0.1 to 1, e.g. 0.5 or 1"),
        ("0.0", "0", "leaves the server no CPU"),
        ("-1", "0", "server budget '-1' is not a number of cores; use auto, all, or a number from 0.1 to 1"),
        ("half", "0", "server budget 'half' is not a number of cores"),
        ("nan", "0", "'nan' is not a number of cores"),
        ("inf", "0", "'inf' is not a number of cores"),
        ("1e0", "0", "'1e0' is not a number of cores"),
        ("1_0", "0-1", "'1_0' is not a number of cores; use auto, all, or a number from 0.1 to 2"),
        ("0.05", "0", "server budget 0.05 cores is below 0.1, the smallest budget the lab holds a server to"),
    ],
)
def test_a_bad_budget_is_refused_with_what_works_here(given, cores, says):
    with pytest.raises(LabError) as refused:
        make_plan(Options(server_cpus=given, server_cores=cores, locust_cores="2"), usable=[0, 1, 2])
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_the_command_line_refuses_a_bad_budget_in_one_line_before_anything_runs(tmp_path):
    done = subprocess.run([*LAB, "bench", "--engine", "local", "--server-cpus", "2", "--results", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "400"})  # fmt: skip
    assert done.returncode == 2
    assert "error: server budget 2 cores is more than the 1 server core (SERVER_CORES=0); use at most 1" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr and not any(tmp_path.iterdir())


# -- worker counts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server, cpus, expected",
    [("uvicorn", "0.5", 1), ("uvicorn", "0.1", 1), ("uvicorn", "1", 1), ("uvicorn", "1.5", 2), ("uvicorn", "2", 2),
     ("gunicorn", "0.5", 2), ("gunicorn", "0.3", 2), ("gunicorn", "1", 3), ("gunicorn", "1.5", 4), ("gunicorn", "2", 5),
     ("gunicorn", "0.7", 3)],
)  # fmt: skip
def test_each_servers_formula_is_rounded_up_at_a_fraction(server, cpus, expected):
    assert workers.workers(server, cpus) == expected
    # The exact decimal, not a float: 2 x 1.1 + 1 is 3.2, so 4, with no float error either way.
    assert workers.workers("gunicorn", "1.1") == 4 and workers.workers("uvicorn", str(Decimal("3"))) == 3


@pytest.mark.parametrize("name", ["fastapi", "flask", "django", "bare-asgi", "bare-wsgi"])
def test_start_sh_refuses_a_budget_that_is_no_number_instead_of_starting(name):
    venv = ROOT / ".venv" / "services" / name / "bin"
    env = {**os.environ, "PATH": f"{venv}{os.pathsep}{os.environ['PATH']}", "CPUS": "lots", "PORT": "1", "HOST": "127.0.0.1"}
    done = subprocess.run([str(ROOT / "services" / name / "start.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "CPUS='lots': expected a positive number of cores" in done.stderr


# -- where no quota can be set ------------------------------------------------------------

# This machine's cgroups made read-only in a mount namespace of the test's own: no route is left.
READ_ONLY_CGROUPS = "mount -o remount,bind,ro /sys/fs/cgroup/cpu 2>/dev/null; mount -o remount,bind,ro /sys/fs/cgroup/unified 2>/dev/null; exec \"$@\""


def without_cgroups(*command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    if os.geteuid() != 0:
        pytest.skip("needs root to make the cgroups read-only in a mount namespace")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_CGROUPS, "sh", *command],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "1000"})  # fmt: skip


def test_a_fraction_is_refused_where_no_cpu_quota_can_be_set_saying_why_and_what_works(tmp_path):
    done = without_cgroups(*LAB, "bench", "--engine", "local", "--server-cpus", "0.5", "--results", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.strip()]
    assert line.startswith("error: server budget 0.5 cores needs a CPU quota, and none can be set here (")
    assert "cannot make a cgroup in /sys/fs/cgroup/cpu (Read-only file system)" in line
    assert "use whole cores (SERVER_CPUS=1) or ENGINE=docker" in line
    assert not any(tmp_path.iterdir())


def test_whole_cores_need_no_quota_where_none_can_be_set(tmp_path):
    probe = "from lab.run.bench import Bench; from lab.run.plan import Options; import json; print(json.dumps(Bench(Options(engine='local', server_cpus='1')).cpu_limit))"
    done = without_cgroups(sys.executable, "-c", probe)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["method"] == "none"


@pytest.mark.e2e
def test_without_cgroups_a_run_says_in_one_line_that_fidelity_was_not_measured_and_judges_no_ratio(tmp_path):
    done = without_cgroups(*LAB, "bench", "--engine", "local", "--profile", "quick", "--server-cpus", "1", "--frameworks", "fastapi,flask",
                           "--scenarios", "json", "--users", "8", "--duration", "2", "--warmup", "0", "--repeats", "1", "--results", str(tmp_path),
                           timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if "fidelity not measured" in line]
    assert "the servers' CPU cannot be read from their cgroups here (" in line and "Read-only file system" in line
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["fidelity"]["measured"] is False and "cgroups" in manifest["fidelity"]["reason"]
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    text = (run_dir / "report" / "report.md").read_text()
    assert "**Fidelity not measured**: the servers' CPU cannot be read from their cgroups here" in text
    # No ratio "holds": on a whole core Locust is the limit here, so generator-bound comes first (the rules: test_claims.py).
    row = text.split("| 1/2 ", 1)[1].splitlines()[0]
    assert "inconclusive: " in row and "holds" not in row


def test_an_empty_cgroup_left_by_a_runner_that_was_killed_is_removed_by_the_next():
    route = cpu_quota.find_route()
    if isinstance(route, str) or route.parent is None:
        pytest.skip(f"no cgroup directory route here: {route}")
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = route.parent / f"{cpu_quota.PREFIX}.{dead.pid}.fastapi"
    left.mkdir()
    try:
        cpu_quota.route_for(0.5, [0])
        assert not left.exists()
    finally:
        if left.exists():
            left.rmdir()


# -- a real server, capped ----------------------------------------------------------------


def ours(pid: int) -> list:
    """The cgroups a runner with this pid made (and should have removed)."""
    route = cpu_quota.find_route()
    return [] if isinstance(route, str) or route.parent is None else sorted(route.parent.glob(f"{cpu_quota.PREFIX}.{pid}.*"))


def bench(results, *options: str) -> tuple[subprocess.Popen, str]:
    command = [*LAB, "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi", "--scenarios", "cpu",
               "--users", "8", "--duration", "4", "--warmup", "1", "--repeats", "1", "--results", str(results), *options]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return process, process.communicate(timeout=300)[0]


@pytest.fixture(scope="module")
def capped_and_free(tmp_path_factory):
    """The same CPU-bound run twice: at 0.5 core (a quota), and at the server's whole core."""
    route = cpu_quota.find_route()
    if isinstance(route, str):
        pytest.skip(f"no CPU quota can be set here: {route}")
    runs = {}
    for name, options in (("capped", ("--server-cpus", "0.5")), ("free", ())):
        results = tmp_path_factory.mktemp(name)
        process, output = bench(results, *options)
        assert process.returncode == 0, output[-3000:]
        (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
        (step,) = run_dir.glob("steps/fastapi/cpu/*/step.json")
        runs[name] = {"pid": process.pid, "manifest": json.loads((run_dir / "manifest.json").read_text()), "step": json.loads(step.read_text())}
    return runs


@pytest.mark.e2e
def test_a_fractional_budget_caps_a_real_servers_cpu(capped_and_free):
    capped, free = capped_and_free["capped"]["step"]["server"], capped_and_free["free"]["step"]["server"]
    assert capped["cpus"] == 0.5 and free["cpus"] == 1.0
    assert 0 < capped["cpu_percent"] <= 55, capped
    # The kernel held it there: in the window the server used up its quota and waited, period after period.
    assert capped["throttle"]["throttled_periods"] > 0 and capped["throttle"]["throttled_s"] > 0, capped
    # The same load with the whole core takes more than the budget would allow.
    assert free["cpu_percent"] > 55 and "throttle" not in free, free


@pytest.mark.e2e
def test_the_manifest_records_the_budget_its_period_and_method(capped_and_free):
    manifest = capped_and_free["capped"]["manifest"]
    limit = manifest["cores"]["server_cpu_limit"]
    assert manifest["cores"]["server_cpus"] == 0.5
    assert limit["method"] in ("cgroup2", "systemd", "cgroup1") and limit["period_us"] == cpu_quota.PERIOD_US == 100_000
    assert limit["quota_us"] == 50_000
    target = manifest["targets"]["fastapi"]
    # The worker formula is the whole core's (CPUS=1); the budget is the quota on those same processes.
    assert target["cpus"] == 0.5 and target["env"]["CPUS"] == "1"
    assert target["cpu_limit"]["quota_us"] == 50_000 and target["cpu_limit"]["method"] == limit["method"]
    assert target["workers"] == 1
    free = capped_and_free["free"]["manifest"]
    assert free["cores"]["server_cpus"] == 1.0 and free["cores"]["server_cpu_limit"]["method"] == "none"
    assert free["targets"]["fastapi"]["env"]["CPUS"] == "1" and free["targets"]["fastapi"]["cpu_limit"]["quota"] == "none"


@pytest.mark.e2e
def test_no_cgroup_is_left_behind(capped_and_free):
    for run in capped_and_free.values():
        assert ours(run["pid"]) == []
    cgroup = capped_and_free["capped"]["manifest"]["targets"]["fastapi"]["cpu_limit"]["cgroup"]
    assert cgroup.startswith("/sys/fs/cgroup") and not os.path.exists(cgroup)


@pytest.mark.e2e
def test_an_interrupted_run_leaves_no_cgroup_behind(tmp_path):
    route = cpu_quota.find_route()
    if isinstance(route, str) or route.parent is None:
        pytest.skip(f"no cgroup directory route here: {route}")
    command = [*LAB, "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi", "--scenarios", "cpu",
               "--users", "8", "--duration", "30", "--repeats", "1", "--server-cpus", "0.5", "--results", str(tmp_path)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while not ours(process.pid) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        (cgroup,) = ours(process.pid)
        # The server is in it and loaded: interrupt the run mid-step.
        while not list(tmp_path.glob("*/targets/fastapi.log")) or not (cgroup / "cgroup.procs").read_text().split():
            time.sleep(0.2)
        time.sleep(3)
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    finally:
        # Never SIGKILL a runner first: what it started would outlive it and spoil later tests.
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    assert process.returncode == 130, output[-3000:]
    assert ours(process.pid) == [] and not cgroup.exists()


@pytest.mark.e2e
@pytest.mark.docker
def test_docker_holds_the_same_budget_per_the_same_period(docker_engine, tmp_path):
    """The runner on the docker engine: the running container gets cpu_quota per the local engine's
    period, read back from the engine, and is capped by it."""
    command = [*LAB, "bench", "--engine", "docker", "--profile", "smoke", "--frameworks", "fastapi", "--scenarios", "cpu",
               "--users", "8", "--duration", "4", "--warmup", "1", "--repeats", "1", "--server-cpus", "0.5", "--results", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=DOCKER_ENV)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cores"]["server_cpus"] == 0.5
    assert manifest["cores"]["server_cpu_limit"] == {"cpus": 0.5, "method": "docker cpu_quota / cpu_period", "period_us": 100_000, "quota_us": 50_000}
    target = manifest["targets"]["fastapi"]
    # What the container was given, read back from the Docker Engine API.
    assert target["cpu_limit"] == {"method": "docker cpu_quota / cpu_period", "cpus": 0.5, "period_us": 100_000, "quota_us": 50_000}
    assert target["env"]["CPUS"] == "1" and target["workers"] == 1 and target["network"] == "host"
    (step,) = run_dir.glob("steps/fastapi/cpu/*/step.json")
    server = json.loads(step.read_text())["server"]
    assert 0 < server["cpu_percent"] <= 55, server


# -- the contract's time limits on a fraction of a core -----------------------------------


class SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self):
        time.sleep(self.delay)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the check gave up first

    def log_message(self, *args):
        pass


def test_the_contract_waits_in_proportion_to_a_fractional_budget(monkeypatch):
    # A server at 0.25 core does the same work four times slower: a wait that is a hang on a
    # whole core is an answer there, and the limit comes back once the checks are over.
    monkeypatch.setattr(client, "TIMEOUT", 0.5)
    SlowHandler.delay = 1.0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"

        def check_slow(base):
            conformance.expect(conformance.get(base, "/slow").text == "ok", "no ok")

        (whole,) = conformance.run_all(base, [check_slow], cpus=1)
        assert whole.startswith("check_slow: ") and "timed out" in whole
        assert conformance.run_all(base, [check_slow], cpus=0.25) == []
        assert conformance.time_limit(0.25) == 2.0 and conformance.time_limit(None) == conformance.time_limit(2) == 0.5
        (after,) = conformance.run_all(base, [check_slow])
        assert "timed out" in after
    finally:
        server.shutdown()
        server.server_close()
