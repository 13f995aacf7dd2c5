"""A raw WSGI callable, no framework: the ceiling of Gunicorn (and of the generator) on this budget.

It answers /json, /plaintext and /health exactly as the contract says, so the
same locustfiles run against it; whatever a framework's app does on top of this
is the framework's tax.
"""

JSON_BODY = b'{"message":"Hello, World!"}'
ROUTES = {
    "/json": ("application/json", JSON_BODY),
    "/plaintext": ("text/plain; charset=utf-8", b"Hello, World!"),
    "/health": ("application/json", b'{"status":"ok"}'),
}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    content_type, body = ROUTES.get(path, ("application/json", b'{"errors":[{"field":"path","message":"not found"}]}'))
    start_response("200 OK" if path in ROUTES else "404 Not Found", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]
