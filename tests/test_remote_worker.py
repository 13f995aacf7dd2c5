"""A Locust worker on another host joins the run's master and carries load: Locust's own
distributed mode, the lab's scale-out path, tested for real on one machine.

Two network namespaces that this test creates and removes stand for two hosts, joined by a
veth pair with addresses from the documentation range (192.0.2.0/30) assigned inside them:
the "bench host" runs the runner, its server and its master (listening on 192.0.2.1); the
"worker host" runs one plain `locust --worker --master-host 192.0.2.1`, the command docs/running.md
gives. Nothing is sent to any address outside these namespaces.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid

import pytest
from conftest import ROOT, cannot_test_here

pytestmark = pytest.mark.e2e

BENCH_HOST, WORKER_HOST = "192.0.2.1", "192.0.2.2"
WORKER_NAME = "lab-remote-worker"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("unshare") is None:
        cannot_test_here("needs root, iproute2 and unshare (network namespaces)")
    tag = uuid.uuid4().hex[:6]
    bench_ns, worker_ns = f"lab-bench-{tag}", f"lab-worker-{tag}"
    ip("netns", "add", bench_ns)
    ip("netns", "add", worker_ns)
    try:
        ip("link", "add", f"lb{tag}", "type", "veth", "peer", "name", f"lw{tag}")
        ip("link", "set", f"lb{tag}", "netns", bench_ns)
        ip("link", "set", f"lw{tag}", "netns", worker_ns)
        for ns, link, address in ((bench_ns, f"lb{tag}", BENCH_HOST), (worker_ns, f"lw{tag}", WORKER_HOST)):
            ip("-n", ns, "addr", "add", f"{address}/30", "dev", link)
            ip("-n", ns, "link", "set", link, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield bench_ns, worker_ns
    finally:
        for ns in (bench_ns, worker_ns):
            # Whatever still runs in a namespace goes with it.
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)


def test_a_worker_on_another_host_joins_the_master_and_carries_load(two_hosts, tmp_path):
    bench_ns, worker_ns = two_hosts
    # The worker host: a worker with a host name of its own, so its id says which it is.
    worker = subprocess.Popen(
        ["ip", "netns", "exec", worker_ns, "unshare", "--uts", "sh", "-c",
         f'hostname {WORKER_NAME} && exec "$0" -m locust -f locustfiles --worker --master-host {BENCH_HOST} --master-port 5557',
         sys.executable],
        cwd=ROOT, stdout=open(tmp_path / "worker.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        env = {**os.environ, "LAB_TARGET_HOST": BENCH_HOST, "LOCUST_MASTER_BIND": BENCH_HOST, "LOCUST_EXTRA_WORKERS": "1",
               "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}  # fmt: skip
        result = subprocess.run(
            ["ip", "netns", "exec", bench_ns, sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke",
             "--frameworks", "fastapi", "--users", "8", "--duration", "4", "--warmup", "1", "--results", str(tmp_path / "results")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        worker.kill()
        worker.wait()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "results").iterdir()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["locust"]["extra_workers"] == 1 and BENCH_HOST in manifest["locust"]["master_command"]
    assert manifest["targets"]["fastapi"]["url"] == f"http://{BENCH_HOST}:8001"
    step = json.loads((run_dir / "steps/fastapi/json/u0008-r1/step.json").read_text())
    assert step["status"] == "ok", step
    workers = {w["id"].split("_")[0]: w for w in step["locust"]["workers"]}
    assert len(step["locust"]["workers"]) == 2 and WORKER_NAME in workers, step["locust"]["workers"]
    # Both carried load, and the window holds exactly what they sent.
    assert all(w["requests"] > 0 for w in step["locust"]["workers"])
    assert sum(w["requests"] for w in step["locust"]["workers"]) == step["locust"]["total_requests"]
