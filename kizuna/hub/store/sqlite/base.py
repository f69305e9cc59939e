"""What every part of the SQLite store shares: its connections, clock and keys, and appending to the audit
chain inside the current write transaction."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kizuna.hub.audit import GENESIS_HASH, AuditHead, canonical_detail, checkpoint_line, record_hash
from kizuna.hub.store.sqlite.connection import Connections
from kizuna.stix.ids import Clock, format_timestamp


class SQLiteBase:
    _db: Connections
    _clock: Clock
    _audit_key: bytes
    _checkpoints: Path

    def _now_text(self) -> str:
        return format_timestamp(self._clock(), precision="microsecond")

    def _audit(self, conn: sqlite3.Connection, actor: str, action: str, detail: object) -> None:
        """Append one record to the chain and move its head, in the caller's transaction; once it commits,
        the new head goes to the checkpoint file."""
        head = conn.execute("SELECT records, last_seq, hash FROM audit_head WHERE id = 1").fetchone()
        records, seq, prev = (0, 0, GENESIS_HASH) if head is None else (int(head[0]), int(head[1]), head[2])
        seq += 1
        at = self._now_text()
        text = canonical_detail(detail)
        digest = record_hash(prev, seq, at, actor, action, text, self._audit_key)
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
        line = checkpoint_line(self._audit_key, AuditHead(records + 1, seq, digest), at)
        self._db.after_commit["checkpoint"] = lambda: self._append_checkpoint(line)

    def _append_checkpoint(self, line: str) -> None:
        """Append one checkpoint line (the file is opened for appending only, created readable by its owner
        only). A crash before it lands loses a checkpoint, never invents one."""
        fd = os.open(self._checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
