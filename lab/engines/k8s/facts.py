"""What a cluster run records beside its numbers, read through the Cluster interface: the nodes and
their CPU models, each pod's QoS class, its CPU set and whether its cores are its own.

Exclusive cores are what the kubelet's static CPU manager policy gives a Guaranteed pod with whole
cores: its cpuset holds exactly its limit's cores. With the default policy (none) every pod's cpuset
is the node's shared pool and the cores are not exclusive; the run then says so and measures no fidelity.
"""

import json

from ...errors import LabError
from ..docker.compose import parse_cpuset
from .cluster import Cluster

# cgroup v2, then v1: the CPUs the container may run on.
CPUSET_FILES = ("/sys/fs/cgroup/cpuset.cpus.effective", "/sys/fs/cgroup/cpuset/cpuset.effective_cpus")
# The container's processes, as [pid, ppid, command line], from /proc (the images have no ps).
PROCESSES = (
    "import json, os\n"
    "found = []\n"
    "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
    "    try:\n"
    "        ppid = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1]\n"
    "        line = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode().strip()\n"
    "    except OSError:\n"
    "        continue\n"
    "    found.append([pid, ppid, line])\n"
    "print(json.dumps(sorted(found, key=lambda p: int(p[0]))))\n"
)


def cores_of(quantity: str | None) -> float | None:
    """A CPU quantity ("2", "1500m") in cores."""
    if quantity is None:
        return None
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def ready_pods(cluster: Cluster, name: str) -> list[dict]:
    """The running, ready pods of a workload (label app.kubernetes.io/name), not those terminating."""
    pods = cluster.get("pods", selector=f"app.kubernetes.io/name={name}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp") and p["status"].get("phase") == "Running"
            and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])]  # fmt: skip


def cpu_set(cluster: Cluster, pod: str) -> list[int] | None:
    for path in CPUSET_FILES:
        try:
            return parse_cpuset(cluster.exec(pod, ["cat", path]).strip())
        except (LabError, ValueError):
            continue
    return None


def cpu_model(cluster: Cluster, pod: str) -> str | None:
    try:
        text = cluster.exec(pod, ["cat", "/proc/cpuinfo"])
    except LabError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model"):
            return value.strip()
    return None


def processes(cluster: Cluster, pod: str) -> list[list[str]]:
    try:
        return json.loads(cluster.exec(pod, ["python", "-c", PROCESSES]))
    except (LabError, ValueError):
        return []


def cpu_stat(cluster: Cluster, pod: str) -> tuple[float, int] | None:
    """(CPU seconds so far, memory bytes now) from the container's cgroup v2 files; None where unreadable."""
    try:
        text = cluster.exec(pod, ["cat", "/sys/fs/cgroup/cpu.stat", "/sys/fs/cgroup/memory.current"])
    except LabError:
        return None
    usage, memory = None, None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "usage_usec":
            usage = int(parts[1]) / 1e6
        elif len(parts) == 1 and parts[0].isdigit():
            memory = int(parts[0])
    return (usage, memory or 0) if usage is not None else None


def exclusive(cpuset: list[int] | None, limit: float | None, node_cores: int | None) -> bool | None:
    """Whether a pod's cores are its own: its cpuset is exactly its (whole-core) limit, fewer than the node's.
    None when the cpuset cannot be read."""
    if cpuset is None or limit is None:
        return None
    return len(cpuset) == limit and (node_cores is None or len(cpuset) < node_cores)


def node_facts(cluster: Cluster, node: dict, model: str | None) -> dict:
    status, labels = node.get("status") or {}, node["metadata"].get("labels") or {}
    info = status.get("nodeInfo") or {}
    config = cluster.kubelet_config(node["metadata"]["name"])
    return {
        "cpus": cores_of((status.get("capacity") or {}).get("cpu")),
        "allocatable_cpus": cores_of((status.get("allocatable") or {}).get("cpu")),
        "cpu_model": model or "not readable (no lab pod on this node could read /proc/cpuinfo)",
        "instance_type": labels.get("node.kubernetes.io/instance-type"),
        "kubelet": info.get("kubeletVersion"),
        "kernel": info.get("kernelVersion"),
        "os": info.get("osImage"),
        "container_runtime": info.get("containerRuntimeVersion"),
        "cpu_manager_policy": (config or {}).get("cpuManagerPolicy", "none") if config is not None else "not readable (the kubelet's configz needs nodes/proxy)",
    }


def pod_facts(cluster: Cluster, pod: dict, node_cores: int | None) -> dict:
    """One pod, for the manifest: node, QoS class, CPU limit, CPU set and whether it is exclusive."""
    name = pod["metadata"]["name"]
    container = pod["spec"]["containers"][0]
    limit = cores_of(((container.get("resources") or {}).get("limits") or {}).get("cpu"))
    cpuset = cpu_set(cluster, name)
    own = exclusive(cpuset, limit, node_cores)
    status = (pod["status"].get("containerStatuses") or [{}])[0]
    return {
        "pod": name,
        "node": pod["spec"].get("nodeName"),
        "qos_class": pod["status"].get("qosClass"),
        "limit_cpus": limit,
        "cpuset": cpuset if cpuset is not None else "not readable",
        "exclusive_cores": own if own is not None else "not measurable here (the cpuset cannot be read)",
        "image": container.get("image"),
        "image_id": status.get("imageID"),
    }


def not_exclusive(facts: dict) -> str | None:
    """Why a pod's cores are not its own, in words, or None."""
    if facts["exclusive_cores"] is True:
        return None
    if facts["qos_class"] != "Guaranteed":
        return f"pod {facts['pod']} has QoS class {facts['qos_class']}, not Guaranteed"
    if facts["exclusive_cores"] is False:
        return (f"pod {facts['pod']} on node {facts['node']} may run on cores {facts['cpuset']} for a limit of {facts['limit_cpus']:g}: "
                "its cores are not exclusive (the kubelet's CPU manager policy is not static)")  # fmt: skip
    return f"pod {facts['pod']}: whether its cores are exclusive is not measurable here (its cpuset cannot be read)"
