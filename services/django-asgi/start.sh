#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Django's ASGI application with async views (bench/async_views.py, labsite/settings_asgi.py)
# on Uvicorn, one worker process per core as for FastAPI. Django has no lifespan: off.
set -eu
# The app's code is services/django/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../django"
export PYTHONPATH="$(cd ../common && pwd)"
export DJANGO_SETTINGS_MODULE=labsite.settings_asgi
# No key given: a throwaway one (the lab uses no sessions or signing).
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')}"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh uvicorn labsite.asgi:application --lifespan off
