#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian's WSGI: one worker process per core, each running the app on a pool of blocking
# threads, as many as Gunicorn gthread's threads (Granian's default, 512, would let Django open
# a connection per thread). Granian passes any request head on: app:limited adds the contract's.
set -eu
# The app's code is services/flask/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../flask"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh granian-wsgi app:limited
