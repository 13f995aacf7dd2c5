"""Litestar implementation of the lab's endpoint contract (docs/contract.md).

Idiomatic Litestar: handlers declared with @get / @post and listed in the app, dependency
injection (Provide) for the database session, exception handlers for the contract's error
body, msgspec (Litestar's own serialisation library) for /validate: the document is a
msgspec Struct with its constraints in Meta annotations, and the handler returns the Struct
for Litestar to encode. The database is SQLAlchemy 2's asyncio extension on asyncpg, the same
engine and session as FastAPI's (services/common/orm_async.py); /fortunes a Jinja2 template
through Litestar's template engine. Served by Uvicorn exactly as FastAPI is (start.sh).
"""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

import contract
import limits
from orm_async import DB_POOL_SIZE, DatabaseUnavailable, Fortune, World, session, unavailable_reason

# A JSON string as the contract takes it: no NUL, no lone surrogate (msgspec allows both).
TEXT = r"\A[^\x00\ud800-\udfff]*\Z"
Text = Annotated[str, msgspec.Meta(pattern=TEXT)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=contract.NAME_MAX, pattern=TEXT)]
# msgspec has no email type: the address as marshmallow and Pydantic read it, one @ and a dotted domain.
EMAIL = r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z"
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=EMAIL)]
Age = Annotated[int, msgspec.Meta(ge=contract.AGE_MIN, le=contract.AGE_MAX)]  # msgspec takes no bool for an int
Tags = Annotated[list[Text], msgspec.Meta(max_length=contract.TAGS_MAX)]
# msgspec names a failed pattern by its regex; the error body says it in words.
PATTERN_WORDS = {TEXT: "must not contain NUL characters or lone surrogates", EMAIL: "not a valid email address"}


class Address(msgspec.Struct):
    street: Name
    city: Name
    postcode: Name


class Person(msgspec.Struct):
    name: Name
    email: Email
    age: Age
    address: Address
    tags: Tags = msgspec.field(default_factory=list)


def stripped(value):
    """Every string in the document without its surrounding whitespace (Pydantic's
    str_strip_whitespace): the length rules count what is left."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {key: stripped(item) for key, item in value.items()}
    if isinstance(value, list):
        return [stripped(item) for item in value]
    return value


def problems(document: dict, kind: type[msgspec.Struct], prefix: str = "") -> list[tuple[str, str]]:
    """Every field of `document` that does not convert to `kind`, as (dotted.field, message).
    msgspec stops at the first error; the contract names them all, so each field is converted
    on its own (only once the whole document has failed)."""
    found = []
    for field in msgspec.structs.fields(kind):
        name = prefix + field.encode_name
        if field.encode_name not in document:
            if field.required:
                found.append((name, "required"))
            continue
        value = document[field.encode_name]
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct) and isinstance(value, dict):
            found.extend(problems(value, field.type, name + "."))
            continue
        try:
            msgspec.convert(value, field.type)
        except msgspec.ValidationError as exc:
            message, _, at = str(exc).partition(" - at `$")
            for pattern, words in PATTERN_WORDS.items():
                message = message.replace(f"Expected `str` matching regex {pattern!r}", words)
            found.append((name + re.sub(r"\[(\d+)\]", r".\1", at.rstrip("`")), message))
    return found


def contract_error(errors: list[tuple[str, str]], status: int) -> Response:
    return Response(contract.error_body(errors), status_code=status)


def http_error(request: Request, exc: HTTPException) -> Response:
    # Litestar answers {"status_code", "detail"}; the contract wants its own error body (404, 405...).
    return Response(contract.error_body([("request", exc.detail)]), status_code=exc.status_code, headers=exc.headers)


# asyncpg's connect errors are OSErrors (refused, timed out); query errors come wrapped as DBAPIError.
def database_down(request: Request, exc: Exception) -> Response:
    return Response(contract.database_problem(unavailable_reason(exc)), status_code=503)


async def provide_db() -> AsyncIterator[AsyncSession]:
    async with session() as db:
        yield db


def last_param(request: Request, name: str) -> str | None:
    """A query parameter by its last value when repeated, as Starlette and Django read them."""
    values = request.query_params.getall(name, [])
    return values[-1] if values else None


@get("/json")
async def json_endpoint() -> dict:
    return {"message": contract.HELLO}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return contract.HELLO


@get("/io")
async def io(request: Request) -> Response | dict:
    try:
        ms = contract.int_param(last_param(request, "ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    # How an async framework waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return {"waited_ms": ms}


# A sync handler in Litestar's thread pool, as FastAPI runs its sync def.
@get("/cpu", sync_to_thread=True)
def cpu(request: Request) -> Response | dict:
    try:
        n = contract.int_param(last_param(request, "n"), "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return {"n": n, "primes": contract.count_primes(n)}


@post("/validate", status_code=200)
async def validate(request: Request) -> Response | Person:
    if not contract.is_json_content_type(request.headers.get("content-type")):
        return contract_error([("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
    body = await request.body()  # whole, and within the limit: limits.asgi read it first
    try:
        # The json module, not msgspec's decoder: that one refuses an escaped lone surrogate as
        # malformed JSON, where the contract names the field (422).
        document = json.loads(body)
    except RecursionError:  # the json module's own limit, far deeper than the contract's
        return contract_error([("body", contract.TOO_DEEP)], 400)
    except ValueError:  # UnicodeDecodeError is one
        return contract_error([("body", "request body is not valid JSON")], 400)
    if contract.too_deep(document):
        return contract_error([("body", contract.TOO_DEEP)], 400)
    if not isinstance(document, dict):
        return contract_error([("body", "expected a JSON object")], 422)
    document = stripped(document)
    try:
        person = msgspec.convert(document, Person)
    except msgspec.ValidationError:
        return contract_error(problems(document, Person), 422)
    return msgspec.structs.replace(person, email=person.email.lower(), tags=[tag.lower() for tag in person.tags])


@get("/db")
async def single_query(db: AsyncSession) -> dict:
    return (await db.get(World, contract.random_id())).as_dict()


@get("/queries")
async def queries(request: Request, db: AsyncSession) -> list[dict]:
    worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(last_param(request, "queries")))]
    return [world.as_dict() for world in worlds]


@get("/updates")
async def updates(request: Request, db: AsyncSession) -> list[dict]:
    worlds = [await db.get(World, id_) for id_ in contract.random_ids(contract.queries_param(last_param(request, "queries")))]
    for world in worlds:
        world.randomnumber = contract.new_random_number(world.randomnumber)
    await db.commit()
    return [world.as_dict() for world in worlds]


@get("/fortunes")
async def fortunes(db: AsyncSession) -> Template:
    rows = list(await db.scalars(select(Fortune)))
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return Template(template_name="fortunes.html", context={"fortunes": rows})


@get("/health")
async def health(db: AsyncSession) -> dict:
    await db.execute(text("SELECT 1"))
    return {"status": "ok", "database": {"pool_size": DB_POOL_SIZE}}


litestar_app = Litestar(
    route_handlers=[json_endpoint, plaintext, io, cpu, validate, single_query, queries, updates, fortunes, health],
    dependencies={"db": Provide(provide_db)},
    exception_handlers={
        HTTPException: http_error,
        DatabaseUnavailable: database_down,
        DBAPIError: database_down,
        OSError: database_down,
    },
    template_config=TemplateConfig(directory=contract.TEMPLATES, engine=JinjaTemplateEngine),
)
# Uvicorn bounds neither the request head nor the body as the contract does (services/common/limits.py).
app = limits.asgi(litestar_app)
