"""Request bodies and expected answers shared by the locustfiles and the conformance suite.

Plain data, no Locust import: lab/conformance.py imports it too.
"""

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
