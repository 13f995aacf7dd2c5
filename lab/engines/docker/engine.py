"""The docker engine and its Locust: the compose services as targets, the compose master and workers."""

import os
from pathlib import Path

import docker
import docker.errors

from ... import catalog
from ...catalog import Service
from ...errors import LabError
from ...load.locust import Master
from ...settings import GeneratorSettings
from .. import cgroups
from ..base import Engine, Generator
from ..processes import runner_alive, runner_words, this_runner
from ..samplers import Sampler
from .compose import (
    BASE_IMAGES, BENCH_OVERRIDE, COMPOSE_FILE, LOCUST_IMAGE, LOCUST_SERVICES, POSTGRES_PORT, PROJECT, PROJECT_LABEL, RUN_LABEL, RUNNER_LABEL,
    SERVICE_LABEL, Compose, bench_override, cpuset, engine_problem, image_facts, password, tail,
)  # fmt: skip
from .sampler import ContainerSampler
from .target import DockerTarget


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
        # first, docs/running.md) or the address the local engine would use.
        self.host = os.environ.get("LAB_BIND") or settings.target_host
        self.database_port = int(os.environ.get("POSTGRES_PORT") or POSTGRES_PORT)
        self.override = run_dir / BENCH_OVERRIDE
        run_dir.mkdir(parents=True, exist_ok=True)
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

    setup_note = "building the images (cached after the first time)"

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

    def target(self, framework: Service, cores: list[int], env: dict | None = None, cpus: float | None = None) -> DockerTarget:
        return DockerTarget(self, framework, cores, env, cpus)

    @classmethod
    def cpu_limit(cls, cpus: float, cores: list[int]) -> dict:
        """The container's cpu_quota per cpu_period, set on the running container (DockerTarget.limit)."""
        if cpus >= len(cores):
            return {"cpus": cpus, **cgroups.NO_QUOTA}
        return {"cpus": cpus, "method": "docker cpu_quota / cpu_period", "period_us": cgroups.PERIOD_US, "quota_us": cgroups.quota_us(cpus)}

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
