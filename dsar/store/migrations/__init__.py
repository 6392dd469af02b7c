"""The engine's migration history (Alembic); run it through :mod:`dsar.store.migrate`."""
