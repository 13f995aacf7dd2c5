"""A database that is down or unreachable gives 503 with the contract's error body, not a 500 page."""

from django.core.exceptions import ImproperlyConfigured
from django.db import Error as DatabaseError
from django.http import JsonResponse

import contract


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
