"""The same endpoints as async views, for Django on an ASGI server (the django-asgi variant).

Django's documented way: `async def` views, the async ORM (aget, abulk_update, async for),
asyncio.sleep for /io. Views that neither wait nor touch the database (json, plaintext, cpu,
validate) are views.py's own code, called inline: under ASGI a sync view would cost a hop to a
thread per request, and there is nothing in them to await.
"""

import asyncio
import functools

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET

import contract

from . import views
from .models import Fortune, World


def inline(view):
    @functools.wraps(view)
    async def run(request):
        return view(request)

    return run


json_view = inline(views.json_view)
plaintext = inline(views.plaintext)
cpu = inline(views.cpu)
validate = inline(views.validate)


@require_GET
async def io(request):
    try:
        ms = views.wait_ms(request)
    except ValueError as exc:
        return views.contract_error([("ms", str(exc))], 422)
    # How an async view waits on a downstream call: the worker keeps serving others.
    await asyncio.sleep(ms / 1000)
    return JsonResponse({"waited_ms": ms})


@require_GET
async def single_query(request):
    return JsonResponse((await World.objects.aget(id=contract.random_id())).as_dict())


@require_GET
async def queries(request):
    ids = contract.random_ids(contract.queries_param(request.GET.get("queries")))
    return JsonResponse([(await World.objects.aget(id=id_)).as_dict() for id_ in ids], safe=False)


@require_GET
async def updates(request):
    ids = contract.random_ids(contract.queries_param(request.GET.get("queries")))
    worlds = views.changed([await World.objects.aget(id=id_) for id_ in ids])
    await World.objects.abulk_update(worlds, ["randomnumber"])
    return JsonResponse([world.as_dict() for world in worlds], safe=False)


@require_GET
async def fortunes(request):
    return views.fortunes_page(request, [fortune async for fortune in Fortune.objects.all()])


@require_GET
async def health(request):
    await World.objects.filter(id=1).aexists()
    return JsonResponse({"status": "ok", "database": {"pool_size": settings.DB_POOL_SIZE}})
