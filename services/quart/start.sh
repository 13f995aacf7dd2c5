#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Hypercorn, the ASGI server Quart's docs recommend, one worker process per core, with
# uvloop as Uvicorn uses. No access log (Hypercorn's default); keep-alive (5 s).
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh hypercorn app:app
