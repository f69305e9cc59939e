"""Clients written by others, unmodified, against a real ``kizuna hub serve`` on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import stix2
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from kizuna.hub.client import HubClient

from ..conftest import RunningHub, running_hub
from .conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def kizuna_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningHub]:
    """The real hub of ``tests/conftest.py``, on each backend."""
    dsn = request.getfixturevalue("new_pg_dsn")() if request.param == "postgres" else None
    yield from running_hub(tmp_path, dsn)


def make_indicator(i: int) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}']",
        "pattern_type": "stix",
        "valid_from": "2026-02-01T00:00:00Z",
    }


@pytest.mark.slow
def test_taxii2_client_full_round_trip(kizuna_hub: RunningHub):
    server = Server(kizuna_hub.discovery_url, user=kizuna_hub.org, password=kizuna_hub.token)
    [api_root] = server.api_roots
    assert isinstance(api_root, ApiRoot)
    [collection] = api_root.collections
    assert collection.id == kizuna_hub.collection_id and collection.can_write

    objects = [make_indicator(i) for i in range(10_000)]
    for i in range(0, len(objects), 1000):
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects[i : i + 1000]}
        status = collection.add_objects(bundle, wait_for_completion=True, poll_interval=0.1)
        assert status.status == "complete" and status.success_count == 1000 and status.failure_count == 0

    reader = Collection(
        f"{kizuna_hub.api_root_url}collections/{kizuna_hub.collection_id}/",
        user=kizuna_hub.reader_org,
        password=kizuna_hub.reader_token,
    )
    seen: list[str] = []
    for envelope in as_pages(reader.get_objects, per_request=1000):
        seen += [o["id"] for o in envelope.get("objects", [])]
    assert seen == [o["id"] for o in objects]

    target = objects[0]
    newer = {**target, "modified": "2026-02-02T00:00:00.000Z", "name": "revised"}
    collection.add_objects({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [newer]})
    versions = collection.object_versions(target["id"])
    assert versions["versions"] == ["2026-02-01T00:00:00.000Z", "2026-02-02T00:00:00.000Z"]
    manifest = collection.get_manifest(**{"id": target["id"]})
    assert manifest["objects"][0]["version"] == "2026-02-02T00:00:00.000Z"
    collection.delete_object(target["id"])
    with pytest.raises(Exception, match="404"):
        collection.get_object(target["id"])


def test_stix2_taxii_collection_source_and_sink(kizuna_hub: RunningHub):
    url = f"{kizuna_hub.api_root_url}collections/{kizuna_hub.collection_id}/"
    writer = Collection(url, user=kizuna_hub.org, password=kizuna_hub.token)
    sink = stix2.TAXIICollectionSink(writer)
    ind = stix2.Indicator(
        pattern="[domain-name:value = 'evil.example']",
        pattern_type="stix",
        object_marking_refs=[stix2.TLP_GREEN],
    )
    sink.add(ind)
    source = stix2.TAXIICollectionSource(
        Collection(url, user=kizuna_hub.reader_org, password=kizuna_hub.reader_token)
    )
    got = source.get(ind.id)
    assert got is not None and got.pattern == ind.pattern
    found = source.query([stix2.Filter("type", "=", "indicator")])
    assert [o.id for o in found] == [ind.id]


def test_hub_client_bearer(kizuna_hub: RunningHub):
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as client:
        [c] = client.collections()
        status = client.add_objects(c["id"], [make_indicator(i) for i in range(5)])
        assert status["success_count"] == 5
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.reader_token, user=kizuna_hub.reader_org) as reader:
        assert len(list(reader.iter_objects(kizuna_hub.collection_id, limit=2))) == 5
