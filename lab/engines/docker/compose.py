"""The docker engine's side of docker compose: the lab's compose file, the override the runner
writes for a run (every container on the host's network), the labels it puts on its containers,
the `docker compose` CLI with the runner's settings, and what an image is.
"""

import json
import os
import secrets
import subprocess
from pathlib import Path

import docker
import docker.errors

from ...catalog import ROOT, Service
from ...errors import LabError
from ...settings import GeneratorSettings
from .. import cgroups


COMPOSE_FILE = ROOT / "docker-compose.yml"
# The runner's override of it, written into each run folder (bench_override): every container on
# the host's network, as TechEmpower's toolset runs its benchmarks (docs/budget.md: through
# Docker's bridge a server that closes every connection served wrk 1,400 req/s where it served
# 3,200 on the host's network, the same image on the same core).
BENCH_OVERRIDE = "compose.bench.yml"
# PostgreSQL's port on the host's network for a run: not 5432, which a local PostgreSQL often has,
# and below every OS's ephemeral port range (Linux: 32768-60999), where a load run's closed client
# sockets can hold any port for a minute.
POSTGRES_PORT = 15432
# The compose file's `name:`, unless COMPOSE_PROJECT_NAME says otherwise (as for `docker compose`).
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME") or "framework-load-lab"
LOCUST_SERVICES = ("master", "worker")
LOCUST_IMAGE = "framework-load-lab/locust:2.47.0"
BASE_IMAGES = ("python:3.12.12-slim-bookworm", "postgres:15.14-bookworm")
# Labels compose puts on its containers; the runner's Locust run containers carry the first two.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# Labels the runner puts on every container it starts (docker-compose.yml, x-hardened): its run,
# and its process (host:pid:start time), so a later run can tell containers a killed runner left.
RUN_LABEL = "lab.run"
RUNNER_LABEL = "lab.runner"


def engine_problem() -> str | None:
    """Why no Docker engine answers here, or None when one does."""
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except Exception as problem:  # the SDK raises several types for "no engine"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine answers at {where} ({type(problem).__name__}: {str(problem)[:200]})"
    return None


def password() -> str:
    """The database password for this run: POSTGRES_PASSWORD if set, else a random one (no file).

    The runner publishes PostgreSQL on the host (database_server()), where anyone on the machine
    can reach the port, so it never uses the compose file's default, which is for the compose
    network alone; the database is fresh on every start, so nothing needs to keep the password.
    """
    return os.environ.get("POSTGRES_PASSWORD") or secrets.token_hex(16)


def cpuset(cores: list[int]) -> str:
    return ",".join(map(str, cores))


def parse_cpuset(text: str) -> list[int]:
    cores: list[int] = []
    for part in filter(None, (text or "").split(",")):
        low, _, high = part.partition("-")
        cores.extend(range(int(low), int(high or low) + 1))
    return cores


def cpu_limit(host_config: dict) -> dict:
    """The CPU limit a container has now, read back from the engine."""
    nano = host_config.get("NanoCpus") or 0
    if nano:
        return {"method": "docker cpus (NanoCpus)", "cpus": nano / 1e9, "period_us": cgroups.PERIOD_US, "quota_us": round(nano / 1e9 * cgroups.PERIOD_US)}
    if (host_config.get("CpuQuota") or 0) > 0:
        period = host_config.get("CpuPeriod") or cgroups.PERIOD_US
        return {"method": "docker cpu_quota / cpu_period", "cpus": host_config["CpuQuota"] / period, "period_us": period, "quota_us": host_config["CpuQuota"]}
    return {"method": "none", "cpus": None, "quota": "none"}


def yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


# On the host's network anyone on this machine can reach the database: a password is required.
PASSWORD_REQUIRED = "${POSTGRES_PASSWORD:?the runner sets a password for a database on the host's network}"


def bench_override(services: list[Service], host: str, database_port: int, settings: GeneratorSettings) -> str:
    """The compose override the runner adds to docker-compose.yml for a run: every service on the
    host's network, listening on `host`, with no CPU limit at creation (the runner sets and lifts
    the quota on the running container, DockerTarget.limit) and the worker formula on the server's
    whole cores. Plain `docker compose up` is untouched: its services stay on the compose network."""
    lines = [
        "# Written by the runner (lab/engines/docker/compose.py, bench_override) for this run and added after docker-compose.yml:",
        "# every container on the host's network, as TechEmpower's toolset runs its benchmarks.",
        "services:",
        "  postgres:",
        "    network_mode: host",
        f"    command: {yaml_list(['postgres', '-c', f'listen_addresses={host}', '-c', f'port={database_port}'])}",
        "    environment:",
        f"      POSTGRES_PASSWORD: {PASSWORD_REQUIRED}",
        # initdb's default trusts TCP from loopback, and on the host's network every local process
        # is on loopback: the password is asked there too.
        "      POSTGRES_INITDB_ARGS: --auth-host=scram-sha-256",
        "    healthcheck:",
        f"      test: {yaml_list(['CMD', 'pg_isready', '-h', host, '-p', str(database_port), '-U', 'postgres', '-d', 'lab'])}",
    ]
    for service in services:
        lines += [f"  {service.name}:", "    network_mode: host", "    ports: !reset []", "    cpus: !reset null", "    environment:",
                  f"      HOST: {json.dumps(host)}", "      CPUS: ${SERVER_CORE_COUNT:-1}"]  # fmt: skip
        if service.kind != "baseline":
            url = f"postgresql://postgres:{PASSWORD_REQUIRED}@{host}:{database_port}/${{LAB_DATABASE:-lab}}"
            lines.append(f"      DATABASE_URL: {json.dumps(url)}")
    master = ["-f", "/locustfiles", "--class-picker", "--master", "--web-host", settings.web_host, "--web-port", str(settings.web_port),
              "--master-bind-host", settings.master_bind, "--master-bind-port", str(settings.master_port)]  # fmt: skip
    worker = ["-f", "/locustfiles", "--worker", "--master-host", settings.master_bind, "--master-port", str(settings.master_port)]
    health = ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen('http://{settings.web_host}:{settings.web_port}/', timeout=2)"]
    lines += ["  master:", "    network_mode: host", "    ports: !reset []", f"    command: {yaml_list(master)}",
              "    healthcheck:", f"      test: {yaml_list(health)}",
              # The host's own TIME-WAIT reuse holds on loopback; a sysctl cannot be set in the host's namespace.
              "  worker:", "    network_mode: host", "    sysctls: !reset {}", f"    command: {yaml_list(worker)}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


class Compose:
    """`docker compose` on the lab's compose file, with the settings the runner chose."""

    def __init__(self, env: dict[str, str], override: Path | None = None):
        self.env = {**os.environ, **env}
        self.files = [COMPOSE_FILE, *([override] if override else [])]

    def command(self, *args: str) -> list[str]:
        # Every profile, so the baselines' services are known to every command.
        files = [part for path in self.files for part in ("--file", str(path))]
        return ["docker", "compose", *files, "--project-name", PROJECT, "--profile", "*", *args]

    def run(self, *args: str, timeout: float = 600, what: str = "docker compose") -> str:
        try:
            done = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise LabError("the docker CLI is not installed (needed for `docker compose`)") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"{what}: `docker compose {' '.join(args)}` did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise LabError(f"{what}: `docker compose {' '.join(args)}` failed; last lines:\n{tail(done.stdout + done.stderr)}")
        return done.stdout

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env, **kwargs)


def image_facts(client, tag: str) -> dict:
    """ID, digest (None for a local build) and whether it is an offline stand-in."""
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return {"tag": tag, "id": None}
    labels = image.labels or {}
    return {
        "tag": tag,
        "id": image.id,
        "digest": (image.attrs.get("RepoDigests") or [None])[0],
        "created": image.attrs.get("Created"),
        "standin": labels.get("lab.standin") == "true",
        **({"standin_source": labels["lab.standin.source"]} if "lab.standin.source" in labels else {}),
    }
