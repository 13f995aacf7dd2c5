"""The docker engine: docker-compose.yml's services as targets, Locust as its master + workers.

The containers are the ones `docker compose up` runs (same images, same start.sh, same
CPU budget settings); the runner only sets the budget, the cores and the database through
the environment compose reads. Lifecycle goes through the `docker compose` CLI (the
compose file is the one definition); inspecting, logs, stats and exec go through the
Docker Engine API (the `docker` SDK).

Locust: the compose `master` (web UI on 127.0.0.1:8089) and `worker` services, scaled to one
worker per Locust core, are started once per run and driven over the master's web API
(lab/locust.py), so a bench can be watched live in the web UI.
"""

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import docker
import docker.errors

from . import catalog, cpu_quota
from .catalog import ROOT, Framework, LabError
from .database import database_name
from .engine import Engine, Generator, Sampler, Target, log_tail, recorded_env, wait_until_steady, worker_count
from .locust import Master
from .results import runner_alive, runner_words, this_runner
from .settings import GeneratorSettings

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


def choose_engine(name: str, say=print) -> str:
    """'auto' -> docker when a Docker engine answers, else local (and says which); checks 'docker'."""
    if name == "auto":
        problem = engine_problem()
        chosen = "local" if problem else "docker"
        say(f"engine auto: {problem + '; ' if problem else 'a Docker engine answers; '}using {chosen}")
        return chosen
    if name == "docker":
        problem = engine_problem()
        if problem:
            raise LabError(f"engine docker: {problem}; start Docker (as root: .ci/docker-setup.sh) or use --engine local")
    return name


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
        return {"method": "docker cpus (NanoCpus)", "cpus": nano / 1e9, "period_us": cpu_quota.PERIOD_US, "quota_us": round(nano / 1e9 * cpu_quota.PERIOD_US)}
    if (host_config.get("CpuQuota") or 0) > 0:
        period = host_config.get("CpuPeriod") or cpu_quota.PERIOD_US
        return {"method": "docker cpu_quota / cpu_period", "cpus": host_config["CpuQuota"] / period, "period_us": period, "quota_us": host_config["CpuQuota"]}
    return {"method": "none", "cpus": None, "quota": "none"}


def yaml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


# On the host's network anyone on this machine can reach the database: a password is required.
PASSWORD_REQUIRED = "${POSTGRES_PASSWORD:?the runner sets a password for a database on the host's network}"


def bench_override(services: list[Framework], host: str, database_port: int, settings: GeneratorSettings) -> str:
    """The compose override the runner adds to docker-compose.yml for a run: every service on the
    host's network, listening on `host`, with no CPU limit at creation (the runner sets and lifts
    the quota on the running container, DockerTarget.limit) and the worker formula on the server's
    whole cores. Plain `docker compose up` is untouched: its services stay on the compose network."""
    lines = [
        "# Written by the runner (lab/docker.py, bench_override) for this run and added after docker-compose.yml:",
        "# every container on the host's network, as TechEmpower's toolset runs its benchmarks.",
        "services:",
        "  postgres:",
        "    network_mode: host",
        f"    command: {yaml_list(['postgres', '-c', f'listen_addresses={host}', '-c', f'port={database_port}'])}",
        "    environment:",
        f"      POSTGRES_PASSWORD: {PASSWORD_REQUIRED}",
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


class ContainerSampler(Sampler):
    """Containers' CPU and memory, summed, and their throttling, from their cgroups on this host
    (exact, and read at once: each sample is timed where it was taken), or from one-shot stats
    calls to the Engine API where the cgroups cannot be read (a remote or rootless engine).

    CPU is the cgroup's cumulative usage; memory is usage less inactive page cache, as
    `docker stats` shows it; throttling is the kernel's count of periods in which the containers
    used up their quota.
    """

    def __init__(self, client, containers: list, interval: float = 0.25, quota: bool = False):
        super().__init__(interval)
        self.client = client
        self.container_ids = [container.id for container in containers]
        pids = [(container.attrs.get("State") or {}).get("Pid") for container in containers]
        found = [cpu_quota.Accounting.of(pid) if pid else None for pid in pids]
        self.cgroups = found if found and all(found) else None
        self.quota = quota  # under a CPU quota: its throttling is part of usage()
        self.throttling: list[tuple[float, tuple[int, int, float]]] = []

    def sample(self) -> tuple[float, int] | None:
        return self.from_cgroups() if self.cgroups else self.from_api()

    def from_cgroups(self) -> tuple[float, int] | None:
        cpu, memory, throttled = 0.0, 0, [0, 0, 0.0]
        for cgroup in self.cgroups:
            used = cgroup.usage()
            if used is None:
                return None  # gone
            cpu += used
            memory += cgroup.memory_bytes() or 0
            counts = cgroup.throttling() or (0, 0, 0.0)
            throttled = [a + b for a, b in zip(throttled, counts)]
        self.throttling.append((time.time(), tuple(throttled)))
        return cpu, memory

    def from_api(self) -> tuple[float, int] | None:
        cpu, memory, throttled = 0.0, 0, [0, 0, 0.0]
        for container_id in self.container_ids:
            try:
                stats = self.client.api.stats(container_id, stream=False, one_shot=True)
            except docker.errors.APIError:
                return None  # a container that is gone: no sample rather than a partial one
            cpu_stats = stats.get("cpu_stats") or {}
            cpu_ns = cpu_stats.get("cpu_usage", {}).get("total_usage")
            mem = stats.get("memory_stats") or {}
            if cpu_ns is None or "usage" not in mem:
                return None  # not running (any more)
            detail = mem.get("stats") or {}
            cpu += cpu_ns / 1e9
            memory += mem["usage"] - detail.get("total_inactive_file", detail.get("inactive_file", 0))
            counts = cpu_stats.get("throttling_data") or {}
            throttled = [throttled[0] + counts.get("periods", 0), throttled[1] + counts.get("throttled_periods", 0),
                         throttled[2] + counts.get("throttled_time", 0) / 1e9]  # fmt: skip
        self.throttling.append((time.time(), tuple(throttled)))
        return cpu, memory

    def usage(self, start: float | None = None, end: float | None = None) -> dict:
        found = {**super().usage(start, end), "cpu_source": "cgroup" if self.cgroups else "cgroup (Docker Engine API)"}
        inside = [c for t, c in self.throttling if (start is None or t >= start) and (end is None or t <= end)]
        if not self.quota or len(inside) < 2:
            return found
        (periods0, throttled0, seconds0), (periods1, throttled1, seconds1) = inside[0], inside[-1]
        return {**found, "throttle": {"periods": periods1 - periods0, "throttled_periods": throttled1 - throttled0,
                                      "throttled_s": round(seconds1 - seconds0, 3)}}  # fmt: skip


class DockerTarget(Target):
    """One compose service, on the host's network (the run's override, bench_override): `url` and
    `load_url` are both its port on the engine's host address."""

    def __init__(self, engine: "DockerEngine", framework: Framework, cores: list[int], extra_env: dict | None = None, cpus: float | None = None):
        self.engine = engine
        self.framework = framework
        self.cores = cores
        self.cpus = float(cpus or len(cores))
        self.extra_env = extra_env or {}
        self.log_path = engine.run_dir / "targets" / f"{framework.name}.log"
        self.container = None
        self.url = self.load_url = f"http://{engine.host}:{framework.port}"

    def compose_env(self) -> dict[str, str]:
        env = {"SERVER_CPUSET": cpuset(self.cores), "SERVER_CORE_COUNT": str(len(self.cores))}
        if self.extra_env.get("DATABASE_URL"):
            # The same server as the runner prepared: its database, on the host's network.
            env["LAB_DATABASE"] = database_name(self.extra_env["DATABASE_URL"])
        return env

    def start(self) -> None:
        compose = self.engine.compose(self.compose_env())
        # Recreated, so it runs with this run's settings and database whatever ran before.
        compose.run("up", "--detach", "--no-deps", "--force-recreate", self.name, what=self.name)
        self.container = self.engine.client.containers.get(self.engine.container_id(self.name))
        if self.cpus < len(self.cores):
            self.limit(self.cpus)

    def limit(self, cpus: float | None) -> dict:
        cpus = float(cpus or len(self.cores))
        quota = cpu_quota.quota_us(cpus) if cpus < len(self.cores) else -1
        try:
            self.container.update(cpu_period=cpu_quota.PERIOD_US, cpu_quota=quota)
        except docker.errors.APIError as problem:
            raise LabError(f"{self.name}: the engine refused a CPU quota of {cpus:g} cores ({problem.explanation or problem})") from None
        self.cpus = cpus
        return self.cpu_limit()

    def cpu_limit(self) -> dict:
        self.container.reload()
        return cpu_limit(self.container.attrs["HostConfig"])

    def cpu_seconds(self) -> float | None:
        """From the container's cgroup on this host (exact, and quick); the Engine API's stats where it cannot be read."""
        pid = (self.container.attrs.get("State") or {}).get("Pid")
        found = cpu_quota.Accounting.of(pid) if pid else None
        if found is not None:
            return found.usage()
        try:
            return self.engine.client.api.stats(self.container.id, stream=False, one_shot=True)["cpu_stats"]["cpu_usage"]["total_usage"] / 1e9
        except (docker.errors.APIError, KeyError, TypeError):
            return None

    def processes(self) -> list[list[str]]:
        try:
            return self.container.top(ps_args="-o pid,ppid,args")["Processes"] or []
        except docker.errors.APIError:
            return []

    def settle(self) -> None:
        wait_until_steady(lambda: len(self.processes()))

    def alive(self) -> bool:
        if self.container is None:
            return False
        try:
            self.container.reload()
        except docker.errors.NotFound:
            return False
        return self.container.status == "running"

    def sampler(self) -> ContainerSampler:
        self.container.reload()
        return ContainerSampler(self.engine.client, [self.container], quota=self.cpus < len(self.cores))

    log_name = "its container log"

    def log_tail(self, lines: int = 15) -> str:
        if self.container is None:
            return "(no container)"
        try:
            return self.container.logs(tail=lines).decode(errors="replace").rstrip() or "(empty log)"
        except docker.errors.APIError:
            return log_tail(self.log_path, lines)

    def exit_reason(self) -> str:
        if self.container is None:
            return "container never started"
        try:
            state = self.container.attrs["State"]
        except (KeyError, TypeError):
            return "container gone"
        oom = ", killed for lack of memory" if state.get("OOMKilled") else ""
        return f"container {state.get('Status')} (exit code {state.get('ExitCode')}{oom})"

    def exec(self, *command: str) -> str:
        """stdout of a command run inside the container (pip's warnings on stderr are dropped)."""
        _code, (stdout, _stderr) = self.container.exec_run(list(command), demux=True, environment={"PIP_NO_CACHE_DIR": "1"})
        return (stdout or b"").decode(errors="replace").strip()

    def describe(self) -> dict:
        """What ran, for the manifest: image, versions measured inside, command lines, cores."""
        self.container.reload()
        attrs = self.container.attrs
        host = attrs["HostConfig"]
        processes = self.processes()
        # start.sh execs the server (PID 1's tree); Gunicorn's master only supervises its workers.
        root_pid = processes[0][0] if processes else None
        children = [p for p in processes if p[1] == root_pid]
        env = dict(item.split("=", 1) for item in attrs["Config"]["Env"] or [])
        return {
            "engine": "docker",
            "url": self.url,
            "load_url": self.load_url,
            "container": attrs["Name"].lstrip("/"),
            "image": image_facts(self.engine.client, attrs["Config"]["Image"]) | {"id": attrs["Image"]},
            "python": self.exec("python", "--version"),
            "packages": self.exec("python", "-m", "pip", "freeze", "--all").split(),
            "user": attrs["Config"]["User"],
            "start_command": str(self.framework.start_command.relative_to(ROOT)),
            "container_command": attrs["Config"]["Cmd"],
            "command_line": processes[0][2].split() if processes else [],
            "processes": len(processes),
            "workers": worker_count([p[2] for p in children]),
            "worker_command_lines": sorted({p[2] for p in children}),
            # What the container was given, read back from the engine.
            "cores": parse_cpuset(host.get("CpusetCpus")),
            "cpus": self.cpus,
            "cpu_limit": cpu_limit(host),
            "network": attrs["HostConfig"].get("NetworkMode"),
            "env": recorded_env(env),
        }

    def save_log(self) -> None:
        if self.container is None:
            return
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self.log_path.write_bytes(self.container.logs())
        except docker.errors.APIError:
            pass

    def stop(self) -> None:
        self.save_log()
        self.engine.compose().run("rm", "--stop", "--force", self.name, what=self.name)


class DockerEngine(Engine):
    """Targets as compose services; Locust as the compose master and its workers."""

    name = "docker"
    parallel_start = True  # each start is a `docker compose up` of seconds

    def __init__(self, run_dir: Path, settings: GeneratorSettings):
        self.run_dir = run_dir
        self.settings = settings
        problem = engine_problem()
        if problem:
            raise LabError(f"engine docker: {problem}")
        self.client = docker.from_env()
        self.password = password()
        # Where every container listens, on the host's network: LAB_BIND (a second lab beside the
        # first, README) or the address the local engine would use.
        self.host = os.environ.get("LAB_BIND") or settings.target_host
        self.database_port = int(os.environ.get("POSTGRES_PORT") or POSTGRES_PORT)
        self.override = run_dir / BENCH_OVERRIDE
        services = list(catalog.services().values())
        self.override.write_text(bench_override(services, self.host, self.database_port, settings))
        self.compose_version = self.compose().run("version", "--short", what="docker compose").strip()

    # -- compose -------------------------------------------------------------------

    def compose(self, extra: dict[str, str] | None = None) -> Compose:
        env = {
            "COMPOSE_BAKE": "false",  # no buildx here; compose's own builder
            # The runner polls /health itself; Docker's checks would start a Python on the measured cores.
            "LAB_HEALTH_INTERVAL": "1h",
            "POSTGRES_PASSWORD": self.password,
            "LAB_RUN": self.run_dir.name,
            "LAB_RUNNER": this_runner(),
        }
        return Compose({**env, **(extra or {})}, self.override)

    def sweep(self) -> list[str]:
        """Remove the containers of an earlier run whose runner was killed (nothing stopped them)."""
        left: dict[str, int] = {}
        for container in self.project_containers():
            run, runner = container.labels.get(RUN_LABEL), container.labels.get(RUNNER_LABEL, "")
            if not run or run == self.run_dir.name:
                continue  # plain `docker compose up` (the runner takes those over), or this run's own
            if runner_alive(runner):
                raise LabError(f"run {run} is still using the lab's containers (its runner is {runner_words(runner)}): "
                               "let it finish, or stop it first (make down)")  # fmt: skip
            left[run] = left.get(run, 0) + 1
        if left:
            self.close()  # the project's containers, all of them (this run takes the lab over anyway)
        return [f"removed {count} container(s) left running by run {run}, whose runner was killed" for run, count in sorted(left.items())]

    def container_id(self, service: str) -> str:
        ids = self.compose().run("ps", "--all", "--quiet", service, what=service).split()
        if not ids:
            raise LabError(f"{service}: compose started no container")
        return ids[0]

    def setup(self) -> None:
        """Build every image, one service at a time, so a failure names its service (cached: seconds)."""
        for service in ("fastapi", "flask", "django", "bare-asgi", "bare-wsgi", "master"):
            try:
                self.compose().run("build", service, timeout=1800, what=f"building {service}")
            except LabError as problem:
                raise LabError(f"building the {service} image failed: {problem}") from None

    def database_server(self) -> str:
        """The compose PostgreSQL, up and healthy on the host's network; its URL."""
        compose = self.compose()
        try:
            # Later `up --no-deps` of the targets leave it as it is.
            compose.run("up", "--detach", "--wait", "--wait-timeout", "90", "postgres", what="postgres")
        except LabError as problem:
            logs = self.logs("postgres")
            compose.run("rm", "--stop", "--force", "postgres", what="postgres")
            raise LabError(f"postgres did not turn healthy: {problem}\nlast lines of its log:\n{logs}") from None
        return f"postgresql://postgres:{self.password}@{self.host}:{self.database_port}/postgres"

    def logs(self, service: str, lines: int = 15) -> str:
        try:
            return tail(self.compose().run("logs", "--no-color", "--tail", str(lines), service, what=service), lines)
        except LabError as problem:
            return str(problem)

    def target(self, framework: Framework, cores: list[int], env: dict | None = None, cpus: float | None = None) -> DockerTarget:
        return DockerTarget(self, framework, cores, env, cpus)

    @classmethod
    def cpu_limit(cls, cpus: float, cores: list[int]) -> dict:
        """The container's cpu_quota per cpu_period, set on the running container (DockerTarget.limit)."""
        if cpus >= len(cores):
            return {"cpus": cpus, **cpu_quota.NO_QUOTA}
        return {"cpus": cpus, "method": "docker cpu_quota / cpu_period", "period_us": cpu_quota.PERIOD_US, "quota_us": cpu_quota.quota_us(cpus)}

    def generator(self, cores: list[int]) -> "DockerGenerator":
        return DockerGenerator(self, cores)

    def describe(self) -> dict:
        version = self.client.version()
        return {
            "name": "docker",
            "server_version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "compose_version": self.compose_version,
            "compose_file": COMPOSE_FILE.name,
            "compose_override": self.override.name,
            "network": f"host (every container listens on {self.host}; docker compose up keeps the compose network)",
            "project": PROJECT,
            "base_images": {tag: image_facts(self.client, tag) for tag in BASE_IMAGES},
        }

    def project_containers(self, services=None) -> list:
        found = self.client.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={PROJECT}"]})
        return [c for c in found if services is None or c.labels.get(SERVICE_LABEL) in services]

    def close(self) -> None:
        """Nothing left behind: every service, the baselines, the database, Locust."""
        self.compose().run("down", "--remove-orphans", "--timeout", "10", what="docker compose down")


class DockerGenerator(Generator):
    """The compose `master` (web UI published on the host) and `worker` services, scaled to
    one worker per Locust core, all on the Locust cores."""

    def __init__(self, engine: DockerEngine, cores: list[int]):
        self.engine = engine
        self.cores = cores
        self.settings = engine.settings
        self.workers = self.settings.workers or len(cores)
        self.web_url = f"http://{self.settings.web_host}:{self.settings.web_port}"

    def compose(self):
        return self.engine.compose({"LOCUST_CPUSET": cpuset(self.cores), "LOCUST_WEB_PORT": str(self.settings.web_port)})

    def up(self, *services: str) -> None:
        self.compose().run("up", "--detach", "--no-deps", "--scale", f"worker={self.workers}", *services, what="Locust")

    def start(self) -> None:
        # Recreated: the master starts with no test and no stats, whatever a person did in the UI before.
        self.compose().run("up", "--detach", "--no-deps", "--force-recreate", "--scale", f"worker={self.workers}",
                           *LOCUST_SERVICES, what="Locust")  # fmt: skip
        Master(self.web_url).wait_ready(self.workers + self.settings.extra_workers, self.settings.connect_timeout, alive=self.problem)

    def containers(self, service: str | None = None) -> list:
        return self.engine.project_containers([service] if service else LOCUST_SERVICES)

    def problem(self) -> str | None:
        for container in self.containers():
            container.reload()
            if container.status not in ("running", "created"):
                return f"Locust container {container.name} is {container.status}; last lines of its log:\n{tail(container.logs(tail=15).decode(errors='replace'))}"
        return None

    def ensure_workers(self) -> None:
        if any(c.status != "running" for c in self.containers("worker")) or len(self.containers("worker")) < self.workers:
            self.up("worker")

    def sampler(self) -> Sampler:
        return ContainerSampler(self.engine.client, self.containers())

    def describe(self) -> dict:
        return {
            "engine": "docker",
            "mode": f"the compose master + {self.workers} worker container(s), up for the whole run",
            "workers": self.workers,
            "extra_workers": self.settings.extra_workers,
            "processes": 1 + self.workers,
            "master_command": self.containers("master")[0].attrs["Config"]["Cmd"],
            "worker_command": self.containers("worker")[0].attrs["Config"]["Cmd"],
            "web_url": self.web_url,
            "image": image_facts(self.engine.client, LOCUST_IMAGE),
            "python": self.containers("master")[0].exec_run(["python", "--version"]).output.decode().strip(),
            "user": self.containers("master")[0].attrs["Config"]["User"],
        }

    def log_tail(self, lines: int = 15) -> str:
        (master,) = self.containers("master") or [None]
        return tail(master.logs(tail=lines).decode(errors="replace")) if master else "(no master container)"

    def stop(self) -> None:
        folder = self.engine.run_dir / "locust"
        folder.mkdir(parents=True, exist_ok=True)
        for container in self.containers():
            try:
                (folder / f"{container.name}.log").write_bytes(container.logs())
            except docker.errors.APIError:
                pass
        self.compose().run("rm", "--stop", "--force", *LOCUST_SERVICES, what="Locust")
