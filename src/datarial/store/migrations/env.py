"""Alembic environment: runs migrations on the connection datarial hands in."""

from alembic import context

from datarial.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - alembic CLI use
    from sqlalchemy import create_engine

    from datarial.store.db import resolve_url

    connection = create_engine(resolve_url(config.get_main_option("sqlalchemy.url"))).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
