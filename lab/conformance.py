"""The endpoint contract as executable checks: one suite for every framework.

tests/test_conformance.py runs each check as a pytest case against each
framework; the runner runs all of them before it loads a target and refuses a
target that fails any. Each check takes the target's base URL and raises
ContractError with a message that says what was expected and what came back.
"""

import time
from collections.abc import Callable

import requests

from locustfiles._payloads import HELLO, NORMALISED_PERSON, VALID_PERSON, fortunes_problem, world_problem, worlds_problem

TIMEOUT = 15  # seconds; a check that waits longer has found a hang

# (body, fields the error list must name); every one must give 422.
INVALID_PERSONS = [
    ({k: v for k, v in VALID_PERSON.items() if k != "name"}, {"name"}),
    ({**VALID_PERSON, "age": "thirty"}, {"age"}),
    ({**VALID_PERSON, "age": 200}, {"age"}),
    ({**VALID_PERSON, "age": True}, {"age"}),
    ({**VALID_PERSON, "email": "not-an-email"}, {"email"}),
    ({**VALID_PERSON, "address": {"street": "x", "city": 5}}, {"address.city", "address.postcode"}),
    ({**VALID_PERSON, "address": "London"}, {"address"}),
    ({**VALID_PERSON, "tags": "math"}, {"tags"}),
    ({**VALID_PERSON, "tags": ["t"] * 11}, {"tags"}),
    ({**VALID_PERSON, "name": "   "}, {"name"}),
]

BAD_QUERIES = [
    "/io?ms=-1",
    "/io?ms=abc",
    "/io?ms=10001",
    "/io?ms=1.5",
    "/cpu?n=0",
    "/cpu?n=abc",
    "/cpu?n=10000000",
]


# (query string, rows expected): TechEmpower's rule, the count clamped to 1..500, not a number -> 1.
QUERY_COUNTS = [
    ("", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=foo", 1), ("?queries=-3", 1), ("?queries=1.5", 1),
    ("?queries=%00", 1), ("?queries=1", 1), ("?queries=20", 20), ("?queries=500", 500), ("?queries=501", 500),
    ("?queries=99999999999999999999", 500),
]  # fmt: skip
UPDATE_COUNTS = [("", 1), ("?queries=", 1), ("?queries=0", 1), ("?queries=foo", 1), ("?queries=20", 20), ("?queries=501", 500)]


class ContractError(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def get(base: str, path: str, **kwargs) -> requests.Response:
    return requests.get(base + path, timeout=TIMEOUT, **kwargs)


def post(base: str, path: str, **kwargs) -> requests.Response:
    return requests.post(base + path, timeout=TIMEOUT, **kwargs)


def expect_common_headers(response: requests.Response, content_type: str) -> None:
    where = f"{response.request.method} {response.request.path_url}"
    got = response.headers.get("Content-Type", "")
    expect(got.startswith(content_type), f"{where}: Content-Type {got!r}, expected {content_type}")
    expect("Date" in response.headers, f"{where}: no Date header")
    expect(
        "Content-Length" in response.headers or response.headers.get("Transfer-Encoding") == "chunked",
        f"{where}: neither Content-Length nor chunked encoding",
    )


def expect_json(response: requests.Response, status: int):
    where = f"{response.request.method} {response.request.path_url}"
    expect(response.status_code == status, f"{where}: status {response.status_code}, expected {status}: {response.text[:200]}")
    expect_common_headers(response, "application/json")
    try:
        return response.json()
    except ValueError:
        raise ContractError(f"{where}: body is not JSON: {response.text[:200]!r}") from None


def expect_error(response: requests.Response, statuses: set[int]) -> set[str]:
    """An error answer: one of the statuses, the common JSON error body; returns the fields named."""
    where = f"{response.request.method} {response.request.path_url}"
    expect(response.status_code in statuses, f"{where}: status {response.status_code}, expected one of {sorted(statuses)}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise ContractError(f"{where}: error body is not JSON: {response.text[:200]!r}") from None
    errors = body.get("errors") if isinstance(body, dict) else None
    expect(
        isinstance(errors, list) and errors and all({"field", "message"} <= set(e) for e in errors),
        f"{where}: error body must be {{'errors': [{{'field', 'message'}}, ...]}}, got {body!r}",
    )
    return {e["field"] for e in errors}


def database_status(base: str) -> dict:
    """What the target's /health says of its database: {"available": True, "pool_size": N per worker}
    or {"available": False, "reason": why} (a 503 names the problem)."""
    try:
        response = get(base, "/health")
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return {"available": False, "reason": f"/health did not answer JSON: {exc}"}
    if response.status_code == 200:
        return {"available": True, "pool_size": (body.get("database") or {}).get("pool_size")}
    try:
        reason = "; ".join(e["message"] for e in body["errors"] if e["field"] == "database")
    except (KeyError, TypeError):
        reason = ""
    return {"available": False, "reason": reason or f"/health answered {response.status_code}: {response.text[:200]}"}


def check_health(base: str) -> None:
    """The service is up: 200, or 503 with the error body naming the database when only that is down."""
    response = get(base, "/health")
    if response.status_code == 503:
        named = expect_error(response, {503})
        expect(named == {"database"}, f"/health: 503 must name only the database, named {sorted(named)}")
    else:
        expect_json(response, 200)


def check_json(base: str) -> None:
    body = expect_json(get(base, "/json"), 200)
    expect(body == {"message": HELLO}, f"/json: body {body!r}")


def check_plaintext(base: str) -> None:
    response = get(base, "/plaintext")
    expect(response.status_code == 200, f"/plaintext: status {response.status_code}")
    expect_common_headers(response, "text/plain")
    expect(response.text == HELLO, f"/plaintext: body {response.text!r}")


def check_io(base: str) -> None:
    for ms, path in ((50, "/io"), (0, "/io?ms=0"), (120, "/io?ms=120")):
        started = time.perf_counter()
        body = expect_json(get(base, path), 200)
        elapsed_ms = (time.perf_counter() - started) * 1000
        expect(body == {"waited_ms": ms}, f"{path}: body {body!r}, expected {{'waited_ms': {ms}}}")
        # A lower bound only: it must really wait; how much longer is the machine's business.
        expect(elapsed_ms >= ms, f"{path}: answered after {elapsed_ms:.0f} ms, before the {ms} ms wait was over")


def check_cpu(base: str) -> None:
    # Known prime counts: pi(10^4) = 1229, pi(10^5) = 9592, and below 2 there are none.
    for path, n, primes in (("/cpu", 10_000, 1229), ("/cpu?n=100000", 100_000, 9592), ("/cpu?n=1", 1, 0)):
        body = expect_json(get(base, path), 200)
        expect(body == {"n": n, "primes": primes}, f"{path}: body {body!r}, expected n={n}, primes={primes}")


def check_validate_ok(base: str) -> None:
    body = expect_json(post(base, "/validate", json=VALID_PERSON), 200)
    expect(body == NORMALISED_PERSON, f"/validate: normalised {body!r}, expected {NORMALISED_PERSON!r}")
    minimal = {k: v for k, v in VALID_PERSON.items() if k != "tags"}
    body = expect_json(post(base, "/validate", json=minimal), 200)
    expect(body.get("tags") == [], f"/validate without tags: tags {body.get('tags')!r}, expected []")


def check_validate_invalid(base: str) -> None:
    for document, fields in INVALID_PERSONS:
        named = expect_error(post(base, "/validate", json=document), {422})
        expect(fields <= named, f"/validate {document!r}: errors name {sorted(named)}, expected {sorted(fields)}")


def check_validate_malformed(base: str) -> None:
    headers = {"Content-Type": "application/json"}
    for raw in (b"{broken", b"", b"\xff\xfe", b"[1, 2, 3]", b'"a string"', b"null"):
        expect_error(post(base, "/validate", data=raw, headers=headers), {400, 422})


def check_body_limit(base: str) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 1) + b'"}'
    response = post(base, "/validate", data=big, headers={"Content-Type": "application/json"})
    expect_error(response, {413})


def check_bad_queries(base: str) -> None:
    for path in BAD_QUERIES:
        named = expect_error(get(base, path), {400, 422})
        param = path.split("?")[1].split("=")[0]
        expect(param in named, f"{path}: errors name {sorted(named)}, expected {param!r}")


CHECKS: list[Callable[[str], None]] = [
    check_health,
    check_json,
    check_plaintext,
    check_io,
    check_cpu,
    check_validate_ok,
    check_validate_invalid,
    check_validate_malformed,
    check_body_limit,
    check_bad_queries,
]


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


# The bare baseline apps answer only these.
BASELINE_CHECKS: list[Callable[[str], None]] = [check_health, check_json, check_plaintext]


def run_all(base: str, checks: list[Callable[[str], None]] = CHECKS) -> list[str]:
    """Every check against one target; returns the failures as 'check: message' lines."""
    failures = []
    for check in checks:
        try:
            check(base)
        except (ContractError, requests.RequestException) as exc:
            failures.append(f"{check.__name__}: {exc}")
    return failures
