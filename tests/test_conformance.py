"""The endpoint contract, unchanged, against every framework's real server."""

import pytest
from conftest import FRAMEWORKS

from lab import conformance


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_contract(local_services, framework, check):
    check(local_services[framework])


@pytest.mark.parametrize("check", conformance.DB_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_database_contract(local_services, framework, check):
    check(local_services[framework])


def test_run_all_reports_a_broken_target():
    """The runner's gate must refuse a target that is not there at all, with a reason per check."""
    failures = conformance.run_all("http://127.0.0.1:9")  # discard port: nothing listens
    assert len(failures) == len(conformance.CHECKS)
    assert failures[0].startswith("check_health:")
