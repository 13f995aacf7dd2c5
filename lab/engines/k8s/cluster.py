"""What the k8s engine asks of a cluster, declared once (Cluster), and its one real implementation:
the kubectl CLI on the current context (KubectlCluster). tests/test_k8s_engine.py gives the engine
a fake that implements the same Protocol, since no cluster is reachable where the tests run."""

import json
import re
import shutil
import subprocess
import threading
from typing import Protocol

from ...errors import LabError

# The namespace deploy/k8s puts everything in (manifests.py writes it there).
NAMESPACE = "framework-load-lab"


class Forward(Protocol):
    """A port on this machine that reaches a Service in the cluster, until closed."""

    local_port: int

    def close(self) -> None: ...


class Cluster(Protocol):
    namespace: str

    def problem(self) -> str | None:
        """Why the cluster cannot be used (no kubectl, no context, manifests not applied), or None."""

    def describe(self) -> dict:
        """Context, cluster and client versions."""

    def get(self, kind: str, name: str | None = None, selector: str | None = None) -> dict:
        """The object (or {"items": [...]} for a list), as `kubectl get -o json` prints it; LabError if absent."""

    def nodes(self) -> list[dict]: ...

    def kubelet_config(self, node: str) -> dict | None:
        """The node's kubelet configuration (its configz endpoint), None where it cannot be read."""

    def exec(self, pod: str, command: list[str], timeout: float = 30) -> str:
        """stdout of a command in the pod's container; LabError when it fails."""

    def set_env(self, deployment: str, env: dict[str, str]) -> None: ...

    def scale(self, deployment: str, replicas: int) -> None: ...

    def restart(self, deployment: str) -> None: ...

    def wait_rolled_out(self, deployment: str, timeout: float) -> None: ...

    def forward(self, service: str, port: int) -> Forward: ...

    def logs(self, pod: str, lines: int | None = None) -> str: ...


class KubectlForward:
    """`kubectl port-forward svc/<name> :<port>`, its local port read from its first line."""

    def __init__(self, command: list[str], timeout: float = 30):
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = [""]
        reader = threading.Thread(target=lambda: line.__setitem__(0, self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        found = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line[0])
        if not found:
            self.close()
            raise LabError(f"`{' '.join(command)}` did not start forwarding: {line[0].strip() or 'no output'}")
        self.local_port = int(found[1])
        # Keep reading, so kubectl never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


class KubectlCluster:
    """The kubectl CLI, on its current context, in the lab's namespace."""

    def __init__(self, namespace: str = NAMESPACE, kubectl: str = "kubectl"):
        self.namespace = namespace
        self.kubectl = kubectl

    def run(self, *args: str, timeout: float = 60, namespaced: bool = True) -> str:
        command = [self.kubectl, *(["--namespace", self.namespace] if namespaced else []), *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError:
            raise LabError("kubectl is not installed") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"`kubectl {' '.join(args)}` did not finish within {timeout:.0f} s") from None
        if done.returncode != 0:
            raise LabError(f"`kubectl {' '.join(args)}` failed: {(done.stderr or done.stdout).strip().splitlines()[-1:] or ['no output']}"[:400])
        return done.stdout

    def problem(self) -> str | None:
        if not shutil.which(self.kubectl):
            return "kubectl is not installed (https://kubernetes.io/docs/tasks/tools/)"
        try:
            context = self.run("config", "current-context", namespaced=False, timeout=10).strip()
        except LabError:
            return "kubectl has no current context (kubectl config use-context <name>)"
        try:
            self.run("get", "namespace", self.namespace, namespaced=False, timeout=20)
        except LabError as problem:
            return f"context {context}: no namespace {self.namespace} ({problem}); apply the manifests first: kubectl apply -k deploy/k8s/base"
        return None

    def describe(self) -> dict:
        version = json.loads(self.run("version", "--output", "json", namespaced=False, timeout=20))
        return {
            "context": self.run("config", "current-context", namespaced=False).strip(),
            "namespace": self.namespace,
            "server_version": (version.get("serverVersion") or {}).get("gitVersion"),
            "kubectl_version": (version.get("clientVersion") or {}).get("gitVersion"),
        }

    def get(self, kind: str, name: str | None = None, selector: str | None = None) -> dict:
        return json.loads(self.run("get", kind, *([name] if name else []), *(["--selector", selector] if selector else []), "--output", "json"))

    def nodes(self) -> list[dict]:
        return json.loads(self.run("get", "nodes", "--output", "json", namespaced=False))["items"]

    def kubelet_config(self, node: str) -> dict | None:
        try:
            return json.loads(self.run("get", "--raw", f"/api/v1/nodes/{node}/proxy/configz", namespaced=False, timeout=20)).get("kubeletconfig")
        except (LabError, ValueError):
            return None  # nodes/proxy is often not granted

    def exec(self, pod: str, command: list[str], timeout: float = 30) -> str:
        return self.run("exec", pod, "--", *command, timeout=timeout)

    def set_env(self, deployment: str, env: dict[str, str]) -> None:
        self.run("set", "env", f"deployment/{deployment}", *(f"{key}={value}" for key, value in env.items()))

    def scale(self, deployment: str, replicas: int) -> None:
        self.run("scale", f"deployment/{deployment}", f"--replicas={replicas}")

    def restart(self, deployment: str) -> None:
        self.run("rollout", "restart", f"deployment/{deployment}")

    def wait_rolled_out(self, deployment: str, timeout: float) -> None:
        self.run("rollout", "status", f"deployment/{deployment}", f"--timeout={timeout:.0f}s", timeout=timeout + 10)

    def forward(self, service: str, port: int) -> KubectlForward:
        return KubectlForward([self.kubectl, "--namespace", self.namespace, "port-forward", f"service/{service}", f":{port}"])

    def logs(self, pod: str, lines: int | None = None) -> str:
        try:
            return self.run("logs", pod, *([f"--tail={lines}"] if lines else []))
        except LabError as problem:
            return str(problem)
