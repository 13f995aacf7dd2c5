import os

import limits
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings_asgi")
# Uvicorn does not bound the request head or body: the contract's limits (services/common/limits.py).
application = limits.asgi(get_asgi_application())
