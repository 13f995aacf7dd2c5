"""The contract's database endpoints as checks (TechEmpower's single query, multiple queries,
fortunes and updates), run only where the target's /health says its database is up."""

from collections.abc import Callable

from .client import expect, expect_common_headers, expect_json, get
from .payloads import fortunes_problem, world_problem, worlds_problem

# (query string, rows expected): clamped to 1..500, anything that is not a number is 1.
QUERY_COUNTS = [
    ("", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=foo", 1), ("?queries=-3", 1), ("?queries=1.5", 1),
    ("?queries=%00", 1), ("?queries=1", 1), ("?queries=20", 20), ("?queries=500", 500), ("?queries=501", 500),
    ("?queries=99999999999999999999", 500), ("?queries=%D9%A1%D9%A0", 1), ("?queries=%2B7", 1),
    ("?queries=1&queries=3", 3), ("?queries=3&queries=x", 1),
]  # fmt: skip
UPDATE_COUNTS = [("", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=foo", 1), ("?queries=20", 20), ("?queries=501", 500)]


def check_database_health(base: str) -> None:
    expect_json(get(base, "/health"), 200)


def check_db(base: str) -> None:
    ids = set()
    for _ in range(10):
        row = expect_json(get(base, "/db"), 200)
        expect(world_problem(row) is None, f"/db: {world_problem(row)}")
        ids.add(row["id"])
    expect(len(ids) > 1, f"/db: 10 requests gave the same id {ids}: the id must be random")


def check_queries(base: str) -> None:
    for query, count in QUERY_COUNTS:
        rows = expect_json(get(base, "/queries" + query), 200)
        problem = worlds_problem(rows, count)
        expect(problem is None, f"/queries{query}: {problem}")


def check_fortunes(base: str) -> None:
    response = get(base, "/fortunes")
    expect(response.status_code == 200, f"/fortunes: status {response.status_code}: {response.text[:200]}")
    expect_common_headers(response, "text/html")
    content_type = response.headers["Content-Type"].lower().replace(" ", "")
    expect("charset=utf-8" in content_type, f"/fortunes: Content-Type {content_type!r} must say charset=utf-8")
    problem = fortunes_problem(response.content.decode("utf-8"))
    expect(problem is None, f"/fortunes: {problem}")


def check_updates(base: str) -> None:
    for query, count in UPDATE_COUNTS:
        rows = expect_json(get(base, "/updates" + query), 200)
        problem = worlds_problem(rows, count)
        expect(problem is None, f"/updates{query}: {problem}")


# Run only where the target's database is available (the runner asks /health first).
DB_CHECKS: list[Callable[[str], None]] = [
    check_database_health,
    check_db,
    check_queries,
    check_fortunes,
    check_updates,
]
