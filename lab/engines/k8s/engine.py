"""The k8s engine: the lab's Deployments in a cluster (deploy/k8s, applied by the user) as targets,
the cluster's Locust master and workers as the generator, its PostgreSQL as the database.

The runner stays on this machine and reaches the cluster through `kubectl port-forward`: the master's
web API (the steps are driven the way the web UI drives them), each target's /health and contract
checks, and PostgreSQL (the run's own database is created there). The load itself never crosses
the forward: the workers reach each target by its Service name inside the cluster.

What it cannot do here, it says: budgets are the pods' whole cores (no quota is set on a running
pod); wrk runs on this machine, outside the cluster, so the whole-core reference (fidelity) is not
measured; and where the CPU manager policy is not static, the targets' cores are not exclusive and
the run records that.
"""

from pathlib import Path

from ...catalog import ROOT, Service
from ...contract.database import database_name
from ...errors import LabError
from ...settings import GeneratorSettings
from ..base import Engine, Generator, Target, recorded_env, wait_until_steady, worker_count
from ..samplers import Sampler
from . import facts
from .cluster import Cluster, Forward, KubectlCluster

ROLLOUT_TIMEOUT = 300
SAMPLE_INTERVAL = 1.0  # each sample is a `kubectl exec`: not every 0.25 s


class PodSampler(Sampler):
    """CPU seconds and memory of pods, from their cgroups, read with exec."""

    def __init__(self, cluster: Cluster, pods: list[str]):
        super().__init__(SAMPLE_INTERVAL)
        self.cluster, self.pods = cluster, pods

    def sample(self) -> tuple[float, int] | None:
        taken = [facts.cpu_stat(self.cluster, pod) for pod in self.pods]
        if not taken or any(t is None for t in taken):
            return None  # a pod that cannot be read: no sample rather than a partial one
        return sum(t[0] for t in taken), sum(t[1] for t in taken)

    def usage(self, start: float | None = None, end: float | None = None) -> dict:
        return {**super().usage(start, end), "cpu_source": "cgroup (kubectl exec)"}


def one_pod(cluster: Cluster, name: str) -> dict:
    pods = facts.ready_pods(cluster, name)
    if not pods:
        raise LabError(f"{name}: no ready pod in namespace {cluster.namespace}")
    return max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))


class K8sEngine(Engine):
    """Targets, Locust and PostgreSQL as the Deployments and StatefulSet of deploy/k8s."""

    name = "k8s"
    # wrk would run here, outside the cluster, through a port-forward: not a measurement of the target.
    wrk_from_host = False

    def __init__(self, run_dir: Path, settings: GeneratorSettings, cluster: Cluster | None = None):
        self.run_dir, self.settings = run_dir, settings
        self.cluster = cluster or KubectlCluster()
        problem = self.cluster.problem()
        if problem:
            raise LabError(f"engine k8s: {problem}")
        self.forwards: list[Forward] = []
        self.pod_records: dict[str, dict] = {}  # target name -> its pod's facts
        self.node_records: dict[str, dict] = {}  # node name -> its facts

    def forward(self, service: str, port: int) -> str:
        forward = self.cluster.forward(service, port)
        self.forwards.append(forward)
        return f"http://127.0.0.1:{forward.local_port}"

    @classmethod
    def cpu_limit(cls, cpus: float, cores: list[int]) -> dict:
        """The pod's CPU limit: whole cores, set in deploy/k8s, not changed on a running pod."""
        if cpus != int(cpus):
            raise LabError(f"engine k8s: a budget of {cpus:g} cores; on a cluster the budget is the pods' CPU limit, in whole cores (SERVER_CPUS=all)")
        return {"cpus": cpus, "method": "the pod's CPU limit (whole cores; exclusive cores with the static CPU manager policy)"}

    def database_password(self) -> str:
        stateful = self.cluster.get("statefulset", "postgres")
        env = {e["name"]: e.get("value", "") for e in stateful["spec"]["template"]["spec"]["containers"][0].get("env") or []}
        return env.get("POSTGRES_PASSWORD", "")

    def database_server(self) -> str:
        one_pod(self.cluster, "postgres")
        url = self.forward("postgres", 5432).replace("http://", "")
        return f"postgresql://postgres:{self.database_password()}@{url}/postgres"

    def target(self, framework: Service, cores: list[int], env: dict | None = None, cpus: float | None = None) -> "K8sTarget":
        return K8sTarget(self, framework, env or {})

    def generator(self, cores: list[int]) -> "K8sGenerator":
        return K8sGenerator(self)

    def fidelity_problem(self) -> str | None:
        """Why fidelity is not measured: cores that are not exclusive first (the run says so), then wrk's place."""
        for name, record in self.pod_records.items():
            reason = facts.not_exclusive(record)
            if reason:
                return f"{name}: {reason}"
        return "wrk runs on this machine, outside the cluster: the targets' whole-core reference is not measurable here"

    def node(self, name: str | None, pod: str) -> dict:
        """A node the lab's pods run on: its cores, kubelet, CPU manager policy, and the CPU model a pod on it reads."""
        if name not in self.node_records:
            found = [n for n in self.cluster.nodes() if n["metadata"]["name"] == name]
            if not found:
                return {"name": name, "facts": "not readable (the node is not listed)"}
            self.node_records[name] = {"name": name, **facts.node_facts(self.cluster, found[0], facts.cpu_model(self.cluster, pod))}
        return self.node_records[name]

    def describe(self) -> dict:
        return {"name": "k8s", **self.cluster.describe(), "manifests": "deploy/k8s (applied by the user)",
                "network": "load inside the cluster (Service names); the runner through kubectl port-forward"}  # fmt: skip

    def close(self) -> None:
        for forward in self.forwards:
            forward.close()
        self.forwards.clear()


class K8sTarget(Target):
    """One target's Deployment: the run's database set in its environment (a rollout), its pod checked."""

    log_name = "its pod's log"

    def __init__(self, engine: K8sEngine, framework: Service, extra_env: dict):
        self.engine, self.cluster, self.framework = engine, engine.cluster, framework
        self.extra_env = extra_env
        self.load_url = f"http://{framework.name}:{framework.port}"
        self.url = ""
        self.pod: dict | None = None
        self.cpus = 0.0

    def database_url(self) -> str:
        """The run's database, at the name PostgreSQL's Service has inside the cluster."""
        return f"postgresql://postgres:{self.engine.database_password()}@postgres:5432/{database_name(self.extra_env['DATABASE_URL'])}"

    def start(self) -> None:
        try:
            self.cluster.get("deployment", self.name)
        except LabError:
            raise LabError(f"no deployment {self.name} in namespace {self.cluster.namespace}: apply deploy/k8s/overlays/all for the variants") from None
        if self.framework.kind != "baseline" and self.extra_env.get("DATABASE_URL"):
            self.cluster.set_env(self.name, {"DATABASE_URL": self.database_url()})  # a rollout when it changed
        self.cluster.wait_rolled_out(self.name, ROLLOUT_TIMEOUT)
        self.pod = one_pod(self.cluster, self.name)
        record = facts.pod_facts(self.cluster, self.pod, None)
        record["node_facts"] = self.engine.node(record["node"], self.pod_name)
        record["node_cpus"] = record["node_facts"].get("cpus")
        record["exclusive_cores"] = facts.exclusive(record["cpuset"] if isinstance(record["cpuset"], list) else None,
                                                    record["limit_cpus"], record["node_cpus"])  # fmt: skip
        if record["exclusive_cores"] is None:
            record["exclusive_cores"] = "not measurable here (the cpuset cannot be read)"
        self.engine.pod_records[self.name] = record
        self.cpus = record["limit_cpus"] or 0.0
        self.url = self.engine.forward(self.name, self.framework.port)

    @property
    def pod_name(self) -> str:
        return self.pod["metadata"]["name"] if self.pod else ""

    def alive(self) -> bool:
        if not self.pod:
            return False
        try:
            pod = self.cluster.get("pod", self.pod_name)
        except LabError:
            return False
        self.pod = pod
        return pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")

    def settle(self) -> None:
        wait_until_steady(lambda: len(facts.processes(self.cluster, self.pod_name)), quiet=2.0)

    def exit_reason(self) -> str:
        if not self.pod:
            return "no pod"
        status = (self.pod["status"].get("containerStatuses") or [{}])[0]
        state = status.get("state") or {}
        last = (status.get("lastState") or {}).get("terminated") or state.get("terminated") or {}
        return f"pod {self.pod_name} is {self.pod['status'].get('phase')}" + (f" (last exit: {last.get('reason')}, code {last.get('exitCode')})" if last else "")

    def log_tail(self, lines: int = 15) -> str:
        return self.cluster.logs(self.pod_name, lines).rstrip() or "(empty log)" if self.pod else "(no pod)"

    def describe(self) -> dict:
        processes = facts.processes(self.cluster, self.pod_name)
        root = processes[0][0] if processes else None
        children = [p for p in processes if p[1] == root]
        env = {e["name"]: e.get("value", "") for e in self.pod["spec"]["containers"][0].get("env") or [] if "value" in e}
        record = self.engine.pod_records[self.name]
        return {
            "engine": "k8s",
            "url": self.url,
            "load_url": self.load_url,
            **record,
            "python": self.cluster.exec(self.pod_name, ["python", "--version"]).strip(),
            "start_command": str(self.framework.start_command.relative_to(ROOT)),
            "command_line": processes[0][2].split() if processes else [],
            "processes": len(processes),
            "workers": worker_count([p[2] for p in children]),
            "worker_command_lines": sorted({p[2] for p in children}),
            "cpus": self.cpus,
            "cpu_limit": self.cpu_limit(),
            "env": recorded_env({**env, "CPUS": str(int(self.cpus))}),
        }

    def sampler(self) -> Sampler:
        return PodSampler(self.cluster, [self.pod_name])

    def limit(self, cpus: float | None) -> dict:
        if cpus is not None and cpus != self.cpus:
            raise LabError(f"{self.name}: a budget of {cpus:g} cores; its pod's limit is {self.cpus:g} (change the limit in deploy/k8s)")
        return self.cpu_limit()

    def cpu_limit(self) -> dict:
        record = self.engine.pod_records.get(self.name) or {}
        return {"method": "the pod's CPU limit", "cpus": self.cpus, "qos_class": record.get("qos_class"), "exclusive_cores": record.get("exclusive_cores")}

    def cpu_seconds(self) -> float | None:
        found = facts.cpu_stat(self.cluster, self.pod_name) if self.pod else None
        return found[0] if found else None

    def pid(self) -> int | None:
        return None  # in a pod on another machine

    def stop(self) -> None:
        if self.pod:
            folder = self.engine.run_dir / "targets"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{self.name}.log").write_text(self.cluster.logs(self.pod_name))


class K8sGenerator(Generator):
    """The cluster's master (restarted: no test, no stats) and its workers, scaled to the run's count."""

    def __init__(self, engine: K8sEngine):
        self.engine, self.cluster, self.settings = engine, engine.cluster, engine.settings
        current = self.cluster.get("deployment", "worker")["spec"].get("replicas") or 1
        # LOCUST_WORKERS, else what the cluster runs now (kubectl scale deployment/worker --replicas=N).
        self.workers = self.settings.workers or current
        self.web_url = ""

    def start(self) -> None:
        self.cluster.scale("worker", self.workers)
        for name in ("master", "worker"):
            self.cluster.restart(name)  # a fresh master, and workers that connect to it
        for name in ("master", "worker"):
            self.cluster.wait_rolled_out(name, ROLLOUT_TIMEOUT)
        self.web_url = self.engine.forward("master", 8089)
        self.master().wait_ready(self.workers + self.settings.extra_workers, self.settings.connect_timeout, alive=self.problem)

    def pods(self) -> list[dict]:
        return facts.ready_pods(self.cluster, "master") + facts.ready_pods(self.cluster, "worker")

    def problem(self) -> str | None:
        if not facts.ready_pods(self.cluster, "master"):
            return f"the Locust master has no ready pod in namespace {self.cluster.namespace}; last lines of its log:\n{self.log_tail()}"
        return None

    def ensure_workers(self) -> None:
        if len(facts.ready_pods(self.cluster, "worker")) < self.workers:
            self.cluster.wait_rolled_out("worker", ROLLOUT_TIMEOUT)

    def sampler(self) -> Sampler:
        return PodSampler(self.cluster, [p["metadata"]["name"] for p in self.pods()])

    def describe(self) -> dict:
        pods = [facts.pod_facts(self.cluster, pod, None) for pod in self.pods()]
        nodes = {p["node"]: self.engine.node(p["node"], p["pod"]) for p in pods}
        servers = {record["node"] for record in self.engine.pod_records.values()}
        master = self.cluster.get("deployment", "master")["spec"]["template"]["spec"]["containers"][0]
        worker = self.cluster.get("deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
        return {
            "engine": "k8s",
            "mode": f"the cluster's master + {self.workers} worker pod(s), up for the whole run",
            "workers": self.workers,
            "extra_workers": self.settings.extra_workers,
            "processes": 1 + self.workers,
            "master_command": master.get("args"),
            "worker_command": worker.get("args"),
            "web_url": self.web_url,
            "image": master.get("image"),
            "pods": pods,
            "nodes": nodes,
            # podAntiAffinity keeps them apart; this is the check that it did.
            "workers_share_a_node_with_a_server": sorted({p["node"] for p in pods if p["pod"].startswith("worker")} & servers),
        }

    def log_tail(self, lines: int = 15) -> str:
        pods = facts.ready_pods(self.cluster, "master")
        return self.cluster.logs(pods[0]["metadata"]["name"], lines).rstrip() if pods else "(no master pod)"

    def stop(self) -> None:
        folder = self.engine.run_dir / "locust"
        folder.mkdir(parents=True, exist_ok=True)
        for pod in self.pods():
            name = pod["metadata"]["name"]
            (folder / f"{name}.log").write_text(self.cluster.logs(name))


