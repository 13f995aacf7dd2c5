#!/bin/sh
# The one start command of the bare WSGI baseline: Gunicorn exactly as services/flask/start.sh
# and services/django/start.sh run it (same workers, worker class, request-head limits, logging), serving a raw WSGI callable.
set -eu
cd "$(dirname "$0")"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn app:app
