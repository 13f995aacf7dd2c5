"""Quart implementation of the lab's endpoint contract (docs/contract.md): the Flask app, async.

Quart is Flask's API on asyncio (the blog's "Flask: async via Quart"), so this is
services/flask/app.py with what Quart changes: `async def` views, awaited request data,
asyncio.sleep for /io, and an async database (SQLAlchemy 2's asyncio extension on asyncpg,
FastAPI's own: services/common/orm_async.py; Flask-SQLAlchemy is sync only). The /validate schema is the same marshmallow
schema (services/common/person_marshmallow.py). Served by Hypercorn, Quart's recommended server.
"""

import asyncio
import json

from marshmallow import ValidationError
from quart import Quart, Response, jsonify, render_template, request
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

import contract
import limits
from orm_async import DB_POOL_SIZE, DatabaseUnavailable, Fortune, World, session, unavailable_reason
from person_marshmallow import PersonSchema

app = Quart(__name__, template_folder=contract.TEMPLATES)
app.json.sort_keys = False
# Hypercorn does not bound the request head or body as the contract does (services/common/limits.py).
app.asgi_app = limits.asgi(app.asgi_app)


person_schema = PersonSchema()


def contract_error(errors: list[tuple[str, str]], status: int):
    return jsonify(contract.error_body(errors)), status


# asyncpg's connect errors are OSErrors (refused, timed out); query errors come wrapped as DBAPIError.
@app.errorhandler(DatabaseUnavailable)
@app.errorhandler(DBAPIError)
@app.errorhandler(OSError)
async def database_down(exc: Exception):
    reason = unavailable_reason(exc)
    return jsonify(contract.database_problem(reason)), 503


@app.errorhandler(HTTPException)
async def http_error(exc: HTTPException):
    # Quart answers errors in HTML by default; the contract wants JSON that names the problem.
    response, status = contract_error([("request", exc.description or exc.name)], exc.code or 500)
    if exc.code == 405:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or []))
    return response, status


def query_arg(name: str) -> str | None:
    """A query parameter by its last value when repeated, as Starlette and Django read them."""
    values = request.args.getlist(name)
    return values[-1] if values else None


@app.get("/json")
async def json_endpoint():
    return {"message": contract.HELLO}


@app.get("/plaintext")
async def plaintext():
    return Response(contract.HELLO, mimetype="text/plain")


@app.get("/io")
async def io():
    try:
        ms = contract.int_param(query_arg("ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    # How an async framework waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return {"waited_ms": ms}


@app.get("/cpu")
async def cpu():
    try:
        n = contract.int_param(query_arg("n"), "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return {"n": n, "primes": contract.count_primes(n)}


@app.post("/validate")
async def validate_endpoint():
    if not contract.is_json_content_type(request.content_type):
        return contract_error([("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
    body = await request.get_data()  # whole, and within the limit: limits.asgi read it first
    try:
        payload = json.loads(body)
    except RecursionError:  # the json module's own limit, far deeper than the contract's
        return contract_error([("body", contract.TOO_DEEP)], 400)
    except ValueError:  # UnicodeDecodeError is one
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
async def single_query():
    async with session() as db:
        return (await db.get(World, contract.random_id())).as_dict()


@app.get("/queries")
async def queries():
    async with session() as db:
        worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(query_arg("queries")))]
    return [world.as_dict() for world in worlds]


@app.get("/updates")
async def updates():
    async with session() as db:
        worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(query_arg("queries")))]
        for world in worlds:
            world.randomnumber = contract.new_random_number(world.randomnumber)
        await db.commit()
    return [world.as_dict() for world in worlds]


@app.get("/fortunes")
async def fortunes():
    async with session() as db:
        rows = list(await db.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return await render_template("fortunes.html", fortunes=rows)


@app.get("/health")
async def health():
    async with session() as db:
        await db.execute(text("SELECT 1"))
    return {"status": "ok", "database": {"pool_size": DB_POOL_SIZE}}
