"""FastAPI implementation of the lab's endpoint contract (docs/contract.md).

Idiomatic FastAPI: Pydantic models and Query() constraints do the validation,
async endpoints wait with asyncio. The database is SQLAlchemy 2's asyncio
extension on asyncpg (an ORM session per request, as FastAPI's docs show it;
services/common/orm_async.py, shared with Quart, Starlette and Litestar), the Person model
services/common/person_pydantic.py (shared with Starlette), and
/fortunes a Jinja2 template. Validation errors are reshaped into the contract's
common error body; everything else is stock FastAPI.
"""

import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

import contract
import limits
from orm_async import DB_POOL_SIZE, DatabaseUnavailable, Fortune, World, session, unavailable_reason
from person_pydantic import Person

app = FastAPI(title="lab-fastapi")
templates = Jinja2Templates(directory=contract.TEMPLATES)


async def get_session():
    async with session() as db:
        yield db


DB = Annotated[AsyncSession, Depends(get_session)]


@app.exception_handler(RequestValidationError)
async def contract_errors(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"] if part not in ("body", "query")]
        errors.append((".".join(loc) or "body", error["msg"]))
    return JSONResponse(contract.error_body(errors), status_code=422)


# asyncpg's connect errors are OSErrors (refused, timed out); query errors come wrapped as DBAPIError.
@app.exception_handler(DatabaseUnavailable)
@app.exception_handler(DBAPIError)
@app.exception_handler(OSError)
async def database_down(request: Request, exc: Exception) -> JSONResponse:
    reason = unavailable_reason(exc)
    return JSONResponse(contract.database_problem(reason), status_code=503)


@app.exception_handler(StarletteHTTPException)
async def http_errors(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    # FastAPI answers {"detail": ...}; the contract wants its own error body (404, 405, 413, 415...).
    message = str(exc.detail)
    if isinstance(exc.__cause__, RecursionError):  # FastAPI's "error parsing the body" on deep JSON
        message = contract.TOO_DEEP
    body = contract.error_body([(getattr(exc, "field", "request"), message)])
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)  # e.g. a 405's Allow


class ContractError(StarletteHTTPException):
    """An HTTP error that names the part of the request it is about."""

    def __init__(self, status_code: int, field: str, message: str):
        super().__init__(status_code, message)
        self.field = field


class RequestLimits:
    """Pure ASGI middleware: the contract's limits on the request head and body.

    Uvicorn bounds neither the head nor the body, and Starlette reads a body whole, so:
    a request line or header over the contract's limits is refused before the app runs, a
    declared oversize body is refused unread, and a body without Content-Length (chunked)
    is counted as it arrives and refused at the first chunk past the limit.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = limits.scope_problem(scope)  # the same head rules as every server without them
        if problem:
            status, field, message = problem
            return await JSONResponse(contract.error_body([(field, message)]), status_code=status)(scope, receive, send)

        received = 0

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > contract.MAX_BODY_BYTES:
                    # Raised inside the endpoint's read: FastAPI passes HTTPExceptions on to http_errors.
                    raise ContractError(413, "body", contract.BODY_TOO_LARGE)
            return message

        await self.app(scope, counted_receive, send)


app.add_middleware(RequestLimits)


async def json_document(request: Request) -> None:
    """/validate's checks before Pydantic: a JSON Content-Type (FastAPI would otherwise hand the
    raw bytes to the model) and the contract's nesting depth."""
    if not contract.is_json_content_type(request.headers.get("content-type")):
        raise ContractError(415, "content-type", contract.NOT_JSON_MEDIA_TYPE)
    try:
        document = await request.json()  # parsed once: FastAPI has read it already
    except ValueError:
        return  # not JSON (or empty): FastAPI and Pydantic answer that themselves
    if contract.too_deep(document):
        raise ContractError(400, "body", contract.TOO_DEEP)


# A query integer: ASCII digits only (Pydantic alone also takes "١٠", " 7 " and "1_0").
AsciiInt = BeforeValidator(contract.ascii_integer)


@app.get("/json")
async def json_endpoint():
    return {"message": contract.HELLO}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext():
    return contract.HELLO


@app.get("/io")
async def io(ms: Annotated[int, Query(ge=0, le=contract.IO_MAX_MS), AsciiInt] = contract.IO_DEFAULT_MS):
    # How an async framework waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return {"waited_ms": ms}


@app.get("/cpu")
def cpu(n: Annotated[int, Query(ge=1, le=contract.CPU_MAX_N), AsciiInt] = contract.CPU_DEFAULT_N):
    # A sync def: FastAPI runs it in its thread pool, as its docs advise for blocking work.
    return {"n": n, "primes": contract.count_primes(n)}


@app.post("/validate", dependencies=[Depends(json_document)])
async def validate(person: Person):
    return person.model_dump()


@app.get("/db")
async def single_query(db: DB):
    world = await db.get(World, contract.random_id())
    return world.as_dict()


@app.get("/queries")
async def queries(db: DB, queries: str | None = None):
    # A str, clamped: the contract turns a bad count into 1 or 500, never a 422.
    worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(queries))]
    return [world.as_dict() for world in worlds]


@app.get("/updates")
async def updates(db: DB, queries: str | None = None):
    worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(queries))]
    for world in worlds:
        world.randomnumber = contract.new_random_number(world.randomnumber)
    await db.commit()
    return [world.as_dict() for world in worlds]


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, db: DB):
    rows = list(await db.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/health")
async def health(db: DB):
    await db.execute(text("SELECT 1"))
    return {"status": "ok", "database": {"pool_size": DB_POOL_SIZE}}
