"""The one way objects enter a hub's store: validate, mark, screen, store, route sightings, audit.

Every path that stores objects calls :func:`accept`: a TAXII POST, a page pulled from a peer, a page a
peer pushes, the demo's sample data, and every ingest command. It returns a :class:`WriteResult`, one
:class:`ObjectResult` per object in the order given (stored, new version, duplicate, or refused with a
reason); interfaces build their own answers from it (the TAXII layer its status resource). Nothing is
parsed back out of messages.

One call is one write transaction: the objects, the sightings routed beside their indicators, the write
result, a pull flow's advanced cursor and the audit record are committed together or not at all. Objects
are validated before the transaction starts, so one request's validation overlaps another's commit.

An ingest command passes an :class:`~kizuna.hub.models.IngestUnit`: the write is then all or nothing (one
refused object refuses the unit, and nothing of it is written) and the unit's provenance is stored beside
each version it adds.

Decisions are :mod:`kizuna.hub.policy`'s: the TLP an unmarked object is stored with, what a peer may send,
which RED recipients are acceptable, where a sighting is routed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import orjson

from kizuna.errors import InputError, InvalidObject
from kizuna.hub import policy
from kizuna.hub.models import (
    Collection,
    Incoming,
    IngestUnit,
    ObjectResult,
    Org,
    Outcome,
    Routed,
    WriteResult,
)
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Held, NewVersion, PeerStore, Store, WriteTx
from kizuna.stix.ids import Clock, parse_timestamp, to_us
from kizuna.stix.markings import TLP
from kizuna.stix.validate import validate_object

IdFactory = Callable[[], uuid.UUID]

# enum members looked up once (an Enum attribute lookup is a descriptor call on every access)
_STORED, _NEW_VERSION, _DUPLICATE, _REFUSED = (
    Outcome.STORED,
    Outcome.NEW_VERSION,
    Outcome.DUPLICATE,
    Outcome.REFUSED,
)


@dataclass(frozen=True, slots=True)
class Sender:
    """Who a write comes from: a local organisation, or a peer hub (its account pushing to this hub, or
    this hub pulling from it). Objects from a peer pass its agreement (ingress) and keep it as origin."""

    org: Org | None  # the account that posted; None for objects this hub pulled
    agreement: policy.Agreement | None = None  # set when the objects come from a peer hub

    @classmethod
    def local(cls, org: Org) -> Sender:
        return cls(org)

    @classmethod
    def pulled(cls, agreement: policy.Agreement) -> Sender:
        return cls(None, agreement)

    @property
    def origin(self) -> str:
        if self.agreement is not None:
            return policy.peer_origin(self.agreement.peer)
        if self.org is not None:
            return policy.org_origin(self.org)
        raise InputError("a write needs an organisation or a peer agreement")


def sender_for(store: PeerStore, org: Org) -> Sender:
    """The sender of a post by ``org``: another hub's account writes as that peer, under its agreement."""
    return Sender(org, store.agreement_for(org)) if policy.is_peer_account(org) else Sender.local(org)


@dataclass(frozen=True, slots=True)
class FlowAdvance:
    """A pull flow's cursor, moved in the same transaction as the page it follows."""

    flow_id: int
    cursor: Cursor


def _refused(index: int, obj: object, reason: str, version: str = "") -> ObjectResult:
    oid = obj.get("id") if isinstance(obj, dict) else None
    return ObjectResult(
        oid if isinstance(oid, str) else f"objects[{index}]", version, Outcome.REFUSED, reason
    )


def check(index: int, obj: object) -> Incoming | ObjectResult:
    """One received object, validated and ready to store, or its refusal."""
    try:
        v = validate_object(obj)
    except InvalidObject as exc:
        return _refused(index, obj, str(exc))
    assert isinstance(obj, dict)
    recipients = obj.get(policy.RECIPIENTS_PROPERTY, [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        return _refused(index, obj, f"{policy.RECIPIENTS_PROPERTY} must be a list of organisation names")
    try:
        raw = orjson.dumps(obj)
        version_us = to_us(parse_timestamp(v.version_key)) if v.version_key else 0
    except (orjson.JSONEncodeError, ValueError) as exc:
        return _refused(index, obj, f"cannot be stored: {exc}", v.version_key)
    return Incoming(
        id=v.id,
        type=v.type,
        spec_version=v.spec_version,
        version=v.version_key,
        version_us=version_us,
        tlp=v.tlp,
        raw=raw,
        recipients=tuple(recipients),
    )


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _same_content(a: bytes, b: bytes) -> bool:
    """Are two serialisations the same object? Key order and whitespace do not count (another server may
    send an object back with its keys sorted)."""
    if a == b:
        return True
    sort = orjson.OPT_SORT_KEYS
    return orjson.dumps(orjson.loads(a), option=sort) == orjson.dumps(orjson.loads(b), option=sort)


def accept(
    store: Store,
    collection: Collection,
    sender: Sender,
    items: Sequence[object],
    *,
    clock: Clock,
    new_id: IdFactory = uuid.uuid4,
    flow: FlowAdvance | None = None,
    unit: IngestUnit | None = None,
) -> WriteResult:
    """Store what may be stored of ``items`` in ``collection`` on behalf of ``sender``; one transaction.

    With ``unit`` (an ingest command's unit) nothing at all is written if any item is refused (the result
    says why, and is not kept), and the unit's provenance is recorded beside each version stored."""
    requested_us = to_us(clock())
    write_id = str(new_id())
    checked = [check(i, obj) for i, obj in enumerate(items)]
    if sender.agreement is not None:
        checked = [_screen(sender.agreement, c) for c in checked]
    unmarked = policy.unmarked_tlp(collection.default_tlp, sender.agreement)

    def work(tx: WriteTx) -> WriteResult:
        incoming = [c for c in checked if isinstance(c, Incoming)]
        held = tx.held(collection, [o.id for o in incoming])
        held_ids = {oid for oid, _ in held}
        known = tx.org_ids({r for o in incoming for r in o.recipients})
        results: list[ObjectResult] = []
        versions: list[NewVersion] = []
        positions: list[int] = []  # the item each version comes from
        for i, c in enumerate(checked):
            if isinstance(c, ObjectResult):
                results.append(c)
                continue
            outcome, reason, version = _decide(c, held, held_ids, known, unmarked, sender)
            results.append(ObjectResult(c.id, c.version, outcome, reason))
            if version is not None:
                versions.append(version)
                positions.append(i)
        if unit is not None and any(r.outcome is _REFUSED for r in results):
            raise _UnitRefused(_unit_refused(results))  # rolls the transaction back: no trace at all
        added = tx.insert(collection, versions)
        routed = _route_sightings(tx, collection, sender, versions) if sender.agreement is None else []
        result = WriteResult(write_id, requested_us, collection.id, tuple(results), tuple(routed))
        tx.save_result(result, sender.org)
        detail: dict[str, object] = {
            "collection": collection.id,
            "write": write_id,
            "added": [[v.obj.id, v.obj.version] for v in versions],
            "duplicates": result.count(Outcome.DUPLICATE),
            "refused": [{"id": r.id, "version": r.version, "reason": r.reason} for r in result.refused],
        }
        if routed:
            detail["routed"] = [[r.collection_id, r.sighting_id] for r in routed]
        if unit is not None:
            locators = unit.locators
            where = [locators[i] if i < len(locators) else "" for i in positions]
            tx.record_unit(unit, write_id, sender.org, requested_us, list(zip(added, where, strict=True)))
            detail["ingest"] = {"format": unit.format, "source": unit.source, "unit": unit.unit}
        if flow is not None:
            tx.advance_flow(flow.flow_id, flow.cursor, len(versions), len(result.refused))
            detail["flow"] = flow.flow_id
            detail["cursor"] = [flow.cursor.date_added_us, flow.cursor.complete]
        tx.audit(sender.origin, "objects.receive" if sender.agreement else "objects.add", detail)
        return result

    try:
        return store.write(work)
    except _UnitRefused as refused:
        return WriteResult(write_id, requested_us, collection.id, tuple(refused.results))


class _UnitRefused(Exception):
    """An ingest unit of which some object was refused: the write is rolled back."""

    def __init__(self, results: list[ObjectResult]) -> None:
        super().__init__("unit refused")
        self.results = results


def _unit_refused(results: list[ObjectResult]) -> list[ObjectResult]:
    """Every result of a unit of which some object was refused: that refusal, and the rest not stored."""
    first = next(r for r in results if r.outcome is _REFUSED)
    why = f"not stored: its unit was refused ({first.id}: {first.reason})"
    return [r if r.outcome is _REFUSED else ObjectResult(r.id, r.version, _REFUSED, why) for r in results]


def _screen(agreement: policy.Agreement, c: Incoming | ObjectResult) -> Incoming | ObjectResult:
    if isinstance(c, ObjectResult):
        return c
    reason = policy.ingress_refusal(agreement, c.tlp, c.type)
    return c if reason is None else ObjectResult(c.id, c.version, Outcome.REFUSED, reason)


def _decide(
    obj: Incoming,
    held: dict[tuple[str, int], Held],
    held_ids: set[str],
    known: dict[str, int],
    unmarked: TLP,
    sender: Sender,
) -> tuple[Outcome, str, NewVersion | None]:
    """What to do with one valid object, given what the collection holds (``held`` and ``held_ids`` are
    updated with what is to be stored)."""
    key = (obj.id, obj.version_us)
    digest = _digest(obj.raw)
    same = held.get(key)
    if same is not None:
        if same.digest == digest or _same_content(same.raw, obj.raw):
            return _DUPLICATE, "", None
        return (
            _REFUSED,
            "a different object with this id and version is already stored; post a new version instead",
            None,
        )
    tlp = policy.effective_tlp(obj.tlp, unmarked)
    refusal = policy.recipient_refusal(tlp, obj.recipients, known.keys())
    if refusal is not None:
        return _REFUSED, refusal, None
    outcome = _NEW_VERSION if obj.id in held_ids else _STORED
    held[key] = Held(digest, obj.raw)
    held_ids.add(obj.id)
    recipients = policy.granted_recipients(tlp, {known[r] for r in obj.recipients})
    # a peer's object has no local producer: the peer (its origin) is who stands behind it
    producer = None if sender.org is None or sender.agreement is not None else sender.org.id
    version = NewVersion(obj, tlp, producer, sender.origin, digest, recipients)
    return outcome, "", version


def _route_sightings(
    tx: WriteTx, posted_to: Collection, sender: Sender, stored: Sequence[NewVersion]
) -> list[Routed]:
    """Copy each stored sighting into the other collections where ``sender`` may read its indicator, on
    the sender's behalf, so the indicator's producer learns that what it shared was seen."""
    org = sender.org
    if org is None:
        return []
    targets: dict[int, str] = {}
    for i, v in enumerate(stored):
        if v.obj.type == "sighting":
            ref = orjson.loads(v.obj.raw).get("sighting_of_ref")
            if isinstance(ref, str):
                targets[i] = ref
    if not targets:
        return []
    holders = tx.holders(list(targets.values()), org, exclude=posted_to)
    routed: list[Routed] = []
    for i, ref in targets.items():
        v = stored[i]
        for target, producers in holders.get(ref, ()):
            if (v.obj.id, v.obj.version_us) in tx.held(target, [v.obj.id]):
                continue
            recipients = policy.routed_sighting_recipients(producers)
            copy = replace(v.obj, recipients=recipients)
            tlp = policy.effective_tlp(copy.tlp, policy.unmarked_tlp(target.default_tlp, None))
            known = tx.org_ids(recipients)
            if policy.recipient_refusal(tlp, recipients, known.keys()) is not None:
                continue
            ids = policy.granted_recipients(tlp, {known[r] for r in recipients})
            tx.insert(target, [NewVersion(copy, tlp, org.id, sender.origin, v.digest, ids)])
            routed.append(Routed(target.id, v.obj.id))
    return routed
