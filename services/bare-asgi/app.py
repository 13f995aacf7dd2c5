"""A raw ASGI callable, no framework: the ceiling of Uvicorn (and of the generator) on this budget.

It answers /json, /plaintext and /health exactly as the contract says, so the
same locustfiles run against it; whatever a framework's app does on top of this
is the framework's tax.
"""

JSON_BODY = b'{"message":"Hello, World!"}'
ROUTES = {
    "/json": (b"application/json", JSON_BODY),
    "/plaintext": (b"text/plain; charset=utf-8", b"Hello, World!"),
    "/health": (b"application/json", b'{"status":"ok"}'),
}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    content_type, body = ROUTES.get(scope["path"], (b"application/json", b'{"errors":[{"field":"path","message":"not found"}]}'))
    status = 200 if scope["path"] in ROUTES else 404
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
