"""The same routes on the async views (settings_asgi.py)."""

from bench import async_views

from .urls import handler400, handler404, handler500, patterns  # noqa: F401  Django reads the handlers here

urlpatterns = patterns(async_views)
