#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn's gthread workers: (2 x cores) + 1 processes, each with a pool of threads, and
# keep-alive (Gunicorn's 2 s). Django keeps a connection per thread: DB_POOL_SIZE = threads.
set -eu
# The app's code is services/django/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../django"
export PYTHONPATH="$(cd ../common && pwd)"
export DJANGO_SETTINGS_MODULE=labsite.settings
# No key given: a throwaway one (the lab uses no sessions or signing).
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')}"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn-gthread labsite.wsgi
