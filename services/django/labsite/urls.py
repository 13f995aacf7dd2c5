from django.urls import path

from bench import views


def patterns(module) -> list:
    """The contract's endpoints on the views of `module` (bench.views, or bench.async_views for ASGI)."""
    names = {
        "json": module.json_view, "plaintext": module.plaintext, "io": module.io, "cpu": module.cpu,
        "validate": module.validate, "db": module.single_query, "queries": module.queries,
        "updates": module.updates, "fortunes": module.fortunes, "health": module.health,
    }  # fmt: skip
    return [path(route, view) for route, view in names.items()]


urlpatterns = patterns(views)

handler400 = "bench.views.bad_request"
handler404 = "bench.views.not_found"
handler500 = "bench.views.server_error"
