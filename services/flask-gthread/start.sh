#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn's gthread workers: (2 x cores) + 1 processes, each with a pool of threads, and
# keep-alive (Gunicorn's 2 s). Each thread may hold a database connection: DB_POOL_SIZE = threads.
set -eu
# The app's code is services/flask/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../flask"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh gunicorn-gthread app:app
