"""Shared fixtures: real services started with their real start commands on loopback,
on a real PostgreSQL database of the tests' own."""

import os
import secrets
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab import catalog  # noqa: E402
from lab.contract import database  # noqa: E402
from lab.engines.local import LocalTarget  # noqa: E402

FRAMEWORKS = list(catalog.frameworks())  # the blog's three setups
TARGETS = list(catalog.targets())  # and every variant (a framework on another server)


TEST_DATABASE = "lab_test"
# Nothing listens on port 1: the address of a database that is down.
CLOSED_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/lab_test"


@pytest.fixture(scope="module")
def test_database():
    """The URL of lab_test, dropped, created and seeded afresh for each test module."""
    return database.prepare(name=TEST_DATABASE, fresh=True)


@contextmanager
def running_services(logs: Path, env: dict, names: list[str] = FRAMEWORKS):
    """The services (the blog's three unless named), each from its own venv and start.sh, on its contract port."""
    cores = sorted(os.sched_getaffinity(0))
    services = catalog.services()
    targets = {name: LocalTarget(services[name], cores, logs / f"{name}.log", extra_env=env) for name in names}
    try:
        for target in targets.values():
            target.start()
        for target in targets.values():
            target.wait_healthy()
        yield {name: target.url for name, target in targets.items()}
    finally:
        for target in targets.values():
            target.stop()


@pytest.fixture(scope="module")
def local_services(tmp_path_factory, test_database):
    with running_services(tmp_path_factory.mktemp("service-logs"), {"DATABASE_URL": test_database}) as urls:
        yield urls


def selected_targets(request) -> list[str]:
    """The frameworks and variants that the selected tests of this module name (every one unless
    `-k` picks some): `-k starlette` starts Starlette alone, not all of them on the lab's cores."""
    named = {item.callspec.params.get("framework") for item in request.session.items
             if hasattr(item, "callspec") and item.module is request.module}  # fmt: skip
    return [name for name in TARGETS if name in named]


@pytest.fixture(scope="module")
def local_targets(request, tmp_path_factory, test_database):
    """The selected frameworks and variants (selected_targets), on the test database."""
    env = {"DATABASE_URL": test_database}
    with running_services(tmp_path_factory.mktemp("service-logs"), env, selected_targets(request)) as urls:
        yield urls


@pytest.fixture(scope="session")
def docker_engine(request):
    """A Docker engine that answers, with the lab's base images present.

    Docker tests are skipped only when no engine answers and CI is not set; under CI a
    missing engine fails them. Missing base images are built as offline stand-ins
    (tests/support/standins.py), and the run says so.
    """
    from support.standins import ensure_image

    from lab.engines.docker import BASE_IMAGES, engine_problem

    problem = engine_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the docker tests must run, but {problem}")
        pytest.skip(problem)
    for tag in BASE_IMAGES:
        if ensure_image(tag):
            request.config.get_terminal_writer().line(f"docker tests: built the offline stand-in for {tag}")


# The environment the docker tests give compose and the runner: a fresh database password, no bake
# (it needs buildx, which a machine without a registry lacks).
DOCKER_ENV = {
    **os.environ,
    "COMPOSE_BAKE": "false",
    "POSTGRES_PASSWORD": secrets.token_hex(12),
}


def project_containers(client) -> list:
    """Every container of the lab's compose project, running or not."""
    from lab.engines.docker import PROJECT, PROJECT_LABEL

    # A container the engine removes between the listing and its inspection is gone: not an error.
    return client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={PROJECT}"}, ignore_removed=True)


def chromium_flags(profile: Path) -> list[str]:
    """Debian's chromium, headless, with the flags this closed network needs; a new empty profile.

    Skipped where it is not installed, except under CI, where its absence is a failure."""
    chromium = shutil.which("chromium")
    if chromium is None:
        cannot_test_here("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"]  # fmt: skip


def cannot_test_here(message: str) -> None:
    """Skip a test this machine cannot run (a tool missing, no root, cores kept busy), except under CI,
    where that is a failure."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def browser(profile: Path):
    """Debian's chromium, driven through its chromedriver by Selenium: clicks, fields, screenshots."""
    flags = chromium_flags(profile)
    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        cannot_test_here("chromedriver is not installed (apt-get install -y --no-install-recommends chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = flags[0]
    for flag in [*flags[1:], "--window-size=1400,1000"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def processes_logging_under(folder: Path) -> list[str]:
    """Processes a run left behind: every server and Locust process the local engine starts writes
    its output into a log under the results folder."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(str(folder) in f.path for f in process.open_files()):
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
