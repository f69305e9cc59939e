"""The one way objects enter a hub's store: validate, mark, screen, store, route sightings, audit.

Every path that stores objects calls :func:`accept`: a TAXII POST, a page pulled from a peer, a page a
peer pushes, the demo's sample data, and every ingest command. It returns a :class:`WriteResult`, one
:class:`ObjectResult` per object in the order given (stored, new version, duplicate, or refused with a
reason); interfaces build their own answers from it (the TAXII layer its status resource). Nothing is
parsed back out of messages.

One call is one write transaction: the objects, the sightings routed beside their indicators, the owners of
new ids, the marking definitions learnt, the write result, a pull flow's advanced cursor and the audit
record (which commits to each stored version's digest) are committed together or not at all. Objects are
validated before the transaction starts, so one request's validation overlaps another's commit.

An ingest command passes an :class:`~kizuna.hub.models.IngestUnit`: the write is then all or nothing (one
refused object refuses the unit, and nothing of it is written) and the unit's provenance is stored beside
each version it adds.

Every decision is :mod:`kizuna.hub.policy`'s: the TLP a version is stored with (its markings, custom ones
included; unmarked; from a peer), who may change an id (its owner) and what a writer that is not the owner
is answered (never anything that depends on what it cannot read), what a peer may send, which RED recipients
are acceptable, where a sighting is routed and in what order one write's versions are disclosed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import orjson

from kizuna.errors import InputError, InvalidObject, PermissionDenied
from kizuna.hub import policy
from kizuna.hub.index import entries
from kizuna.hub.models import (
    Collection,
    Incoming,
    IngestUnit,
    ObjectResult,
    Org,
    Outcome,
    Routed,
    Row,
    WriteResult,
)
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Held, NewVersion, PeerStore, Store, WriteTx
from kizuna.stix.ids import Clock, format_timestamp, timestamp_us, to_us
from kizuna.stix.ijson import DEFAULT_LIMITS, ObjectLimits, limit_error, walk_limit_error
from kizuna.stix.markings import MARKING_RANK, TLP, TLP2_IDS, declared_tlp, marking_refs, tlp_of
from kizuna.stix.validate import validate_object

IdFactory = Callable[[], uuid.UUID]

#: Envelope property in which a kizuna hub tells a peer, beside each object it sends, the TLP it enforces
#: on it, the hub that first shared it and how many hubs it has crossed (the objects stay as received).
CLAIMS_PROPERTY = "x_kizuna_objects"

#: Namespace of the ids of sightings the hub composes when it routes one home (UUIDv5).
ROUTED_NAMESPACE = uuid.UUID("6b9c3c4e-4a55-5c2b-9d8e-6b697a756e61")

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
        """Whose versions the writer's are: ``org:NAME`` or ``peer:NAME``."""
        if self.agreement is not None:
            return policy.peer_origin(self.agreement.peer)
        if self.org is not None:
            return policy.org_origin(self.org)
        raise InputError("a write needs an organisation or a peer agreement")

    @property
    def reader(self) -> Org | policy.Agreement:
        """Whose reading rights decide what the writer may learn: its account, or (a pull) the agreement."""
        if self.org is not None:
            return self.org
        assert self.agreement is not None
        return self.agreement


def sender_for(store: PeerStore, org: Org) -> Sender:
    """The sender of a post by ``org``: another hub's account writes as that peer, under the agreement on
    record with it; without one it may not write at all (PermissionDenied)."""
    if not policy.is_peer_account(org):
        return Sender.local(org)
    agreement = store.agreement_named(org.name)
    if agreement is None:
        raise PermissionDenied(policy.no_agreement_refusal(org), title="no agreement with this hub")
    return Sender(org, agreement)


@dataclass(frozen=True, slots=True)
class FlowAdvance:
    """A pull flow's cursor, moved in the same transaction as the page it follows."""

    flow_id: int
    cursor: Cursor


# -- what kizuna peers say about the objects they send ---------------------------------------------------
@dataclass(frozen=True, slots=True)
class PeerClaim:
    """What a peer hub says of one object it sends. Used only to make things stricter: the TLP it enforced
    is never lowered here; origin and hop count are provenance."""

    tlp: TLP | None
    origin_hub: str
    hops: int


def claims_from(envelope: Mapping[str, object]) -> dict[tuple[str, str], PeerClaim]:
    """The claims in a received envelope, by (id, version); entries that are not well formed are ignored
    (an object then counts as unclaimed, which is never less strict)."""
    out: dict[tuple[str, str], PeerClaim] = {}
    entries = envelope.get(CLAIMS_PROPERTY)
    if not isinstance(entries, list):
        return out
    for e in entries:
        if not isinstance(e, dict) or not isinstance(e.get("id"), str):
            continue
        level = MARKING_RANK.get(TLP2_IDS.get(_LEVELS.get(str(e.get("tlp")), TLP.RED), ""))
        hops = e.get("hops")
        origin_hub = e.get("origin_hub")
        out[(e["id"], str(e.get("version") or ""))] = PeerClaim(
            level,
            origin_hub[:200] if isinstance(origin_hub, str) else "",
            hops if isinstance(hops, int) and 0 <= hops < 1000 else policy.MAX_HOPS,
        )
    return out


_LEVELS = {level.label: level for level in TLP}


def claims_for(rows: Sequence[Row], hub_id: str) -> list[dict[str, object]]:
    """The claims a hub sends beside ``rows`` (to a peer that pulls or is pushed to)."""
    return [
        {
            "id": r.id,
            "version": r.version,
            "tlp": r.tlp.label,
            "origin_hub": r.origin_hub or hub_id,
            "hops": r.hops,
        }
        for r in rows
    ]


# -- validation --------------------------------------------------------------------------------------------
def _refused(index: int, obj: object, reason: str, version: str = "") -> ObjectResult:
    oid = obj.get("id") if isinstance(obj, dict) else None
    name = oid if isinstance(oid, str) else f"objects[{index}]"
    return ObjectResult(name, version, _REFUSED, reason)


def check(index: int, obj: object, limits: ObjectLimits = DEFAULT_LIMITS) -> Incoming | ObjectResult:
    """One received object, validated and ready to store, or its refusal (invalid STIX, or beyond one of
    ``limits``: nesting depth, members, string length, integers outside I-JSON's range)."""
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
    except orjson.JSONEncodeError as exc:
        reason = walk_limit_error(obj, limits) or f"cannot be stored: {exc}"
        return _refused(index, obj, f"{v.id}: {reason}", v.version_key)
    beyond = limit_error(obj, raw, limits)
    if beyond is not None:
        return _refused(index, obj, f"{v.id}: {beyond}", v.version_key)
    try:
        version_us = timestamp_us(v.version_key) if v.version_key else 0
    except ValueError as exc:
        return _refused(index, obj, f"cannot be stored: {exc}", v.version_key)
    refs = obj.get("object_marking_refs")
    if "granular_markings" in obj or (refs and any(r not in MARKING_RANK for r in refs)):
        custom = tuple(dict.fromkeys(m for m in marking_refs(obj) if m not in MARKING_RANK))
    else:  # the common case: predefined TLP markings only
        custom = ()
    return Incoming(
        id=v.id,
        type=v.type,
        spec_version=v.spec_version,
        version=v.version_key,
        version_us=version_us,
        tlp=v.tlp,
        raw=raw,
        recipients=tuple(recipients),
        markings=custom,
        declares=declared_tlp(obj) if v.type == "marking-definition" else None,
        index=entries(obj),
        digest=_digest(raw),
    )


def check_all(
    items: Sequence[object], limits: ObjectLimits = DEFAULT_LIMITS
) -> list[Incoming | ObjectResult]:
    """:func:`check` of every item, in order (the reference a :class:`Checker` agrees with)."""
    return [check(i, obj, limits) for i, obj in enumerate(items)]


#: How a write's objects are checked: :func:`check_all`, or a :class:`kizuna.hub.checkpool.CheckPool`
#: (the same results, large writes checked on several cores).
Checker = Callable[[Sequence[object], ObjectLimits], list[Incoming | ObjectResult]]


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _same_content(a: bytes, b: bytes) -> bool:
    """Are two serialisations the same object? Key order and whitespace do not count (another server may
    send an object back with its keys sorted)."""
    if a == b:
        return True
    sort = orjson.OPT_SORT_KEYS
    return orjson.dumps(orjson.loads(a), option=sort) == orjson.dumps(orjson.loads(b), option=sort)


# -- the write -------------------------------------------------------------------------------------------
@dataclass
class _Write:
    """What one write knows inside its transaction."""

    collection: Collection
    sender: Sender
    held: dict[str, list[Held]]
    owners: dict[str, str]
    known_markings: dict[str, TLP | None]
    orgs: dict[str, int]
    claims: Mapping[tuple[str, str], PeerClaim]

    def __post_init__(self) -> None:
        # the same for every object of the write
        self.origin = self.sender.origin
        agreement = self.sender.agreement
        # a peer's object has no local producer: the peer (its origin) is who stands behind it
        self.producer = None if self.sender.org is None or agreement is not None else self.sender.org.id


def accept(
    store: Store,
    collection: Collection,
    sender: Sender,
    items: Sequence[object],
    *,
    clock: Clock,
    new_id: IdFactory = uuid.uuid4,
    flow: FlowAdvance | None = None,
    claims: Mapping[tuple[str, str], PeerClaim] | None = None,
    limits: ObjectLimits = DEFAULT_LIMITS,
    unit: IngestUnit | None = None,
    checker: Checker = check_all,
) -> WriteResult:
    """Store what may be stored of ``items`` in ``collection`` on behalf of ``sender``; one transaction.
    ``claims`` (from a peer's envelope) are honoured only for objects from a peer; ``limits`` bound each
    object (see :mod:`kizuna.stix.ijson`).

    With ``unit`` (an ingest command's unit) nothing at all is written if any item is refused (the result
    says why, and is not kept), and the unit's provenance is recorded beside each version stored.
    ``checker`` checks the objects before the transaction starts (see :data:`Checker`)."""
    requested_us = to_us(clock())
    write_id = str(new_id())
    checked = checker(items, limits)
    if sender.agreement is not None:
        checked = [_screen(sender.agreement, c) for c in checked]
    # marking definitions first, so objects in the same write that reference them are ranked by them
    first = [i for i, c in enumerate(checked) if isinstance(c, Incoming) and c.type == "marking-definition"]
    firsts = set(first)
    order = first + [i for i in range(len(checked)) if i not in firsts]

    def work(tx: WriteTx) -> WriteResult:
        incoming = [c for c in checked if isinstance(c, Incoming)]
        ids = [o.id for o in incoming]
        custom = {m for o in incoming for m in o.markings}
        owners = tx.owners(ids)
        w = _Write(
            collection,
            sender,
            tx.held(collection, [i for i in ids if i in owners], sender.reader),  # no owner: never stored
            owners,
            tx.marking_levels(custom),
            tx.org_ids(
                {r for o in incoming for r in o.recipients} | ({sender.org.name} if sender.org else set())
            ),
            (claims or {}) if sender.agreement is not None else {},
        )
        results: list[ObjectResult | None] = [None] * len(checked)
        versions: list[NewVersion] = []
        definitions: list[tuple[str, TLP | None]] = []
        position: dict[int, int] = {}  # id() of each version -> the item it comes from (ingest provenance)
        for i in order:
            c = checked[i]
            if isinstance(c, ObjectResult):
                results[i] = c
                continue
            outcome, reason, version = _decide(c, w)
            results[i] = ObjectResult(c.id, c.version, outcome, reason)
            if version is None:
                continue
            versions.append(version)
            position[id(version)] = i
            if c.type == "marking-definition" and version.origin == w.owners.get(c.id):
                definitions.append((c.id, c.declares))
                if c.id not in w.known_markings:
                    w.known_markings[c.id] = c.declares
        if unit is not None and any(r is not None and r.outcome is _REFUSED for r in results):
            # an ingest unit is all or nothing: roll the whole transaction back, leave no trace
            raise _UnitRefused(_unit_refused([r for r in results if r is not None]))
        versions = _in_disclosure_order(versions)
        added = tx.insert(collection, versions)
        tx.register_markings(definitions)
        _resolve_pending(tx, [d[0] for d in definitions])
        routed = _route_sightings(store, tx, w, versions, clock)
        done = tuple(r for r in results if r is not None)
        result = WriteResult(write_id, requested_us, collection.id, done, tuple(r for r, _ in routed))
        tx.save_result(result, sender.org)
        detail: dict[str, object] = {
            "collection": collection.id,
            "write": write_id,
            "added": [[v.obj.id, v.obj.version, v.digest.hex()] for v in versions],
            "duplicates": result.count(_DUPLICATE),
            "refused": [{"id": r.id, "version": r.version, "reason": r.reason} for r in result.refused],
        }
        if routed:
            detail["routed"] = [[r.collection_id, v.obj.id, v.obj.version, v.digest.hex()] for r, v in routed]
        if unit is not None:
            where = [
                unit.locators[n] if n < len(unit.locators) else ""
                for n in (position[id(v)] for v in versions)
            ]
            tx.record_unit(unit, write_id, sender.org, requested_us, list(zip(added, where, strict=True)))
            detail["ingest"] = {"format": unit.format, "source": unit.source, "unit": unit.unit}
        if flow is not None:
            tx.advance_flow(
                flow.flow_id,
                flow.cursor,
                len(versions),
                len(result.refused),
                [(r.id, r.reason) for r in result.refused],
            )
            detail["flow"] = flow.flow_id
            detail["cursor"] = [flow.cursor.date_added_us, flow.cursor.complete]
        tx.audit(sender.origin, "objects.receive" if sender.agreement else "objects.add", detail)
        return result

    try:
        return store.write(work)
    except _UnitRefused as refused:
        return WriteResult(write_id, requested_us, collection.id, tuple(refused.results))


def _in_disclosure_order(versions: list[NewVersion]) -> list[NewVersion]:
    """``versions`` stably sorted by :func:`policy.disclosure_rank` (asked once for each kind of version:
    the TLP, restricted or not, the recipients)."""
    ranks: dict[tuple[TLP, bool, tuple[int, ...]], tuple[int, ...]] = {}
    by_rank: dict[tuple[int, ...], list[NewVersion]] = {}
    for v in versions:
        kind = (v.tlp, v.restricted, v.recipient_org_ids)
        rank = ranks.get(kind)
        if rank is None:
            rank = ranks[kind] = policy.disclosure_rank(*kind)
        by_rank.setdefault(rank, []).append(v)
    if len(by_rank) == 1:
        return versions
    return [v for rank in sorted(by_rank) for v in by_rank[rank]]


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
    return c if reason is None else ObjectResult(c.id, c.version, _REFUSED, reason)


def _tlp(obj: Incoming, w: _Write) -> tuple[TLP, str | None, tuple[str, ...], TLP | None]:
    """(effective TLP, refusal, marking ids not yet known here, the TLP it will have once they are known
    should they declare no TLP)."""
    agreement = w.sender.agreement
    claim = w.claims.get((obj.id, obj.version)) if w.claims else None
    claimed = claim.tlp if claim is not None else None
    if obj.markings:
        _, unknown = policy.marked_tlp(obj.tlp, obj.markings, w.known_markings)
        known_only = [m for m in obj.markings if m in w.known_markings]
        base, _ = policy.marked_tlp(obj.tlp, known_only, w.known_markings)
    else:  # predefined TLP markings only (or none): nothing to look up
        unknown, base = (), obj.tlp
    if base is None:  # no TLP marking (among those known here)
        base, refusal = policy.unmarked_tlp(w.collection.default_tlp, agreement, claimed)
        if refusal is not None:
            return base, refusal, (), None
    if claimed is not None and claimed > base:
        base = claimed  # a TLP is never lowered on the way
    if agreement is not None:
        refusal = policy.ingress_refusal(agreement, base, obj.type)
        if refusal is not None:
            return base, refusal, (), None
    if unknown:
        return TLP.RED, None, unknown, base
    return base, None, (), None


def _decide(obj: Incoming, w: _Write) -> tuple[Outcome, str, NewVersion | None]:
    """What to do with one valid object (``w`` is updated with what is to be stored)."""
    tlp, refusal, pending, fallback = _tlp(obj, w)
    if refusal is not None:
        return _REFUSED, refusal, None
    me = w.origin
    owner = w.owners.get(obj.id)
    versions = w.held.get(obj.id)
    digest = obj.digest
    observable = not obj.version
    others_visible = [h for h in versions if h.origin != me and h.readable] if versions else []
    mode = policy.ownership(owner, me, writer_can_read=bool(others_visible), observable=observable)
    if mode is not policy.Ownership.OWN:
        # the writer can read someone else's version: the very same content again changes nothing (a
        # partner's hub sending back what it received from here, an observable someone already shared)
        for h in others_visible:
            if h.version_us == obj.version_us and (h.digest == digest or _same_content(h.raw, obj.raw)):
                return _DUPLICATE, "", None
    if mode is policy.Ownership.REFUSE:
        return _REFUSED, "this object belongs to another organisation; only it may add versions of it", None
    restricted = mode is policy.Ownership.OWN_COPY and policy.own_copy_restricted(observable)
    lineage = [h for h in versions if h.origin == me] if versions else []
    same = [h for h in lineage if h.version_us == obj.version_us]
    if same:
        if same[0].digest == digest or _same_content(same[0].raw, obj.raw):
            return _DUPLICATE, "", None
        return (
            _REFUSED,
            "a different object with this id and version is already stored; post a new version instead",
            None,
        )
    refusal = policy.recipient_refusal(
        fallback if pending and fallback else tlp, obj.recipients, w.orgs.keys()
    )
    if refusal is not None:
        return _REFUSED, refusal, None
    named = {w.orgs[r] for r in obj.recipients if r in w.orgs}
    # a writer's own copy of an id it does not own is its alone: the names in it grant nobody anything
    granted = () if pending or restricted else policy.granted_recipients(tlp, named)
    agreement = w.sender.agreement
    if agreement is None:
        origin_hub, hops = "", 0
    else:
        claim = w.claims.get((obj.id, obj.version))
        origin_hub = claim.origin_hub if claim and claim.origin_hub else agreement.peer
        hops = claim.hops + 1 if claim else 1
    version = NewVersion(
        obj, tlp, w.producer, me, digest, granted, restricted, origin_hub, hops, pending, fallback
    )
    held = Held(obj.version_us, digest, obj.raw, me, True)
    if versions:
        versions.append(held)
    else:
        w.held[obj.id] = [held]
    if owner is None:  # the first to store an id owns it (its first stored version says so)
        w.owners[obj.id] = me
    reason = ""
    if pending:
        reason = (
            f"stored; it counts as TLP:RED for everyone but its producer until the marking definition(s)"
            f" {', '.join(pending)} are known here"
        )
    return (_NEW_VERSION if lineage else _STORED), reason, version


def _resolve_pending(tx: WriteTx, marking_ids: Sequence[str]) -> None:
    """Re-rank the stored versions that were waiting for any of ``marking_ids`` (now known)."""
    waiting = tx.pending(marking_ids)
    if not waiting:
        return
    objects = {p.date_added_us: orjson.loads(p.raw) for p in waiting}
    custom = {m for o in objects.values() for m in marking_refs(o) if m not in MARKING_RANK}
    known = tx.marking_levels(custom)
    for p in waiting:
        obj = objects[p.date_added_us]
        refs = [m for m in marking_refs(obj) if m not in MARKING_RANK]
        level, unknown = policy.marked_tlp(tlp_of(obj), refs, known)
        tlp = p.fallback_tlp if level is None else level
        names = obj.get(policy.RECIPIENTS_PROPERTY) or []
        ids = set(tx.org_ids(n for n in names if isinstance(n, str)).values())
        granted = () if unknown else policy.granted_recipients(tlp, ids)
        tx.resolve(p.date_added_us, tlp, unknown, granted)


# -- sightings routed home -------------------------------------------------------------------------------
def _route_sightings(
    store: Store, tx: WriteTx, w: _Write, stored: Sequence[NewVersion], clock: Clock
) -> list[tuple[Routed, NewVersion]]:
    """Route each stored sighting beside its indicator in the other collections where the sender may read
    the indicator: readable only by the indicator's producers and the sender, at the sighting's own TLP;
    the sender's own sighting where it may write there, a copy the hub composes where it may not."""
    org = policy.sighting_router(w.sender.org)
    if org is None:
        return []
    targets: dict[int, str] = {}
    for i, v in enumerate(stored):
        if v.obj.type == "sighting" and not v.restricted and v.origin == w.sender.origin:
            facts = v.obj.index.sighting if v.obj.index is not None else None
            ref = facts.ref if facts is not None else orjson.loads(v.obj.raw).get("sighting_of_ref")
            if isinstance(ref, str):
                targets[i] = ref
    if not targets:
        return []
    holders = tx.holders(list(targets.values()), org, exclude=w.collection)
    routed: list[tuple[Routed, NewVersion]] = []
    for i, ref in targets.items():
        v = stored[i]
        for target, producers in holders.get(ref, ()):
            route = policy.sighting_route(policy.may_write(store.grant(target, org)))
            names = policy.routed_sighting_recipients(producers, org.name)
            ids = policy.granted_recipients(v.tlp, set(tx.org_ids(names).values()), restricted=True)
            if route is policy.Routing.COPY:
                obj, origin = v.obj, v.origin
            else:
                obj, origin = _hub_sighting(v.obj, target, v.tlp, org, clock), policy.HUB_ORIGIN
            held = tx.held(target, [obj.id], org).get(obj.id, [])
            if any(h.version_us == obj.version_us and h.origin == origin for h in held):
                continue
            owner = tx.owners([obj.id]).get(obj.id)
            if owner is not None and owner != origin:
                continue
            copy = NewVersion(obj, v.tlp, v.producer_org_id, origin, obj.digest, ids, True)
            tx.insert(target, [copy])
            routed.append((Routed(target.id, obj.id), copy))
    return routed


def _hub_sighting(sighting: Incoming, target: Collection, tlp: TLP, poster: Org, clock: Clock) -> Incoming:
    """The sighting the hub composes for a collection the poster may not write: its reference, counts and
    times, who saw it, and the TLP it had where it was posted; nothing else of the poster's choosing."""
    src = orjson.loads(sighting.raw)
    now = format_timestamp(clock())
    sid = uuid.uuid5(ROUTED_NAMESPACE, f"{target.id}|{sighting.id}|{sighting.version}")
    obj: dict[str, object] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{sid}",
        "created": now,
        "modified": now,
        "sighting_of_ref": src["sighting_of_ref"],
        "description": f"Reported at this hub by {poster.name} (routed beside the indicator).",
        "object_marking_refs": [TLP2_IDS[tlp]],
    }
    for key in ("count", "first_seen", "last_seen"):
        if key in src:
            obj[key] = src[key]
    if poster.identity_id:
        obj["where_sighted_refs"] = [poster.identity_id]
    made = check(0, obj)
    if isinstance(made, ObjectResult):  # the poster's counts or times were not usable: leave them out
        for key in ("count", "first_seen", "last_seen"):
            obj.pop(key, None)
        made = check(0, obj)
    assert isinstance(made, Incoming)
    return replace(made, recipients=())
