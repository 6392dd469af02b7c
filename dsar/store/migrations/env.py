"""Alembic's entry point: run the history on the connection :mod:`dsar.store.migrate` hands in.

There is no URL here and no offline (SQL script) mode: :mod:`dsar.store.migrate` opens the
connection, takes the migration lock and owns the transaction, so every way of migrating —
``dsar db upgrade``, a worker starting up, the test suite — goes through the same door.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dsar.store.migrate import context_options

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError("run migrations through dsar.store.migrate (dsar db upgrade), not alembic")

context.configure(connection=connection, **context_options())
with context.begin_transaction():
    context.run_migrations()
