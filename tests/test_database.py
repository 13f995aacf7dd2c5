"""The lab's database against the real PostgreSQL: schema, seed, reset, and /updates really writing."""

import psycopg
import pytest
import requests
from conftest import FRAMEWORKS

from lab import catalog
from lab.contract import conformance, database
from lab.contract.payloads import FORTUNES, WORLD_ROWS


def world(url: str) -> dict[int, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, randomnumber FROM world").fetchall())


def test_seed_is_the_whole_deterministic_data_set(test_database):
    rows = world(test_database)
    assert sorted(rows) == list(range(1, WORLD_ROWS + 1))
    assert all(1 <= value <= WORLD_ROWS for value in rows.values())
    with psycopg.connect(test_database) as conn:
        assert dict(conn.execute("SELECT id, message FROM fortune").fetchall()) == FORTUNES
    # Seeding again (the schema is idempotent) gives exactly the same rows: runs are comparable.
    database.seed(test_database)
    assert world(test_database) == rows


def test_reset_restores_the_seed_after_writes(test_database):
    seeded = world(test_database)
    with psycopg.connect(test_database) as conn:
        conn.execute("UPDATE world SET randomnumber = 1 WHERE id <= 100")
        conn.execute("INSERT INTO fortune VALUES (99, 'extra')")
    database.reset(test_database)
    assert world(test_database) == seeded
    with psycopg.connect(test_database) as conn:
        assert conn.execute("SELECT count(*) FROM fortune").fetchone()[0] == len(FORTUNES)


def test_the_lab_leaves_other_databases_alone(test_database):
    assert database.database_name(test_database) == "lab_test"
    assert database.with_database("postgresql://u:p@h:5/postgres", "lab_bench") == "postgresql://u:p@h:5/lab_bench"
    assert database.redact("postgresql://u:secret@h:5/x") == "postgresql://u:***@h:5/x"


def test_describe_names_the_server_and_its_settings(test_database):
    facts = database.describe(test_database)
    assert facts["server_version"].startswith("15")
    assert int(facts["max_connections"]) > 0 and facts["shared_buffers"]


def test_health_reports_each_workers_pool(local_services):
    """Sync Gunicorn workers need one connection each; the async worker keeps a pool (DB_POOL_SIZE, default 10)."""
    pools = {name: conformance.database_status(url) for name, url in local_services.items()}
    assert pools == {
        "fastapi": {"available": True, "pool_size": 10},
        "flask": {"available": True, "pool_size": 1},
        "django": {"available": True, "pool_size": 1},
    }


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_updates_write_every_row_back(local_services, test_database, framework):
    before = world(test_database)
    response = requests.get(local_services[framework] + "/updates?queries=20", timeout=15)
    assert response.status_code == 200, response.text
    answered = {row["id"]: row["randomNumber"] for row in response.json()}
    after = world(test_database)
    assert len(answered) == 20
    # Written: the database holds what the answer says, and it differs from before.
    changed = [id_ for id_, value in answered.items() if after[id_] == value != before[id_]]
    assert len(changed) >= 0.9 * len(answered), (before, answered, after)
    untouched = set(before) - set(answered)
    assert all(after[id_] == before[id_] for id_ in untouched)


def test_a_server_that_is_down_is_a_clear_error():
    with pytest.raises(database.LabError, match=r"cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/"):
        database.prepare("postgresql://postgres@127.0.0.1:1/postgres")


def test_database_scenarios_and_profiles():
    scenarios = catalog.scenarios()
    assert {name for name, s in scenarios.items() if s.database} == {"db", "queries", "fortunes", "updates"}
    # Only /updates writes, so only its steps need the seed restored first.
    assert {name for name, s in scenarios.items() if s.resets_database} == {"updates"}
    profiles = catalog.profiles()
    assert {"db", "queries"} <= set(profiles["quick"].scenarios)
    assert {"db", "queries", "fortunes", "updates"} <= set(profiles["full"].scenarios)
