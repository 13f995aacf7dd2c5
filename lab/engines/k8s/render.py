"""deploy/k8s/ rendered and checked offline: a minimal kustomize (resources and namespace, all the
generated kustomizations use) and the Kubernetes schemas that kubernetes-validate ships.

`kubectl kustomize` renders the same objects where kubectl is installed (tests/test_k8s_manifests.py
compares the two); this one needs nothing but Python, so the check runs everywhere.
"""

from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import yaml

from ...errors import LabError

# The oldest Kubernetes the manifests are checked against, and the newest kubernetes-validate knows.
VERSIONS = ("1.30", kubernetes_validate.utils.major_minor(kubernetes_validate.utils.latest_version()))
# Kinds kustomize's `namespace:` leaves alone (cluster-scoped).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass"}


@dataclass(frozen=True)
class Rendered:
    """One object and the file it came from (errors name the file)."""

    source: Path
    data: dict

    @property
    def name(self) -> str:
        return f"{self.data.get('kind', '?')}/{(self.data.get('metadata') or {}).get('name', '?')}"


def load(path: Path) -> list[dict]:
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    except (OSError, yaml.YAMLError) as problem:
        raise LabError(f"{path}: not readable YAML ({problem})") from None


def render(folder: Path) -> list[Rendered]:
    """The objects `kubectl kustomize folder` would print (resources, nested kustomizations, namespace)."""
    kustomization = folder / "kustomization.yaml"
    if not kustomization.exists():
        raise LabError(f"{folder}: no kustomization.yaml")
    (spec,) = load(kustomization) or [{}]
    unknown = set(spec) - {"apiVersion", "kind", "namespace", "resources"}
    if unknown:
        raise LabError(f"{kustomization}: this renderer knows resources and namespace only, not {', '.join(sorted(unknown))} (use kubectl kustomize)")
    found: list[Rendered] = []
    for resource in spec.get("resources") or []:
        path = (folder / resource).resolve()
        if path.is_dir():
            found += render(path)
        elif path.is_file():
            found += [Rendered(path, doc) for doc in load(path)]
        else:
            raise LabError(f"{kustomization}: resource {resource} does not exist")
    namespace = spec.get("namespace")
    if namespace:
        for item in found:
            if item.data.get("kind") not in CLUSTER_SCOPED:
                item.data.setdefault("metadata", {})["namespace"] = namespace
    return found


def problems(objects: list[Rendered], versions: tuple[str, ...] = VERSIONS) -> list[str]:
    """One line per object that does not validate: file, object, field path, what is wrong."""
    found = []
    for item in objects:
        for version in versions:
            try:
                kubernetes_validate.validate(item.data, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                field = ".".join(str(part) for part in error.path) or "(the object)"
                found.append(f"{item.source}: {item.name}: {field}: {error.message} (Kubernetes {error.version})")
                break
            except (kubernetes_validate.SchemaNotFoundError, KeyError, TypeError) as error:
                found.append(f"{item.source}: {item.name}: no schema for it ({getattr(error, 'message', error)})")
                break
    return found
