"""A cluster in memory that implements lab/engines/k8s/cluster.py's Cluster Protocol, for the k8s
engine's logic (tests/test_k8s_engine.py): nodes, Deployments and their pods, files inside each pod
(what `kubectl exec cat` reads), and the kubelet's configuration; it records what the engine did.

A cluster of its kind: a node of `node_cores` cores, the kubelet's CPU manager policy `policy`;
with "static" a Guaranteed pod's cpuset is its own cores, with "none" it is the node's every core.
"""

import json
from dataclasses import dataclass, field

from lab.errors import LabError

CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"


@dataclass
class FakeForward:
    local_port: int
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeCluster:
    policy: str = "static"
    node_cores: int = 8
    configz_readable: bool = True
    namespace: str = "framework-load-lab"
    # service name -> the local port a forward to it gives (the master's: a real HTTP server).
    ports: dict[str, int] = field(default_factory=dict)
    deployments: dict[str, dict] = field(default_factory=dict)
    pods: dict[str, dict] = field(default_factory=dict)
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # pod -> path -> text
    calls: list[tuple] = field(default_factory=list)
    forwards: list[FakeForward] = field(default_factory=list)
    next_core: int = 1

    def add(self, name: str, cpu: str = "1", memory: str = "1Gi", node: str = "node-a", env: dict | None = None,
            replicas: int = 1, limits: bool = True, args: list[str] | None = None) -> None:  # fmt: skip
        """A Deployment and its ready pods, as the API server and kubelet would report them."""
        resources = {"requests": {"cpu": cpu, "memory": memory}, **({"limits": {"cpu": cpu, "memory": memory}} if limits else {})}
        container = {"name": name, "image": f"framework-load-lab/{name}", "resources": resources,
                     "env": [{"name": k, "value": v} for k, v in (env or {}).items()], **({"args": args} if args else {})}  # fmt: skip
        self.deployments[name] = {"metadata": {"name": name}, "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}}}
        for index in range(replicas):
            self.pod(name, f"{name}-{index}", container, node, int(cpu) if limits else None)

    def pod(self, workload: str, pod: str, container: dict, node: str, cores: int | None) -> None:
        qos = "Guaranteed" if cores else "Burstable"
        if self.policy == "static" and cores:
            cpuset = f"{self.next_core}" if cores == 1 else f"{self.next_core}-{self.next_core + cores - 1}"
            self.next_core += cores
        else:
            cpuset = f"0-{self.node_cores - 1}"
        self.pods[pod] = {
            "metadata": {"name": pod, "labels": {"app.kubernetes.io/name": workload}, "creationTimestamp": "2026-12-06T20:00:00Z"},
            "spec": {"nodeName": node, "containers": [container]},
            "status": {"phase": "Running", "qosClass": qos, "containerStatuses": [{"ready": True, "imageID": f"sha256:{workload}", "state": {"running": {}}}]},
        }
        processes = [["1", "0", "/venv/bin/python /venv/bin/gunicorn app"], ["7", "1", "/venv/bin/python /venv/bin/gunicorn app"]]
        self.files[pod] = {
            "/sys/fs/cgroup/cpuset.cpus.effective": cpuset + "\n",
            "/proc/cpuinfo": CPUINFO,
            "/sys/fs/cgroup/cpu.stat": "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
            "/sys/fs/cgroup/memory.current": f"{64 * 2**20}\n",
            "processes": json.dumps(processes),
        }

    # -- the Protocol ------------------------------------------------------------------

    def problem(self) -> str | None:
        return None

    def describe(self) -> dict:
        return {"context": "fake", "namespace": self.namespace, "server_version": "v1.31.0", "kubectl_version": "v1.32.4"}

    def get(self, kind: str, name: str | None = None, selector: str | None = None) -> dict:
        if kind == "pods":
            wanted = selector.split("=", 1)[1]
            return {"items": [p for p in self.pods.values() if p["metadata"]["labels"]["app.kubernetes.io/name"] == wanted]}
        if kind == "pod" and name in self.pods:
            return self.pods[name]
        if kind == "deployment" and name in self.deployments:
            return self.deployments[name]
        if kind == "statefulset" and name == "postgres":
            return self.deployments["postgres"]
        raise LabError(f'Error from server (NotFound): {kind} "{name}" not found')

    def nodes(self) -> list[dict]:
        return [{"metadata": {"name": node, "labels": {"node.kubernetes.io/instance-type": "c6i.2xlarge"}},
                 "status": {"capacity": {"cpu": str(self.node_cores)}, "allocatable": {"cpu": f"{self.node_cores * 1000 - 500}m"},
                            "nodeInfo": {"kubeletVersion": "v1.31.0", "kernelVersion": "6.1.0", "osImage": "Debian 12", "containerRuntimeVersion": "containerd://1.7"}}}
                for node in ("node-a", "node-b")]  # fmt: skip

    def kubelet_config(self, node: str) -> dict | None:
        if not self.configz_readable:
            return None
        return {"cpuManagerPolicy": self.policy} if self.policy != "none" else {}

    def exec(self, pod: str, command: list[str], timeout: float = 30) -> str:
        self.calls.append(("exec", pod, command[0]))
        files = self.files.get(pod)
        if files is None:
            raise LabError(f'pods "{pod}" not found')
        if command[0] == "cat":
            missing = [path for path in command[1:] if path not in files]
            if missing:
                raise LabError(f"cat: {missing[0]}: No such file or directory")
            return "".join(files[path] for path in command[1:])
        if command[:2] == ["python", "-c"]:
            return files["processes"]
        if command == ["python", "--version"]:
            return "Python 3.12.12\n"
        raise LabError(f"fake: no such command {command}")

    def set_env(self, deployment: str, env: dict[str, str]) -> None:
        self.calls.append(("set_env", deployment, env))

    def scale(self, deployment: str, replicas: int) -> None:
        self.calls.append(("scale", deployment, replicas))
        self.deployments[deployment]["spec"]["replicas"] = replicas

    def restart(self, deployment: str) -> None:
        self.calls.append(("restart", deployment))

    def wait_rolled_out(self, deployment: str, timeout: float) -> None:
        self.calls.append(("wait_rolled_out", deployment))

    def forward(self, service: str, port: int) -> FakeForward:
        self.calls.append(("forward", service, port))
        forward = FakeForward(self.ports.get(service, 1))
        self.forwards.append(forward)
        return forward

    def logs(self, pod: str, lines: int | None = None) -> str:
        return f"log of {pod}\n"
