"""Talking to a target for the contract's checks: requests with a time limit, the expectations the
checks share (status, headers, the JSON error body), and raw HTTP for what requests cannot send
(chunked bodies, oversized heads). A failed expectation raises ContractError naming what was
expected and what came back."""

import http.client
import itertools
import json
import select
import socket
from collections.abc import Iterable
from contextvars import ContextVar
from urllib.parse import urlsplit

import requests

TIMEOUT = 15  # seconds, for a server with a whole core; a check that waits longer has found a hang

# The limit of the checks running now: TIMEOUT, or longer for a server on a fraction of a core (run_all).
_limit: ContextVar[float] = ContextVar("limit", default=TIMEOUT)


def time_limit(cpus: float | None) -> float:
    """TIMEOUT for a server held to `cpus` cores: on a fraction of a core the same work takes that
    much longer (at 0.1 core FastAPI needs ~3 s for /queries?queries=500; 0.15 s on a whole core)."""
    return TIMEOUT / min(cpus, 1.0) if cpus else TIMEOUT

class ContractError(AssertionError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractError(message)


def get(base: str, path: str, **kwargs) -> requests.Response:
    return requests.get(base + path, timeout=_limit.get(), **kwargs)


def post(base: str, path: str, **kwargs) -> requests.Response:
    return requests.post(base + path, timeout=_limit.get(), **kwargs)


def expect_common_headers(response: requests.Response, content_type: str) -> None:
    where = f"{response.request.method} {response.request.path_url}"
    got = response.headers.get("Content-Type", "")
    expect(got.startswith(content_type), f"{where}: Content-Type {got!r}, expected {content_type}")
    expect("Date" in response.headers, f"{where}: no Date header")
    expect(
        "Content-Length" in response.headers or response.headers.get("Transfer-Encoding") == "chunked",
        f"{where}: neither Content-Length nor chunked encoding",
    )


def expect_json(response: requests.Response, status: int):
    where = f"{response.request.method} {response.request.path_url}"
    expect(response.status_code == status, f"{where}: status {response.status_code}, expected {status}: {response.text[:200]}")
    expect_common_headers(response, "application/json")
    try:
        return response.json()
    except ValueError:
        raise ContractError(f"{where}: body is not JSON: {response.text[:200]!r}") from None


def expect_error(response: requests.Response, statuses: set[int]) -> set[str]:
    """An error answer: one of the statuses, the common JSON error body; returns the fields named."""
    where = f"{response.request.method} {response.request.path_url}"
    expect(response.status_code in statuses, f"{where}: status {response.status_code}, expected one of {sorted(statuses)}: {response.text[:200]}")
    try:
        body = response.json()
    except ValueError:
        raise ContractError(f"{where}: error body is not JSON: {response.text[:200]!r}") from None
    errors = body.get("errors") if isinstance(body, dict) else None
    expect(
        isinstance(errors, list) and errors and all({"field", "message"} <= set(e) for e in errors),
        f"{where}: error body must be {{'errors': [{{'field', 'message'}}, ...]}}, got {body!r}",
    )
    return {e["field"] for e in errors}


def post_chunked(base: str, path: str, parts: Iterable[bytes]) -> tuple[int, bytes, int]:
    """A JSON POST whose body is sent in chunks as `parts` yields them (no Content-Length), lazily,
    stopping when the server answers; returns (status, body, bytes sent)."""
    host = urlsplit(base).netloc
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    return send_raw(base, itertools.chain([head.encode()], chunked(parts)))


def chunked(parts: Iterable[bytes]) -> Iterable[bytes]:
    """HTTP/1.1 chunked transfer coding of `parts` (no Content-Length)."""
    for part in parts:
        if part:
            yield b"%x\r\n%s\r\n" % (len(part), part)
    yield b"0\r\n\r\n"


def send_raw(base: str, pieces: Iterable[bytes]) -> tuple[int, bytes, int]:
    """Send a request as raw bytes on a fresh connection, stopping as soon as the server answers
    (or closes); returns (status, body, bytes sent). Bounded in time by the checks' limit per step."""
    url = urlsplit(base)
    sent, limit = 0, _limit.get()
    try:
        with socket.create_connection((url.hostname, url.port), timeout=limit) as sock:
            try:
                for piece in pieces:
                    view = memoryview(piece)
                    while view:
                        readable, writable, _ = select.select([sock], [sock], [], limit)
                        if readable:
                            raise StopIteration  # answered before the request was over
                        expect(bool(writable), f"{url.path}: the server took no more bytes for {limit:g} s and did not answer")
                        count = sock.send(view)
                        sent += count
                        view = view[count:]
            except (StopIteration, BrokenPipeError, ConnectionResetError):
                pass  # the server spoke first; hear what it said
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status, response.read(), sent
    except (OSError, http.client.HTTPException) as exc:
        raise ContractError(f"raw request to {base}: no HTTP answer after {sent} bytes: {type(exc).__name__}: {exc}") from None


def expect_error_body(raw: bytes, where: str) -> None:
    try:
        body = json.loads(raw)
    except ValueError:
        raise ContractError(f"{where}: error body is not JSON: {raw[:200]!r}") from None
    errors = body.get("errors") if isinstance(body, dict) else None
    shaped = isinstance(errors, list) and errors and all({"field", "message"} <= set(e) for e in errors)
    expect(shaped, f"{where}: error body must be {{'errors': [{{'field', 'message'}}, ...]}}, got {body!r}")


def endless_string(total: int, piece: int = 64 * 1024) -> Iterable[bytes]:
    """A JSON document that is one long string: valid all the way, so only the size is wrong."""
    yield b'{"name": "'
    for _ in range(total // piece):
        yield b"x" * piece
    yield b'"}'
