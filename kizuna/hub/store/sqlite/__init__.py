"""The embedded default store: one SQLite file in WAL mode, one writer, many readers."""

from kizuna.hub.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
