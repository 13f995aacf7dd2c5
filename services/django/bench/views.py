"""Django implementation of the lab's endpoint contract (see shared DESIGN.md).

Plain function views returning JsonResponse, DRF serializers for the /validate
body, a blocking sleep for /io (a sync WSGI worker waits by blocking).
"""

import json
import time

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

import contract

from .serializers import PersonSerializer


def contract_error(errors, status):
    return JsonResponse(contract.error_body(errors), status=status)


@require_GET
def json_view(request):
    return JsonResponse({"message": contract.HELLO})


@require_GET
def plaintext(request):
    return HttpResponse(contract.HELLO, content_type="text/plain")


@require_GET
def io(request):
    try:
        ms = contract.int_param(request.GET.get("ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)
    except ValueError as exc:
        return contract_error([("ms", str(exc))], 422)
    time.sleep(ms / 1000)
    return JsonResponse({"waited_ms": ms})


@require_GET
def cpu(request):
    try:
        n = contract.int_param(request.GET.get("n"), "n", contract.CPU_DEFAULT_N, 1, contract.CPU_MAX_N)
    except ValueError as exc:
        return contract_error([("n", str(exc))], 422)
    return JsonResponse({"n": n, "primes": contract.count_primes(n)})


@require_POST
def validate(request):
    try:
        payload = json.loads(request.body)
    except RequestDataTooBig:
        return contract_error([("body", f"larger than {contract.MAX_BODY_BYTES} bytes")], 413)
    except (ValueError, UnicodeDecodeError):
        return contract_error([("body", "request body is not valid JSON")], 400)
    if not isinstance(payload, dict):
        return contract_error([("body", "expected a JSON object")], 422)
    serializer = PersonSerializer(data=payload)
    if not serializer.is_valid():
        return contract_error(contract.flatten_errors(serializer.errors), 422)
    return JsonResponse(serializer.validated_data)


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


# Django's default error pages are HTML; the contract wants JSON that names the problem.
def bad_request(request, exception=None):
    return contract_error([("request", "bad request")], 400)


def not_found(request, exception=None):
    return contract_error([("path", f"no endpoint at {request.path}")], 404)


def server_error(request):
    return contract_error([("server", "internal error")], 500)
