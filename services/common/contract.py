"""The endpoint contract's shared facts: limits, defaults, the /cpu workload and the database rules.

Every service imports this module (its start command puts services/common on
PYTHONPATH) so that the three frameworks do exactly the same work per request.
Each framework still parses and validates input its own idiomatic way; only the
numbers and the workload live here.
"""

import os
import random
import re
from pathlib import Path

HELLO = "Hello, World!"

IO_DEFAULT_MS = 50
IO_MAX_MS = 10_000

CPU_DEFAULT_N = 10_000
CPU_MAX_N = 200_000

QUERIES_MIN = 1
QUERIES_MAX = 500

# The database (lab/contract/schema.sql seeds it): world ids and randomNumbers are 1..WORLD_ROWS.
WORLD_ROWS = 10_000
EXTRA_FORTUNE = "Additional fortune added at request time."
# /fortunes' one template, the same file for Jinja2 (FastAPI, Flask) and Django's engine.
TEMPLATES = str(Path(__file__).resolve().parent / "templates")
# Connections each async worker keeps (env DB_POOL_SIZE); a sync worker needs exactly one.
DB_POOL_SIZE_DEFAULT = 10
DB_CONNECT_TIMEOUT = 3  # seconds: a database that takes longer counts as down

# Request bodies above this get 413 in every service, counted as they arrive (chunked bodies too).
MAX_BODY_BYTES = 1024 * 1024

# The request head, bounded by the server where it can (Gunicorn: --limit-request-line,
# --limit-request-fields, --limit-request-field_size in start.sh, which states these same
# numbers, Gunicorn's defaults) and by the app where it cannot (Uvicorn has no such limits).
MAX_REQUEST_LINE_BYTES = 4094  # "GET /path?query HTTP/1.1", without CRLF; longer gets 414
MAX_HEADER_FIELDS = 100  # more header lines get 431
MAX_HEADER_FIELD_BYTES = 8190  # one "Name: value" line with its CRLF; longer gets 431

# /validate reads JSON documents nested at most this deep (the top-level value is level 1);
# deeper gets 400, before any parser can run out of stack on them.
MAX_JSON_DEPTH = 32

# /validate: string fields are 1..100 characters after stripping, at most 10 tags.
NAME_MAX = 100
AGE_MIN, AGE_MAX = 0, 150
TAGS_MAX = 10


def count_primes(n: int) -> int:
    """Primes below n by a pure-Python sieve: deterministic, CPU-bound, GIL-held."""
    if n < 3:
        return 0
    sieve = bytearray([1]) * n
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            for j in range(i * i, n, i):
                sieve[j] = 0
    return sum(sieve)


# An integer in a query string: ASCII digits with an optional minus, nothing else. Python's int()
# (and Pydantic) also take "١٠", "１０", " 7 ", "+7" and "1_0"; the contract does not.
ASCII_INTEGER = re.compile(r"-?[0-9]+")


def ascii_integer(raw: str) -> str:
    """raw unchanged if it is an integer in ASCII digits; ValueError otherwise (a Pydantic validator too)."""
    if not ASCII_INTEGER.fullmatch(raw):
        raise ValueError(f"must be an integer in ASCII digits, got {raw[:50]!r}")
    return raw


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """Parse a strict integer query parameter; ValueError names the parameter and the rule.

    A repeated parameter counts by its last value (the caller passes that one), as
    Starlette and Django read query strings; an empty one is not an integer."""
    if raw is None:
        return default
    try:
        value = int(ascii_integer(raw))
    except ValueError as exc:
        raise ValueError(f"{name} {exc}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def queries_param(raw: str | None) -> int:
    """/queries and /updates: TechEmpower's rule, clamp to 1..500 and anything not an integer is 1."""
    try:
        value = int(ascii_integer(raw or ""))
    except ValueError:
        return QUERIES_MIN
    return max(QUERIES_MIN, min(QUERIES_MAX, value))


def is_json_content_type(value: str | None) -> bool:
    """/validate takes application/json or application/<anything>+json (parameters such as charset
    allowed); anything else, or none, gets 415."""
    mime = (value or "").split(";", 1)[0].strip().lower()
    main, _, sub = mime.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


def too_deep(document) -> bool:
    """Whether a parsed JSON document is nested deeper than MAX_JSON_DEPTH (walked without recursion)."""
    stack = [(document, 1)]
    while stack:
        value, level = stack.pop()
        if isinstance(value, (dict, list)):
            if level > MAX_JSON_DEPTH:
                return True
            stack.extend((child, level + 1) for child in (value.values() if isinstance(value, dict) else value))
    return False


TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
NOT_JSON_MEDIA_TYPE = "Content-Type must be application/json"
BODY_TOO_LARGE = f"request body larger than {MAX_BODY_BYTES} bytes"


def text_problem(value: str) -> str | None:
    """What makes a JSON string unacceptable as text: a NUL, or a lone surrogate (\\ud800 escaped in
    JSON, not a character in UTF-8). DRF's CharField refuses both by itself; the others call this."""
    if "\x00" in value:
        return "must not contain NUL characters (U+0000)"
    if any("\ud800" <= char <= "\udfff" for char in value):
        return "must not contain lone surrogates (U+D800..U+DFFF)"
    return None


def random_id() -> int:
    return random.randint(1, WORLD_ROWS)


def random_ids(count: int) -> list[int]:
    """Distinct ids in ascending order: every row an /updates request touches changes, and
    concurrent updates lock rows in the same order, so they cannot deadlock."""
    return sorted(random.sample(range(1, WORLD_ROWS + 1), count))


def new_random_number(old: int) -> int:
    """A randomNumber in 1..WORLD_ROWS that differs from the old one, so the update is a real change."""
    value = random.randint(1, WORLD_ROWS - 1)
    return value + 1 if value >= old else value


def database_url() -> str | None:
    """The service's database, from env DATABASE_URL (postgresql://user:password@host:port/name)."""
    return os.environ.get("DATABASE_URL") or None


def db_pool_size() -> int:
    return int(os.environ.get("DB_POOL_SIZE") or DB_POOL_SIZE_DEFAULT)


def database_problem(exc: BaseException) -> dict:
    """The error body for a database that is down or unreachable: the service stays up and says why."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    return error_body([("database", f"database unavailable: {message}"[:500])])


def error_body(errors: list[tuple[str, str]]) -> dict:
    """The one error shape every service answers with: {"errors": [{"field", "message"}]}."""
    return {"errors": [{"field": field, "message": message} for field, message in errors]}


# marshmallow and DRF file "this is not an object" errors under these keys.
WHOLE_OBJECT_KEYS = ("_schema", "non_field_errors")


def flatten_errors(nested, prefix: str = "") -> list[tuple[str, str]]:
    """Turn marshmallow's / DRF's nested error dicts into (dotted.field, message) pairs."""
    if isinstance(nested, dict):
        pairs = []
        for key, value in nested.items():
            # Errors about the object as a whole belong to the object's own field.
            if key in WHOLE_OBJECT_KEYS:
                field = prefix or "body"
            else:
                field = f"{prefix}.{key}" if prefix else str(key)
            pairs.extend(flatten_errors(value, field))
        return pairs
    if isinstance(nested, (list, tuple)):
        if all(isinstance(item, str) for item in nested):
            return [(prefix or "body", "; ".join(str(item) for item in nested))]
        pairs = []
        for index, item in enumerate(nested):
            if item:  # DRF lists one (possibly empty) entry per list element
                pairs.extend(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return pairs
    return [(prefix or "body", str(nested))]
