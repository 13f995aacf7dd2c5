#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian's WSGI: one worker process per core, each running the app on a pool of blocking
# threads, as many as Gunicorn gthread's threads (Granian's default, 512, would let Django open
# a connection per thread). Granian passes any request head on: wsgi:limited adds the contract's.
set -eu
# The app's code is services/django/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../django"
export PYTHONPATH="$(cd ../common && pwd)"
export DJANGO_SETTINGS_MODULE=labsite.settings
# No key given: a throwaway one (the lab uses no sessions or signing).
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')}"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh granian-wsgi labsite.wsgi:limited
