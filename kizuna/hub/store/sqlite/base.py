"""What every part of the SQLite store shares: its connections, its clock, and appending to the audit chain
inside the current write transaction."""

from __future__ import annotations

import sqlite3

from kizuna.hub.audit import GENESIS_HASH, canonical_detail, record_hash
from kizuna.hub.store.sqlite.connection import Connections
from kizuna.stix.ids import Clock, format_timestamp


class SQLiteBase:
    _db: Connections
    _clock: Clock

    def _now_text(self) -> str:
        return format_timestamp(self._clock(), precision="microsecond")

    def _audit(self, conn: sqlite3.Connection, actor: str, action: str, detail: object) -> None:
        """Append one record to the chain and move its head, in the caller's transaction."""
        head = conn.execute("SELECT records, last_seq, hash FROM audit_head WHERE id = 1").fetchone()
        records, seq, prev = (0, 0, GENESIS_HASH) if head is None else (int(head[0]), int(head[1]), head[2])
        seq += 1
        at = self._now_text()
        text = canonical_detail(detail)
        digest = record_hash(prev, seq, at, actor, action, text)
        conn.execute(
            "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, at, actor, action, text, prev, digest),
        )
        conn.execute(
            "INSERT INTO audit_head (id, records, last_seq, hash) VALUES (1, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET records = excluded.records, last_seq = excluded.last_seq,"
            " hash = excluded.hash",
            (records + 1, seq, digest),
        )
