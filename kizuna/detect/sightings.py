"""Sightings: what a matching run reports back to the hub, one Sighting per indicator per run.

Each Sighting (STIX 2.1 section 5.2) carries ``count``, ``first_seen``/``last_seen``, the sighting
organisation in ``where_sighted_refs`` and ``created_by_ref``, and one observed-data object (with the
cyber-observables of the first matching record) in ``observed_data_refs``. The Sighting, its
observed-data and SCOs carry the indicator's TLP marking, so they are shared no wider than the
indicator was. SCO ids are deterministic (STIX 2.1 section 2.9, UUIDv5 over the id contributing
properties), so the same address sighted twice is one object on the hub.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from kizuna.detect.indicators import Indicator
from kizuna.detect.matcher import Event, Hit
from kizuna.stix.ids import Clock, UuidFactory, format_timestamp, name_uuid, new_id, utc_now
from kizuna.stix.markings import TLP2_IDS

#: STIX 2.1 namespace for deterministic SCO ids.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

#: Identity namespace kizuna uses to give an organisation name a stable identity id.
IDENTITY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://kizuna.invalid/identity")

_CONTRIBUTING: dict[str, tuple[str, ...]] = {
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "domain-name": ("value",),
    "url": ("value",),
    "email-addr": ("value",),
    "mac-addr": ("value",),
    "file": ("hashes", "name", "extensions", "parent_directory_ref"),
    "network-traffic": (
        "start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions",
    ),
}  # fmt: skip
_HASH_ORDER = ("MD5", "SHA-1", "SHA-256", "SHA-512")


def identity_for(name: str) -> dict[str, Any]:
    """A stable identity object for an organisation name (same name, same id)."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": f"identity--{uuid.uuid5(IDENTITY_NAMESPACE, name)}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "identity_class": "organization",
    }


def sco_id(obj: Mapping[str, Any]) -> str:
    """Deterministic id of an SCO from its id contributing properties (random when it has none)."""
    t = str(obj["type"])
    props = {k: obj[k] for k in _CONTRIBUTING.get(t, ()) if k in obj}
    if "hashes" in props and isinstance(props["hashes"], Mapping):
        hashes = props["hashes"]
        first = next((h for h in _HASH_ORDER if h in hashes), None)
        props["hashes"] = {first: hashes[first]} if first else dict(hashes)
    if not props:
        return new_id(t)
    canonical = orjson.dumps(props, option=orjson.OPT_SORT_KEYS)
    return f"{t}--{name_uuid(SCO_NAMESPACE, canonical.decode())}"


def stix_objects_of(event: Event, markings: Sequence[str]) -> list[dict[str, Any]]:
    """The event's observables as STIX 2.1 SCOs (local keys replaced by ids, refs rewritten)."""
    ids: dict[str, str] = {}
    ids_to_type: dict[str, str] = {}
    pending = dict(event.objects)
    out: list[dict[str, Any]] = []
    # referenced objects first, so references can be rewritten to their ids
    for _ in range(len(pending) + 1):
        for key, obj in list(pending.items()):
            refs = [v for k, v in obj.items() if k.endswith("_ref") and isinstance(v, str)]
            if any(r in pending and r != key for r in refs):
                continue
            sco = {k: (ids.get(v, v) if k.endswith("_ref") else v) for k, v in obj.items()}
            sco = {k: v for k, v in sco.items() if not (k.endswith("_ref") and v not in ids.values())}
            sco["spec_version"] = "2.1"
            if sco.get("type") == "network-traffic" and not sco.get("protocols"):
                # required by STIX; the log did not say, so name the network layer of its addresses
                v6 = any(ids_to_type.get(str(sco.get(r)), "") == "ipv6-addr" for r in ("src_ref", "dst_ref"))
                sco["protocols"] = ["ipv6" if v6 else "ipv4"]
            sco["id"] = sco_id(sco)
            if markings:
                sco["object_marking_refs"] = list(markings)
            ids[key] = sco["id"]
            ids_to_type[sco["id"]] = sco["type"]
            out.append(sco)
            del pending[key]
        if not pending:
            break
    return out


def build_sightings(
    hits: Iterable[Hit],
    indicators: Mapping[str, Indicator],
    identity: Mapping[str, Any],
    *,
    clock: Clock = utc_now,
    id_factory: UuidFactory = uuid.uuid4,
    description: Callable[[Indicator, list[Hit]], str] | None = None,
) -> list[dict[str, Any]]:
    """One Sighting (+ observed-data + SCOs) per indicator that was hit. Returns objects to post."""
    by_indicator: dict[str, list[Hit]] = {}
    for hit in hits:
        by_indicator.setdefault(hit.key, []).append(hit)
    now = format_timestamp(clock())
    objects: list[dict[str, Any]] = []
    seen_scos: set[str] = set()
    for ind_id, ind_hits in by_indicator.items():
        ind = indicators[ind_id]
        markings = [TLP2_IDS[ind.tlp]] if ind.tlp is not None else []
        times: list[datetime] = [e.time for h in ind_hits for e in h.events]
        first_seen, last_seen = format_timestamp(min(times)), format_timestamp(max(times))
        scos = [s for e in ind_hits[0].events for s in stix_objects_of(e, markings)]
        observed: dict[str, Any] = {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": new_id("observed-data", id_factory),
            "created": now,
            "modified": now,
            "created_by_ref": identity["id"],
            "first_observed": first_seen,
            "last_observed": last_seen,
            "number_observed": min(len(ind_hits), 999_999_999),
            "object_refs": list(dict.fromkeys(s["id"] for s in scos)),
        }
        sighting: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": new_id("sighting", id_factory),
            "created": now,
            "modified": now,
            "created_by_ref": identity["id"],
            "sighting_of_ref": ind_id,
            "count": min(len(ind_hits), 999_999_999),
            "first_seen": first_seen,
            "last_seen": last_seen,
            "where_sighted_refs": [identity["id"]],
            "observed_data_refs": [observed["id"]],
        }
        if description is not None:
            sighting["description"] = description(ind, ind_hits)
        if markings:
            observed["object_marking_refs"] = markings
            sighting["object_marking_refs"] = markings
        for s in scos:
            if s["id"] not in seen_scos:
                seen_scos.add(s["id"])
                objects.append(s)
        objects.extend([observed, sighting])
    return objects
