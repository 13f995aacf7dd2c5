"""The database as the async apps reach it: SQLAlchemy 2's asyncio extension on asyncpg.

FastAPI's docs show it this way, and Quart (Flask-SQLAlchemy is sync only) uses the same stack,
so both import it from here: one engine per worker process, a pool of DB_POOL_SIZE connections
(no overflow: the size is the size), the two tables and what "the database is down" says.
"""

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
import contract
from orm_tables import Base, DatabaseUnavailable, Fortune, World  # noqa: F401  the apps import them from here

DB_POOL_SIZE = contract.db_pool_size()
_url = contract.database_url()
engine = (
    create_async_engine(
        make_url(_url).set(drivername="postgresql+asyncpg"),
        pool_size=DB_POOL_SIZE,
        max_overflow=0,
        connect_args={"timeout": contract.DB_CONNECT_TIMEOUT},
    )
    if _url
    else None
)
Session = async_sessionmaker(engine, expire_on_commit=False)


def session() -> AsyncSession:
    """A new ORM session; DatabaseUnavailable when the service was given no database."""
    if engine is None:
        raise DatabaseUnavailable("DATABASE_URL is not set")
    return Session()


def unavailable_reason(exc: Exception):
    """Why the database is down, for the contract's 503: asyncpg's connect errors are OSErrors
    (refused, timed out), which name no address; query errors come wrapped as DBAPIError."""
    if isinstance(exc, OSError) and engine is not None:
        return f"cannot connect to {engine.url.host}:{engine.url.port}: {exc}"
    return getattr(exc, "orig", None) or exc
