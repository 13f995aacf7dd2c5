"""The lab on a Kubernetes cluster: manifests generated from compose (manifests.py), rendered and
validated offline (render.py), and the k8s engine (engine.py) that drives a run there through the
Cluster interface (cluster.py: kubectl)."""

from .cluster import Cluster, KubectlCluster
from .engine import K8sEngine

__all__ = ["Cluster", "K8sEngine", "KubectlCluster"]
