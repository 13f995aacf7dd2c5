"""Errors in the contract's error body: a database that is down gives 503, not a 500 page; a wrong method 405.

Both middlewares run in the handler's own mode, sync under WSGI and async under ASGI (Django's
docs: a middleware that is not async-capable costs every async request a hop to a thread).
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.db import Error as DatabaseError
from django.http import JsonResponse

import contract


class Middleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self.process_response(request, self.get_response(request))

    async def _acall(self, request):
        return self.process_response(request, await self.get_response(request))

    def process_response(self, request, response):
        return response


class MethodNotAllowedMiddleware(Middleware):
    """require_GET / require_POST answer 405 with an empty body; the contract wants its error body."""

    def process_response(self, request, response):
        if response.status_code == 405 and not response.content:
            allowed = response.get("Allow", "")
            body = contract.error_body([("method", f"{request.method} not allowed here; allowed: {allowed}")])
            response = JsonResponse(body, status=405, headers={"Allow": allowed})
        return response


class DatabaseDownMiddleware(Middleware):
    # Django calls process_exception synchronously in both modes.
    def process_exception(self, request, exception):
        if isinstance(exception, DatabaseError):
            return JsonResponse(contract.database_problem(pool_reason(exception)), status=503)
        # DATABASES is empty when DATABASE_URL is not set.
        if isinstance(exception, ImproperlyConfigured) and not contract.database_url():
            return JsonResponse(contract.database_problem("DATABASE_URL is not set"), status=503)
        return None


def pool_reason(exception: Exception) -> str:
    """A pool's timeout says only that no connection came (psycopg's pool keeps retrying in the
    background, under ASGI: settings_asgi.py); one direct attempt says why."""
    if "couldn't get a connection" not in str(exception):
        return str(exception)
    import psycopg
    from django.db import connection

    try:
        psycopg.connect(**connection.get_connection_params()).close()
    except psycopg.Error as cause:
        return f"{exception}: {cause}"
    return str(exception)
