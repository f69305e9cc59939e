"""STIX objects of a published assessment: valid for kizuna's validator and for stix2, TLP-marked."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import stix2

from kizuna.minerals.publish import ASSESSMENT_TYPE, EXTENSION_ID, build_objects, extension_definition
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.stix.validate import validate_object


def counter_ids() -> Callable[[], uuid.UUID]:
    n = itertools.count(1)
    return lambda: uuid.UUID(int=next(n), version=4)


def test_objects_are_valid_and_deterministic_with_injected_clock_and_ids() -> None:
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    doc = {
        "mineral": "cobalt",
        "stages": {"mining": {"hhi": 5554.0, "top1": {"iso3": "COD"}}},
        "x": None,
        "y": [],
    }
    bundle = build_objects("profile", "Supply profile: cobalt", doc, TLP.AMBER, minerals=["cobalt"],
                           clock=lambda: at, ids=counter_ids())  # fmt: skip
    identity, ext, assessment, report = bundle.objects
    assert identity["type"] == "identity"
    assert ext == extension_definition() and ext["id"] == EXTENSION_ID
    assert assessment["type"] == ASSESSMENT_TYPE and assessment["created"] == "2026-11-23T09:30:00.000Z"
    assert assessment["assessment"] == {
        "mineral": "cobalt",
        "stages": {"mining": {"hhi": 5554.0, "top1": {"iso3": "COD"}}},
    }
    assert report["object_refs"] == [assessment["id"]] == [bundle.assessment_id]
    for obj in (assessment, report):
        assert obj["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
    for obj in bundle.objects:
        assert validate_object(obj).id == obj["id"]
        parsed = stix2.parse(obj, allow_custom=True)
        assert parsed["id"] == obj["id"]
    assert validate_object(assessment).tlp == TLP.AMBER
