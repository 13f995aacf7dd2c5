"""The contract's two tables as SQLAlchemy 2 ORM classes, for the apps that use its ORM directly
(sync: Falcon; async: orm_async.py for FastAPI, Starlette, Litestar and Quart): one definition."""

from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]

    def as_dict(self) -> dict:
        return {"id": self.id, "randomNumber": self.randomnumber}


class Fortune(Base):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str]


class DatabaseUnavailable(Exception):
    """The service was given no database (DATABASE_URL unset) or cannot reach it."""
