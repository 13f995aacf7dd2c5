#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian exactly as services/fastapi-granian/start.sh runs it, serving a raw ASGI callable.
set -eu
# The app's code is services/bare-asgi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../bare-asgi"
# The server's flags and worker formula: ../common/serve.sh, stated once for every service.
exec ../common/serve.sh granian-asgi app:app
