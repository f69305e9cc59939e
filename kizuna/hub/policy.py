"""Who may read or write what. The one place the sharing policy lives (see docs/sharing-policy.md).

An organisation reads an object only if
  1. it holds a read grant on the object's collection, and
  2. the object's effective TLP does not exceed the organisation's ceiling (for another hub's account the
     ceiling is never above AMBER: RED and AMBER+STRICT never leave the hub), and
  3. the TLP rule allows it: CLEAR, GREEN, AMBER and AMBER+STRICT go to readers of the collection (the
     producer chose them by posting there); RED only to the producing organisation and the recipients it
     named.
An unmarked object's effective TLP is its collection's default at the time it was stored (hub metadata).

:func:`visible_sql` is that rule as a SQL predicate, used inside every store query; :func:`may_read` is the
same rule written plainly, used as the reference in tests and for single-object checks.
"""

from __future__ import annotations

from collections.abc import Collection as AbstractSet
from dataclasses import dataclass

from kizuna.hub.models import Grant, Incoming, Org
from kizuna.stix.markings import TLP

#: Property in which a producer names the recipients of a TLP:RED object (organisation names).
RECIPIENTS_PROPERTY = "x_kizuna_recipients"

#: Highest TLP that may ever be served to another hub's account, whatever its configured ceiling.
PEER_HUB_MAX = TLP.AMBER


def effective_ceiling(org: Org) -> TLP:
    """The highest TLP ``org`` may receive."""
    return min(org.ceiling, PEER_HUB_MAX) if org.peer_hub else org.ceiling


def effective_tlp(marked: TLP | None, default: TLP) -> TLP:
    """An object's TLP as the hub enforces it: its own marking, else the collection default."""
    return default if marked is None else marked


def may_write(grant: Grant | None) -> bool:
    return grant is not None and grant.can_write


def may_read(
    org: Org,
    grant: Grant | None,
    tlp: TLP,
    producer_org_id: int | None,
    recipient_org_ids: AbstractSet[int] = (),
) -> bool:
    """Reference form of the read rule for one stored object version."""
    if grant is None or not grant.can_read:
        return False
    if tlp > effective_ceiling(org):
        return False
    if tlp < TLP.RED:
        return True
    return org.id == producer_org_id or org.id in recipient_org_ids


def visible_sql(org: Org, alias: str = "o", agreement: Agreement | None = None) -> tuple[str, list[object]]:
    """SQL predicate (and parameters) true for the rows of ``alias`` (table ``objects``) ``org`` may read.

    For another hub's account, ``agreement`` (the local peer record of the same name, when there is one)
    adds the egress rule: the same predicate a push to that hub uses.
    """
    sql = (
        f"(EXISTS (SELECT 1 FROM grants g WHERE g.collection_id = {alias}.collection_id"
        f" AND g.org_id = ? AND g.can_read = 1)"
        f" AND {alias}.tlp <= ?"
        f" AND ({alias}.tlp < {int(TLP.RED)} OR {alias}.producer_org_id = ?"
        f" OR EXISTS (SELECT 1 FROM recipients r WHERE r.object_seq = {alias}.seq AND r.org_id = ?)))"
    )
    params: list[object] = [org.id, int(effective_ceiling(org)), org.id, org.id]
    if org.peer_hub and agreement is not None:
        extra, extra_params = egress_sql(agreement, alias)
        sql = f"({sql} AND {extra})"
        params.extend(extra_params)
    return sql, params


# -- federation: what may leave the hub and what may enter it ------------------------------------------
@dataclass(frozen=True, slots=True)
class Agreement:
    """What flows between this hub and one peer hub (``kizuna hub peer add``)."""

    peer: str
    max_tlp: TLP = TLP.GREEN
    types: tuple[str, ...] = ()  # empty: every type

    def __post_init__(self) -> None:
        if self.max_tlp > PEER_HUB_MAX:
            raise ValueError(f"an agreement cannot allow more than {PEER_HUB_MAX}")


def peer_origin(peer: str) -> str:
    """The provenance recorded for objects received from ``peer``."""
    return f"peer:{peer}"


def egress_sql(agreement: Agreement, alias: str = "o") -> tuple[str, list[object]]:
    """SQL predicate for the rows that may leave to ``agreement.peer`` (push, or that peer's pull).

    RED and AMBER+STRICT never leave; nothing above the agreement's TLP leaves (an unmarked object counts as
    its collection's default, already recorded in the row); only the agreed types; and never an object
    back to the peer it came from.
    """
    sql = f"({alias}.tlp <= ? AND {alias}.origin != ?"
    params: list[object] = [int(min(agreement.max_tlp, PEER_HUB_MAX)), peer_origin(agreement.peer)]
    if agreement.types:
        sql += f" AND {alias}.type IN ({','.join('?' * len(agreement.types))})"
        params.extend(agreement.types)
    return sql + ")", params


def may_leave(agreement: Agreement, tlp: TLP, stix_type: str, origin: str) -> bool:
    """Reference form of :func:`egress_sql`."""
    return (
        tlp <= min(agreement.max_tlp, PEER_HUB_MAX)
        and origin != peer_origin(agreement.peer)
        and (not agreement.types or stix_type in agreement.types)
    )


def ingress_refusal(agreement: Agreement, marked: TLP | None, stix_type: str) -> str | None:
    """Why an object received from ``agreement.peer`` must be refused, or None when it may be stored.

    An unmarked object takes the agreement's TLP (never a local default), so it is never refused for TLP.
    """
    if marked is not None and marked > agreement.max_tlp:
        return f"refused: {marked} is above the agreement with {agreement.peer} ({agreement.max_tlp})"
    if agreement.types and stix_type not in agreement.types:
        return f"refused: type {stix_type!r} is not in the agreement with {agreement.peer}"
    return None


def screen_ingress(
    agreement: Agreement, incoming: list[Incoming], failures: list[dict[str, str]]
) -> list[Incoming]:
    """Keep what may enter from ``agreement.peer``; each refusal goes to ``failures`` with its reason."""
    kept: list[Incoming] = []
    for obj in incoming:
        reason = ingress_refusal(agreement, obj.tlp, obj.type)
        if reason is None:
            kept.append(obj)
        else:
            failures.append(
                {"id": obj.id, "version": obj.version, "message": reason}
                if obj.version
                else {"id": obj.id, "message": reason}
            )
    return kept
