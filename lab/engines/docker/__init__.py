"""The docker engine: docker-compose.yml's services as targets, Locust as its master + workers.

The containers are the ones `docker compose up` runs (same images, same start.sh, same
CPU budget settings); the runner only sets the budget, the cores and the database through
the environment compose reads. Lifecycle goes through the `docker compose` CLI (the
compose file is the one definition); inspecting, logs, stats and exec go through the
Docker Engine API (the `docker` SDK).

Locust: the compose `master` (web UI on 127.0.0.1:8089) and `worker` services, scaled to one
worker per Locust core, are started once per run and driven over the master's web API
(lab/load/locust.py), so a bench can be watched live in the web UI.
"""

from .compose import (
    BASE_IMAGES, BENCH_OVERRIDE, COMPOSE_FILE, LOCUST_IMAGE, POSTGRES_PORT, PROJECT, PROJECT_LABEL, RUN_LABEL, RUNNER_LABEL, SERVICE_LABEL,
    bench_override, engine_problem, password,
)  # fmt: skip
from .engine import DockerEngine, DockerGenerator
from .target import DockerTarget

__all__ = [
    "BASE_IMAGES", "BENCH_OVERRIDE", "COMPOSE_FILE", "LOCUST_IMAGE", "POSTGRES_PORT", "PROJECT", "PROJECT_LABEL", "RUN_LABEL", "RUNNER_LABEL",
    "SERVICE_LABEL", "DockerEngine", "DockerGenerator", "DockerTarget", "bench_override", "engine_problem", "password",
]  # fmt: skip
