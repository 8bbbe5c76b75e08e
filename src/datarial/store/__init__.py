"""The shared experiment database (SQLAlchemy 2 + Alembic)."""

from datarial.store.db import Store, resolve_url

__all__ = ["Store", "resolve_url"]
