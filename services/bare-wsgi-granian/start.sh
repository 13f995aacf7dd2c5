#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian's WSGI exactly as services/flask-granian/start.sh runs it, serving a raw WSGI callable.
set -eu
# The app's code is services/bare-wsgi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../bare-wsgi"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh granian-wsgi app:app
