"""Shared fixtures: real services started with their real start commands on loopback."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import catalog  # noqa: E402
from lab.local import LocalTarget  # noqa: E402

FRAMEWORKS = list(catalog.frameworks())


@pytest.fixture(scope="module")
def local_services(tmp_path_factory):
    """The three services, each from its own venv and start.sh, on its contract port."""
    logs = tmp_path_factory.mktemp("service-logs")
    cores = sorted(os.sched_getaffinity(0))
    targets = {f.name: LocalTarget(f, cores, logs / f"{f.name}.log") for f in catalog.frameworks().values()}
    try:
        for target in targets.values():
            target.start()
        for target in targets.values():
            target.wait_healthy()
        yield {name: target.url for name, target in targets.items()}
    finally:
        for target in targets.values():
            target.stop()
