#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn supervising Uvicorn workers (the uvicorn-worker package, Uvicorn's own worker class
# moved out of Uvicorn), one per core as for Uvicorn alone. No access log.
set -eu
# The app's code is services/fastapi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../fastapi"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn-uvicorn app:app
