"""The contract's requests and expected answers, for both of its checkers: the conformance suite
(lab/contract/) and every Locust user, which checks each response it gets (locustfiles/_contract.py
loads this file; the Locust image keeps it at the same place beside its locustfiles).

Plain data and checks, stdlib only.
"""

import html
import re

HELLO = "Hello, World!"

VALID_PERSON = {
    "name": "  Ada Lovelace ",
    "email": "ADA@Example.COM",
    "age": 36,
    "address": {"street": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH"},
    "tags": [" Math ", "poetry"],
    "unknown_field": "dropped",
}

NORMALISED_PERSON = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "age": 36,
    "address": {"street": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH"},
    "tags": ["math", "poetry"],
}

# The database scenarios. World ids and randomNumbers are 1..WORLD_ROWS; the
# fortunes are TechEmpower's twelve as lab/contract/schema.sql seeds them, plus the
# one each service adds at request time.
WORLD_ROWS = 10_000
FORTUNES = {
    1: "fortune: No such file or directory",
    2: "A computer scientist is someone who fixes things that aren't broken.",
    3: "After enough decimal places, nobody gives a damn.",
    4: "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    5: "A computer program does what you tell it to do, not what you want it to do.",
    6: "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    7: "Any program that runs right is obsolete.",
    8: "A list is only as strong as its weakest link. — Donald Knuth",
    9: "Feature: A bug with seniority.",
    10: "Computers make very fast, very accurate mistakes.",
    11: '<script>alert("This should not be displayed in a browser alert box.");</script>',
    12: "フレームワークのベンチマーク",
}
EXTRA_FORTUNE = (0, "Additional fortune added at request time.")
# id and message in table order (sorted by message), as /fortunes must list them.
FORTUNE_ROWS = sorted([*FORTUNES.items(), EXTRA_FORTUNE], key=lambda row: row[1])

_FORTUNES_HEAD = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"
_ROW = re.compile(r"<tr><td>([^<]*)</td><td>([^<]*)</td></tr>")


def world_problem(row) -> str | None:
    """None if `row` is a world row as the contract gives it, else what is wrong."""
    if not isinstance(row, dict) or set(row) != {"id", "randomNumber"}:
        return f"expected {{'id', 'randomNumber'}}, got {row!r}"
    for key in ("id", "randomNumber"):
        value = row[key]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= WORLD_ROWS:
            return f"{key} must be an integer in 1..{WORLD_ROWS}, got {row!r}"
    return None


def worlds_problem(rows, count: int) -> str | None:
    """None if `rows` is a list of `count` valid world rows."""
    if not isinstance(rows, list) or len(rows) != count:
        return f"expected a list of {count} rows, got {str(rows)[:100]}"
    return next(filter(None, map(world_problem, rows)), None)


def fortunes_problem(page: str) -> str | None:
    """None if `page` is the fortunes table: every row, in order, HTML-escaped.

    Escaping may use any entity for a quote (&#34; or &quot;), as TechEmpower's
    verifier allows; whitespace between tags does not matter.
    """
    compact = re.sub(r">\s+<", "><", page.strip())
    if not compact.startswith(_FORTUNES_HEAD):
        return f"not the fortunes page: {page[:120]!r}"
    if not compact.endswith("</table></body></html>"):
        return f"page does not end with the table: {page[-60:]!r}"
    rows = [(cell_id, html.unescape(message)) for cell_id, message in _ROW.findall(compact)]
    expected = [(str(id_), message) for id_, message in FORTUNE_ROWS]
    if rows != expected:
        return f"rows {rows[:3]!r}..., expected {expected[:3]!r}... ({len(rows)} rows, expected {len(expected)})"
    return None
