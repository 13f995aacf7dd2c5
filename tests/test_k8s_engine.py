"""The k8s engine's logic against a cluster in memory (tests/support/fake_cluster.py, the same Cluster
Protocol kubectl implements): what it records (nodes, CPU models, QoS classes, CPU sets, whether the
cores are exclusive), what it asks of the cluster, and what it refuses. No cluster is reachable here,
so the kubectl implementation is checked only where it needs none: a missing kubectl or context."""

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import ROOT
from support.fake_cluster import FakeCluster

from lab import catalog
from lab.engines import choose_engine
from lab.engines.k8s import K8sEngine, KubectlCluster
from lab.errors import LabError
from lab.settings import GeneratorSettings

SERVICES = catalog.services()
RUN_DATABASE = "postgresql://postgres:secret@127.0.0.1:40000/lab_bench"


def lab_cluster(policy: str = "static", **kwargs) -> FakeCluster:
    """deploy/k8s/base as applied: PostgreSQL, Locust, two targets; workers on their own node."""
    cluster = FakeCluster(policy=policy, **kwargs)
    cluster.add("postgres", env={"POSTGRES_PASSWORD": "in-cluster", "POSTGRES_DB": "lab"})
    cluster.add("fastapi", env={"HOST": "0.0.0.0", "DATABASE_URL": "postgresql://postgres:in-cluster@postgres:5432/lab"})
    cluster.add("bare-asgi", env={"HOST": "0.0.0.0"})
    cluster.add("master", args=["-f", "/locustfiles", "--class-picker", "--master"])
    cluster.add("worker", node="node-b", args=["-f", "/locustfiles", "--worker", "--master-host", "master"])
    return cluster


@pytest.fixture
def master_api():
    """A Locust master's /stats/requests on loopback, with three ready workers."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"state": "ready", "workers": [{"id": f"w{i}", "state": "ready"} for i in range(3)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def started(engine: K8sEngine, name: str):
    target = engine.target(SERVICES[name], [0], {"DATABASE_URL": RUN_DATABASE}, cpus=None)
    target.start()
    return target


def test_static_policy_gives_each_target_its_own_cores_and_the_run_records_them(tmp_path):
    cluster = lab_cluster("static")
    engine = K8sEngine(tmp_path, GeneratorSettings(), cluster)
    target = started(engine, "fastapi")
    record = target.describe()
    assert record["qos_class"] == "Guaranteed"
    assert record["cpuset"] == [2] and record["limit_cpus"] == 1 and record["node_cpus"] == 8
    assert record["exclusive_cores"] is True
    assert record["cpu_limit"]["method"] == "the pod's CPU limit" and record["cpus"] == 1
    assert record["workers"] == 1 and record["python"] == "Python 3.12.12"
    # The run's database, at PostgreSQL's name inside the cluster (not the runner's port-forward).
    assert ("set_env", "fastapi", {"DATABASE_URL": "postgresql://postgres:in-cluster@postgres:5432/lab_bench"}) in cluster.calls
    assert record["env"]["DATABASE_URL"] == "postgresql://postgres:***@postgres:5432/lab"
    # Fidelity: wrk would run outside the cluster, so not measured; the cores are not the reason.
    assert "outside the cluster" in engine.fidelity_problem()
    node = record["node_facts"]
    assert node["name"] == "node-a" and node["cpu_model"] == "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz"
    assert node["cpu_manager_policy"] == "static" and node["cpus"] == 8 and node["allocatable_cpus"] == 7.5
    assert node["kubelet"] == "v1.31.0" and node["instance_type"] == "c6i.2xlarge"


def test_shared_cores_are_said_recorded_and_fidelity_is_not_measured(tmp_path):
    cluster = lab_cluster("none", configz_readable=True)
    engine = K8sEngine(tmp_path, GeneratorSettings(), cluster)
    target = started(engine, "fastapi")
    record = target.describe()
    assert record["cpuset"] == list(range(8)) and record["exclusive_cores"] is False
    problem = engine.fidelity_problem()
    assert problem.startswith("fastapi: pod fastapi-0 on node node-a may run on cores")
    assert "not exclusive (the kubelet's CPU manager policy is not static)" in problem
    assert record["node_facts"]["cpu_manager_policy"] == "none"


def test_a_pod_that_is_not_guaranteed_is_named(tmp_path):
    cluster = lab_cluster("static")
    cluster.add("flask", limits=False)
    engine = K8sEngine(tmp_path, GeneratorSettings(), cluster)
    started(engine, "flask")
    assert engine.fidelity_problem() == "flask: pod flask-0 has QoS class Burstable, not Guaranteed"


def test_unreadable_cpusets_and_kubelet_config_are_not_measurable_not_guessed(tmp_path):
    cluster = lab_cluster("static", configz_readable=False)
    engine = K8sEngine(tmp_path, GeneratorSettings(), cluster)
    del cluster.files["fastapi-0"]["/sys/fs/cgroup/cpuset.cpus.effective"]
    record = started(engine, "fastapi").describe()
    assert record["cpuset"] == "not readable" and record["exclusive_cores"].startswith("not measurable here")
    assert "not measurable here" in engine.fidelity_problem()
    assert record["node_facts"]["cpu_manager_policy"].startswith("not readable")


def test_a_baseline_gets_no_database_and_a_missing_variant_names_the_overlay(tmp_path):
    cluster = lab_cluster()
    engine = K8sEngine(tmp_path, GeneratorSettings(), cluster)
    started(engine, "bare-asgi")
    assert not [c for c in cluster.calls if c[0] == "set_env"]
    with pytest.raises(LabError, match="no deployment quart .* apply deploy/k8s/overlays/all"):
        started(engine, "quart")


def test_budgets_are_the_pods_whole_cores(tmp_path):
    assert K8sEngine.cpu_limit(2.0, [0, 1])["cpus"] == 2.0
    with pytest.raises(LabError, match="budget of 0.5 cores; on a cluster the budget is the pods' CPU limit, in whole cores"):
        K8sEngine.cpu_limit(0.5, [0])
    target = started(K8sEngine(tmp_path, GeneratorSettings(), lab_cluster()), "fastapi")
    assert target.limit(1.0)["cpus"] == 1
    with pytest.raises(LabError, match="its pod's limit is 1"):
        target.limit(2.0)


def test_cpu_and_memory_come_from_the_pods_cgroup(tmp_path):
    cluster = lab_cluster()
    target = started(K8sEngine(tmp_path, GeneratorSettings(), cluster), "fastapi")
    assert target.cpu_seconds() == 2.5
    assert target.sampler().sample() == (2.5, 64 * 2**20)
    del cluster.files["fastapi-0"]["/sys/fs/cgroup/cpu.stat"]
    assert target.cpu_seconds() is None and target.sampler().sample() is None


def test_the_generator_scales_workers_restarts_locust_and_checks_they_avoid_the_servers(tmp_path, master_api):
    cluster = lab_cluster(ports={"master": master_api})
    engine = K8sEngine(tmp_path, GeneratorSettings(workers=3, connect_timeout=5), cluster)
    started(engine, "fastapi")
    with engine.generator([1]) as generator:
        assert generator.web_url == f"http://127.0.0.1:{master_api}"
        described = generator.describe()
    assert ("scale", "worker", 3) in cluster.calls
    assert cluster.calls.index(("restart", "master")) < cluster.calls.index(("forward", "master", 8089))
    assert described["workers"] == 3 and described["worker_command"][-1] == "master"
    assert described["workers_share_a_node_with_a_server"] == []
    assert {p["pod"]: p["node"] for p in described["pods"]} == {"master-0": "node-a", "worker-0": "node-b"}
    assert set(described["nodes"]) == {"node-a", "node-b"} and described["nodes"]["node-b"]["cpu_model"].startswith("Intel")
    assert {p["qos_class"] for p in described["pods"]} == {"Guaranteed"}
    assert (tmp_path / "locust" / "worker-0.log").read_text() == "log of worker-0\n"
    engine.close()
    assert all(forward.closed for forward in cluster.forwards)


def test_the_generator_keeps_the_clusters_worker_count_unless_told(tmp_path):
    cluster = lab_cluster()
    cluster.deployments["worker"]["spec"]["replicas"] = 5
    assert K8sEngine(tmp_path, GeneratorSettings(), cluster).generator([1]).workers == 5


def test_the_database_is_reached_through_a_forward_with_the_clusters_password(tmp_path):
    cluster = lab_cluster(ports={"postgres": 41234})
    assert K8sEngine(tmp_path, GeneratorSettings(), cluster).database_server() == "postgresql://postgres:in-cluster@127.0.0.1:41234/postgres"


def test_no_kubectl_or_no_context_is_one_line(tmp_path, monkeypatch):
    assert KubectlCluster(kubectl="kubectl-that-is-not-installed").problem().startswith("kubectl is not installed")
    with pytest.raises(LabError, match="^engine k8s: kubectl is not installed"):
        K8sEngine(tmp_path, GeneratorSettings(), KubectlCluster(kubectl="kubectl-that-is-not-installed"))
    # The real kubectl (where installed) with a kubeconfig that names no context.
    (tmp_path / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    with pytest.raises(LabError) as refused:
        choose_engine("k8s")
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith(("engine k8s: kubectl has no current context", "engine k8s: kubectl is not installed"))
    done = subprocess.run([sys.executable, "-m", "lab", "bench", "--engine", "k8s", "--profile", "smoke"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "400"})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "engine k8s:" in lines[0], lines


def test_a_worker_on_a_servers_node_is_recorded(tmp_path, master_api):
    cluster = lab_cluster(ports={"master": master_api})
    cluster.add("worker", node="node-a")  # where fastapi runs: anti-affinity was not honoured
    engine = K8sEngine(tmp_path, GeneratorSettings(workers=1, connect_timeout=5), cluster)
    started(engine, "fastapi")
    with engine.generator([1]) as generator:
        assert generator.describe()["workers_share_a_node_with_a_server"] == ["node-a"]
