"""FastAPI implementation of the lab's endpoint contract (see shared DESIGN.md).

Idiomatic FastAPI: Pydantic models and Query() constraints do the validation,
async endpoints wait with asyncio. The database is SQLAlchemy 2's asyncio
extension on asyncpg (an ORM session per request, as FastAPI's docs show it), and
/fortunes a Jinja2 template. Validation errors are reshaped into the contract's
common error body; everything else is stock FastAPI.
"""

import asyncio
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, field_validator
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import contract

app = FastAPI(title="lab-fastapi")
templates = Jinja2Templates(directory=contract.TEMPLATES)

# One pool per worker process, DB_POOL_SIZE connections (no overflow: the size is the size).
DB_POOL_SIZE = contract.db_pool_size()
_url = contract.database_url()
engine = (
    create_async_engine(
        make_url(_url).set(drivername="postgresql+asyncpg"),
        pool_size=DB_POOL_SIZE,
        max_overflow=0,
        connect_args={"timeout": contract.DB_CONNECT_TIMEOUT},
    )
    if _url
    else None
)
Session = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]

    def as_dict(self) -> dict:
        return {"id": self.id, "randomNumber": self.randomnumber}


class Fortune(Base):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


class DatabaseUnavailable(Exception):
    pass


async def get_session():
    if engine is None:
        raise DatabaseUnavailable("DATABASE_URL is not set")
    async with Session() as session:
        yield session


DB = Annotated[AsyncSession, Depends(get_session)]


class Address(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    street: str = Field(min_length=1, max_length=contract.NAME_MAX)
    city: str = Field(min_length=1, max_length=contract.NAME_MAX)
    postcode: str = Field(min_length=1, max_length=contract.NAME_MAX)


class Person(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)
    name: str = Field(min_length=1, max_length=contract.NAME_MAX)
    email: EmailStr
    age: StrictInt = Field(ge=contract.AGE_MIN, le=contract.AGE_MAX)
    address: Address
    tags: list[str] = Field(default_factory=list, max_length=contract.TAGS_MAX)

    @field_validator("email")
    @classmethod
    def lower_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("tags")
    @classmethod
    def lower_tags(cls, value: list[str]) -> list[str]:
        return [tag.strip().lower() for tag in value]


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
    reason = getattr(exc, "orig", None) or exc
    if isinstance(exc, OSError) and engine is not None:
        reason = f"cannot connect to {engine.url.host}:{engine.url.port}: {exc}"
    return JSONResponse(contract.database_problem(reason), status_code=503)


@app.middleware("http")
async def limit_body(request: Request, call_next):
    # Starlette has no body limit of its own; a declared oversize body is refused unread.
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > contract.MAX_BODY_BYTES:
        return JSONResponse(
            contract.error_body([("body", f"larger than {contract.MAX_BODY_BYTES} bytes")]),
            status_code=413,
        )
    return await call_next(request)


@app.get("/json")
async def json_endpoint():
    return {"message": contract.HELLO}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext():
    return contract.HELLO


@app.get("/io")
async def io(ms: int = Query(contract.IO_DEFAULT_MS, ge=0, le=contract.IO_MAX_MS)):
    # How an async framework waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return {"waited_ms": ms}


@app.get("/cpu")
def cpu(n: int = Query(contract.CPU_DEFAULT_N, ge=1, le=contract.CPU_MAX_N)):
    # A sync def: FastAPI runs it in its thread pool, as its docs advise for blocking work.
    return {"n": n, "primes": contract.count_primes(n)}


@app.post("/validate")
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
