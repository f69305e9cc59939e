"""Who may read, write, change or receive what: every sharing decision of the hub, in one place.

``docs/sharing-policy.md`` states these rules in words, with the commands that show them.

**Reading.** An organisation reads a stored object version only if

1. it holds a read grant on the version's collection, and
2. the version's effective TLP does not exceed the organisation's ceiling (for another hub's account the
   ceiling is never above AMBER: RED and AMBER+STRICT never leave the hub), and
3. the TLP rule allows it: CLEAR, GREEN, AMBER and AMBER+STRICT go to readers of the collection (the
   producer chose them by posting there); RED, and any *restricted* version (a sighting routed beside its
   indicator, a copy kept for a writer that does not own the id), only to its producer and the recipients
   it names.

**Effective TLP.** The highest TLP among the markings a version references, predefined (TLP 1.0 and 2.0)
or custom marking definitions that declare a TLP level through the TLP 2.0 extension; a version that
references a marking the hub does not know counts as RED for everyone but its producer until the
definition arrives; a version with no TLP marking takes the default decided when it is stored
(:func:`unmarked_tlp`), kept as hub metadata beside the object as received. A TLP is never lowered.

**Changing.** The first to store an id at this hub owns it (for an object received from a peer hub, that
peer): only the owner adds versions, revokes or deletes; an administrator may delete. A write's answer never
depends on what the writer may not read (:func:`ownership`).

**Federation.** What may leave to a peer is :func:`egress`; what may enter from one, :func:`ingress_refusal`
and :func:`unmarked_tlp`. Objects received from a peer go on to other peers only where that peer's record
allows it (``--reshare``).

Rules that run inside a store query are a :data:`Predicate`: a small expression over *facts* of a stored
object version that names no table; each backend translates predicates to its own query language
(``kizuna/hub/store/sqlite/predicates.py``), so the list pages of every interface filter in the query.
Beside each predicate a plainly written reference (:func:`may_read`, :func:`may_leave`) states the same rule
for one object; property tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Collection as AbstractSet
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from kizuna.errors import InputError
from kizuna.hub.models import Grant, Org
from kizuna.stix.markings import TLP

#: Property in which a producer names the recipients of a TLP:RED object (organisation names).
RECIPIENTS_PROPERTY = "x_kizuna_recipients"

#: Highest TLP that may ever be served to another hub's account, whatever its configured ceiling.
PEER_HUB_MAX = TLP.AMBER

#: Hubs an object may pass through: an object that has already crossed this many never leaves again.
MAX_HOPS = 4

#: The origin of objects the hub composes itself (routed sightings for organisations that may not write).
HUB_ORIGIN = "hub"


# -- the predicate language (facts of one stored object version; no table names) ------------------------
Fact = Literal["tlp", "producer", "origin", "origin_hub", "type", "restricted", "hops"]


@dataclass(frozen=True, slots=True)
class Compare:
    """``fact op value``; ``op`` is one of ``= != < <= in``; ``in`` takes a tuple."""

    fact: Fact
    op: Literal["=", "!=", "<", "<=", "in"]
    value: int | str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HasReadGrant:
    """The organisation holds a read grant on the object's collection."""

    org_id: int


@dataclass(frozen=True, slots=True)
class IsRecipient:
    """The producer named the organisation as a recipient of this (RED or restricted) version."""

    org_id: int


@dataclass(frozen=True, slots=True)
class AllOf:
    parts: tuple[Predicate, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Predicate, ...]


Predicate = Compare | HasReadGrant | IsRecipient | AllOf | AnyOf


# -- organisations and collections ----------------------------------------------------------------------
def effective_ceiling(org: Org) -> TLP:
    """The highest TLP ``org`` may receive."""
    return min(org.ceiling, PEER_HUB_MAX) if is_peer_account(org) else org.ceiling


def may_read_collection(grant: Grant | None) -> bool:
    """May the grant's holder read the collection at all (before any per-object rule)?"""
    return grant is not None and grant.can_read


def may_write(grant: Grant | None) -> bool:
    """May the grant's holder post objects to the collection?"""
    return grant is not None and grant.can_write


def may_see_collection(grant: Grant | None) -> bool:
    """Is the collection listed for the grant's holder (it may read or write it)? Otherwise it is hidden
    exactly like a collection that does not exist."""
    return grant is not None and (grant.can_read or grant.can_write)


# -- reading --------------------------------------------------------------------------------------------
def marked_tlp(
    predefined: TLP | None, custom: Sequence[str], known: dict[str, TLP | None]
) -> tuple[TLP | None, tuple[str, ...]]:
    """The TLP a version's markings give it, and the custom marking ids the hub does not know.

    ``predefined`` is the highest predefined TLP marking it references; ``custom`` the other marking ids;
    ``known`` the marking definitions the hub holds (the TLP each declares, or None for a statement). While
    any is unknown the version counts as RED (for everyone but its producer: nobody was named)."""
    unknown = tuple(m for m in custom if m not in known)
    levels = [x for x in (predefined, *(known.get(m) for m in custom)) if x is not None]
    if unknown:
        return TLP.RED, unknown
    return (max(levels) if levels else None), ()


def may_read(
    org: Org,
    grant: Grant | None,
    tlp: TLP,
    producer_org_id: int | None,
    recipient_org_ids: AbstractSet[int] = (),
    *,
    restricted: bool = False,
) -> bool:
    """Reference form of the read rule for one stored object version (``tlp`` is its effective TLP)."""
    if not may_read_collection(grant):
        return False
    if tlp > effective_ceiling(org):
        return False
    if tlp < TLP.RED and not restricted:
        return True
    return org.id == producer_org_id or org.id in recipient_org_ids


class ReadBasis(Enum):
    """Why an organisation may read a version it reads (the web UI says so in words)."""

    COLLECTION = "collection"  # CLEAR to AMBER+STRICT, not restricted: every reader of the collection
    PRODUCER = "producer"  # RED or restricted, and the organisation posted it
    RECIPIENT = "recipient"  # RED or restricted, and its producer named the organisation


def read_basis(tlp: TLP, *, restricted: bool, produced: bool, named: bool) -> ReadBasis:
    """Which clause of the read rule (:func:`may_read`) lets a reader read a version it reads."""
    if tlp < TLP.RED and not restricted:
        return ReadBasis.COLLECTION
    return ReadBasis.PRODUCER if produced else ReadBasis.RECIPIENT


def may_administer(org: Org) -> bool:
    """May ``org`` see the hub's audit log and peers in the web UI (an administrator)?"""
    return org.admin and not is_peer_account(org)


def visible(org: Org, agreement: Agreement | None = None) -> Predicate:
    """The read rule as a predicate: the object versions ``org`` may read.

    For another hub's account, ``agreement`` (the local peer record of the same name) adds the egress
    rule: what that hub's account reads is exactly what a push to it would send.
    """
    rule: Predicate = AllOf(
        (
            HasReadGrant(org.id),
            Compare("tlp", "<=", int(effective_ceiling(org))),
            AnyOf(
                (
                    AllOf((Compare("tlp", "<", int(TLP.RED)), Compare("restricted", "=", 0))),
                    Compare("producer", "=", org.id),
                    IsRecipient(org.id),
                )
            ),
        )
    )
    if is_peer_account(org) and agreement is not None:
        rule = AllOf((rule, egress(agreement)))
    return rule


def disclosure_rank(tlp: TLP, restricted: bool, recipient_org_ids: Sequence[int]) -> tuple[int, ...]:
    """The order in which one write's versions take their ``date_added``: the most widely readable first,
    so that what one reader sees of a write is one unbroken run, and two versions it can see never have
    versions it cannot see between them (gaps in ``date_added`` would count them)."""
    narrow = restricted or tlp == TLP.RED
    return (int(narrow), int(tlp), *sorted(recipient_org_ids))


# -- writing --------------------------------------------------------------------------------------------
def recipient_refusal(tlp: TLP, recipients: Sequence[str], known: AbstractSet[str]) -> str | None:
    """Why a RED object naming ``recipients`` cannot be stored (some are not organisations of this hub),
    or None. Recipients of objects below RED are kept as received and grant nothing."""
    unknown = [r for r in recipients if r not in known]
    if tlp == TLP.RED and unknown:
        return f"unknown recipient(s) {', '.join(unknown)}"
    return None


def granted_recipients(
    tlp: TLP, recipient_org_ids: AbstractSet[int], *, restricted: bool = False
) -> tuple[int, ...]:
    """The organisations a stored version names as recipients that the read rule honours: those of a RED or
    restricted version; none for anything else (its named recipients grant nothing)."""
    return tuple(sorted(recipient_org_ids)) if tlp == TLP.RED or restricted else ()


def unmarked_tlp(
    collection_default: TLP, agreement: Agreement | None, sender_tlp: TLP | None = None
) -> tuple[TLP, str | None]:
    """The TLP an object without a TLP marking is stored with, or why it must be refused.

    A local organisation's post takes the collection's default. An object from a peer hub counts as the most
    restrictive of the TLP the sender enforced on it (a kizuna peer says so with the object), the
    agreement's TLP and this collection's default; when that is above the agreement it is refused, so an
    unmarked object never becomes more widely readable on its way.
    """
    if agreement is None:
        return collection_default, None
    level = max(collection_default, agreement.max_tlp, sender_tlp or TLP.CLEAR)
    if level > agreement.max_tlp:
        sent = f"the sender's {sender_tlp}, " if sender_tlp is not None else ""
        return level, (
            f"refused: unmarked, it counts as {level} here (the most restrictive of {sent}the agreement's"
            f" {agreement.max_tlp} and this collection's default {collection_default}), above the agreement"
            f" with {agreement.peer}"
        )
    return level, None


class Ownership(Enum):
    """How a write of one id relates to its owner at this hub (:func:`ownership`)."""

    OWN = "own"  # the writer owns the id (or nobody does yet): a normal write
    REFUSE = "refuse"  # someone else owns it and the writer can see it: refused, saying why
    OWN_COPY = "own-copy"  # someone else owns it and the writer cannot see it: kept as the writer's copy


def ownership(
    owner: str | None, writer: str, *, writer_can_read: bool, observable: bool = False
) -> Ownership:
    """Who may change an object. The first to store an id at this hub owns it; only the owner adds
    versions. A writer that is not the owner is refused only where it can read the object; where it cannot,
    its answer must be the one a fresh id would get (no existence oracle), so its version is kept as its
    own copy, which nobody else reads under that id. An observable (its id derives from its content, so
    partners legitimately produce the same one) is always kept as the writer's own copy, shared under its
    own marking, unless the writer can read the very same content (a duplicate)."""
    if owner is None or owner == writer:
        return Ownership.OWN
    if observable:
        return Ownership.OWN_COPY
    return Ownership.REFUSE if writer_can_read else Ownership.OWN_COPY


def own_copy_restricted(observable: bool) -> bool:
    """Is a writer's own copy of an id someone else owns readable only by the writer? Yes, except for an
    observable (a versionless object whose id derives from its content), shared under its own marking."""
    return not observable


def may_delete(org: Org, version_origin: str) -> bool:
    """May ``org`` delete a version it can read? Its own, or any if it is an administrator."""
    return org.admin or version_origin == org_origin(org)


# -- sightings routed home ------------------------------------------------------------------------------
class Routing(Enum):
    """How a sighting reaches the collection of the indicator it is about (:func:`sighting_route`)."""

    COPY = "copy"  # the poster's own sighting, restricted to the indicator's producers and the poster
    HUB_COPY = "hub-copy"  # the poster may not write there: a sighting the hub composes, restricted alike


def sighting_route(poster_may_write_target: bool) -> Routing:
    """A routed sighting keeps the effective TLP it had where it was posted and is never readable more
    widely than there: it goes only to the indicator's producers (and the poster). Where the poster may
    write, its own sighting is copied; where it may not, the hub composes the copy from safe fields, so no
    content of the poster's choosing enters a collection it cannot write."""
    return Routing.COPY if poster_may_write_target else Routing.HUB_COPY


def routed_sighting_recipients(indicator_producers: Sequence[str], poster: str) -> tuple[str, ...]:
    """Who may read a routed sighting: the indicator's producers, and the organisation that saw it."""
    return tuple(dict.fromkeys((*indicator_producers, poster)))


def sighting_router(poster: Org | None) -> Org | None:
    """Whose read access decides where a stored sighting is routed (None: it is routed nowhere).

    Routing is decided by the hub that holds the indicator, with one rule for every poster: a sighting goes
    beside the indicator in the other collections where its *poster's account* may read the indicator. A
    local organisation's post is routed by its own grants; a sighting another hub posted (pushed, or sent
    home to this hub, the indicator's producer) by the grants and agreement of that hub's account here, the
    same as for a local poster; a sighting this hub pulled from a peer has no account behind it and stays in
    the collection the pull flow fills (the flow's local collection was chosen by this hub's operator)."""
    return poster


# -- sightings sent home across federation -------------------------------------------------------------
#: How a sighting sent home names who saw it (``kizuna hub peer add ... --sighter``).
SIGHTERS = ("org", "hub", "anonymous")


def check_sighter(mode: str) -> str:
    """``mode`` if it is a way to name the sighter; InputError otherwise."""
    if mode not in SIGHTERS:
        raise InputError(f"--sighter must be one of {', '.join(SIGHTERS)}, not {mode!r}")
    return mode


def goes_home(poster: Org | None, restricted: bool) -> bool:
    """Is a stored sighting version one that is sent home when its indicator came from a peer? A local
    organisation's own version, as it posted it: not a copy the hub routed or composed (restricted, or the
    hub's), not a writer's private copy, not one received from a peer."""
    return poster is not None and not restricted and not is_peer_account(poster)


def home_refusal(agreement: Agreement, tlp: TLP) -> str | None:
    """Why a sighting at ``tlp`` may not go home to ``agreement.peer`` (the peer its indicator came from),
    or None: sightings must be among the agreed types, and the sighting's own TLP within the agreement
    (never RED or AMBER+STRICT). The restriction of a routed copy does not apply: going home to the
    indicator's producer is what it is for."""
    if agreement.types and "sighting" not in agreement.types:
        return f"held back: the agreement with {agreement.peer} does not include sightings"
    if tlp > min(agreement.max_tlp, PEER_HUB_MAX):
        return f"held back: {tlp} is above the agreement with {agreement.peer} ({agreement.max_tlp})"
    return None


def sighter_refs(mode: str, poster_identity: str | None, hub_identity: str) -> tuple[str, ...]:
    """The ``where_sighted_refs`` of a sighting sent home: the organisation that saw it (``org``), this hub
    (``hub``, the default: the partner learns which country saw it, not which operator) or nobody
    (``anonymous``)."""
    check_sighter(mode)
    if mode == "org" and poster_identity:
        return (poster_identity,)
    if mode == "hub":
        return (hub_identity,)
    return ()


# -- federation: what may leave the hub and what may enter it ------------------------------------------
def is_peer_account(org: Org) -> bool:
    """Is ``org`` another hub's account? Its reads pass the egress rule of its agreement, and what it
    posts is received as from that peer (ingress), never as a local organisation's post."""
    return org.peer_hub


def check_agreement_tlp(level: TLP) -> TLP:
    """``level`` if an agreement may allow it; InputError otherwise (RED and AMBER+STRICT never leave)."""
    if level > PEER_HUB_MAX:
        raise InputError(f"{level} never leaves a hub; an agreement allows at most {PEER_HUB_MAX}")
    return level


@dataclass(frozen=True, slots=True)
class Agreement:
    """What flows between this hub and one peer hub (``kizuna hub peer add``).

    ``reshare_from`` names the other peers whose objects may go on to this one, each with the highest TLP
    that may (their records' ``--reshare``: onward sharing is the producer's choice, off by default)."""

    peer: str
    max_tlp: TLP = TLP.GREEN
    types: tuple[str, ...] = ()  # empty: every type
    reshare_from: tuple[tuple[str, TLP], ...] = ()

    def __post_init__(self) -> None:
        check_agreement_tlp(self.max_tlp)


def peer_origin(peer: str) -> str:
    """The provenance recorded for objects received from ``peer``."""
    return f"peer:{peer}"


def org_origin(org: Org) -> str:
    """The provenance recorded for objects posted by a local organisation."""
    return f"org:{org.name}"


def check_reshare_tlp(level: TLP, agreement_max: TLP) -> TLP:
    """The highest TLP a peer's objects may be passed on at: GREEN unless said otherwise, never above the
    peer's own agreement."""
    if level > agreement_max:
        raise InputError(
            f"onward sharing cannot exceed the agreement with the producing peer ({agreement_max})"
        )
    return check_agreement_tlp(level)


def egress(agreement: Agreement) -> Predicate:
    """The object versions that may leave to ``agreement.peer`` (push, or that peer's pull).

    RED and AMBER+STRICT never leave; nothing above the agreement's TLP leaves (an unmarked object counts as
    the TLP it was stored with); restricted versions never leave; only the agreed types; never an object
    back to the peer it came from; an object received from another peer only where that peer's record lets
    it go on (and at most at the TLP it names); nothing that has crossed :data:`MAX_HOPS` hubs.
    """
    onward = [
        AllOf((Compare("origin", "=", peer_origin(source)), Compare("tlp", "<=", int(level))))
        for source, level in agreement.reshare_from
        if source != agreement.peer
    ]
    parts: list[Predicate] = [
        Compare("tlp", "<=", int(min(agreement.max_tlp, PEER_HUB_MAX))),
        Compare("restricted", "=", 0),
        Compare("origin", "!=", peer_origin(agreement.peer)),
        Compare("hops", "<", MAX_HOPS),
        AnyOf((Compare("origin_hub", "=", ""), *onward)),
    ]
    if agreement.types:
        parts.append(Compare("type", "in", tuple(agreement.types)))
    return AllOf(tuple(parts))


def may_leave(
    agreement: Agreement,
    tlp: TLP,
    stix_type: str,
    origin: str,
    *,
    restricted: bool = False,
    received: bool | None = None,
    hops: int = 0,
) -> bool:
    """Reference form of :func:`egress` (``received``: the version came from a peer hub; by default when
    its origin is a peer)."""
    if received is None:
        received = origin.startswith(peer_origin(""))
    onward = dict(agreement.reshare_from)
    if received:
        source = origin.removeprefix(peer_origin(""))
        if source == agreement.peer or source not in onward or tlp > onward[source]:
            return False
    return (
        tlp <= min(agreement.max_tlp, PEER_HUB_MAX)
        and not restricted
        and origin != peer_origin(agreement.peer)
        and hops < MAX_HOPS
        and (not agreement.types or stix_type in agreement.types)
    )


def ingress_refusal(agreement: Agreement, marked: TLP | None, stix_type: str) -> str | None:
    """Why an object received from ``agreement.peer`` must be refused for its type or marking, or None
    (an unmarked object's TLP is decided by :func:`unmarked_tlp`)."""
    if marked is not None and marked > agreement.max_tlp:
        return f"refused: {marked} is above the agreement with {agreement.peer} ({agreement.max_tlp})"
    if agreement.types and stix_type not in agreement.types:
        return f"refused: type {stix_type!r} is not in the agreement with {agreement.peer}"
    return None


def no_agreement_refusal(org: Org) -> str:
    """Why another hub's account with no agreement on record may not push (403)."""
    return (
        f"{org.name} is another hub's account and this hub has no agreement with it on record; the hub's"
        f" operator records one with 'kizuna hub peer add {org.name} ...'"
    )
