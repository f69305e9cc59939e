"""Sightings go back to the producer: a sighting posted anywhere is also stored beside the indicator.

When an organisation posts a ``sighting`` whose ``sighting_of_ref`` it may read in another collection, the
hub stores the same sighting (byte for byte) in that collection too, on the poster's behalf, so the
indicator's producer and the readers it chose learn the intelligence is live. The sighting keeps its own
TLP (an unmarked one takes the target collection's default); a RED sighting names the indicator's producer
as its recipient. The poster never learns anything it could not already read: routing needs read access
to the indicator, and every routed copy is an audited write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace

import orjson

from kizuna.hub.models import Collection, Incoming, Org, Query, StatusRecord
from kizuna.hub.store.base import Store
from kizuna.stix.ids import Clock, format_timestamp, utc_now


def route_sightings(
    store: Store, org: Org, posted_to: Collection, stored: Sequence[Incoming], *, clock: Clock = utc_now
) -> list[tuple[str, str]]:
    """Copy each stored sighting into the other collections where its indicator is visible to ``org``.

    Returns (collection id, sighting id) for every routed copy.
    """
    sightings = [o for o in stored if o.type == "sighting"]
    if not sightings:
        return []
    routed: list[tuple[str, str]] = []
    others = [c for c in store.list_collections() if c.id != posted_to.id]
    for sighting in sightings:
        target_ref = orjson.loads(sighting.raw).get("sighting_of_ref")
        if not isinstance(target_ref, str):
            continue
        for c in others:
            if not store.query(c, org, Query(ids=(target_ref,), limit=1)).rows:
                continue
            copy = replace(sighting, recipients=tuple(store.producer_names(c.id, target_ref)))
            status = StatusRecord(
                id=str(uuid.uuid4()),
                total_count=1,
                request_timestamp=format_timestamp(clock(), precision="microsecond"),
            )
            store.add_objects(c, org, [copy], status)
            if status.successes and "message" not in status.successes[0]:
                routed.append((c.id, sighting.id))
    return routed
