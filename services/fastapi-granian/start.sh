#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian, the Rust HTTP server, one worker process per core, uvloop as Uvicorn uses. No access log
# (Granian's default).
set -eu
# The app's code is services/fastapi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../fastapi"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh granian-asgi app:app
