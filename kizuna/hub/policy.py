"""Who may read, write or receive what: every sharing decision of the hub, in one place.

See ``docs/sharing-policy.md`` for the rules in words. An organisation reads an object only if

1. it holds a read grant on the object's collection, and
2. the object's effective TLP does not exceed the organisation's ceiling (for another hub's account the
   ceiling is never above AMBER: RED and AMBER+STRICT never leave the hub), and
3. the TLP rule allows it: CLEAR, GREEN, AMBER and AMBER+STRICT go to readers of the collection (the
   producer chose them by posting there); RED only to the producing organisation and the recipients it
   named.

An unmarked object's effective TLP is decided when it is stored (:func:`unmarked_tlp`) and kept as hub
metadata beside the object as received.

Rules that run inside a store query are given as a :data:`Predicate`: a small expression over *facts* of a
stored object version (its TLP, producer, origin, type, the grants on its collection, its RED recipients)
that names no table. Each backend translates predicates to its own query language
(``kizuna/hub/store/sqlite/predicates.py``), so the list pages of every interface filter in the query.
Beside each predicate a plainly written reference (:func:`may_read`, :func:`may_leave`) states the same rule
for one object; property tests hold the two together.
"""

from __future__ import annotations

from collections.abc import Collection as AbstractSet
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from kizuna.errors import InputError
from kizuna.hub.models import Grant, Org
from kizuna.stix.markings import TLP

#: Property in which a producer names the recipients of a TLP:RED object (organisation names).
RECIPIENTS_PROPERTY = "x_kizuna_recipients"

#: Highest TLP that may ever be served to another hub's account, whatever its configured ceiling.
PEER_HUB_MAX = TLP.AMBER


# -- the predicate language (facts of one stored object version; no table names) ------------------------
Fact = Literal["tlp", "producer", "origin", "type"]


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
    """The producer named the organisation as a recipient of this (RED) object version."""

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
def effective_tlp(marked: TLP | None, default: TLP) -> TLP:
    """An object's TLP as the hub enforces it: its own marking, else the default it was stored with."""
    return default if marked is None else marked


def may_read(
    org: Org,
    grant: Grant | None,
    tlp: TLP,
    producer_org_id: int | None,
    recipient_org_ids: AbstractSet[int] = (),
) -> bool:
    """Reference form of the read rule for one stored object version (``tlp`` is its effective TLP)."""
    if not may_read_collection(grant):
        return False
    if tlp > effective_ceiling(org):
        return False
    if tlp < TLP.RED:
        return True
    return org.id == producer_org_id or org.id in recipient_org_ids


def visible(org: Org, agreement: Agreement | None = None) -> Predicate:
    """The read rule as a predicate: the object versions ``org`` may read.

    For another hub's account, ``agreement`` (the local peer record of the same name) adds the egress
    rule: what that hub's account reads is exactly what a push to it would send.
    """
    rule: Predicate = AllOf(
        (
            HasReadGrant(org.id),
            Compare("tlp", "<=", int(effective_ceiling(org))),
            AnyOf((Compare("tlp", "<", int(TLP.RED)), Compare("producer", "=", org.id), IsRecipient(org.id))),
        )
    )
    if is_peer_account(org) and agreement is not None:
        rule = AllOf((rule, egress(agreement)))
    return rule


# -- writing --------------------------------------------------------------------------------------------
def recipient_refusal(tlp: TLP, recipients: Sequence[str], known: AbstractSet[str]) -> str | None:
    """Why a RED object naming ``recipients`` cannot be stored (some are not organisations of this hub),
    or None. Recipients of objects below RED are kept as received and grant nothing."""
    unknown = [r for r in recipients if r not in known]
    if tlp == TLP.RED and unknown:
        return f"unknown recipient(s) {', '.join(unknown)}"
    return None


def granted_recipients(tlp: TLP, recipient_org_ids: AbstractSet[int]) -> tuple[int, ...]:
    """The organisations a stored version names as recipients that the read rule honours: a RED object's
    named recipients; none for anything below RED (its named recipients grant nothing)."""
    return tuple(sorted(recipient_org_ids)) if tlp == TLP.RED else ()


def unmarked_tlp(collection_default: TLP, agreement: Agreement | None) -> TLP:
    """The TLP an unmarked object is stored with: the collection's default for a local organisation's
    post; for an object from a peer hub, the agreement's TLP (never a local default)."""
    return collection_default if agreement is None else agreement.max_tlp


def routed_sighting_recipients(indicator_producers: Sequence[str]) -> tuple[str, ...]:
    """Recipients of the copy of a sighting routed beside its indicator: the indicator's producers, so a
    RED sighting reaches the organisation that shared what was seen."""
    return tuple(indicator_producers)


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
    """What flows between this hub and one peer hub (``kizuna hub peer add``)."""

    peer: str
    max_tlp: TLP = TLP.GREEN
    types: tuple[str, ...] = ()  # empty: every type

    def __post_init__(self) -> None:
        check_agreement_tlp(self.max_tlp)


def peer_origin(peer: str) -> str:
    """The provenance recorded for objects received from ``peer``."""
    return f"peer:{peer}"


def org_origin(org: Org) -> str:
    """The provenance recorded for objects posted by a local organisation."""
    return f"org:{org.name}"


def egress(agreement: Agreement) -> Predicate:
    """The object versions that may leave to ``agreement.peer`` (push, or that peer's pull).

    RED and AMBER+STRICT never leave; nothing above the agreement's TLP leaves (an unmarked object counts as
    the TLP it was stored with); only the agreed types; and never an object back to the peer it came from.
    """
    parts: list[Predicate] = [
        Compare("tlp", "<=", int(min(agreement.max_tlp, PEER_HUB_MAX))),
        Compare("origin", "!=", peer_origin(agreement.peer)),
    ]
    if agreement.types:
        parts.append(Compare("type", "in", tuple(agreement.types)))
    return AllOf(tuple(parts))


def may_leave(agreement: Agreement, tlp: TLP, stix_type: str, origin: str) -> bool:
    """Reference form of :func:`egress`."""
    return (
        tlp <= min(agreement.max_tlp, PEER_HUB_MAX)
        and origin != peer_origin(agreement.peer)
        and (not agreement.types or stix_type in agreement.types)
    )


def ingress_refusal(agreement: Agreement, marked: TLP | None, stix_type: str) -> str | None:
    """Why an object received from ``agreement.peer`` must be refused, or None when it may be stored.

    An unmarked object takes the agreement's TLP (:func:`unmarked_tlp`), so it is never refused for TLP.
    """
    if marked is not None and marked > agreement.max_tlp:
        return f"refused: {marked} is above the agreement with {agreement.peer} ({agreement.max_tlp})"
    if agreement.types and stix_type not in agreement.types:
        return f"refused: type {stix_type!r} is not in the agreement with {agreement.peer}"
    return None
