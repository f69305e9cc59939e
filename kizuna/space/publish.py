"""Conjunctions as STIX 2.1 objects of a kizuna extension, published to a hub through its TAXII client.

Each event becomes one ``kizuna-conjunction`` object (a new SDO type registered by the
``extension-definition`` below) that carries the CDM text intact, marked with a TLP 2.0 level, so
partners receive it through TAXII and federation under the usual TLP rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from kizuna.hub.client import HubClient
from kizuna.space.events import Event
from kizuna.stix.extensions import KIZUNA_IDENTITY_ID, kizuna_identity
from kizuna.stix.ids import Clock, UuidFactory, format_timestamp, new_id, utc_now
from kizuna.stix.markings import TLP, TLP2_IDS

__all__ = [
    "CONJUNCTION_EXTENSION_ID",
    "CONJUNCTION_TYPE",
    "conjunction_object",
    "extension_definition",
    "kizuna_identity",
    "publish_events",
]

#: Stable ids: every kizuna hub publishes the same extension definition and producer identity.
CONJUNCTION_EXTENSION_ID = "extension-definition--6b1f1c8e-3f0a-4d59-9a51-8c3f0e5c2a71"
CONJUNCTION_TYPE = "kizuna-conjunction"
_DEFINED = "2026-01-01T00:00:00.000Z"

CONJUNCTION_PROPERTIES = (
    "name",
    "norad_1",
    "norad_2",
    "object_name_1",
    "object_name_2",
    "tca",
    "miss_km",
    "rel_speed_km_s",
    "collision_probability",
    "pc_method",
    "hbr_m",
    "cdm_format",
    "cdm",
)

SCHEMA = (
    "kizuna conjunction (docs/space.md, section 'STIX extension'). A new SDO 'kizuna-conjunction' with "
    "the common SDO properties and: norad_1, norad_2 (integers, NORAD catalogue numbers, norad_1 < norad_2); "
    "object_name_1, object_name_2 (strings); tca (timestamp, time of closest approach, UTC); miss_km, "
    "rel_speed_km_s (numbers); collision_probability (number 0..1); pc_method (foster-2d | monte-carlo | "
    "max-pc-tle); hbr_m (number, hard-body radius used); cdm_format (kvn | xml); cdm (string, the CCSDS "
    "508.0-B-1 Conjunction Data Message, byte for byte as produced)."
)


def extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` of the conjunction SDO (TLP:CLEAR: anyone may learn the schema)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": CONJUNCTION_EXTENSION_ID,
        "created_by_ref": KIZUNA_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "kizuna conjunction",
        "description": "A predicted close approach of two space objects, carrying its CCSDS CDM intact.",
        "schema": SCHEMA,
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }


def conjunction_object(
    event: Event,
    cdm_text: str,
    *,
    cdm_format: str,
    level: TLP,
    created_by_ref: str = KIZUNA_IDENTITY_ID,
    clock: Clock = utc_now,
    uuid_factory: UuidFactory = uuid.uuid4,
) -> dict[str, Any]:
    now = format_timestamp(clock())
    obj: dict[str, Any] = {
        "type": CONJUNCTION_TYPE,
        "spec_version": "2.1",
        "id": new_id(CONJUNCTION_TYPE, uuid_factory),
        "created": now,
        "modified": now,
        "created_by_ref": created_by_ref,
        "name": f"Conjunction {event.norad_1} / {event.norad_2} at {format_timestamp(event.tca_utc)}",
        "norad_1": event.norad_1,
        "norad_2": event.norad_2,
        "tca": format_timestamp(event.tca_utc, precision="microsecond"),
        "miss_km": round(event.miss_km, 6),
        "rel_speed_km_s": round(event.rel_speed_km_s, 6),
        "cdm_format": cdm_format,
        "cdm": cdm_text,
        "object_marking_refs": [TLP2_IDS[level]],
        "extensions": {CONJUNCTION_EXTENSION_ID: {"extension_type": "new-sdo"}},
    }
    if event.name_1:
        obj["object_name_1"] = event.name_1
    if event.name_2:
        obj["object_name_2"] = event.name_2
    if event.pc is not None:
        obj["collision_probability"] = event.pc
        obj["pc_method"] = event.pc_method
    if event.hbr_m is not None:
        obj["hbr_m"] = event.hbr_m
    return obj


def publish_events(
    client: HubClient,
    collection_id: str,
    conjunctions: Sequence[Mapping[str, Any]],
    *,
    batch: int = 500,
) -> list[dict[str, Any]]:
    """Post the identity, the extension definition and the conjunctions; returns each envelope's status."""
    statuses = [client.add_objects(collection_id, [kizuna_identity(), extension_definition()])]
    for start in range(0, len(conjunctions), batch):
        statuses.append(client.add_objects(collection_id, list(conjunctions[start : start + batch])))
    return statuses


def conjunctions_in(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [o for o in objects if o.get("type") == CONJUNCTION_TYPE]
