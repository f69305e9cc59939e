"""The scale-out store: one PostgreSQL database behind many stateless workers."""

from kizuna.hub.store.postgres.store import PostgresStore, is_dsn

__all__ = ["PostgresStore", "is_dsn"]
