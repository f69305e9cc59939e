"""The :class:`~kizuna.hub.store.protocols.AuditLog` of the SQLite store (records are appended by
:meth:`SQLiteBase._audit` inside each write's own transaction)."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from kizuna.hub.audit import (
    GENESIS_HASH,
    AuditHead,
    AuditRecord,
    ChainReport,
    StoredVersion,
    parse_checkpoint,
    record_hash,
    verify,
)
from kizuna.hub.reads import AuditFilter, ChainProgress
from kizuna.hub.store.sqlite.base import SQLiteBase

_RECORD = "seq, at, actor, action, detail, prev_hash, hash"


class SQLiteAudit(SQLiteBase):
    def append_audit(self, actor: str, action: str, detail: object) -> None:
        with self._db.write() as conn:
            self._audit(conn, actor, action, detail)

    def audit_records(self) -> Iterator[AuditRecord]:
        cur = self._db.reader().execute(f"SELECT {_RECORD} FROM audit ORDER BY seq")
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

    # -- pages and incremental verification (the web UI's audit page) -----------------------------------
    def _first_seq_at(self, at: str) -> int:
        """The first sequence number whose time is at or after ``at`` (times grow with the sequence, so a
        binary search over point reads finds it without an index)."""
        conn = self._db.reader()
        lo, hi = 1, int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit").fetchone()[0]) + 1
        while lo < hi:
            mid = (lo + hi) // 2
            row = conn.execute(
                "SELECT seq, at FROM audit WHERE seq >= ? ORDER BY seq LIMIT 1", (mid,)
            ).fetchone()
            if row is None or str(row[1]) >= at:
                hi = mid
            else:
                lo = int(row[0]) + 1
        return lo

    def audit_page(self, audit_filter: AuditFilter) -> tuple[list[AuditRecord], bool]:
        f = audit_filter
        clauses: list[str] = []
        args: list[object] = []
        if f.before_seq is not None:
            clauses.append("seq < ?")
            args.append(f.before_seq)
        if f.since_at is not None:
            clauses.append("seq >= ?")
            args.append(self._first_seq_at(f.since_at))
        if f.until_at is not None:
            clauses.append("seq < ?")
            args.append(self._first_seq_at(f.until_at))
        for column, values in (("action", f.actions), ("actor", f.actors)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = (
            self._db.reader()
            .execute(f"SELECT {_RECORD} FROM audit{where} ORDER BY seq DESC LIMIT ?", [*args, f.limit + 1])
            .fetchall()
        )
        records = [AuditRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows[: f.limit]]
        return records, len(rows) > f.limit

    def verify_audit_progress(self, progress: ChainProgress | None, *, max_records: int) -> ChainProgress:
        p = progress or ChainProgress(hash=GENESIS_HASH)
        head = self.audit_head()
        if head is not None:
            p = replace(p, head_records=head.records)
        if not p.ok:
            return p
        conn = self._db.reader()
        row = conn.execute("SELECT value FROM meta WHERE key='audit_keyed_from'").fetchone()
        keyed_from = int(row[0]) if row else 1
        rows = conn.execute(
            f"SELECT {_RECORD} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (p.seq, max_records)
        ).fetchall()
        seq, prev, count = p.seq, p.hash, p.records
        for r in rows:
            rec = AuditRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])
            if rec.seq != seq + 1:
                what = (
                    f"record {seq + 1} is" if rec.seq == seq + 2 else f"records {seq + 1}-{rec.seq - 1} are"
                )
                return replace(p, ok=False, first_bad_seq=seq + 1, reason=f"{what} deleted")
            key = self._audit_key if rec.seq >= keyed_from else None
            expected = record_hash(rec.prev_hash, rec.seq, rec.at, rec.actor, rec.action, rec.detail, key)
            if rec.prev_hash != prev or not hmac.compare_digest(expected, rec.hash):
                return replace(p, ok=False, first_bad_seq=rec.seq, reason="its content was modified")
            seq, prev, count = rec.seq, rec.hash, count + 1
        p = replace(p, seq=seq, hash=prev, records=count)
        at_end = len(rows) < max_records
        if at_end and (head is None or head.last_seq != seq or head.hash != prev or head.records != count):
            return replace(
                p, ok=False, first_bad_seq=seq + 1, reason="the chain does not end where its head says"
            )
        p = self._verify_checkpoints_from(p, at_end=at_end)
        return replace(p, complete=at_end and p.ok)

    def _verify_checkpoints_from(self, p: ChainProgress, *, at_end: bool) -> ChainProgress:
        """Check the checkpoint lines after those already checked, up to the records verified so far (the
        file is read from where the last check stopped)."""
        try:
            with open(self._checkpoints, "rb") as fh:
                fh.seek(p.checkpoint_offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        offset, n = p.checkpoint_offset, p.checkpoint_lines
        # the lines to check against the records (line number, the head it vouches for), up to the first
        # line that ends the check; then their records' hashes in a few statements, not one a line
        checked: list[tuple[int, AuditHead]] = []
        stop: ChainProgress | None = None
        for raw in data.splitlines(keepends=True):
            if not raw.endswith(b"\n"):
                break  # a line still being written
            line = raw.decode("utf-8", "replace")
            if line.strip():
                head = parse_checkpoint(self._audit_key, line)
                if head is None:
                    stop = replace(p, ok=False, reason=f"checkpoint line {n + 1} was not written by this hub")
                    break
                if head.last_seq > p.seq:
                    if at_end:
                        stop = replace(
                            p,
                            ok=False,
                            first_bad_seq=p.seq + 1,
                            reason=f"records after {p.seq} were deleted (checkpoint {n + 1} vouches for"
                            f" record {head.last_seq})",
                        )
                    break
                checked.append((n, head))
            offset += len(raw)
            n += 1
        hashes = self._audit_hashes(sorted({head.last_seq for _, head in checked}))
        for line_n, head in checked:
            if hashes.get(head.last_seq) != head.hash:
                return replace(
                    p,
                    ok=False,
                    first_bad_seq=head.last_seq,
                    reason=f"it differs from checkpoint line {line_n + 1} (the chain was rewritten)",
                )
        if stop is not None:
            return stop
        return replace(p, checkpoint_lines=n, checkpoint_offset=offset)

    def _audit_hashes(self, seqs: list[int]) -> dict[int, str]:
        """The hash of each of the records ``seqs`` that exists."""
        conn = self._db.reader()
        out: dict[int, str] = {}
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            rows = conn.execute(
                f"SELECT seq, hash FROM audit WHERE seq IN ({','.join('?' * len(chunk))})", chunk
            ).fetchall()
            out.update((int(r[0]), str(r[1])) for r in rows)
        return out
