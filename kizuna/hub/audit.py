"""Append-only, tamper-evident audit log: each record's hash covers its content and the previous hash.

Records are appended by the store inside the same transaction as the write they describe, so a write and
its audit record are committed together or not at all. The store also keeps the chain's head (how many
records, the last one's sequence number and hash) in the same transaction, so cutting records off the end
of the chain is told apart from an intact chain. :func:`verify_chain` walks the chain and names the first
damage it finds, each kind in its own words: a record edited, a record missing from the middle, records
missing from the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

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


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The chain's head as the store last wrote it."""

    records: int
    last_seq: int
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


class Damage(StrEnum):
    """The kinds of damage :func:`verify_chain` tells apart."""

    MODIFIED = "modified"  # a record's content does not match its hash, or a link is broken
    DELETED = "deleted"  # a record is missing between two others
    TRUNCATED = "truncated"  # records are missing from the end of the chain
    HEAD = "head"  # the head record itself is missing or does not match any record


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str = ""
    damage: Damage | None = None


def verify_chain(records: Iterable[AuditRecord], head: AuditHead | None) -> ChainReport:
    """Check every link and hash in ``records`` (in seq order), then that the chain ends at ``head``."""
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last: AuditRecord | None = None
    for rec in records:
        count += 1
        if rec.seq != expected_seq:
            if rec.seq > expected_seq:
                missing = (
                    f"record {expected_seq} is"
                    if rec.seq == expected_seq + 1
                    else f"records {expected_seq}-{rec.seq - 1} are"
                )
                return ChainReport(False, count, expected_seq, f"{missing} deleted", Damage.DELETED)
            return ChainReport(False, count, rec.seq, "records are out of order", Damage.MODIFIED)
        if rec.prev_hash != prev:
            return ChainReport(
                False, count, rec.seq, "its link to the previous record is broken (modified)", Damage.MODIFIED
            )
        if record_hash(rec.prev_hash, rec.seq, rec.at, rec.actor, rec.action, rec.detail) != rec.hash:
            return ChainReport(False, count, rec.seq, "its content was modified", Damage.MODIFIED)
        prev = rec.hash
        expected_seq = rec.seq + 1
        last = rec
    if head is None:
        return ChainReport(False, count, None, "the chain's head record is missing", Damage.HEAD)
    if last is None or last.seq < head.last_seq or count < head.records:
        first = 1 if last is None else last.seq + 1
        lost = head.records - count
        return ChainReport(
            False,
            count,
            first,
            f"{lost} record(s) after record {first - 1} were deleted from the end (head says {head.records})",
            Damage.TRUNCATED,
        )
    if last.seq != head.last_seq or last.hash != head.hash or count != head.records:
        return ChainReport(
            False, count, last.seq, "the chain does not end where its head says (modified)", Damage.HEAD
        )
    return ChainReport(True, count)
