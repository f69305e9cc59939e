"""Append-only, tamper-evident audit log: each record's hash covers its content and the previous hash.

Records are appended by the store inside the same transaction as the write they describe, so a write and
its audit record are committed together or not at all. :func:`verify_chain` walks the chain and names the
first record whose content or link does not match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

GENESIS_HASH = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str
    actor: str
    action: str
    detail: str  # canonical JSON text
    prev_hash: str
    hash: str


def canonical_detail(detail: object) -> str:
    return orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()


def record_hash(prev_hash: str, seq: int, at: str, actor: str, action: str, detail: str) -> str:
    h = hashlib.sha256()
    for part in (prev_hash, str(seq), at, actor, action, detail):
        data = part.encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(records: Iterable[AuditRecord]) -> ChainReport:
    """Check every link and hash in ``records`` (in seq order)."""
    prev = GENESIS_HASH
    expected_seq: int | None = None
    count = 0
    for rec in records:
        count += 1
        if expected_seq is not None and rec.seq != expected_seq:
            return ChainReport(False, count, rec.seq, f"record {expected_seq} is missing")
        if rec.prev_hash != prev:
            return ChainReport(False, count, rec.seq, "link to the previous record is broken")
        if record_hash(rec.prev_hash, rec.seq, rec.at, rec.actor, rec.action, rec.detail) != rec.hash:
            return ChainReport(False, count, rec.seq, "content does not match its hash")
        prev = rec.hash
        expected_seq = rec.seq + 1
    return ChainReport(True, count)
