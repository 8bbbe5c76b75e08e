"""Opening the shared database: URL handling, SQLite pragmas, migrations, sessions."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from datarial.errors import StoreError

DEFAULT_DB = "datarial.db"
MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PG_MIGRATION_LOCK = 7_342_001  # advisory-lock key: one migrating process at a time

# Alembic's ``context`` is module-global, so migrations in one process must not overlap.
_migrate_lock = threading.Lock()


def resolve_url(db: str | None = None) -> str:
    """Database URL from ``db`` (URL or SQLite file path), ``DATARIAL_DB``, or ``./datarial.db``."""
    db = db or os.environ.get("DATARIAL_DB") or DEFAULT_DB
    if "://" in db:
        if db.startswith("postgresql://") or db.startswith("postgres://"):
            # psycopg 3 is the driver we ship; plain URLs would ask for psycopg2.
            db = "postgresql+psycopg://" + db.split("://", 1)[1]
        return db
    return f"sqlite:///{Path(db).expanduser()}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised through engine
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@functools.cache
def _head_revision_of(script_location: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(script_location).get_current_head()


def _head_revision(cfg) -> str | None:
    return _head_revision_of(cfg.get_main_option("script_location"))


class Store:
    """A database connection pool with migrations applied; hands out sessions.

    ``Store(url)`` upgrades the schema to the newest Alembic revision on open,
    so any copy of datarial can open a database written by an older one.
    """

    def __init__(self, db: str | None = None, *, migrate: bool = True) -> None:
        self.url = resolve_url(db)
        try:
            url = make_url(self.url)
        except ArgumentError:
            raise StoreError(f"database URL {self.url!r} is not valid") from None
        kwargs: dict = {"future": True}
        if url.get_backend_name() == "sqlite":
            if url.database and url.database != ":memory:":
                parent = Path(url.database).expanduser().parent
                if not parent.exists():
                    raise StoreError(f"database {url.database}: folder {parent} does not exist")
            # Each thread gets its own connection; WAL lets readers run beside one writer.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use database {self.safe_url}: {exc}") from None
        if url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite's own transaction handling does not take the write lock at
            # BEGIN; take it explicitly so read-then-write transactions serialise.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))

            @event.listens_for(self.engine, "connect")
            def _no_autobegin(dbapi_conn, _record):  # pragma: no cover
                dbapi_conn.isolation_level = None

        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden (for messages)."""
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except ArgumentError:
            return self.url

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (creates it on an empty database)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.connect() as conn:
                if MigrationContext.configure(conn).get_current_revision() == _head_revision(cfg):
                    return
            with _migrate_lock:
                with self.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
        except OperationalError as exc:
            raise StoreError(f"cannot open database {self.safe_url}: {exc.orig}") from None
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot migrate database {self.safe_url}: {exc}") from None

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
