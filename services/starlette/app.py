"""Starlette implementation of the lab's endpoint contract (docs/contract.md): FastAPI without FastAPI.

FastAPI is Starlette plus parameter parsing, dependency injection and Pydantic; this app is the
same requests on Starlette alone, written as Starlette's docs write apps: a list of Routes,
endpoints that take a Request and return a Response, exception handlers in a dict. What
FastAPI's layer does is done here by hand: the same Pydantic model validates /validate
(services/common/person_pydantic.py), query integers go through the contract's own parser, the
database is the same ORM session (services/common/orm_async.py). Served by Uvicorn exactly as
FastAPI is (start.sh), so bare-asgi -> starlette -> fastapi is a ladder on one server.
"""

import asyncio
import json

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

import contract
import limits
from orm_async import DB_POOL_SIZE, DatabaseUnavailable, Fortune, World, session, unavailable_reason
from person_pydantic import Person

templates = Jinja2Templates(directory=contract.TEMPLATES)


def contract_error(errors: list[tuple[str, str]], status: int) -> JSONResponse:
    return JSONResponse(contract.error_body(errors), status_code=status)


async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
    # Starlette answers 404 and 405 in plain text; the contract wants its own error body.
    return JSONResponse(contract.error_body([("request", exc.detail)]), status_code=exc.status_code, headers=exc.headers)


# asyncpg's connect errors are OSErrors (refused, timed out); query errors come wrapped as DBAPIError.
async def database_down(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(contract.database_problem(unavailable_reason(exc)), status_code=503)


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A query integer by the contract's rule; ValueError names it. Starlette's query_params.get
    takes a repeated parameter's last value, as the contract does."""
    return contract.int_param(request.query_params.get(name), name, default, low, high)


async def json_endpoint(request: Request) -> JSONResponse:
    return JSONResponse({"message": contract.HELLO})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse(contract.HELLO)


async def io(request: Request) -> JSONResponse:
    try:
        ms = int_query(request, "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    # How an async framework waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return JSONResponse({"waited_ms": ms})


def cpu(request: Request) -> JSONResponse:
    # A sync endpoint: Starlette runs it in its thread pool, as FastAPI runs its sync def.
    try:
        n = int_query(request, "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return JSONResponse({"n": n, "primes": contract.count_primes(n)})


async def validate(request: Request) -> JSONResponse:
    if not contract.is_json_content_type(request.headers.get("content-type")):
        return contract_error([("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
    body = await request.body()  # whole, and within the limit: limits.asgi read it first
    try:
        document = json.loads(body)  # what Starlette's request.json() does
    except RecursionError:  # the json module's own limit, far deeper than the contract's
        return contract_error([("body", contract.TOO_DEEP)], 400)
    except ValueError:  # UnicodeDecodeError is one
        return contract_error([("body", "request body is not valid JSON")], 400)
    if contract.too_deep(document):
        return contract_error([("body", contract.TOO_DEEP)], 400)
    try:
        person = Person.model_validate(document)
    except ValidationError as exc:
        errors = [(".".join(str(part) for part in error["loc"]) or "body", error["msg"]) for error in exc.errors()]
        return contract_error(errors, 422)
    return JSONResponse(person.model_dump())


async def single_query(request: Request) -> JSONResponse:
    async with session() as db:
        world = await db.get(World, contract.random_id())
    return JSONResponse(world.as_dict())


async def queries(request: Request) -> JSONResponse:
    count = contract.queries_param(request.query_params.get("queries"))
    async with session() as db:
        worlds = [await db.get(World, id_) for id_ in contract.random_ids(count)]
    return JSONResponse([world.as_dict() for world in worlds])


async def updates(request: Request) -> JSONResponse:
    count = contract.queries_param(request.query_params.get("queries"))
    async with session() as db:
        worlds = [await db.get(World, id_) for id_ in contract.random_ids(count)]
        for world in worlds:
            world.randomnumber = contract.new_random_number(world.randomnumber)
        await db.commit()
    return JSONResponse([world.as_dict() for world in worlds])


async def fortunes(request: Request):
    async with session() as db:
        rows = list(await db.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


async def health(request: Request) -> JSONResponse:
    async with session() as db:
        await db.execute(text("SELECT 1"))
    return JSONResponse({"status": "ok", "database": {"pool_size": DB_POOL_SIZE}})


app = Starlette(
    routes=[
        Route("/json", json_endpoint),
        Route("/plaintext", plaintext),
        Route("/io", io),
        Route("/cpu", cpu),
        Route("/validate", validate, methods=["POST"]),
        Route("/db", single_query),
        Route("/queries", queries),
        Route("/updates", updates),
        Route("/fortunes", fortunes),
        Route("/health", health),
    ],
    exception_handlers={
        HTTPException: http_error,
        DatabaseUnavailable: database_down,
        DBAPIError: database_down,
        OSError: database_down,
    },
    # Uvicorn bounds neither the request head nor the body as the contract does (services/common/limits.py).
    middleware=[Middleware(limits.asgi)],
)
