"""The endpoint contract (docs/contract.md), unchanged, against every framework's and variant's real server."""

import importlib.util

import pytest
from conftest import ROOT, TARGETS

from lab.contract import conformance


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("framework", TARGETS)
def test_contract(local_targets, framework, check):
    check(local_targets[framework])


@pytest.mark.parametrize("check", conformance.DB_CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("framework", TARGETS)
def test_database_contract(local_targets, framework, check):
    check(local_targets[framework])


def test_run_all_reports_a_broken_target():
    """The runner's gate must refuse a target that is not there at all, with a reason per check."""
    failures = conformance.run_all("http://127.0.0.1:9")  # discard port: nothing listens
    assert len(failures) == len(conformance.CHECKS)
    assert failures[0].startswith("check_health:")


def test_limits_match_the_contract():
    """The suite restates the contract's limits (the lab does not import service code): they must agree."""
    spec = importlib.util.spec_from_file_location("contract", ROOT / "services" / "common" / "contract.py")
    contract = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(contract)
    for name in ("MAX_BODY_BYTES", "MAX_REQUEST_LINE_BYTES", "MAX_HEADER_FIELDS", "MAX_HEADER_FIELD_BYTES", "MAX_JSON_DEPTH"):
        assert getattr(conformance, name) == getattr(contract, name), name
