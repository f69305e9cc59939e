"""Share an assessment: a STIX 2.1 ``report`` plus a kizuna extension object, TLP-marked, posted to a hub.

The assessment travels as a new SDO of type ``x-kizuna-minerals-assessment`` declared by the
``extension-definition`` :data:`EXTENSION_ID` (a stable id, so every kizuna hub recognises the same
definition). The object carries the command's full ``--json`` document in ``assessment`` (null values and
empty lists dropped, as STIX requires) and a few top-level figures for filtering. The report lists it.
Objects are posted only through :class:`kizuna.hub.client.HubClient`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kizuna.hub.client import HubClient
from kizuna.stix.extensions import KIZUNA_IDENTITY_ID, kizuna_identity
from kizuna.stix.ids import Clock, UuidFactory, format_timestamp, new_id, utc_now
from kizuna.stix.markings import TLP, TLP2_IDS

ASSESSMENT_TYPE = "x-kizuna-minerals-assessment"
#: Stable ids: uuid5 of fixed names, never regenerated.
EXTENSION_ID = "extension-definition--" + str(
    uuid.uuid5(uuid.NAMESPACE_URL, "https://kizuna/minerals/assessment/v1")
)
_DEFINED = "2026-11-01T00:00:00.000Z"


def extension_definition() -> dict[str, Any]:
    """The ``extension-definition`` of the assessment object (STIX 2.1 section 7.3)."""
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": KIZUNA_IDENTITY_ID,
        "created": _DEFINED,
        "modified": _DEFINED,
        "name": "kizuna minerals assessment",
        "description": (
            "A critical-mineral supply-risk assessment made by kizuna.minerals: a supply profile, a "
            "partner exposure, a restriction scenario, a sourcing optimisation or an EU CRM SR/EI table. "
            "'assessment' holds the full figures as printed by the kizuna CLI with --json."
        ),
        "schema": "https://kizuna.invalid/schemas/minerals-assessment-v1 (see docs/minerals.md)",
        "version": "1.0.0",
        "extension_types": ["new-sdo"],
        "object_marking_refs": [TLP2_IDS[TLP.CLEAR]],
    }


def _clean(value: Any) -> Any:
    """Drop nulls and empty containers recursively (STIX forbids null and empty-list values)."""
    if isinstance(value, Mapping):
        out = {str(k): _clean(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list | tuple):
        items = [_clean(v) for v in value]
        return [v for v in items if v is not None and v != {} and v != []]
    return value


@dataclass(frozen=True, slots=True)
class Bundle:
    objects: list[dict[str, Any]]
    report_id: str
    assessment_id: str


def build_objects(
    kind: str,
    title: str,
    assessment: Mapping[str, Any],
    tlp: TLP,
    *,
    minerals: list[str],
    partners: list[str] | None = None,
    clock: Clock = utc_now,
    ids: UuidFactory = uuid.uuid4,
) -> Bundle:
    """The objects to post: identity, extension-definition, the assessment object and the report."""
    now = format_timestamp(clock())
    marking = [TLP2_IDS[tlp]]
    assessment_id = new_id(ASSESSMENT_TYPE, ids)
    obj: dict[str, Any] = {
        "type": ASSESSMENT_TYPE,
        "spec_version": "2.1",
        "id": assessment_id,
        "created": now,
        "modified": now,
        "created_by_ref": KIZUNA_IDENTITY_ID,
        "name": title,
        "assessment_kind": kind,
        "minerals": minerals,
        "assessment": _clean(dict(assessment)),
        "object_marking_refs": marking,
        "extensions": {EXTENSION_ID: {"extension_type": "new-sdo"}},
    }
    if partners:
        obj["partners"] = partners
    report_id = new_id("report", ids)
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": report_id,
        "created": now,
        "modified": now,
        "created_by_ref": KIZUNA_IDENTITY_ID,
        "name": title,
        "description": f"kizuna minerals {kind} assessment ({', '.join(minerals)})",
        "report_types": ["supply-risk-assessment"],
        "published": now,
        "object_refs": [assessment_id],
        "object_marking_refs": marking,
        "labels": ["critical-minerals", kind],
    }
    return Bundle([kizuna_identity(), extension_definition(), obj, report], report_id, assessment_id)


def publish(client: HubClient, collection_id: str, bundle: Bundle) -> dict[str, Any]:
    """Post the objects; returns the TAXII status resource."""
    return client.add_objects(collection_id, bundle.objects)
