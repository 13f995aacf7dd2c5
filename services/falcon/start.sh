#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn exactly as services/flask/start.sh runs it (the ladder bare-wsgi -> falcon -> flask -> django
# differs only in the app): sync workers, (2 x cores) + 1 of them as Gunicorn's docs recommend. No access log
# (Gunicorn's default); sync workers close each connection (no keep-alive), as Gunicorn does.
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn app:app
