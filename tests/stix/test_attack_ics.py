"""Every object of MITRE ATT&CK for ICS (v18.1, the bundle shipped in kizuna/data/cti) validates."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

from kizuna.stix.validate import validate_object


@pytest.fixture(scope="module")
def attack_objects() -> list[dict[str, Any]]:
    text = resources.files("kizuna.data").joinpath("cti/ics-attack.json").read_text(encoding="utf-8")
    bundle = json.loads(text)
    assert bundle["type"] == "bundle"
    objects: list[dict[str, Any]] = bundle["objects"]
    return objects


def test_every_attack_ics_object_validates(attack_objects: list[dict[str, Any]]) -> None:
    kinds = Counter()
    for obj in attack_objects:
        got = validate_object(obj)
        kinds[got.type] += 1
        assert got.id == obj["id"]
        assert got.created == obj["created"]
        expected_modified = obj["created"] if obj["type"] == "marking-definition" else obj.get("modified")
        assert got.modified == expected_modified
        assert got.version_key == (expected_modified or obj["created"])
        assert got.created_by_ref == obj.get("created_by_ref")
        assert got.revoked is obj.get("revoked", False)
        assert got.tlp is None  # ATT&CK carries only its copyright statement marking
    assert sum(kinds.values()) == len(attack_objects) == 1826
    assert kinds["relationship"] == 1373 and kinds["attack-pattern"] == 95 and kinds["x-mitre-tactic"] == 12
