#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn sync workers, (2 x cores) + 1 of them as Gunicorn's docs recommend. No access log
# (Gunicorn's default); sync workers close each connection (no keep-alive), as Gunicorn does.
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
export DJANGO_SETTINGS_MODULE=labsite.settings
# No key given: a throwaway one (the lab uses no sessions or signing).
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')}"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn labsite.wsgi
