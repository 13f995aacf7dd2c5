"""Falcon implementation of the lab's endpoint contract (docs/contract.md).

Idiomatic Falcon (WSGI): one resource class per endpoint with on_get / on_post responders,
`resp.media` for JSON, error handlers and an error serializer for the contract's error body,
and a middleware component that gives the resources that declare `database = True` an ORM
session and closes it after the response (Falcon's process_resource / process_response hooks).
The database is SQLAlchemy 2's ORM on psycopg 3 and /validate the marshmallow schema, both as
Flask's (services/common/person_marshmallow.py), so bare-wsgi -> falcon -> flask -> django is a
ladder on one server (Gunicorn sync, start.sh as Flask's) where each rung differs by its framework.
"""

import json
import time

import falcon
from jinja2 import Environment, FileSystemLoader, select_autoescape
from marshmallow import ValidationError
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

import contract
from orm_tables import DatabaseUnavailable, Fortune, World
from person_marshmallow import PersonSchema

# A Gunicorn sync worker serves one request at a time: one connection each.
DB_POOL_SIZE = 1
_url = contract.database_url()
engine = (
    create_engine(
        make_url(_url).set(drivername="postgresql+psycopg"),
        pool_size=DB_POOL_SIZE,
        max_overflow=0,
        connect_args={"connect_timeout": contract.DB_CONNECT_TIMEOUT},
    )
    if _url
    else None
)
# Rows stay readable after commit: /updates answers with what it wrote, without re-reading it.
Sessions = sessionmaker(engine, expire_on_commit=False)

templates = Environment(loader=FileSystemLoader(contract.TEMPLATES), autoescape=select_autoescape())
person_schema = PersonSchema()


def contract_error(resp: falcon.Response, errors: list[tuple[str, str]], status: int) -> None:
    resp.status = status
    resp.media = contract.error_body(errors)


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    # Falcon's own errors (404, 405, ...) carry a title and a description; the contract wants its body.
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(contract.error_body([("request", exc.description or exc.title)]))


def database_down(req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict) -> None:
    reason = "DATABASE_URL is not set" if isinstance(exc, DatabaseUnavailable) else exc.orig
    resp.status = 503
    resp.media = contract.database_problem(reason)


class DatabaseSession:
    """Middleware: an ORM session for a resource that says it needs one, closed after its response."""

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource, params: dict) -> None:
        if getattr(resource, "database", False):
            if engine is None:
                raise DatabaseUnavailable()
            req.context.db = Sessions()

    def process_response(self, req: falcon.Request, resp: falcon.Response, resource, req_succeeded: bool) -> None:
        db: Session | None = req.context.get("db")
        if db is not None:
            db.close()


def last_param(req: falcon.Request, name: str) -> str | None:
    """A query parameter by its last value when repeated, as Starlette and Django read them."""
    values = req.get_param_as_list(name)
    return values[-1] if values else None


def int_param(req: falcon.Request, name: str, default: int, low: int, high: int) -> int:
    """A query integer by the contract's rule; ValueError names it."""
    return contract.int_param(last_param(req, name), name, default, low, high)


class Json:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"message": contract.HELLO}


class Plaintext:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = contract.HELLO


class Io:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            ms = int_param(req, "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
        except ValueError as exc:
            return contract_error(resp, [("ms", str(exc))], 422)
        time.sleep(ms / 1000)  # a sync worker waits on a downstream call by blocking
        resp.media = {"waited_ms": ms}


class Cpu:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            n = int_param(req, "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
        except ValueError as exc:
            return contract_error(resp, [("n", str(exc))], 422)
        resp.media = {"n": n, "primes": contract.count_primes(n)}


class Validate:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not contract.is_json_content_type(req.content_type):
            return contract_error(resp, [("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
        if (req.content_length or 0) > contract.MAX_BODY_BYTES:  # declared too large: refused unread
            return contract_error(resp, [("body", contract.BODY_TOO_LARGE)], 413)
        # Gunicorn's wsgi.input, not Falcon's bounded_stream: that one reads a chunked body (no
        # Content-Length) as empty. At most one byte past the limit shows a body went on.
        body = req.stream.read(contract.MAX_BODY_BYTES + 1)
        if len(body) > contract.MAX_BODY_BYTES:
            return contract_error(resp, [("body", contract.BODY_TOO_LARGE)], 413)
        try:
            document = json.loads(body)  # what Falcon's JSON media handler does, with the errors ours
        except RecursionError:  # the json module's own limit, far deeper than the contract's
            return contract_error(resp, [("body", contract.TOO_DEEP)], 400)
        except ValueError:  # UnicodeDecodeError is one
            return contract_error(resp, [("body", "request body is not valid JSON")], 400)
        if contract.too_deep(document):
            return contract_error(resp, [("body", contract.TOO_DEEP)], 400)
        if not isinstance(document, dict):
            return contract_error(resp, [("body", "expected a JSON object")], 422)
        try:
            resp.media = person_schema.load(document)
        except ValidationError as exc:
            contract_error(resp, contract.flatten_errors(exc.messages), 422)


class SingleQuery:
    database = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.db.get(World, contract.random_id()).as_dict()


class Queries:
    database = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ids = contract.random_ids(contract.queries_param(last_param(req, "queries")))
        resp.media = [req.context.db.get(World, id_).as_dict() for id_ in ids]


class Updates:
    database = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        db: Session = req.context.db
        worlds = [db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(last_param(req, "queries")))]
        for world in worlds:
            world.randomnumber = contract.new_random_number(world.randomnumber)
        db.commit()
        resp.media = [world.as_dict() for world in worlds]


class Fortunes:
    database = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        rows = list(req.context.db.scalars(select(Fortune)))
        rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
        rows.sort(key=lambda fortune: fortune.message)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = templates.get_template("fortunes.html").render(fortunes=rows)


class Health:
    database = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.db.execute(text("SELECT 1"))
        resp.media = {"status": "ok", "database": {"pool_size": DB_POOL_SIZE}}


app = falcon.App(middleware=[DatabaseSession()])
# The contract's query rules (Falcon 4's defaults, stated so that they are kept): an empty value is
# a value ("?ms=" is not an integer), a comma is no separator.
app.req_options.keep_blank_qs_values = True
app.req_options.auto_parse_qs_csv = False
app.set_error_serializer(serialize_error)
app.add_error_handler(DatabaseUnavailable, database_down)
app.add_error_handler(DBAPIError, database_down)
for path, resource in {
    "/json": Json(),
    "/plaintext": Plaintext(),
    "/io": Io(),
    "/cpu": Cpu(),
    "/validate": Validate(),
    "/db": SingleQuery(),
    "/queries": Queries(),
    "/updates": Updates(),
    "/fortunes": Fortunes(),
    "/health": Health(),
}.items():
    app.add_route(path, resource)
