#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn's gthread workers exactly as services/flask-gthread/start.sh runs them, serving
# a raw WSGI callable.
set -eu
# The app's code is services/bare-wsgi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../bare-wsgi"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn-gthread app:app
