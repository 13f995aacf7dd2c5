#!/bin/sh
# The one start command of the bare ASGI baseline: Uvicorn exactly as services/fastapi/start.sh
# runs it (same workers, loop, HTTP parser, logging), serving a raw ASGI callable.
set -eu
cd "$(dirname "$0")"
CPUS="${CPUS:-$(nproc)}"
exec uvicorn app:app \
    --host "${HOST:-127.0.0.1}" --port "${PORT:-8011}" \
    --workers "${WORKERS:-$CPUS}" \
    --no-access-log --log-level warning
