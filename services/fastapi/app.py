"""FastAPI implementation of the lab's endpoint contract (see shared DESIGN.md).

Idiomatic FastAPI: Pydantic models and Query() constraints do the validation,
async endpoints wait with asyncio. Validation errors are reshaped into the
contract's common error body; everything else is stock FastAPI.
"""

import asyncio

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictInt, field_validator

import contract

app = FastAPI(title="lab-fastapi")


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


@app.get("/health")
async def health():
    return {"status": "ok"}
