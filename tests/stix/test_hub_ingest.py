"""End to end: a real hub (``kizuna hub serve`` on 127.0.0.1) validates each posted object with
kizuna.stix.validate, stores the valid ones and reports each invalid one with its reason."""

from __future__ import annotations

import copy
from typing import Any

from kizuna.hub.client import HubClient
from tests.stix.examples import all_valid


def _invalid(valid: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    by_type = {o["type"]: o for o in reversed(valid)}
    no_pattern = copy.deepcopy(by_type["indicator"])
    del no_pattern["pattern"]
    bad_pattern = copy.deepcopy(by_type["indicator"]) | {
        "id": "indicator--0f6bd8e3-7b49-4d0a-8c57-3a1d5d7e1f01"
    }
    bad_pattern["pattern"] = "[file:hashes.MD5 = 'abc']"
    wrong_prefix = copy.deepcopy(by_type["malware"]) | {
        "id": "indicator--5b1f3a4e-0c1d-4b7e-9f2a-6d8e7c6b5a41"
    }
    early = copy.deepcopy(by_type["campaign"]) | {"id": "campaign--2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"}
    early["modified"] = "2000-01-01T00:00:00.000Z"
    return [
        (no_pattern, f"{no_pattern['id']}: property 'pattern' is required"),
        (bad_pattern, f"{bad_pattern['id']}: pattern does not parse: 'abc' is not a valid MD5 hash"),
        (wrong_prefix, "'id' type prefix 'indicator' does not match type 'malware'"),
        (early, f"{early['id']}: 'modified' must not be earlier than 'created'"),
    ]


def test_hub_stores_valid_objects_and_reports_invalid_ones(kizuna_hub: Any) -> None:
    valid = all_valid()
    invalid = _invalid(valid)
    envelope = [*valid[:10], *(obj for obj, _ in invalid), *valid[10:]]
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as client:
        status = client.add_objects(kizuna_hub.collection_id, envelope)
        assert status["status"] == "complete"
        assert status["success_count"] == len(valid)
        assert status["failure_count"] == len(invalid)
        assert status["total_count"] == len(envelope)
        messages = sorted(f["message"] for f in status["failures"])
        assert messages == sorted(reason for _, reason in invalid)
        stored = {obj["id"] for obj in client.iter_objects(kizuna_hub.collection_id)}
    assert stored == {obj["id"] for obj in valid}
