"""The lab in containers on a real Docker engine, end to end.

`docker compose up` (build, health), the contract through the published ports, Locust's
web UI offering the three targets and loading the one picked (master + worker), a smoke
bench with a master and 2 workers in containers that the analysis reads, then nothing
left running. LAB_BIND / COMPOSE_PROJECT_NAME, when set, are honoured (to run this beside
another lab on one machine); by default everything is on 127.0.0.1.
"""

import csv
import ipaddress
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import docker
import psutil
import pytest
import requests
from conftest import DOCKER_ENV, FRAMEWORKS, ROOT, TARGETS, browser, chromium_flags, project_containers

from lab import catalog
from lab.contract import conformance
from lab.engines.docker import PROJECT, PROJECT_LABEL, DockerEngine
from lab.engines.processes import this_runner
from lab.errors import LabError
from lab.settings import from_env as generator_settings

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

BIND = os.environ.get("LAB_BIND", "127.0.0.1")
ARTIFACTS = ROOT / "test-artifacts"


def compose(*args: str, timeout: float = 1800, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["docker", "compose", "--project-name", PROJECT, *args], cwd=ROOT, env={**DOCKER_ENV, **(env or {})}, capture_output=True, text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}{unhealthy_report()}")
    return result


def unhealthy_report() -> str:
    """Why a container failed its health check: its last checks and its log's end, for the failure message."""
    report = ""
    for container in docker.from_env().containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={PROJECT}"}):
        health = container.attrs["State"].get("Health") or {}
        if container.status == "running" and health.get("Status") != "unhealthy":
            continue
        checks = [(c["ExitCode"], c["Output"].strip()[-300:]) for c in health.get("Log", [])]
        logs = container.logs(tail=20).decode(errors="replace")
        report += f"\n--- {container.name}: {container.status}, health {health.get('Status')}, checks {checks}\n{logs}"
    return report


@pytest.fixture(scope="module")
def client(docker_engine):
    return docker.from_env()


@pytest.fixture(scope="module")
def lab_up(client):
    """`docker compose up`: build, start, wait for every health check."""
    compose("--profile", "*", "down", "--remove-orphans", check=False)
    started = time.monotonic()
    compose("up", "--build", "--detach", "--wait", "--wait-timeout", "300")
    print(f"docker compose up (build included) took {time.monotonic() - started:.0f} s")
    yield {name: f"http://{BIND}:{catalog.services()[name].port}" for name in FRAMEWORKS}
    compose("--profile", "*", "down", "--remove-orphans", check=False)


def service_container(client, name: str):
    (container,) = client.containers.list(filters={"label": [f"{PROJECT_LABEL}={PROJECT}", f"com.docker.compose.service={name}"]})
    return container


def test_everything_is_up_and_healthy(lab_up, client):
    running = {c.labels["com.docker.compose.service"]: c for c in project_containers(client)}
    assert set(running) == {*FRAMEWORKS, "postgres", "master", "worker"}
    for name in (*FRAMEWORKS, "postgres"):
        assert running[name].attrs["State"]["Health"]["Status"] == "healthy", name


def test_images_run_as_non_root(lab_up, client):
    for name in (*FRAMEWORKS, "master", "worker"):
        container = service_container(client, name)
        uid = container.exec_run(["id", "-u"]).output.decode().strip()
        image_user = client.images.get(container.attrs["Config"]["Image"]).attrs["Config"]["User"]
        assert image_user and image_user.split(":")[0] not in ("0", "root"), name
        if name in FRAMEWORKS:
            assert uid != "0", name
    # Locust runs as its image's user whoever starts it: it writes nothing on the host.
    for name in ("master", "worker"):
        assert service_container(client, name).exec_run(["id", "-u"]).output.decode().strip() == "10001"


def test_workers_can_reuse_source_ports_in_time_wait(lab_up, client):
    # Without it a worker against Gunicorn's sync workers (a new connection per request)
    # runs out of source ports near 470 connections/s and counts errors, not the server's speed.
    setting = service_container(client, "worker").exec_run(["cat", "/proc/sys/net/ipv4/tcp_tw_reuse"]).output.decode().strip()
    assert setting == "1"


def test_only_loopback_is_published(lab_up, client):
    published = []
    for container in project_containers(client):
        for bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).values():
            published += [b["HostIp"] for b in bindings or []]
    assert published and set(published) == {BIND}
    assert ipaddress.ip_address(BIND).is_loopback


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_contract_through_the_published_ports(lab_up, framework):
    status = conformance.database_status(lab_up[framework])
    assert status["available"], status
    assert conformance.run_all(lab_up[framework], conformance.CHECKS + conformance.DB_CHECKS) == []


VARIANTS = [name for name in TARGETS if name not in FRAMEWORKS]
NEW_BASELINES = [name for name, s in catalog.baselines().items() if name not in ("bare-asgi", "bare-wsgi")]
# Services booted together at most (the first eight variants; then the framework tax's rungs).
AT_ONCE = 8


def test_each_variant_and_server_ceiling_keeps_the_contract_in_its_container(lab_up):
    """`docker compose --profile variants up`: every variant built, started, healthy and keeping the
    contract (database included) through its published port; the new servers' bare apps too.
    One test, so that they are gone again before the tests that count containers."""
    profiles = ("--profile", "variants", "--profile", "baselines")
    failures, services = {}, catalog.services()
    # One group at a time, removed before the next: thirteen services booting on one core beside
    # the lab's own is more than a laptop does, and health checks time out on a full core.
    groups = [VARIANTS[i : i + AT_ONCE] for i in range(0, len(VARIANTS), AT_ONCE)] + [NEW_BASELINES]
    for group in groups:
        started = time.monotonic()
        try:
            compose(*profiles, "up", "--build", "--detach", "--wait", "--wait-timeout", "300", *group)
            print(f"{', '.join(group)}: up (build included) in {time.monotonic() - started:.0f} s")
            for name in group:
                url = f"http://{BIND}:{services[name].port}"
                if name in NEW_BASELINES:
                    failures[name] = conformance.run_all(url, conformance.BASELINE_CHECKS)
                    continue
                status = conformance.database_status(url)
                failures[name] = conformance.run_all(url, conformance.CHECKS + conformance.DB_CHECKS) if status["available"] else [str(status)]
        finally:
            compose(*profiles, "rm", "--stop", "--force", *group, check=False)
    assert {name: problems for name, problems in failures.items() if problems} == {}


def web_ui_settings() -> dict:
    page = requests.get(f"http://{BIND}:8089/", timeout=10).text
    return json.loads(re.search(r"window\.templateArgs = (\{.*?\});?\s*$", page, re.M | re.S).group(1))


def test_web_ui_offers_every_target_and_scenario(lab_up):
    settings = web_ui_settings()
    assert settings["extra_options"]["target"]["choices"] == ["", *TARGETS]  # the variants too
    assert settings["is_distributed"] and settings["worker_count"] >= 1
    # Every scenario is a row of the picker; json alone is ticked (locustfiles/_web_ui.py).
    assert {"JsonUser", "PlaintextUser", "ValidateUser"} <= set(settings["users"])
    assert settings["available_user_classes"] == ["JsonUser"]


def cpu_seconds(client, name: str) -> float:
    stats = service_container(client, name).stats(stream=False, one_shot=True)
    return stats["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9


def wait_until_workers_ready(ui: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = requests.get(f"{ui}/stats/requests", timeout=10).json()
        if stats["state"] in ("ready", "stopped") and stats["workers"] and all(w["state"] == "ready" for w in stats["workers"]):
            return
        time.sleep(0.2)
    raise AssertionError(f"Locust is not ready for a new test: {stats['state']}, workers {stats['workers']}")


@pytest.mark.parametrize("picked", ["django", "fastapi", "flask"])
def test_picking_a_target_in_the_ui_loads_that_target(lab_up, client, picked):
    ui = f"http://{BIND}:8089"
    wait_until_workers_ready(ui)  # as a person would: the last test has stopped
    form = {"user_count": 4, "spawn_rate": 4, "host": "", "user_classes": "JsonUser", "target": picked}
    assert requests.post(f"{ui}/swarm", data=form, timeout=10).json()["success"]
    try:
        time.sleep(2)  # users spawned
        before = {name: cpu_seconds(client, name) for name in FRAMEWORKS}
        time.sleep(4)
        used = {name: cpu_seconds(client, name) - before[name] for name in FRAMEWORKS}
        stats = requests.get(f"{ui}/stats/requests", timeout=10).json()
    finally:
        requests.post(f"{ui}/stop", timeout=10)
    total = next(row for row in stats["stats"] if row["name"] == "Aggregated")
    assert total["num_requests"] > 0 and total["num_failures"] == 0
    # The load went to the picked container: it did the work, the others idled (health checks only).
    others = max(seconds for name, seconds in used.items() if name != picked)
    assert used[picked] > 2 * others, used


# Read in one script run: the page redraws the table every few seconds, and an element found
# before a redraw is stale after it (StaleElementReferenceException).
STATS_ROW = """
for (const table of document.querySelectorAll('table')) {
  const titles = [...table.querySelectorAll('th')].map(th => th.innerText.trim());
  if (!titles.includes('# Requests')) continue;
  for (const tr of table.querySelectorAll('tr')) {
    const cells = [...tr.querySelectorAll('td')].map(td => td.innerText.trim());
    if (cells.includes(arguments[0])) return [titles, cells];
  }
}
return null;
"""


def stats_row(driver, name: str) -> dict[str, str]:
    """A row of the web UI's statistics table, by the column titles the page shows."""
    found = driver.execute_script(STATS_ROW, name)
    return dict(zip(*found)) if found else {}


def press(driver, element) -> None:
    """Scroll an element to the middle of the window, as a person would, then click it."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def test_in_a_real_browser_a_person_picks_flask_runs_json_and_stops(lab_up, tmp_path):
    """The flow a newcomer follows: the page, Start with no target (the error), then the target,
    Start, requests and no failures for flask, the bar naming it, Stop. Screenshots are kept."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    ui = f"http://{BIND}:8089"
    wait_until_workers_ready(ui)
    ARTIFACTS.mkdir(exist_ok=True)
    with browser(tmp_path / "profile") as driver:
        wait = WebDriverWait(driver, 30)
        driver.get(ui)
        # A lab where a test has run (the tests above) shows its numbers, and the form behind "New".
        wait.until(lambda d: d.find_elements(By.XPATH, "//button[normalize-space()='Start' or normalize-space()='New']"))
        for new in driver.find_elements(By.XPATH, "//button[normalize-space()='New']"):
            press(driver, new)
        start = wait.until(seen.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Start']")))
        ticked = {row.find_element(By.XPATH, "./td[2]").text: row.find_element(By.XPATH, ".//input[@type='checkbox']").is_selected()
                  for row in driver.find_elements(By.XPATH, "//tr[td[2]]") if row.find_elements(By.XPATH, ".//input[@type='checkbox']")}  # fmt: skip
        assert ticked.get("JsonUser") is True and sum(ticked.values()) == 1 and len(ticked) >= 9, ticked

        # No target: Locust's own alert says what to do, and nothing starts.
        press(driver, start)
        alert = wait.until(seen.visibility_of_element_located((By.XPATH, "//*[@role='alert'][contains(., 'Pick a target')]")))
        assert "Custom parameters" in alert.text
        driver.save_screenshot(str(ARTIFACTS / "webui-no-target.png"))
        assert requests.get(f"{ui}/lab/status", timeout=10).json()["state"] in ("ready", "stopped")

        press(driver, driver.find_element(By.XPATH, "//*[normalize-space()='Custom parameters']"))
        Select(wait.until(seen.visibility_of_element_located((By.ID, "target")))).select_by_visible_text("flask")
        for name in ("userCount", "spawnRate"):
            field = driver.find_element(By.NAME, name)
            field.send_keys(Keys.CONTROL, "a")  # as a person would: select what is there, type over it
            field.send_keys("4")
        press(driver, start)

        # Workers report every 3 s: requests appear within seconds; the bar names the target.
        wait.until(lambda d: stats_row(d, "/json").get("# Requests", "0").replace(",", "") not in ("", "0"))
        bar = driver.find_element(By.ID, "lab-bar")
        wait.until(lambda d: "Under load: flask" in bar.text)
        assert bar.text == "Under load: flask (http://flask:8002), scenario JsonUser"
        # The table re-renders every few seconds: read a whole row.
        row = wait.until(lambda d: stats_row(d, "/json") or None)
        assert row.get("# Fails") == "0", row
        assert requests.get(f"{ui}/stats/requests", timeout=10).json()["user_count"] == 4
        driver.execute_script("window.scrollTo(0, 0)")
        driver.save_screenshot(str(ARTIFACTS / "webui-flask-running.png"))

        press(driver, driver.find_element(By.XPATH, "//button[normalize-space()='Stop']"))
        wait.until(lambda d: requests.get(f"{ui}/lab/status", timeout=10).json()["state"] == "stopped")
        wait.until(lambda d: "Last target: flask" in bar.text)
    for name in ("webui-no-target.png", "webui-flask-running.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name


def watch_a_step_in_the_web_ui(bench: subprocess.Popen, output: Path, profile: Path) -> dict:
    """While the bench runs, as a person would: open the web UI once a step is measuring, keep a
    screenshot, and read what the page and the API show."""
    ui = f"http://{BIND}:8089"
    deadline = time.monotonic() + 600
    # The bench's own master: the one it announces (the lab's earlier one is replaced).
    while "watch the run live" not in output.read_text() and bench.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    # Calibration's probes and the two ceilings come first: the first framework step is the first
    # window to run after the last ceiling's line (the bench's output is unbuffered: see docker_run). Workers report every 3 s, so the page shows the
    # window's numbers about 4 s after the users run (1 s to settle).
    while "ceiling bare-wsgi" not in output.read_text() and bench.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    seen: list[str] = []
    while time.monotonic() < deadline and bench.poll() is None:
        try:
            stats = requests.get(f"{ui}/stats/requests", timeout=2).json()
        except (requests.RequestException, ValueError):
            stats = {}
        if stats.get("state") and (not seen or seen[-1] != stats["state"]):
            seen.append(stats["state"])
        if seen and seen[-1] == "running" and stats.get("user_count") == 4:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"no framework step was seen running in the web UI (states: {seen})")
    time.sleep(4.5)
    stats = requests.get(f"{ui}/stats/requests", timeout=2).json()
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "webui-docker-bench.png"
    screenshot.unlink(missing_ok=True)
    # Both at once, while the step runs: the page's text, and a picture of it.
    dom, shot = (
        subprocess.Popen([*chromium_flags(profile / name), "--virtual-time-budget=2000", *args, ui], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
        for name, args in (("dom", ["--dump-dom"]), ("shot", [f"--screenshot={screenshot}", "--window-size=1400,900"]))
    )  # fmt: skip
    page, _ = dom.communicate(timeout=60)
    shot.wait(timeout=60)
    return {"stats": stats, "dom": page, "screenshot": screenshot}


@pytest.fixture(scope="module")
def docker_run(lab_up, tmp_path_factory):
    """The runner's bench on the docker engine, a tiny quick profile (ceilings, wrk) with the compose
    master and 2 workers; it takes the running lab over and shuts it down. A person watches one
    step in the web UI meanwhile."""
    results = tmp_path_factory.mktemp("docker-results")
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "docker", "--profile", "quick", "--scenarios", "json", "--repeats", "1",
        "--users", "4", "--duration", "8", "--warmup", "0", "--results", str(results),
    ]  # fmt: skip
    started = time.monotonic()
    with open(results / "bench.out", "w") as output:
        bench = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True, env={**DOCKER_ENV, "LOCUST_WORKERS": "2", "PYTHONUNBUFFERED": "1"})
    try:
        watched = watch_a_step_in_the_web_ui(bench, results / "bench.out", tmp_path_factory.mktemp("chromium"))
        bench.wait(timeout=1200)
    finally:
        bench.kill()
    print(f"docker bench took {time.monotonic() - started:.0f} s")
    text = (results / "bench.out").read_text()
    assert bench.returncode == 0, text[-4000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir, watched


def test_bench_manifest_records_the_containers(docker_run):
    run_dir, _ = docker_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["engine"] == "docker"
    assert manifest["locust"]["workers"] == 2 and manifest["locust"]["processes"] == 3
    assert "--master" in manifest["locust"]["master_command"] and "--worker" in manifest["locust"]["worker_command"]
    assert manifest["locust"]["image"]["id"].startswith("sha256:")
    assert manifest["locust"]["python"].startswith("Python 3.12")
    for tag, image in manifest["engine_details"]["base_images"].items():
        assert image["id"].startswith("sha256:"), tag
    assert manifest["database"]["available"] and manifest["database"]["server_version"].startswith("15.")
    for name in (*FRAMEWORKS, "bare-asgi", "bare-wsgi"):
        target = manifest["targets"].get(name) or manifest["baselines"][name]
        assert target["engine"] == "docker" and target["image"]["id"].startswith("sha256:")
        # Measured inside the container, not read from the image tag.
        assert re.fullmatch(r"Python 3\.12\.\d+", target["python"])
        assert target["cores"] == manifest["cores"]["server"], name
        # Its worker formula for its whole cores; the budget calibration chose is the quota on the running container.
        assert target["env"]["CPUS"] == str(len(manifest["cores"]["server"])) and target["network"] == "host"
        assert target["cpus"] == manifest["budget"]["cpus"] == manifest["cores"]["server_cpus"]
        if target["cpus"] < len(manifest["cores"]["server"]):
            assert target["cpu_limit"]["quota_us"] == round(target["cpus"] * target["cpu_limit"]["period_us"]), target["cpu_limit"]
    assert manifest["budget"]["mode"] == "auto" and len(manifest["budget"]["probes"]) == len(FRAMEWORKS)
    for name in FRAMEWORKS:
        assert any(p.lower().startswith(name + "==") for p in manifest["targets"][name]["packages"])
    assert manifest["targets"]["flask"]["workers"] == 2 * len(manifest["cores"]["server"]) + 1


def test_the_web_ui_shows_the_step_a_bench_runs(docker_run):
    _, watched = docker_run
    # The compose master is the bench's: the page shows the running step, its target and users.
    assert watched["stats"]["worker_count"] == 2 and watched["stats"]["state"] == "running"
    assert watched["stats"]["user_count"] == 4 and watched["stats"]["total_rps"] > 0
    assert "http://127.0.0.1:8001" in watched["dom"] and "RUNNING" in watched["dom"].upper(), watched["dom"][-2000:]
    assert watched["screenshot"].read_bytes().startswith(b"\x89PNG") and watched["screenshot"].stat().st_size > 20_000


def test_bench_steps_keep_locusts_numbers_for_their_windows(docker_run):
    run_dir, _ = docker_run
    steps = sorted(run_dir.glob("steps/*/*/*/step.json"))
    assert len(steps) == 3
    for step_file in steps:
        step = json.loads(step_file.read_text())
        assert step["status"] == "ok", step
        folder = step_file.parent
        with open(folder / "locust_stats.csv", newline="") as handle:
            total = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
        web = next(row for row in json.loads((folder / "locust_web_stats.json").read_text())["stats"] if row["name"] == "Aggregated")
        assert int(total["Request Count"]) == web["num_requests"] > 0
        assert int(total["Failure Count"]) == 0
        workers = step["locust"]["workers"]
        assert len(workers) == 2 and all(w["requests"] > 0 and w["cpu_percent"] > 0 for w in workers)
        assert sum(w["requests"] for w in workers) == int(total["Request Count"])
        assert step["server"]["cpu_seconds"] > 0 and step["server"]["peak_rss_mb"] > 10
        assert step["locust"]["processes"]["cpu_seconds"] > 0


def test_bench_leaves_no_container_behind(docker_run, client):
    assert project_containers(client) == []


def test_analysis_reads_the_docker_run(docker_run):
    docker_run, _ = docker_run
    result = subprocess.run([sys.executable, "-m", "analysis", "report", str(docker_run)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tidy = list(csv.DictReader(open(docker_run / "report" / "tidy.csv")))
    assert {row["framework"] for row in tidy if row["kind"] == "step"} >= set(FRAMEWORKS)
    assert all(row["engine"] == "docker" for row in tidy)


def test_a_service_that_cannot_start_is_named_and_cleaned_up(docker_run, client, tmp_path):
    """PostgreSQL's host port already taken: one clear line naming it, and no container left."""
    with socket.socket() as taken:
        taken.bind((BIND, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lab", "bench", "--engine", "docker", "--profile", "smoke", "--results", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=600, env={**DOCKER_ENV, "POSTGRES_PORT": str(port)},
        )  # fmt: skip
    assert result.returncode == 2, result.stdout[-3000:]
    assert "postgres did not turn healthy" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert project_containers(client) == []


def test_make_down_cleans_up_everything(client):
    compose("up", "--detach", "--no-deps", "fastapi")
    compose("run", "--detach", "--no-deps", "worker", "--version")
    result = subprocess.run(["make", "down"], cwd=ROOT, env=DOCKER_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert project_containers(client) == []


def test_containers_a_killed_runner_left_are_removed_by_the_next_run(client, tmp_path):
    """A runner killed with SIGKILL stops nothing; its containers carry its run and its process, so
    the next run sees that process is gone, removes them and says so. A live runner's are refused."""
    killed = subprocess.Popen(["true"])
    killed.wait()
    started = psutil.Process().create_time()  # any start time: the pid no longer exists
    labels = {"LAB_RUN": "20261125-010203-quick-docker", "LAB_RUNNER": f"{socket.gethostname()}:{killed.pid}:{started:.0f}"}
    compose("up", "--detach", "--no-deps", "fastapi", "bare-asgi", env=labels)
    engine = DockerEngine(tmp_path / "20261125-020304-quick-docker", generator_settings())
    assert engine.sweep() == ["removed 2 container(s) left running by run 20261125-010203-quick-docker, whose runner was killed"]
    assert project_containers(client) == []
    # The same containers of a runner that is still running (this test's process): refused, kept.
    compose("up", "--detach", "--no-deps", "fastapi", env={"LAB_RUN": "20261125-030405-quick-docker", "LAB_RUNNER": this_runner()})
    try:
        with pytest.raises(LabError, match=f"run 20261125-030405-quick-docker is still using the lab's containers .*process {os.getpid()}"):
            engine.sweep()
        assert len(project_containers(client)) == 1
    finally:
        compose("--profile", "*", "down", "--remove-orphans", check=False)
