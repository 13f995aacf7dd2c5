"""One server under test as a compose service, on the host's network, its budget set on the running container."""

from typing import TYPE_CHECKING

import docker.errors

from ...catalog import ROOT, Service
from ...contract.database import database_name
from ...errors import LabError
from .. import cgroups
from ..base import Target, log_tail, recorded_env, wait_until_steady, worker_count
from ..server_cgroup import Accounting
from .compose import cpu_limit, cpuset, image_facts, parse_cpuset
from .sampler import ContainerSampler

if TYPE_CHECKING:
    from .engine import DockerEngine


class DockerTarget(Target):
    """One compose service, on the host's network (the run's override, bench_override): `url` and
    `load_url` are both its port on the engine's host address."""

    def __init__(self, engine: "DockerEngine", framework: Service, cores: list[int], extra_env: dict | None = None, cpus: float | None = None):
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
        quota = cgroups.quota_us(cpus) if cpus < len(self.cores) else -1
        try:
            self.container.update(cpu_period=cgroups.PERIOD_US, cpu_quota=quota)
        except docker.errors.APIError as problem:
            raise LabError(f"{self.name}: the engine refused a CPU quota of {cpus:g} cores ({problem.explanation or problem})") from None
        self.cpus = cpus
        return self.cpu_limit()

    def cpu_limit(self) -> dict:
        self.container.reload()
        return cpu_limit(self.container.attrs["HostConfig"])

    def pid(self) -> int | None:
        self.container.reload()
        return (self.container.attrs.get("State") or {}).get("Pid") or None

    def cpu_seconds(self) -> float | None:
        """From the container's cgroup on this host (exact, and quick); the Engine API's stats where it cannot be read."""
        pid = (self.container.attrs.get("State") or {}).get("Pid")
        found = Accounting.of(pid) if pid else None
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
