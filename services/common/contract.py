"""The endpoint contract's shared facts: limits, defaults and the /cpu workload.

Every service imports this module (its start command puts services/common on
PYTHONPATH) so that the three frameworks do exactly the same work per request.
Each framework still parses and validates input its own idiomatic way; only the
numbers and the workload live here.
"""

HELLO = "Hello, World!"

IO_DEFAULT_MS = 50
IO_MAX_MS = 10_000

CPU_DEFAULT_N = 10_000
CPU_MAX_N = 200_000

QUERIES_MIN = 1
QUERIES_MAX = 500

# Request bodies above this get 413 in every service.
MAX_BODY_BYTES = 1024 * 1024

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


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """Parse a strict integer query parameter; ValueError names the parameter and the rule."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


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
