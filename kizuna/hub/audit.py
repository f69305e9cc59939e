"""Append-only, tamper-evident audit log: a keyed hash chain, a head, and signed checkpoints outside the
database.

* **Records** are appended by the store inside the transaction of the write they describe, so a write and
  its record are committed together or not at all. Each record's MAC (HMAC-SHA256 under the hub's audit key,
  which lives in the key file, not in the database) covers its content and the previous record's MAC:
  whoever can write the database but not read the key file cannot edit a record and recompute the chain.
  Records of object writes commit to the content digest of every version they stored or deleted.
* **The head** (record count, last sequence number, last MAC) is kept in the database in the same
  transaction, so cutting records off the end is told apart from an intact chain.
* **Checkpoints** (the head, MAC'd) are appended to a file beside the database after every commit, so even
  an owner of the database who deletes records and rewrites the head is caught by the file.

:func:`verify` walks all of it and names the first damage of each kind in its own words: a record modified,
a record deleted from the middle, records cut from the end (or all of them), the checkpoint file edited, a
stored object without its write record, an object the records say is stored that is not there.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
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


def record_hash(
    prev_hash: str, seq: int, at: str, actor: str, action: str, detail: str, key: bytes | None = None
) -> str:
    """The record's MAC under ``key`` (HMAC-SHA256); without a key, the plain SHA-256 that records written
    before the chain was keyed carry."""
    h = hmac.new(key, digestmod=hashlib.sha256) if key is not None else hashlib.sha256()
    for part in (prev_hash, str(seq), at, actor, action, detail):
        data = part.encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


# -- checkpoints ----------------------------------------------------------------------------------------
def checkpoint_line(key: bytes, head: AuditHead, at: str) -> str:
    """One line of the checkpoint file: the head and when, MAC'd under the audit key."""
    body = {"records": head.records, "seq": head.last_seq, "hash": head.hash, "at": at}
    mac = hmac.new(key, b"checkpoint " + canonical_detail(body).encode(), hashlib.sha256).hexdigest()
    return canonical_detail({**body, "mac": mac})


def parse_checkpoint(key: bytes, line: str) -> AuditHead | None:
    """The head a checkpoint line vouches for; None when the line is not one the hub wrote."""
    try:
        data = orjson.loads(line)
        body = {k: data[k] for k in ("records", "seq", "hash", "at")}
        mac = str(data["mac"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    expected = hmac.new(key, b"checkpoint " + canonical_detail(body).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    return AuditHead(int(body["records"]), int(body["seq"]), str(body["hash"]))


# -- verification ---------------------------------------------------------------------------------------
class Damage(StrEnum):
    """The kinds of damage :func:`verify` tells apart."""

    MODIFIED = "modified"  # a record's content does not match its MAC, or a link is broken
    DELETED = "deleted"  # a record is missing between two others
    TRUNCATED = "truncated"  # records are missing from the end of the chain (or every record)
    HEAD = "head"  # the head in the database does not match the chain
    CHECKPOINT = "checkpoint"  # the checkpoint file was edited
    OBJECT_MISSING = "object missing"  # a version the records say is stored is not there
    OBJECT_UNRECORDED = "object unrecorded"  # a stored version has no write record


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    records: int
    first_bad_seq: int | None = None
    reason: str = ""
    damage: Damage | None = None


#: A stored object version as the records name it: (collection id, object id, version, digest hex).
StoredVersion = tuple[str, str, str, str]


def verify_chain(
    records: Iterable[AuditRecord],
    head: AuditHead | None,
    *,
    key: bytes | None = None,
    keyed_from: int = 1,
) -> ChainReport:
    """Check every link and MAC in ``records`` (in seq order), then that the chain ends at ``head``.
    Records before ``keyed_from`` (written before the chain was keyed) carry plain SHA-256."""
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
        mac_key = key if rec.seq >= keyed_from else None
        expected = record_hash(rec.prev_hash, rec.seq, rec.at, rec.actor, rec.action, rec.detail, mac_key)
        if not hmac.compare_digest(expected, rec.hash):
            return ChainReport(False, count, rec.seq, "its content was modified", Damage.MODIFIED)
        prev = rec.hash
        expected_seq = rec.seq + 1
        last = rec
    if head is None:
        if last is None:
            return ChainReport(False, 0, None, "every record and the head were deleted", Damage.TRUNCATED)
        return ChainReport(False, count, None, "the chain's head record is missing", Damage.HEAD)
    if last is None or last.seq < head.last_seq or count < head.records:
        first = 1 if last is None else last.seq + 1
        lost = head.records - count
        where = "every record was" if last is None else f"{lost} record(s) after record {first - 1} were"
        return ChainReport(
            False, count, first, f"{where} deleted from the end (head says {head.records})", Damage.TRUNCATED
        )
    if last.seq != head.last_seq or last.hash != head.hash or count != head.records:
        return ChainReport(
            False, count, last.seq, "the chain does not end where its head says (modified)", Damage.HEAD
        )
    return ChainReport(True, count)


def verify_checkpoints(records: list[AuditRecord], lines: Iterable[str], key: bytes) -> ChainReport | None:
    """Damage the checkpoint file reveals, or None: a line the hub did not write (edited), a checkpoint
    beyond the chain's end (records cut off, even when the head was rewritten), or one whose MAC differs
    from the record's (a record rewritten)."""
    by_seq = {r.seq: r for r in records}
    last_seq = records[-1].seq if records else 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        head = parse_checkpoint(key, line)
        if head is None:
            return ChainReport(
                False,
                len(records),
                None,
                f"checkpoint line {n} was not written by this hub",
                Damage.CHECKPOINT,
            )
        if head.last_seq > last_seq:
            where = "every record was" if not records else f"records after {last_seq} were"
            return ChainReport(
                False,
                len(records),
                last_seq + 1,
                f"{where} deleted from the end (checkpoint {n} vouches for record {head.last_seq})",
                Damage.TRUNCATED,
            )
        rec = by_seq.get(head.last_seq)
        if rec is None or rec.hash != head.hash:
            return ChainReport(
                False,
                len(records),
                head.last_seq,
                f"it differs from checkpoint line {n} (the chain was rewritten)",
                Damage.MODIFIED,
            )
    return None


def _written(records: Iterable[AuditRecord]) -> tuple[Counter[tuple[str, ...]], set[tuple[str, str]]]:
    """What the records say is stored: versions (with digests where the record has them) and the
    (collection, id) pairs that a first-release delete record removed an unknown number of versions of."""
    expected: Counter[tuple[str, ...]] = Counter()
    loosely_deleted: set[tuple[str, str]] = set()
    for rec in records:
        if rec.action not in ("objects.add", "objects.receive", "objects.delete"):
            continue
        d = orjson.loads(rec.detail)
        collection = str(d.get("collection", ""))
        if rec.action == "objects.delete":
            if "deleted" not in d:
                loosely_deleted.add((collection, str(d.get("id"))))
            for entry in d.get("deleted", []):
                expected[(collection, *map(str, entry))] -= 1
            continue
        for entry in d.get("added", []):
            expected[(collection, *map(str, entry))] += 1
        for entry in d.get("routed", []):
            if len(entry) == 4:
                expected[tuple(map(str, entry))] += 1
    return +expected, loosely_deleted


def reconcile(records: Iterable[AuditRecord], stored: Iterable[StoredVersion]) -> ChainReport | None:
    """Compare the stored object versions with what the write and delete records say; None when they
    agree. Records of the first release name versions without digests; those match on the version."""
    expected, loosely_deleted = _written(records)
    versions_only = Counter({k: n for k, n in expected.items() if len(k) == 3})
    held: Counter[tuple[str, ...]] = Counter()
    for collection, oid, version, digest in stored:
        key = (collection, oid, version, digest)
        if expected[key] > held[key]:
            held[key] += 1
        elif versions_only[(collection, oid, version)] > 0:
            versions_only[(collection, oid, version)] -= 1
        else:
            return ChainReport(
                False,
                0,
                None,
                f"{oid} ({version or 'no version'}) in collection {collection} has no write record",
                Damage.OBJECT_UNRECORDED,
            )
    missing: list[tuple[str, ...]] = sorted(k for k, n in expected.items() if len(k) == 4 and held[k] < n)
    missing += sorted(k for k, n in versions_only.items() if n > 0 and (k[0], k[1]) not in loosely_deleted)
    if missing:
        c, oid, version = missing[0][:3]
        return ChainReport(
            False,
            0,
            None,
            f"{oid} ({version or 'no version'}) in collection {c} was written and never deleted by a"
            f" record, but is not there ({len(missing)} such)",
            Damage.OBJECT_MISSING,
        )
    return None


def verify(
    records: Iterable[AuditRecord],
    head: AuditHead | None,
    checkpoints: Iterable[str],
    stored: Iterable[StoredVersion],
    *,
    key: bytes,
    keyed_from: int = 1,
) -> ChainReport:
    """Every check: chain and MACs, head, checkpoints, then the stored objects against the records."""
    chain = list(records)
    report = verify_chain(chain, head, key=key, keyed_from=keyed_from)
    if not report.ok and report.damage is not Damage.TRUNCATED:
        return report
    found = verify_checkpoints(chain, checkpoints, key)
    if found is not None:
        return found
    if not report.ok:
        return report
    found = reconcile(chain, stored)
    if found is not None:
        return ChainReport(False, len(chain), None, found.reason, found.damage)
    return report
