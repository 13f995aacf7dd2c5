"""The endpoint contract as executable checks: one suite for every framework.

tests/test_conformance.py runs each check as a pytest case against each
framework; the runner runs all of them before it loads a target and refuses a
target that fails any. Each check takes the target's base URL and raises
ContractError with a message that says what was expected and what came back.
"""

import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from .database_checks import DB_CHECKS
from .client import (
    TIMEOUT, ContractError, _limit, endless_string, expect, expect_common_headers, expect_error, expect_error_body, expect_json, get, post,
    post_chunked, send_raw, time_limit,
)  # fmt: skip
from .payloads import HELLO, NORMALISED_PERSON, VALID_PERSON

__all__ = ["BASELINE_CHECKS", "CHECKS", "DB_CHECKS", "TIMEOUT", "ContractError", "database_status", "run_all", "time_limit"]

# The contract's limits (services/common/contract.py holds them for the services; the lab does
# not import service code, so they are restated here and these checks hold both to them).
MAX_BODY_BYTES = 1024 * 1024
MAX_REQUEST_LINE_BYTES = 4094
MAX_HEADER_FIELDS = 100
MAX_HEADER_FIELD_BYTES = 8190
MAX_JSON_DEPTH = 32

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
    # Only ASCII digits with an optional minus make an integer; Python's int() takes all of these.
    "/io?ms=",
    "/io?ms=%D9%A1%D9%A0",  # Arabic-Indic 10
    "/cpu?n=%EF%BC%91%EF%BC%90",  # fullwidth 10
    "/io?ms=%207%20",
    "/io?ms=%2B7",
    "/io?ms=1_0",
    "/io?ms=5&ms=abc",  # a repeated parameter counts by its last value
]


# (query string, rows expected): TechEmpower's rule, the count clamped to 1..500, not a number -> 1.



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


def padded_person(size: int) -> bytes:
    """VALID_PERSON as JSON, padded with trailing whitespace to exactly `size` bytes."""
    document = json.dumps(VALID_PERSON).encode()
    return document + b" " * (size - len(document))


def check_body_limit(base: str) -> None:
    """Exactly MAX_BODY_BYTES is a body like any other; one byte more gets 413, with or without a
    Content-Length (a chunked body is counted as it arrives)."""
    headers = {"Content-Type": "application/json"}
    body = expect_json(post(base, "/validate", data=padded_person(MAX_BODY_BYTES), headers=headers), 200)
    expect(body == NORMALISED_PERSON, f"/validate with a body of exactly {MAX_BODY_BYTES} bytes: {body!r}")
    expect_error(post(base, "/validate", data=padded_person(MAX_BODY_BYTES + 1), headers=headers), {413})

    status, answer, _ = post_chunked(base, "/validate", [padded_person(MAX_BODY_BYTES)])
    expect(status == 200, f"/validate, chunked, exactly {MAX_BODY_BYTES} bytes: status {status}, expected 200: {answer[:200]!r}")
    status, answer, _ = post_chunked(base, "/validate", [padded_person(MAX_BODY_BYTES + 1)])
    expect(status == 413, f"/validate, chunked, {MAX_BODY_BYTES + 1} bytes: status {status}, expected 413: {answer[:200]!r}")
    expect_error_body(answer, f"/validate, chunked, {MAX_BODY_BYTES + 1} bytes")


def check_body_limit_while_reading(base: str) -> None:
    """A chunked body that does not end is refused once it passes the limit, not read to its end."""
    total = 64 * MAX_BODY_BYTES
    status, answer, sent = post_chunked(base, "/validate", endless_string(total))
    expect(status == 413, f"/validate, chunked, {total} bytes: status {status}, expected 413: {answer[:200]!r}")
    # Socket buffers on both sides hold a few MiB; a server that reads the whole body takes all 64.
    expect(sent < 16 * MAX_BODY_BYTES, f"/validate, chunked: the server answered only after {sent} bytes, not at the limit")


def nested(depth: int) -> bytes:
    """VALID_PERSON with an unknown field whose value brings the document to `depth` levels."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return json.dumps(VALID_PERSON)[:-1].encode() + b', "deep": ' + inner.encode() + b"}"


def check_validate_depth(base: str) -> None:
    """Nested up to MAX_JSON_DEPTH levels is fine (unknown fields are dropped); deeper gets 400,
    however deep, never a crash of the parser."""
    headers = {"Content-Type": "application/json"}
    body = expect_json(post(base, "/validate", data=nested(MAX_JSON_DEPTH), headers=headers), 200)
    expect(body == NORMALISED_PERSON, f"/validate nested {MAX_JSON_DEPTH} deep: {body!r}")
    cases = {
        "1,500 nested arrays (3 KB)": b"[" * 1500 + b"]" * 1500,
        "1,500 nested objects": b'{"a":' * 1500 + b"1" + b"}" * 1500,
        "100,000 nested arrays": b"[" * 100_000 + b"]" * 100_000,
        f"nested {MAX_JSON_DEPTH + 1} deep": nested(MAX_JSON_DEPTH + 1),
    }
    for label, raw in cases.items():
        response = post(base, "/validate", data=raw, headers=headers)
        expect(response.status_code == 400, f"/validate {label}: status {response.status_code}, expected 400: {response.text[:150]}")
        expect_error(response, {400})


# Strings the contract refuses as text: (document, the field the error must name).
BAD_TEXT = [
    ({**VALID_PERSON, "name": "Ada\x00Lovelace"}, "name"),
    ({**VALID_PERSON, "name": "Ada\ud800"}, "name"),
    ({**VALID_PERSON, "address": {**VALID_PERSON["address"], "city": "Lon\x00don"}}, "address.city"),
    ({**VALID_PERSON, "address": {**VALID_PERSON["address"], "postcode": "\udfff"}}, "address.postcode"),
    ({**VALID_PERSON, "tags": ["math\x00"]}, "tags.0"),
    ({**VALID_PERSON, "tags": ["ok", "\udc80"]}, "tags.1"),
]


def check_validate_text(base: str) -> None:
    """A NUL or a lone surrogate (escaped in the JSON) in any string field: 422 naming the field."""
    for document, field in BAD_TEXT:
        raw = json.dumps(document)  # ensure_ascii: the surrogate travels as a \\ud800 escape
        response = post(base, "/validate", data=raw, headers={"Content-Type": "application/json"})
        named = expect_error(response, {422})
        expect(field in named, f"/validate {raw[:80]}...: errors name {sorted(named)}, expected {field!r}")


def check_validate_content_type(base: str) -> None:
    """/validate takes application/json and application/*+json; any other Content-Type, or none, gets 415."""
    raw = json.dumps(VALID_PERSON).encode()
    for content_type in ("application/json; charset=utf-8", "application/vnd.lab+json", "Application/JSON"):
        body = expect_json(post(base, "/validate", data=raw, headers={"Content-Type": content_type}), 200)
        expect(body == NORMALISED_PERSON, f"/validate as {content_type}: {body!r}")
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/jsonp", "json", None):
        response = post(base, "/validate", data=raw, headers={"Content-Type": content_type} if content_type else {})
        named = expect_error(response, {415})
        expect("content-type" in named, f"/validate as {content_type}: errors name {sorted(named)}, expected 'content-type'")


def check_repeated_query(base: str) -> None:
    """A repeated query parameter counts by its last value, in every framework."""
    body = expect_json(get(base, "/io?ms=300&ms=0"), 200)
    expect(body == {"waited_ms": 0}, f"/io?ms=300&ms=0: body {body!r}, expected the last value, 0")
    body = expect_json(get(base, "/cpu?n=abc&n=100"), 200)
    expect(body == {"n": 100, "primes": 25}, f"/cpu?n=abc&n=100: body {body!r}, expected the last value, 100")


def check_head_limits(base: str) -> None:
    """The request head's limits, at their edges: a normal answer within them; beyond them the
    server's own refusal (status only: a Gunicorn refusal is not the app's to shape)."""
    host = urlsplit(base).netloc
    fixed = [f"Host: {host}", "Connection: close"]  # two fields in every case below

    def line_of(size: int) -> str:  # a request line of `size` bytes (without CRLF)
        return "GET /json?pad=" + "x" * (size - len("GET /json?pad= HTTP/1.1")) + " HTTP/1.1"

    def fields(count: int) -> list[str]:  # `count` header fields in all
        return [f"X-Pad-{i}: x" for i in range(count - len(fixed))]

    def field_of(size: int) -> list[str]:  # one header line of `size` bytes with its CRLF
        return ["X-Big: " + "x" * (size - len("X-Big: \r\n"))]

    normal = "GET /json HTTP/1.1"
    cases = [
        (f"a request line of {MAX_REQUEST_LINE_BYTES} bytes", line_of(MAX_REQUEST_LINE_BYTES), [], 200),
        (f"a request line of {MAX_REQUEST_LINE_BYTES + 1} bytes", line_of(MAX_REQUEST_LINE_BYTES + 1), [], 414),
        (f"{MAX_HEADER_FIELDS} header fields", normal, fields(MAX_HEADER_FIELDS), 200),
        (f"{MAX_HEADER_FIELDS + 1} header fields", normal, fields(MAX_HEADER_FIELDS + 1), 431),
        ("5,000 header fields", normal, fields(5000), 431),
        (f"a header line of {MAX_HEADER_FIELD_BYTES} bytes", normal, field_of(MAX_HEADER_FIELD_BYTES), 200),
        (f"a header line of {MAX_HEADER_FIELD_BYTES + 1} bytes", normal, field_of(MAX_HEADER_FIELD_BYTES + 1), 431),
        ("a 1 MiB header line", normal, field_of(MAX_BODY_BYTES), 431),
    ]
    for label, request_line, extra, expected in cases:
        head = "\r\n".join([request_line, *fixed, *extra]) + "\r\n\r\n"
        status, answer, _ = send_raw(base, [head.encode("latin-1")])
        expect(status == expected, f"GET with {label}: status {status}, expected {expected}: {answer[:120]!r}")


def check_error_shape(base: str) -> None:
    """No endpoint, or a method the endpoint does not take: the contract's error body, not the framework's."""
    expect_error(get(base, "/no-such-endpoint"), {404})
    expect_error(requests.put(base + "/json", timeout=_limit.get()), {405})
    expect_error(get(base, "/validate"), {405})


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
    check_body_limit_while_reading,
    check_validate_depth,
    check_validate_text,
    check_validate_content_type,
    check_repeated_query,
    check_bad_queries,
    check_head_limits,
    check_error_shape,
]


# The bare baseline apps answer only these.
BASELINE_CHECKS: list[Callable[[str], None]] = [check_health, check_json, check_plaintext]


def run_all(base: str, checks: list[Callable[[str], None]] = CHECKS, cpus: float | None = None) -> list[str]:
    """Every check against one target held to `cpus` cores (None: unlimited); returns the
    failures as 'check: message' lines."""
    failures = []
    token = _limit.set(time_limit(cpus))
    try:
        for check in checks:
            try:
                check(base)
            except (ContractError, requests.RequestException) as exc:
                failures.append(f"{check.__name__}: {exc}")
    finally:
        _limit.reset(token)
    return failures
