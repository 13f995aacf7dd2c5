"""A module of the lab's own, loaded from where it lies. The locustfiles cannot import `lab`: the
Locust image holds no package, only the files it copies beside them, at the same relative paths
(locustfiles/Dockerfile)."""

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load(relative: str, name: str) -> ModuleType:
    """The module at ROOT/relative (e.g. "lab/contract/payloads.py"), under `name`."""
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
