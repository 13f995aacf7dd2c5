"""Flask implementation of the lab's endpoint contract (docs/contract.md).

Idiomatic Flask: plain view functions returning dicts, marshmallow schemas for
the /validate body (services/common/person_marshmallow.py, shared with Quart), a
blocking sleep for /io (a sync WSGI worker waits on a downstream call by
blocking). The database is Flask-SQLAlchemy (SQLAlchemy 2 ORM) on psycopg 3,
/fortunes a Jinja2 template rendered by Flask.
"""

import os
import time

from flask import Flask, Response, jsonify, render_template, request
from flask_sqlalchemy import SQLAlchemy
from marshmallow import ValidationError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

import contract
import limits
from person_marshmallow import PersonSchema

app = Flask(__name__, template_folder=contract.TEMPLATES)
# A declared Content-Length over this is refused unread (413). A chunked body is read only up to
# it, and Werkzeug then stops without a word; one byte more than the contract's limit shows
# whether the body went on (request_body() below).
app.config["MAX_CONTENT_LENGTH"] = contract.MAX_BODY_BYTES + 1
app.json.sort_keys = False

# A Gunicorn sync worker serves one request at a time, so one connection each; a threaded server
# (Gunicorn gthread, Granian: their start.sh) says how many threads a worker runs: one each.
DB_POOL_SIZE = int(os.environ.get("THREADS") or 1)
_url = contract.database_url()
# Without DATABASE_URL the app still serves its non-database endpoints; the others answer 503.
if _url:
    url = make_url(_url).set(drivername="postgresql+psycopg")
    app.config["SQLALCHEMY_DATABASE_URI"] = url.render_as_string(hide_password=False)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        "pool_size": DB_POOL_SIZE,
        "max_overflow": 0,
        "connect_args": {"connect_timeout": contract.DB_CONNECT_TIMEOUT},
    }
else:
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"


class Base(DeclarativeBase):
    pass


# Rows stay readable after commit: /updates answers with what it wrote, without re-reading it.
db = SQLAlchemy(app, model_class=Base, session_options={"expire_on_commit": False})


class World(db.Model):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]

    def as_dict(self) -> dict:
        return {"id": self.id, "randomNumber": self.randomnumber}


class Fortune(db.Model):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


person_schema = PersonSchema()


def contract_error(errors: list[tuple[str, str]], status: int):
    return jsonify(contract.error_body(errors)), status


@app.errorhandler(DBAPIError)
def database_down(exc: DBAPIError):
    # Without DATABASE_URL the engine is an empty in-memory SQLite placeholder: say what is missing.
    return jsonify(contract.database_problem(exc.orig if _url else "DATABASE_URL is not set")), 503


@app.errorhandler(RequestEntityTooLarge)
def too_large(exc: RequestEntityTooLarge):
    return contract_error([("body", contract.BODY_TOO_LARGE)], 413)


@app.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    # Flask answers errors in HTML by default; the contract wants JSON that names the problem.
    return contract_error([("request", exc.description or exc.name)], exc.code or 500)


def query_arg(name: str) -> str | None:
    """A query parameter by its last value when repeated, as Starlette and Django read them
    (Werkzeug's args.get takes the first)."""
    values = request.args.getlist(name)
    return values[-1] if values else None


def request_body() -> bytes:
    """The body, read at most one byte past the contract's limit; a longer one is refused (413)."""
    body = request.get_data(cache=True)
    if len(body) > contract.MAX_BODY_BYTES:
        raise RequestEntityTooLarge()
    return body


@app.get("/json")
def json_endpoint():
    return {"message": contract.HELLO}


@app.get("/plaintext")
def plaintext():
    return Response(contract.HELLO, mimetype="text/plain")


@app.get("/io")
def io():
    try:
        ms = contract.int_param(query_arg("ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    time.sleep(ms / 1000)
    return {"waited_ms": ms}


@app.get("/cpu")
def cpu():
    try:
        n = contract.int_param(query_arg("n"), "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return {"n": n, "primes": contract.count_primes(n)}


@app.post("/validate")
def validate_endpoint():
    if not contract.is_json_content_type(request.content_type):
        return contract_error([("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
    request_body()
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # the json module's own limit, far deeper than the contract's
        return contract_error([("body", contract.TOO_DEEP)], 400)
    if payload is None:
        return contract_error([("body", "request body is not valid JSON")], 400)
    if contract.too_deep(payload):
        return contract_error([("body", contract.TOO_DEEP)], 400)
    if not isinstance(payload, dict):
        return contract_error([("body", "expected a JSON object")], 422)
    try:
        return person_schema.load(payload)
    except ValidationError as exc:
        return contract_error(contract.flatten_errors(exc.messages), 422)


@app.get("/db")
def single_query():
    return db.session.get(World, contract.random_id()).as_dict()


@app.get("/queries")
def queries():
    ids = contract.random_ids(contract.queries_param(query_arg("queries")))
    return [db.session.get(World, id_).as_dict() for id_ in ids]


@app.get("/updates")
def updates():
    worlds = [db.session.get(World, id_) for id_ in contract.random_ids(contract.queries_param(query_arg("queries")))]
    for world in worlds:
        world.randomnumber = contract.new_random_number(world.randomnumber)
    db.session.commit()
    return [world.as_dict() for world in worlds]


@app.get("/fortunes")
def fortunes():
    rows = list(db.session.scalars(db.select(Fortune)))
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return render_template("fortunes.html", fortunes=rows)


@app.get("/health")
def health():
    if not _url:
        return jsonify(contract.database_problem("DATABASE_URL is not set")), 503
    db.session.execute(text("SELECT 1"))
    return {"status": "ok", "database": {"pool_size": DB_POOL_SIZE}}


# For a server that passes any request head on (Granian: services/flask-granian): the contract's
# head limits first. Gunicorn enforces them itself and serves `app`.
limited = limits.wsgi(app)
