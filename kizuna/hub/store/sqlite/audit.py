"""The :class:`~kizuna.hub.store.protocols.AuditLog` of the SQLite store (records are appended by
:meth:`SQLiteBase._audit` inside each write's own transaction)."""

from __future__ import annotations

from collections.abc import Iterator

from kizuna.hub.audit import AuditHead, AuditRecord
from kizuna.hub.store.sqlite.base import SQLiteBase


class SQLiteAudit(SQLiteBase):
    def append_audit(self, actor: str, action: str, detail: object) -> None:
        with self._db.write() as conn:
            self._audit(conn, actor, action, detail)

    def audit_records(self) -> Iterator[AuditRecord]:
        cur = self._db.reader().execute(
            "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY seq"
        )
        for r in cur:
            yield AuditRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])

    def audit_head(self) -> AuditHead | None:
        row = (
            self._db.reader().execute("SELECT records, last_seq, hash FROM audit_head WHERE id=1").fetchone()
        )
        return None if row is None else AuditHead(int(row[0]), int(row[1]), str(row[2]))
