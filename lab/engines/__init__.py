"""The engines that run the lab's servers and Locust, behind one interface (base.py):

    local.py    processes on this machine, pinned to cores, each in a cgroup of its own (cgroups.py)
    docker/     the compose services, on the host's network for a run (docker/compose.py)
    k8s/        the Deployments of deploy/k8s in a cluster, through kubectl (k8s/engine.py)

Engines are built only here, by name.
"""

from pathlib import Path

from ..errors import LabError
from ..settings import GeneratorSettings
from .base import Engine
from .docker import DockerEngine, engine_problem
from .k8s import K8sEngine, KubectlCluster
from .local import LocalEngine

ENGINES: dict[str, type[Engine]] = {"local": LocalEngine, "docker": DockerEngine, "k8s": K8sEngine}


def make_engine(name: str, run_dir: Path, settings: GeneratorSettings) -> Engine:
    if name not in ENGINES:
        raise LabError(f"unknown engine {name!r}; valid: auto, {', '.join(ENGINES)}")
    return ENGINES[name](run_dir, settings)


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
    if name == "k8s":
        problem = KubectlCluster().problem()
        if problem:
            raise LabError(f"engine k8s: {problem} (docs/kubernetes.md)")
    return name
