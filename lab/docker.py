"""The docker engine: docker-compose.yml's services as targets, Locust as master + workers in containers.

The containers are the ones `docker compose up` runs (same images, same start.sh, same
CPU budget settings); the runner only sets the budget, the cores and the database through
the environment compose reads. Lifecycle goes through the `docker compose` CLI (the
compose file is the one definition); inspecting, logs, stats and exec go through the
Docker Engine API (the `docker` SDK).

Per Locust step: a headless master (`docker compose run master ...`) writes its CSVs into
the step folder through a bind mount, N workers (`docker compose run -d worker ...`)
connect to it by container name, load the target over the compose network, and exit with
the master; every Locust container is removed when the step ends, whatever happened.
"""

import json
import os
import secrets
import subprocess
import time
import uuid
from pathlib import Path

import docker
import docker.errors

from . import loadgen, results
from .catalog import ROOT, Framework, LabError, Scenario
from .database import database_name, redact
from .local import TreeSampler, wait_until_healthy, wait_until_steady

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_FILE = ROOT / ".env"
ENV_EXAMPLE = ROOT / ".env.example"
# Given after COMPOSE_FILE, it publishes PostgreSQL on the host, with a password (database_server()).
POSTGRES_PORT_FILE = ROOT / "docker-compose.postgres-port.yml"
# The compose file's `name:`, unless COMPOSE_PROJECT_NAME says otherwise (as for `docker compose`).
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME") or "framework-load-lab"
LOCUST_SERVICES = ("master", "worker")
BASE_IMAGES = ("python:3.12.12-slim-bookworm", "postgres:15.14-bookworm")
# Labels compose puts on its containers; the runner's Locust run containers carry the first two.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


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


def tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])


class Compose:
    """`docker compose` on the lab's compose file, with the settings the runner chose."""

    def __init__(self, env: dict[str, str]):
        self.env = {**os.environ, **env}

    def command(self, *args: str) -> list[str]:
        # Every profile, so the baselines' services are known to every command.
        return ["docker", "compose", "--file", str(COMPOSE_FILE), "--project-name", PROJECT, "--profile", "*", *args]

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


class ContainerSampler(TreeSampler):
    """TreeSampler's contract (start, stop, usage(window_start, window_end)) for containers.

    Each sample sums, over the containers, the cumulative CPU time (stats'
    cpu_usage.total_usage) and the memory in use (usage less inactive page cache, as
    `docker stats` shows it), read with one-shot stats calls from the Engine API.
    """

    def __init__(self, client, container_ids: list[str], interval: float = 0.25):
        super().__init__(pid=0, interval=interval)
        self.client = client
        self.container_ids = list(container_ids)

    def _sample(self) -> None:
        cpu, memory = 0.0, 0
        for container_id in self.container_ids:
            try:
                stats = self.client.api.stats(container_id, stream=False, one_shot=True)
            except docker.errors.APIError:
                return  # a container that is gone: no sample rather than a partial one
            cpu_ns = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
            mem = stats.get("memory_stats") or {}
            if cpu_ns is None or "usage" not in mem:
                return  # not running (any more)
            detail = mem.get("stats") or {}
            cpu += cpu_ns / 1e9
            memory += mem["usage"] - detail.get("total_inactive_file", detail.get("inactive_file", 0))
        self.samples.append((time.time(), cpu, memory))


class DockerTarget:
    """One compose service, with the same methods the runner uses on LocalTarget.

    `url` is the port compose published on the host (the conformance check),
    `load_url` the service's name and port on the compose network (Locust).
    """

    def __init__(self, engine: "DockerEngine", framework: Framework, cores: list[int], extra_env: dict | None = None):
        self.engine = engine
        self.framework = framework
        self.cores = cores
        self.extra_env = extra_env or {}
        self.log_path = engine.run_dir / "targets" / f"{framework.name}.log"
        self.container = None
        self.url = framework.local_url  # until started: then the published address, from inspect
        self.load_url = f"http://{framework.name}:{framework.port}"

    @property
    def name(self) -> str:
        return self.framework.name

    def compose_env(self) -> dict[str, str]:
        env = {
            "SERVER_CPUS": str(len(self.cores)),
            "SERVER_CPUSET": cpuset(self.cores),
        }
        if self.extra_env.get("DATABASE_URL"):
            # The same server as the runner prepared, reached as `postgres` on the compose network.
            env["LAB_DATABASE"] = database_name(self.extra_env["DATABASE_URL"])
        return env

    def start(self) -> None:
        compose = self.engine.compose(self.compose_env())
        # Recreated, so it runs with this run's budget and database whatever ran before.
        compose.run("up", "--detach", "--no-deps", "--force-recreate", self.name, what=self.name)
        self.container = self.engine.client.containers.get(self.engine.container_id(self.name))
        self.container.reload()
        binding = (self.container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{self.framework.port}/tcp") or []
        if not binding:
            raise LabError(f"{self.name}: container publishes no port {self.framework.port}; check docker-compose.yml")
        self.url = f"http://{binding[0]['HostIp'] or '127.0.0.1'}:{binding[0]['HostPort']}"

    def wait_healthy(self, timeout: float = 90) -> None:
        wait_until_healthy(self, timeout)

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
        return ContainerSampler(self.engine.client, [self.container.id])

    log_name = "its container log"

    def log_tail(self, lines: int = 15) -> str:
        if self.container is None:
            return "(no container)"
        try:
            return self.container.logs(tail=lines).decode(errors="replace").rstrip() or "(empty log)"
        except docker.errors.APIError:
            return results_log_tail(self.log_path, lines)

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
        recorded = {key: env[key] for key in ("HOST", "PORT", "CPUS", "DATABASE_URL", "DB_POOL_SIZE") if key in env}
        if "DATABASE_URL" in recorded:
            recorded["DATABASE_URL"] = redact(recorded["DATABASE_URL"])
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
            # Uvicorn with one worker serves from its only process.
            "workers": len(children) or 1,
            "worker_command_lines": sorted({p[2] for p in children}),
            # What the container was given, read back from the engine.
            "cores": parse_cpuset(host.get("CpusetCpus")),
            "cpus": (host.get("NanoCpus") or 0) / 1e9 or None,
            "env": recorded,
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


def results_log_tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class DockerEngine:
    """Targets as compose services; Locust as a master and workers in containers per step."""

    name = "docker"

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        problem = engine_problem()
        if problem:
            raise LabError(f"engine docker: {problem}")
        self.client = docker.from_env()
        self.password = password()
        self.locust_cores: list[int] | None = None
        self.workers_wanted = os.environ.get("LOCUST_WORKERS")
        self.compose_version = self.compose().run("version", "--short", what="docker compose").strip()
        self.build()

    # -- compose -------------------------------------------------------------------

    def compose(self, extra: dict[str, str] | None = None) -> Compose:
        env = {
            "COMPOSE_BAKE": "false",  # no buildx here; compose's own builder
            # The runner polls /health itself; Docker's checks would start a Python on the measured cores.
            "LAB_HEALTH_INTERVAL": "1h",
            "POSTGRES_PASSWORD": self.password,
            # Locust writes the step's files as this user, so they belong to whoever runs the lab.
            "LAB_UID": os.environ.get("LAB_UID", str(os.getuid())),
            "LAB_GID": os.environ.get("LAB_GID", str(os.getgid())),
        }
        return Compose({**env, **(extra or {})})

    def container_id(self, service: str) -> str:
        ids = self.compose().run("ps", "--all", "--quiet", service, what=service).split()
        if not ids:
            raise LabError(f"{service}: compose started no container")
        return ids[0]

    def build(self) -> None:
        """Every image, one service at a time, so a failure names its service (cached: seconds)."""
        for service in ("fastapi", "flask", "django", "bare-asgi", "bare-wsgi", "master"):
            try:
                self.compose().run("build", service, timeout=1800, what=f"building {service}")
            except LabError as problem:
                raise LabError(f"building the {service} image failed: {problem}") from None

    def database_server(self) -> str:
        """The compose PostgreSQL, up and healthy; its URL as seen from the host."""
        compose = self.compose()
        try:
            # Published on the host with this run's password (plain `docker compose up` does not publish it).
            # Later `up --no-deps` of the targets leave it as it is.
            compose.run("--file", str(POSTGRES_PORT_FILE), "up", "--detach", "--wait", "--wait-timeout", "90", "postgres", what="postgres")
        except LabError as problem:
            logs = self.logs("postgres")
            compose.run("rm", "--stop", "--force", "postgres", what="postgres")
            raise LabError(f"postgres did not turn healthy: {problem}\nlast lines of its log:\n{logs}") from None
        port = compose.run("port", "postgres", "5432", what="postgres").strip()  # e.g. 127.0.0.1:15432
        return f"postgresql://postgres:{self.password}@{port}/postgres"

    def logs(self, service: str, lines: int = 15) -> str:
        try:
            return tail(self.compose().run("logs", "--no-color", "--tail", str(lines), service, what=service), lines)
        except LabError as problem:
            return str(problem)

    def target(self, framework: Framework, cores: list[int], env: dict | None = None) -> DockerTarget:
        return DockerTarget(self, framework, cores, env)

    def describe(self) -> dict:
        version = self.client.version()
        return {
            "name": "docker",
            "server_version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "compose_version": self.compose_version,
            "compose_file": COMPOSE_FILE.name,
            "project": PROJECT,
            "base_images": {tag: image_facts(self.client, tag) for tag in BASE_IMAGES},
        }

    # -- Locust --------------------------------------------------------------------

    def worker_count(self, cores: list[int]) -> int:
        # One worker per Locust core (Locust's advice), and at least two, so the distributed
        # path (master + workers) is what is measured; LOCUST_WORKERS overrides.
        if self.workers_wanted:
            try:
                count = int(self.workers_wanted)
                if count >= 1:
                    return count
            except ValueError:
                pass
            raise LabError(f"LOCUST_WORKERS={self.workers_wanted!r}: expected a whole number of 1 or more")
        return max(2, len(cores))

    def locust_setup(self, cores: list[int] | None = None) -> dict:
        workers = self.worker_count(cores or [])
        return {
            "processes": 1 + workers,
            "mode": f"distributed in containers: one headless master + {workers} workers (docker compose run)",
            "workers": workers,
            "image": image_facts(self.client, "framework-load-lab/locust:2.47.0"),
            "python": self.client.containers.run(
                "framework-load-lab/locust:2.47.0", entrypoint=["python", "--version"], remove=True
            ).decode().strip(),
            "user": f"{os.environ.get('LAB_UID', os.getuid())}:{os.environ.get('LAB_GID', os.getgid())}",
        }

    def locust_containers(self, prefix: str | None = None) -> list:
        found = self.client.containers.list(all=True, filters={"label": [f"{PROJECT_LABEL}={PROJECT}"]})
        return [
            c for c in found
            if c.labels.get(SERVICE_LABEL) in LOCUST_SERVICES and (prefix is None or c.name.startswith(prefix))
        ]  # fmt: skip

    def remove_containers(self, containers: list) -> None:
        for container in containers:
            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass

    def run_locust(self, scenario: Scenario, target, users: int, duration: int, out_dir: Path, cores: list[int], on_start=None):
        """One step: a headless master writing into out_dir, N workers, all removed at the end."""
        out_dir.mkdir(parents=True, exist_ok=True)
        workers = self.worker_count(cores)
        name = f"{PROJECT}-run-{uuid.uuid4().hex[:8]}"
        locustfile = f"/locustfiles/{scenario.locustfile.name}"
        # The same options as the local engine's Locust, with container paths.
        options = loadgen.locust_command(scenario, target.load_url, users, loadgen.RAMP_SECONDS + duration, Path("/out") / loadgen.CSV_PREFIX)[3:]
        options[options.index("-f") + 1] = locustfile
        master_args = [*options, "--master", "--expect-workers", str(workers), "--expect-workers-max-wait", "60"]
        compose = self.compose({"LOCUST_CPUSET": cpuset(cores)})
        master_cmd = ["run", "--rm", "--no-deps", "--no-TTY", "--name", f"{name}-master", "--volume", f"{out_dir.resolve()}:/out", "master", *master_args]
        worker_args = ["-f", locustfile, "--worker", "--master-host", f"{name}-master", "--loglevel", "WARNING"]
        command = ["docker", "compose", *master_cmd]
        final_path = out_dir / f"{loadgen.CSV_PREFIX}_final.json"
        timed_out = False
        samplers: list[ContainerSampler] = []
        with open(out_dir / "locust.log", "wb") as log:
            process = compose.popen(*master_cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            if on_start:
                on_start(process)
            try:
                self.wait_for_container(f"{name}-master", process)
                # Not --rm: their logs are kept (locust_workers.log) before they are removed.
                starting = [
                    compose.popen("run", "--detach", "--no-deps", "--name", f"{name}-worker-{index}", "worker", *worker_args,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    for index in range(1, workers + 1)
                ]  # fmt: skip
                for worker in starting:
                    output = worker.communicate(timeout=120)[0].decode(errors="replace")
                    if worker.returncode != 0:
                        raise LabError(f"a Locust worker did not start; last lines:\n{tail(output)}")
                samplers = [ContainerSampler(self.client, [c.id]).start() for c in self.locust_containers(f"{name}-worker-")]
                try:
                    # Bounded: the master stops itself at --run-time; this only catches a hung run.
                    process.wait(timeout=60 + loadgen.RAMP_SECONDS + duration + 60)
                except subprocess.TimeoutExpired:
                    timed_out = True
            finally:
                for sampler in samplers:
                    sampler.stop()
                if process.poll() is None:
                    process.kill()
                    process.wait()
                leftovers = self.locust_containers(name)
                with open(out_dir / "locust_workers.log", "wb") as worker_log:
                    for container in sorted(leftovers, key=lambda c: c.name):
                        if "-worker-" in container.name:
                            worker_log.write(f"== {container.name}\n".encode() + container.logs())
                self.remove_containers(leftovers)
        final = json.loads(final_path.read_text()) if final_path.exists() else {}
        if final:
            self.add_worker_usage(final, samplers, out_dir)
        return loadgen.LocustRun(command=command + [f"(+ {workers} workers: docker compose run worker {' '.join(worker_args)})"], exit_code=process.returncode, final=final, timed_out=timed_out)

    def wait_for_container(self, name: str, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return  # it ended already; the missing stats say so
            try:
                if self.client.containers.get(name).status == "running":
                    return
            except docker.errors.NotFound:
                pass
            time.sleep(0.1)
        raise LabError(f"the Locust master container {name} did not start within {timeout:.0f} s")

    @staticmethod
    def add_worker_usage(final: dict, samplers: list[ContainerSampler], out_dir: Path) -> None:
        """The generator's CPU is in the workers: the busiest one is what may saturate (one core each)."""
        start, end = final.get("window_start"), final.get("window_end")
        usage = [sampler.usage(start, end) for sampler in samplers]
        percents = [u["cpu_percent"] for u in usage if u["cpu_percent"] is not None]
        final["master_cpu_percent"] = final.get("locust_cpu_percent")
        final["worker_cpu_percent"] = percents
        final["locust_cpu_percent"] = max(percents) if percents else None
        # Docker's stats have no run-queue wait; only the master's own schedstat did.
        final["locust_demand_percent"] = None
        results.write_json(out_dir / f"{loadgen.CSV_PREFIX}_workers.json", {"workers": usage, "window_start": start, "window_end": end})

    def close(self) -> None:
        """Nothing left behind: every service, the baselines, the database and any Locust container."""
        self.remove_containers(self.locust_containers())
        self.compose().run("down", "--remove-orphans", "--timeout", "10", what="docker compose down")
