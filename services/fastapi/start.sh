#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Uvicorn, one worker process per core of the CPU budget, as the FastAPI and Uvicorn
# deployment docs recommend. No access log; keep-alive as Uvicorn does by default (5 s).
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh uvicorn app:app
