"""The :class:`~kizuna.hub.store.protocols.SessionStore` of the SQLite store: the web UI's sessions.

A session row holds the SHA-256 of the cookie's id (a copy of the database opens no session), the
organisation, the hash of the token it signed in with, its CSRF token and when it ends. Creating one removes
the expired ones and, past the bound, the oldest.
"""

from __future__ import annotations

from kizuna.hub.reads import UiSession
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.stix.ids import to_us

_COLUMNS = "id_hash, org_id, key_id, csrf, created_us, expires_us"


class SQLiteSessions(SQLiteBase):
    def create_session(self, session: UiSession, *, max_sessions: int) -> None:
        now_us = to_us(self._clock())
        with self._db.write() as conn:
            conn.execute("DELETE FROM ui_sessions WHERE expires_us <= ?", (now_us,))
            (n,) = conn.execute("SELECT COUNT(*) FROM ui_sessions").fetchone()
            excess = int(n) - max_sessions + 1
            if excess > 0:
                conn.execute(
                    "DELETE FROM ui_sessions WHERE id_hash IN"
                    " (SELECT id_hash FROM ui_sessions ORDER BY created_us, id_hash LIMIT ?)",
                    (excess,),
                )
            conn.execute(
                f"INSERT INTO ui_sessions ({_COLUMNS}) VALUES (?,?,?,?,?,?)",
                (
                    session.id_hash,
                    session.org_id,
                    session.key_id,
                    session.csrf,
                    session.created_us,
                    session.expires_us,
                ),
            )

    def get_session(self, id_hash: str) -> UiSession | None:
        row = (
            self._db.reader()
            .execute(f"SELECT {_COLUMNS} FROM ui_sessions WHERE id_hash = ?", (id_hash,))
            .fetchone()
        )
        if row is None:
            return None
        return UiSession(str(row[0]), int(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]))

    def end_session(self, id_hash: str) -> bool:
        with self._db.write() as conn:
            return conn.execute("DELETE FROM ui_sessions WHERE id_hash = ?", (id_hash,)).rowcount > 0
