"""The contract's request limits (contract.py), as middleware for servers that do not enforce them.

Gunicorn bounds the request head itself (start.sh states the numbers). Uvicorn, Hypercorn and
Granian do not bound it the same way, so the variants that run on them wrap their app:

- `asgi(app)`: the head (414 / 431) and the body (413), for an ASGI app. The body is read
  before the app runs, at most one chunk past the limit, and handed to the app whole; an app
  that reads its body whole anyway (Django, Quart) then never holds an oversized one.
- `wsgi(app)`: the head (414 / 431), for a WSGI app on a server that passes any head on
  (Granian). The body stays the framework's (Flask's MAX_CONTENT_LENGTH, Django's
  DATA_UPLOAD_MAX_MEMORY_SIZE and their chunked-body reads).

FastAPI keeps its own middleware (services/fastapi/app.py), FastAPI's way: errors through its
exception handlers, on the same head rules (scope_problem). Refusals here carry the contract's
error body, like every other refusal.
"""

import json
import os

import contract

_BODY_TOO_LARGE = (413, "body", contract.BODY_TOO_LARGE)


def head_problem(line_bytes: int, fields: list[tuple[bytes, bytes]]) -> tuple[int, str, str] | None:
    """(status, field, message) if a request line of `line_bytes` or these header fields break the limits."""
    if line_bytes > contract.MAX_REQUEST_LINE_BYTES:
        return 414, "request", f"request line longer than {contract.MAX_REQUEST_LINE_BYTES} bytes"
    if len(fields) > contract.MAX_HEADER_FIELDS:
        return 431, "headers", f"more than {contract.MAX_HEADER_FIELDS} header fields"
    for name, value in fields:
        if len(name) + len(value) + 4 > contract.MAX_HEADER_FIELD_BYTES:  # "Name: value\r\n"
            return 431, "headers", f"header {name[:50].decode('latin-1')!r} longer than {contract.MAX_HEADER_FIELD_BYTES} bytes"
        if name.lower() == b"content-length" and value.isdigit() and int(value) > contract.MAX_BODY_BYTES:
            return _BODY_TOO_LARGE
    return None


def scope_problem(scope) -> tuple[int, str, str] | None:
    """head_problem for an ASGI request (its line rebuilt from the scope, the path as sent)."""
    query = b"?" + scope["query_string"] if scope["query_string"] else b""
    raw_path = scope.get("raw_path") or scope["path"].encode()
    line = len(scope["method"]) + 1 + len(raw_path) + len(query) + len(" HTTP/1.1")
    return head_problem(line, scope["headers"])


def _error(problem: tuple[int, str, str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status, field, message = problem
    body = json.dumps(contract.error_body([(field, message)])).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], body


def asgi(app):
    async def limited(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        problem = scope_problem(scope)
        body, more = bytearray(), True
        while not problem and more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before its body was in
            body += message.get("body", b"")
            more = message.get("more_body", False)
            problem = _BODY_TOO_LARGE if len(body) > contract.MAX_BODY_BYTES else None
        if problem:
            status, headers, payload = _error(problem)
            # The unread rest of a refused body would be taken for the next request: close.
            await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
            return await send({"type": "http.response.body", "body": payload})

        delivered = False

        async def replay():
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: only a disconnect is left to hear
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await app(scope, replay, send)

    return limited


def wsgi(app):
    def limited(environ, start_response):
        # The request line as sent where the server keeps it; else rebuilt, with the path as the
        # server decoded it (Granian), so a percent-encoded line counts shorter than it was.
        path = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if path is None:
            query = environ.get("QUERY_STRING", "")
            path = environ.get("PATH_INFO", "") + ("?" + query if query else "")
        line = len(environ.get("REQUEST_METHOD", "")) + 1 + len(path.encode("latin-1", "replace")) + len(" HTTP/1.1")
        # WSGI keeps a header as HTTP_NAME (Content-Type and -Length without the prefix); the
        # lengths are the header's own. Servers may set an empty CONTENT_TYPE that was never sent,
        # and Granian puts the process environment into every request's (HTTP_PROXY is no header).
        fields = [
            (key.removeprefix("HTTP_").replace("_", "-").encode("latin-1"), str(value).encode("latin-1", "replace"))
            for key, value in environ.items()
            if (key.startswith("HTTP_") and os.environ.get(key) != value) or (key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value)
        ]
        problem = head_problem(line, fields)
        if problem is None:
            return app(environ, start_response)
        status, headers, body = _error(problem)
        reason = {413: "Content Too Large", 414: "URI Too Long", 431: "Request Header Fields Too Large"}[status]
        start_response(f"{status} {reason}", [(name.decode(), value.decode()) for name, value in headers])
        return [body]

    return limited
