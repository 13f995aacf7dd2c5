"""Django on an ASGI server with async views (the django-asgi variant): settings.py, changed
only where Django's docs say async needs it."""

import contract

from .settings import *  # noqa: F403

ROOT_URLCONF = "labsite.urls_async"
ASGI_APPLICATION = "labsite.asgi.application"
# Each async worker keeps a pool, as FastAPI's does (Django's docs: under ASGI, a connection pool
# instead of persistent connections). The async ORM runs each request's queries on a thread of
# that request's own, so the pool is used by several requests at once.
DB_POOL_SIZE = contract.db_pool_size()
for database in DATABASES.values():  # noqa: F405
    database["CONN_MAX_AGE"] = 0
    database["OPTIONS"]["pool"] = {"min_size": 1, "max_size": DB_POOL_SIZE, "timeout": contract.DB_CONNECT_TIMEOUT}
