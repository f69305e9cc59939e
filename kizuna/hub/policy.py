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

from kizuna.hub.models import Grant, Org
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


def visible_sql(org: Org, alias: str = "o") -> tuple[str, list[object]]:
    """SQL predicate (and parameters) true for the rows of ``alias`` (table ``objects``) ``org`` may read."""
    sql = (
        f"(EXISTS (SELECT 1 FROM grants g WHERE g.collection_id = {alias}.collection_id"
        f" AND g.org_id = ? AND g.can_read = 1)"
        f" AND {alias}.tlp <= ?"
        f" AND ({alias}.tlp < {int(TLP.RED)} OR {alias}.producer_org_id = ?"
        f" OR EXISTS (SELECT 1 FROM recipients r WHERE r.object_seq = {alias}.seq AND r.org_id = ?)))"
    )
    return sql, [org.id, int(effective_ceiling(org)), org.id, org.id]
