"""Alembic migrations of the service database; run them with :func:`berth.store.upgrade`."""
