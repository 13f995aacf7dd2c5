"""Flask implementation of the lab's endpoint contract (see shared DESIGN.md).

Idiomatic Flask: plain view functions returning dicts, marshmallow schemas for
the /validate body, a blocking sleep for /io (a sync WSGI worker waits on a
downstream call by blocking).
"""

import time

from flask import Flask, Response, jsonify, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate
from werkzeug.exceptions import HTTPException

import contract

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = contract.MAX_BODY_BYTES
app.json.sort_keys = False

class StrippedString(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


def text_field():
    return StrippedString(required=True, validate=validate.Length(min=1, max=contract.NAME_MAX))


class AddressSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    street = text_field()
    city = text_field()
    postcode = text_field()


class PersonSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = text_field()
    email = fields.Email(required=True)
    age = fields.Integer(required=True, strict=True, validate=validate.Range(contract.AGE_MIN, contract.AGE_MAX))
    address = fields.Nested(AddressSchema, required=True)
    tags = fields.List(fields.String(), load_default=list, validate=validate.Length(max=contract.TAGS_MAX))

    @post_load
    def normalise(self, data, **kwargs):
        data["email"] = data["email"].strip().lower()
        data["tags"] = [tag.strip().lower() for tag in data["tags"]]
        return data


person_schema = PersonSchema()


def contract_error(errors: list[tuple[str, str]], status: int):
    return jsonify(contract.error_body(errors)), status


@app.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    # Flask answers errors in HTML by default; the contract wants JSON that names the problem.
    return contract_error([("request", exc.description or exc.name)], exc.code or 500)


@app.get("/json")
def json_endpoint():
    return {"message": contract.HELLO}


@app.get("/plaintext")
def plaintext():
    return Response(contract.HELLO, mimetype="text/plain")


@app.get("/io")
def io():
    try:
        ms = contract.int_param(request.args.get("ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    time.sleep(ms / 1000)
    return {"waited_ms": ms}


@app.get("/cpu")
def cpu():
    try:
        n = contract.int_param(request.args.get("n"), "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return {"n": n, "primes": contract.count_primes(n)}


@app.post("/validate")
def validate_endpoint():
    payload = request.get_json(silent=True)
    if payload is None:
        return contract_error([("body", "request body is not valid JSON")], 400)
    if not isinstance(payload, dict):
        return contract_error([("body", "expected a JSON object")], 422)
    try:
        return person_schema.load(payload)
    except ValidationError as exc:
        return contract_error(contract.flatten_errors(exc.messages), 422)


@app.get("/health")
def health():
    return {"status": "ok"}
