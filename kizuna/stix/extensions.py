"""What kizuna's own STIX extensions share: the producer identity every hub publishes them under.

Each domain defines its ``extension-definition`` (``kizuna.space.publish``, ``kizuna.minerals.publish``)
with ``created_by_ref`` set to :data:`KIZUNA_IDENTITY_ID`; the identity is the same on every hub, so
partners receive one producer, however many hubs and domains publish.
"""

from __future__ import annotations

from typing import Any

from kizuna.stix.markings import TLP, TLP2_IDS

#: Stable id of the kizuna system identity (never regenerated).
KIZUNA_IDENTITY_ID = "identity--0c7b3d2a-5e8f-4a61-b7d4-2f9e6a1c8b35"
_DEFINED = "2026-01-01T00:00:00.000Z"


def kizuna_identity() -> dict[str, Any]:
    """The identity that defines kizuna's extensions (TLP:CLEAR: anyone may know it)."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": KIZUNA_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "kizuna",
        "description": "The kizuna exchange software; producer of kizuna's STIX extension definitions.",
        "identity_class": "system",
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }


# -- MISP (issue 15: kizuna ingest) ---------------------------------------------------------------------
#: The property extension (and new SDOs) under which ingest keeps what MISP holds that STIX has no
#: property for: category, comment, to_ids, first/last seen, the MISP uuid, distribution... (docs/ingest.md).
MISP_EXTENSION_ID = "extension-definition--3f6d2b8a-7c41-4e0f-9a5b-1d8e2c7f4a90"
#: A MISP attribute or object whose type kizuna does not map, kept whole (never dropped).
MISP_ATTRIBUTE_TYPE = "kizuna-misp-attribute"
MISP_OBJECT_TYPE = "kizuna-misp-object"

MISP_SCHEMA = (
    "kizuna MISP properties (docs/ingest.md, section 'The kizuna MISP extension'). As a property-extension "
    "on any object converted from MISP: misp_uuid (the MISP uuid the object stands for, when it is not the "
    "id's own uuid), misp_type, category, comment, to_ids, first_seen, last_seen, disable_correlation, "
    "object_relation, distribution, sharing_group, value (the MISP value, when STIX writes it differently), "
    "tags (every MISP tag, verbatim), and on an event's report or grouping: org, orgc, date, threat_level, "
    "analysis, published, event_timestamp; on a converted MISP object: name, meta_category, template_uuid, "
    "template_version, attributes (each with the properties above). As new SDOs: 'kizuna-misp-attribute' and "
    "'kizuna-misp-object', a MISP attribute or object of a type kizuna does not map, kept whole."
)


def misp_extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` of the MISP properties (TLP:CLEAR: anyone may learn the schema)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": MISP_EXTENSION_ID,
        "created_by_ref": KIZUNA_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "kizuna MISP properties",
        "description": "What a MISP event, attribute or object holds that STIX 2.1 has no property for.",
        "schema": MISP_SCHEMA,
        "version": "1.0.0",
        "extension_types": ["property-extension", "new-sdo"],
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }
