"""The :class:`~kizuna.hub.store.protocols.AuditLog` of the SQLite store (records are appended by
:meth:`SQLiteBase._audit` inside each write's own transaction)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from kizuna.hub.audit import AuditHead, AuditRecord, ChainReport, StoredVersion, verify
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

    if TYPE_CHECKING:

        def stored_versions(self) -> Iterator[StoredVersion]: ...  # the objects part of the store

    def audit_checkpoints(self) -> list[str]:
        try:
            return self._checkpoints.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    def verify_audit(self) -> ChainReport:
        """Chain, MACs, head, checkpoints, and the stored objects against the records (``audit verify``)."""
        row = self._db.reader().execute("SELECT value FROM meta WHERE key='audit_keyed_from'").fetchone()
        return verify(
            self.audit_records(),
            self.audit_head(),
            self.audit_checkpoints(),
            self.stored_versions(),
            key=self._audit_key,
            keyed_from=int(row[0]) if row else 1,
        )
