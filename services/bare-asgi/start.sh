#!/bin/sh
# The one start command of the bare ASGI baseline: Uvicorn exactly as services/fastapi/start.sh
# runs it (same workers, loop, HTTP parser, logging), serving a raw ASGI callable.
set -eu
cd "$(dirname "$0")"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh uvicorn app:app
