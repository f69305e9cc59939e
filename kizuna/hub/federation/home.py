"""Sightings come home: a sighting of an indicator that came from a peer hub goes back to that peer.

A local organisation posts a sighting (``sighting_of_ref``: an indicator it may read here). When a version
of that indicator came from peer P through a pull flow (P's collection R -> local collection L), the
sighting is sent to P, into R, the collection the indicator came from, over P's TAXII API with this hub's
credential for P. What goes is decided by :mod:`kizuna.hub.policy`:

* which sightings go (:func:`~kizuna.hub.policy.goes_home`): a local organisation's own version, never a
  routed or composed copy, a private copy or a peer's object;
* under the agreement with P (:func:`~kizuna.hub.policy.home_refusal`): ``sighting`` among its types, the
  sighting's own TLP within its ``--max-tlp`` (RED and AMBER+STRICT never); the others are *held back*
  (counted, never sent);
* how the sighter is named (:func:`~kizuna.hub.policy.sighter_refs`, ``peer add --sighter``): ``hub``
  (default) names this hub, ``org`` the organisation that saw it, ``anonymous`` nobody.

The sighting sent is composed from safe fields of the original (the indicator, count, first and last seen,
created and modified, the sighter) and marked with the TLP the original has here (an unmarked one: its
collection's default), so nothing of the poster's choosing travels and no TLP is lowered. Its id derives
from the original's, the peer and the naming, so a new version of the original is a new version at P, and
sending it again is a duplicate there. With ``hub`` or ``org`` naming, the identity it names goes with it
(this hub's title, TLP:CLEAR; an organisation's name, at most TLP:GREEN), where the agreement's types
allow identities.

Progress is one durable cursor per peer (this hub's ``date_added`` of the last sighting considered),
moved after P's status confirms what was sent. Where P answers 401 or 403 (its operator has not given this
hub's account write access to R) or cannot be reached, the sightings wait at the cursor, ``kizuna hub peer
list`` says why, and they go when it works.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kizuna.errors import RemoteError
from kizuna.hub import intake, policy
from kizuna.hub.client import HubClient
from kizuna.hub.models import Collection, LocalSighting, Org, Peer, Query, VersionFilter
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import format_timestamp, parse_timestamp
from kizuna.stix.markings import TLP, TLP2_IDS

#: Namespace of the ids of sightings (and hub identities) composed to go home (UUIDv5).
HOME_NAMESPACE = uuid.UUID("0b3f5c1e-6a7d-5e2f-8c9b-6b697a756e62")

#: Sighting versions read per batch.
BATCH = 500

#: In follow mode, how long a cursor that only moved past other objects may stay unsaved (it is saved at
#: once whenever a sighting was sent or held back).
SAVE_EVERY_S = 60.0


@dataclass
class HomeResult:
    sent: int = 0  # new at the peer
    held: int = 0  # held back by the agreement
    refused: int = 0  # sent, but the peer refused them (its status says why)
    waiting: str | None = None


def hub_identity(store: Store) -> dict[str, Any]:
    """This hub as a STIX identity (its title; TLP:CLEAR: the partner knows its name)."""
    created = _stix_time(store.created_at(None))
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": f"identity--{uuid.uuid5(HOME_NAMESPACE, 'hub:' + store.hub_id())}",
        "created": created,
        "modified": created,
        "name": store.title(),
        "identity_class": "organization",
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }


def org_identity(store: Store, org: Org, level: TLP) -> dict[str, Any]:
    """A local organisation as a STIX identity (its name only), marked ``level``."""
    created = _stix_time(store.created_at(org))
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": org.identity_id,
        "created": created,
        "modified": created,
        "name": org.name,
        "identity_class": "organization",
        "object_marking_refs": [TLP2_IDS[level]],
    }


def _stix_time(text: str) -> str:
    return format_timestamp(parse_timestamp(text))


def compose(
    sighting: LocalSighting, peer: str, mode: str, hub_identity_id: str
) -> tuple[dict[str, Any], bytes]:
    """The sighting that goes home for ``sighting``, and its serialisation."""
    src = orjson.loads(sighting.row.raw)
    poster = sighting.poster
    sid = uuid.uuid5(HOME_NAMESPACE, f"{peer}|{mode}|{src['id']}")
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{sid}",
        "created": src["created"],
        "modified": src["modified"],
        "sighting_of_ref": src["sighting_of_ref"],
        "object_marking_refs": [TLP2_IDS[sighting.row.tlp]],
    }
    for key in ("count", "first_seen", "last_seen"):
        if key in src:
            obj[key] = src[key]
    refs = policy.sighter_refs(mode, None if poster is None else poster.identity_id, hub_identity_id)
    if refs:
        obj["where_sighted_refs"] = list(refs)
    return obj, orjson.dumps(obj)


class SightingsHome:
    """Sends sightings home to one peer; keeps its position in memory between calls of :meth:`send`."""

    def __init__(self, store: Store, peer_name: str) -> None:
        self.store = store
        self.peer_name = peer_name
        self._after: int | None = None
        self._saved_at = time.monotonic()

    def send(self, peer: Peer, client: HubClient, *, save_always: bool = True) -> HomeResult:
        """Send what may go home to ``peer`` now; ``save_always`` False saves a cursor that only moved
        past other objects at most every :data:`SAVE_EVERY_S`."""
        store = self.store
        result = HomeResult()
        pulls = [f for f in peer.flows if f.direction == "pull"]
        if not pulls:
            return result  # nothing came from this peer by a pull: no collection to send sightings to
        agreement = store.agreement_named(peer.name) or policy.Agreement(peer.name, peer.max_tlp, peer.types)
        locals_: dict[str, tuple[Collection, str]] = {}
        for f in pulls:
            c = store.get_collection(f.local_collection)
            if c is not None and c.id not in locals_:
                locals_[c.id] = (c, f.remote_collection)
        hub_ident = hub_identity(store)
        if self._after is None:
            self._after = peer.home.cursor.date_added_us if peer.home.cursor else 0
        while True:
            found, covered = store.local_sightings(self._after, BATCH)
            if covered <= self._after and not found:
                return result
            outgoing: dict[str, list[tuple[dict[str, Any], bytes, TLP]]] = {}
            identities: dict[str, dict[str, Any]] = {}
            held = 0
            for s in found:
                remote = self._target(s, locals_)
                if remote is None:
                    continue
                if policy.home_refusal(agreement, s.row.tlp) is not None:
                    held += 1
                    continue
                obj, raw = compose(s, peer.name, peer.sighter, hub_ident["id"])
                outgoing.setdefault(remote, []).append((obj, raw, s.row.tlp))
                for ref in obj.get("where_sighted_refs", ()):
                    if ref == hub_ident["id"]:
                        identities[ref] = hub_ident
                    elif s.poster is not None and ref == s.poster.identity_id:
                        level = min(TLP.GREEN, agreement.max_tlp)
                        identities[ref] = org_identity(store, s.poster, level)
            sent: list[tuple[str, str, str]] = []
            statuses: list[str] = []
            failures: list[Any] = []
            new = 0
            for remote, items in outgoing.items():
                raws, claims, idents = self._envelope(items, identities, agreement, store.hub_id())
                try:
                    status = client.add_serialised(
                        remote, raws, extra={intake.CLAIMS_PROPERTY: claims}, timeout_s=60.0
                    )
                except RemoteError as exc:
                    # nothing moves: what went already is a duplicate there when it goes again
                    result.waiting = _waiting(peer.name, remote, exc)
                    store.home_waiting(peer.id, result.waiting)
                    return result
                ids = {obj["id"] for obj, _raw, _tlp in items}
                mine = [f for f in status.get("failures") or [] if isinstance(f, dict) and f.get("id") in ids]
                held_there = sum(
                    1
                    for ok in status.get("successes") or []
                    if isinstance(ok, dict) and ok.get("id") in ids and ok.get("message") == "already stored"
                )
                new += len(items) - len(mine) - held_there
                result.refused += len(mine)
                failures += mine
                statuses.append(str(status.get("id")))
                sent += [(remote, i["id"], i["modified"]) for i in idents]  # every object that left
                sent += [(remote, obj["id"], obj["modified"]) for obj, _raw, _tlp in items]
            result.sent += new
            result.held += held
            self._after = covered
            due = time.monotonic() - self._saved_at > SAVE_EVERY_S
            if sent or held or save_always or due or peer.home.waiting:
                merged = {"id": ",".join(statuses), "failures": failures} if statuses else None
                store.confirm_home(peer, Cursor(covered), sent, new, held, merged)
                self._saved_at = time.monotonic()
            if len(found) < BATCH:
                return result

    def _target(self, s: LocalSighting, locals_: dict[str, tuple[Collection, str]]) -> str | None:
        """The peer's collection the sighting's indicator came from, where its poster may read it; None
        when it is not a sighting that goes home or its indicator did not come from this peer."""
        if not policy.goes_home(s.poster, s.restricted) or s.poster is None:
            return None
        ref = orjson.loads(s.row.raw).get("sighting_of_ref")
        if not isinstance(ref, str):
            return None
        origin = policy.peer_origin(self.peer_name)
        for c, remote in locals_.values():
            rows = self.store.query(
                c, s.poster, Query(ids=(ref,), versions=VersionFilter(all=True), limit=100)
            ).rows
            if any(r.origin == origin for r in rows):
                return remote
        return None

    @staticmethod
    def _envelope(
        items: Sequence[tuple[dict[str, Any], bytes, TLP]],
        identities: dict[str, dict[str, Any]],
        agreement: policy.Agreement,
        hub_id: str,
    ) -> tuple[list[bytes], list[dict[str, object]], list[dict[str, Any]]]:
        """The objects to post (the identities named, where the agreement takes them, then the
        sightings), their claims, and the identities among them."""
        raws: list[bytes] = []
        claims: list[dict[str, object]] = []
        included: list[dict[str, Any]] = []
        wanted = {ref for obj, _raw, _tlp in items for ref in obj.get("where_sighted_refs", ())}
        if not agreement.types or "identity" in agreement.types:
            for ref in sorted(wanted):
                ident = identities.get(ref)
                if ident is not None:
                    raws.append(orjson.dumps(ident))
                    included.append(ident)
        for obj, raw, tlp in items:
            raws.append(raw)
            claims.append(
                {
                    "id": obj["id"],
                    "version": obj["modified"],
                    "tlp": tlp.label,
                    "origin_hub": hub_id,
                    "hops": 0,
                }
            )
        return raws, claims, included


def _waiting(peer: str, remote: str, exc: RemoteError) -> str:
    if exc.status in (401, 403):
        return (
            f"waiting: {peer} has not given this hub's account write access to its collection {remote}"
            f" ({exc.status}); its operator grants it with 'kizuna hub collection grant {remote} --write"
            " ACCOUNT'"
        )
    return f"waiting: {exc}"
