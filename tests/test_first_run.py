"""The first five minutes, on a real Docker engine: a fresh clone's `docker compose up` with no
set-up step, the runner's database published only with its own password, and a second clone
refused in one line.

The fresh clone is `git clone` of this repository's committed HEAD (uncommitted changes are not
in it), so it has no .env and no results/, as a new user's has none.
"""

import os
import subprocess
import time

import docker
import psycopg
import pytest
import requests
from conftest import FRAMEWORKS, ROOT

from lab import catalog
from lab.contract import conformance, database

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

BIND = os.environ.get("LAB_BIND", "127.0.0.1")
PROJECT_LABEL = "com.docker.compose.project"
# What a new user's shell has: none of the lab's settings (LAB_BIND / COMPOSE_PROJECT_NAME are
# honoured, to run beside another lab on one machine, as in test_docker_e2e.py).
NEW_USER_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("LAB_", "POSTGRES_", "COMPOSE_", "LOCUST_", "SERVER_", "DJANGO_")) or k in ("LAB_BIND", "COMPOSE_PROJECT_NAME")
    if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")  # under `make test` these would make ours a sub-make
}


def project_name(folder) -> str:
    return os.environ.get("COMPOSE_PROJECT_NAME") or next(
        line.split(":", 1)[1].strip() for line in (folder / "docker-compose.yml").read_text().splitlines() if line.startswith("name:")
    )


def leftovers(client, project: str) -> dict[str, list[str]]:
    """Everything of the compose project that is still there: containers, networks, volumes."""
    label = {"label": f"{PROJECT_LABEL}={project}"}
    return {
        "containers": [c.name for c in client.containers.list(all=True, filters=label)],
        "networks": [n.name for n in client.networks.list(filters=label)],
        "volumes": [v.name for v in client.volumes.list(filters=label)],
    }


def compose(clone, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "compose", *args], cwd=clone, env=NEW_USER_ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def client(docker_engine):
    client = docker.from_env()
    yield client
    client.close()


@pytest.mark.timeout(2400)
def test_fresh_clone_comes_up_with_no_setup_and_leaves_nothing(client, tmp_path):
    clone = tmp_path / "framework-load-lab"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone / ".env").exists()
    project = project_name(clone)
    compose(clone, "--profile", "*", "down", "--remove-orphans")  # whatever an earlier lab left
    try:
        started = time.monotonic()
        # --build: the images are this clone's, not ones some other checkout built earlier.
        up = compose(clone, "up", "--build", "--detach", "--wait", "--wait-timeout", "300")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        print(f"fresh clone: docker compose up took {time.monotonic() - started:.0f} s")
        assert "required variable" not in up.stderr

        assert requests.get(f"http://{BIND}:8089/", timeout=10).status_code == 200  # Locust's web UI
        for name in FRAMEWORKS:
            url = f"http://{BIND}:{catalog.services()[name].port}"
            assert conformance.database_status(url)["available"], name
            assert conformance.run_all(url, conformance.CHECKS + conformance.DB_CHECKS) == [], name

        containers = client.containers.list(filters={"label": f"{PROJECT_LABEL}={project}"})
        published = {c.labels["com.docker.compose.service"]: c.ports for c in containers}
        # The database is on the compose network only; everything else on loopback only.
        assert not any(published["postgres"].values()), published["postgres"]
        hosts = {b["HostIp"] for ports in published.values() for bindings in ports.values() for b in bindings or []}
        assert hosts == {BIND}
        # Locust writes nothing into the clone (no .env, no results/ made by the daemon as root).
        status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=clone, capture_output=True, text=True, check=True)
        assert status.stdout == ""
    finally:
        down = compose(clone, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert leftovers(client, project) == {"containers": [], "networks": [], "volumes": []}


@pytest.mark.timeout(1800)
def test_runners_database_listens_on_loopback_only_with_its_own_password(client, tmp_path, monkeypatch):
    from lab.engines.docker import POSTGRES_PORT, PROJECT, DockerEngine
    from lab.settings import from_env

    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    monkeypatch.delenv("LAB_BIND", raising=False)
    engine = DockerEngine(tmp_path, from_env())
    try:
        url = engine.database_server()
        info = psycopg.conninfo.conninfo_to_dict(url)
        assert len(info["password"]) == 32 and (info["host"], int(info["port"])) == ("127.0.0.1", POSTGRES_PORT)
        # What the runner does with it from the host: its own database, created and seeded.
        bench = database.prepare(url)
        with psycopg.connect(bench, connect_timeout=5) as conn:
            assert conn.execute("SELECT count(*) FROM world").fetchone() == (10000,)
        # The compose file's default password does not open it, from loopback either.
        default = psycopg.conninfo.make_conninfo(url, password="not-published", dbname="lab")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed for user \"postgres\""):
            psycopg.connect(default, connect_timeout=5)
        # On the host's network, listening on loopback alone (no port published, no other address).
        (container,) = client.containers.list(filters={"label": [f"{PROJECT_LABEL}={PROJECT}", "com.docker.compose.service=postgres"]})
        assert container.attrs["HostConfig"]["NetworkMode"] == "host" and not container.ports
        listening = container.exec_run(["sh", "-c", "cat /proc/net/tcp"]).output.decode()
        port = f"{POSTGRES_PORT:04X}"
        assert [line.split()[1] for line in listening.splitlines()[1:] if line.split()[1].endswith(f":{port}") and line.split()[3] == "0A"] == [f"0100007F:{port}"]
    finally:
        engine.close()
    assert leftovers(client, PROJECT)["containers"] == []


def test_a_second_clone_is_refused_in_one_line(client, tmp_path):
    """Another clone's containers hold the project: up, down and bench here refuse and touch nothing."""
    project = f"lab-clone-test-{os.getpid()}"
    other = "/srv/another-clone-of-the-lab"
    labels = {PROJECT_LABEL: project, "com.docker.compose.project.working_dir": other, "com.docker.compose.service": "fastapi"}
    held = client.containers.create("python:3.12.12-slim-bookworm", ["true"], labels=labels, name=f"{project}-fastapi-1")
    env = {**NEW_USER_ENV, "COMPOSE_PROJECT_NAME": project}
    try:
        # -o setup: the shared venvs stay as they are; a bad PROFILE stops the runner should the check let it through.
        for command in (["up"], ["down"], ["logs"], ["-o", "setup", "bench", "ENGINE=docker", "PROFILE=not-a-profile"]):
            result = subprocess.run(["make", "--no-print-directory", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
            assert result.returncode != 0, command
            lines = result.stderr.strip().splitlines()
            assert lines[0].startswith("error: the lab's containers") and other in lines[0], (command, result.stderr)
            assert "COMPOSE_PROJECT_NAME" in lines[0] and "make down" in lines[0]
            assert all(line.startswith("make: ***") for line in lines[1:]), result.stderr  # make's own trailer
            assert "not-a-profile" not in result.stdout + result.stderr
        assert [c.id for c in client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})] == [held.id]
        # The same containers, started from this clone: no objection.
        held.remove()
        held = client.containers.create("python:3.12.12-slim-bookworm", ["true"], name=f"{project}-fastapi-1",
                                        labels={**labels, "com.docker.compose.project.working_dir": str(ROOT)})  # fmt: skip
        assert subprocess.run([str(ROOT / "scripts" / "own-lab")], env=env, capture_output=True, timeout=60).returncode == 0
    finally:
        held.remove(force=True)
