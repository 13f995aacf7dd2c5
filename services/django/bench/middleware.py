"""Errors in the contract's error body: a database that is down gives 503, not a 500 page; a wrong method 405."""

from django.core.exceptions import ImproperlyConfigured
from django.db import Error as DatabaseError
from django.http import JsonResponse

import contract


class MethodNotAllowedMiddleware:
    """require_GET / require_POST answer 405 with an empty body; the contract wants its error body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 405 and not response.content:
            allowed = response.get("Allow", "")
            body = contract.error_body([("method", f"{request.method} not allowed here; allowed: {allowed}")])
            response = JsonResponse(body, status=405, headers={"Allow": allowed})
        return response


class DatabaseDownMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DatabaseError):
            return JsonResponse(contract.database_problem(exception), status=503)
        # DATABASES is empty when DATABASE_URL is not set.
        if isinstance(exception, ImproperlyConfigured) and not contract.database_url():
            return JsonResponse(contract.database_problem("DATABASE_URL is not set"), status=503)
        return None
