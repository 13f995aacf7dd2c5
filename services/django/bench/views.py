"""Django implementation of the lab's endpoint contract (docs/contract.md).

Plain function views returning JsonResponse, DRF serializers for the /validate
body, a blocking sleep for /io (a sync WSGI worker waits by blocking), Django's
ORM (psycopg 3) for the database and its own template engine for /fortunes.
"""

import json
import time

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

import contract

from .models import Fortune, World
from .serializers import PersonSerializer


def contract_error(errors, status):
    return JsonResponse(contract.error_body(errors), status=status)


def request_body(request) -> bytes:
    """The body, with the contract's limit (RequestDataTooBig past it).

    With a Content-Length, Django reads it and DATA_UPLOAD_MAX_MEMORY_SIZE applies. Without one
    (chunked), Django's WSGI request reads nothing at all; Gunicorn de-chunks wsgi.input and ends
    it (wsgi.input_terminated), so it is read here, at most one byte past the limit. Under ASGI
    (no environ) Django has the body whole already, bounded by services/common/limits.py.
    """
    environ = getattr(request, "environ", None)
    if environ is None or request.META.get("CONTENT_LENGTH") or not environ.get("wsgi.input_terminated"):
        return request.body
    body = request.environ["wsgi.input"].read(contract.MAX_BODY_BYTES + 1)
    if len(body) > contract.MAX_BODY_BYTES:
        raise RequestDataTooBig(contract.BODY_TOO_LARGE)
    return body


# What the sync views here and the async ones (async_views.py) share around their waits and queries.


def wait_ms(request) -> int:
    """/io's wait; ValueError says what is wrong. QueryDict.get gives the last of a repeated
    parameter, as the contract says."""
    return contract.int_param(request.GET.get("ms"), "ms", contract.IO_DEFAULT_MS, 0, contract.IO_MAX_MS)


def changed(worlds: list) -> list:
    """/updates: each row given a new random number."""
    for world in worlds:
        world.randomnumber = contract.new_random_number(world.randomnumber)
    return worlds


def fortunes_page(request, rows: list):
    """/fortunes: the table's rows and the one added per request, sorted by message."""
    rows.append(Fortune(id=0, message=contract.EXTRA_FORTUNE))
    rows.sort(key=lambda fortune: fortune.message)
    return render(request, "fortunes.html", {"fortunes": rows})


@require_GET
def json_view(request):
    return JsonResponse({"message": contract.HELLO})


@require_GET
def plaintext(request):
    return HttpResponse(contract.HELLO, content_type="text/plain")


@require_GET
def io(request):
    try:
        ms = wait_ms(request)
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
    if not contract.is_json_content_type(request.META.get("CONTENT_TYPE")):
        return contract_error([("content-type", contract.NOT_JSON_MEDIA_TYPE)], 415)
    try:
        payload = json.loads(request_body(request))
    except RequestDataTooBig:
        return contract_error([("body", contract.BODY_TOO_LARGE)], 413)
    except RecursionError:  # the json module's own limit, far deeper than the contract's
        return contract_error([("body", contract.TOO_DEEP)], 400)
    except ValueError:  # UnicodeDecodeError is one
        return contract_error([("body", "request body is not valid JSON")], 400)
    if contract.too_deep(payload):
        return contract_error([("body", contract.TOO_DEEP)], 400)
    if not isinstance(payload, dict):
        return contract_error([("body", "expected a JSON object")], 422)
    serializer = PersonSerializer(data=payload)
    if not serializer.is_valid():
        return contract_error(contract.flatten_errors(serializer.errors), 422)
    return JsonResponse(serializer.validated_data)


@require_GET
def single_query(request):
    return JsonResponse(World.objects.get(id=contract.random_id()).as_dict())


@require_GET
def queries(request):
    ids = contract.random_ids(contract.queries_param(request.GET.get("queries")))
    return JsonResponse([World.objects.get(id=id_).as_dict() for id_ in ids], safe=False)


@require_GET
def updates(request):
    worlds = changed([World.objects.get(id=id_) for id_ in contract.random_ids(contract.queries_param(request.GET.get("queries")))])
    # One UPDATE for all rows, in a transaction: Django's way to write many rows back.
    World.objects.bulk_update(worlds, ["randomnumber"])
    return JsonResponse([world.as_dict() for world in worlds], safe=False)


@require_GET
def fortunes(request):
    return fortunes_page(request, list(Fortune.objects.all()))


@require_GET
def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": {"pool_size": settings.DB_POOL_SIZE}})


# Django's default error pages are HTML; the contract wants JSON that names the problem.
def bad_request(request, exception=None):
    return contract_error([("request", "bad request")], 400)


def not_found(request, exception=None):
    return contract_error([("path", f"no endpoint at {request.path}")], 404)


def server_error(request):
    return contract_error([("server", "internal error")], 500)
