"""Every framework and variant with its database down: it stays up, says why on /health, and serves the rest."""

import pytest
import requests
from conftest import CLOSED_DATABASE_URL, TARGETS, running_services, selected_targets

from lab.contract import conformance


@pytest.fixture(scope="module")
def services_without_database(request, tmp_path_factory):
    env = {"DATABASE_URL": CLOSED_DATABASE_URL}
    with running_services(tmp_path_factory.mktemp("service-logs"), env, selected_targets(request)) as urls:
        yield urls


@pytest.mark.parametrize("framework", TARGETS)
def test_health_is_503_naming_the_database(services_without_database, framework):
    response = requests.get(services_without_database[framework] + "/health", timeout=15)
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["field"] == "database"
    assert "database unavailable" in error["message"] and "refused" in error["message"].lower()
    status = conformance.database_status(services_without_database[framework])
    assert status == {"available": False, "reason": error["message"]}


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("framework", TARGETS)
def test_the_non_database_contract_still_holds(services_without_database, framework, check):
    check(services_without_database[framework])


@pytest.mark.parametrize("path", ["/db", "/queries?queries=foo", "/queries?queries=501", "/fortunes", "/updates?queries=0"])
@pytest.mark.parametrize("framework", TARGETS)
def test_database_endpoints_answer_503_not_500(services_without_database, framework, path):
    response = requests.get(services_without_database[framework] + path, timeout=15)
    assert response.status_code == 503, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["database"]
