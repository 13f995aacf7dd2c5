#!/bin/sh
# Each server's flags, stated once: every service's start.sh ends in
#   exec ../common/serve.sh <server> <app> [extra flags]
# from its app's folder. Workers (and threads) by the server's own documented formula for a
# budget of CPUS cores (workers.py beside this file); PORT is the one in the service's
# service.toml (the image sets it; the local runner passes it).
set -eu
server="$1"
app="$2"
shift 2
common="$(cd "$(dirname "$0")" && pwd)"
CPUS="${CPUS:-$(nproc)}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:?PORT: the port in the service.toml of the service being started}"
# Gunicorn's request-line and header limits, stated so every Gunicorn worker class keeps the same.
LIMITS="--limit-request-line 4094 --limit-request-fields 100 --limit-request-field_size 8190"

case "$server" in
uvicorn)  # one process per core (Uvicorn and FastAPI deployment docs); no access log
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" uvicorn "$CPUS")}"
    exec uvicorn "$app" --host "$HOST" --port "$PORT" --workers "$WORKERS" \
        --no-access-log --log-level warning "$@" ;;
gunicorn)  # sync workers, 2 x cores + 1 (Gunicorn docs)
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" gunicorn "$CPUS")}"
    # shellcheck disable=SC2086  # LIMITS is several flags
    exec gunicorn "$app" --bind "$HOST:$PORT" --workers "$WORKERS" --worker-class sync \
        $LIMITS --log-level warning "$@" ;;
gunicorn-gthread)  # 2 x cores + 1 workers, 4 x cores threads each (the top of Gunicorn's 2-4 x)
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" gunicorn "$CPUS")}"
    THREADS="${THREADS:-$(python3 "$common/workers.py" threads "$CPUS")}"
    export THREADS  # the apps keep a database connection per thread
    # shellcheck disable=SC2086
    exec gunicorn "$app" --bind "$HOST:$PORT" --workers "$WORKERS" --worker-class gthread \
        --threads "$THREADS" $LIMITS --log-level warning "$@" ;;
gunicorn-uvicorn)  # Gunicorn managing Uvicorn workers, Uvicorn's formula (one per core)
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" uvicorn "$CPUS")}"
    exec gunicorn "$app" --bind "$HOST:$PORT" --workers "$WORKERS" \
        --worker-class uvicorn_worker.UvicornWorker --log-level warning "$@" ;;
hypercorn)  # one asyncio (uvloop) worker process per core, as Uvicorn
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" hypercorn "$CPUS")}"
    exec hypercorn "$app" --bind "$HOST:$PORT" --workers "$WORKERS" --worker-class uvloop \
        --log-level warning "$@" ;;
granian-asgi)  # one worker process per core (Granian docs), uvloop, no websockets
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" granian "$CPUS")}"
    exec granian "$app" --interface asgi --host "$HOST" --port "$PORT" --workers "$WORKERS" \
        --loop uvloop --no-ws --log-level warning "$@" ;;
granian-wsgi)  # one worker process per core, Gunicorn's gthread thread count as blocking threads
    WORKERS="${WORKERS:-$(python3 "$common/workers.py" granian "$CPUS")}"
    THREADS="${THREADS:-$(python3 "$common/workers.py" threads "$CPUS")}"
    export THREADS  # the apps keep a database connection per thread
    exec granian "$app" --interface wsgi --host "$HOST" --port "$PORT" --workers "$WORKERS" \
        --blocking-threads "$THREADS" --log-level warning "$@" ;;
*)
    echo "serve.sh: unknown server '$server' (uvicorn, gunicorn, gunicorn-gthread, gunicorn-uvicorn, hypercorn, granian-asgi, granian-wsgi)" >&2
    exit 2 ;;
esac
