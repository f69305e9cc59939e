"""Duplicates and versions (issue 15, item 7), the file forms of item 1, CSV batches that resume, and
``--hub`` mode against a real hub on 127.0.0.1."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.hub.models import Query, VersionFilter
from kizuna.hub.store.sqlite import SQLiteStore
from tests.conftest import RunningHub
from tests.ingest.conftest import LocalHub, kizuna
from tests.ingest.feeds import feed_event

ALL = VersionFilter(all=True, last=False)


def _ingest(tmp_path: Path, hub: LocalHub, capsys: pytest.CaptureFixture[str], doc: Any, *extra: str) -> Any:
    path = tmp_path / "e.json"
    path.write_bytes(orjson.dumps(doc))
    return kizuna(
        capsys, "ingest", "misp", path, "--db", hub.db, "--collection", "shared", "--org", "uk", *extra
    )


def test_a_deleted_attribute_becomes_a_revoked_version(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = feed_event(1, attributes=2)
    assert _ingest(tmp_path, local_hub, capsys, {"Event": ev}).rc == 0
    deleted = copy.deepcopy(ev)
    deleted["timestamp"] = str(int(ev["timestamp"]) + 60)
    deleted["Attribute"][0].update(deleted=True, timestamp=deleted["timestamp"])
    r = _ingest(tmp_path, local_hub, capsys, {"Event": deleted})
    assert r.rc == 0 and "new versions 2," in r.err  # the attribute (revoked) and the report
    oid = f"indicator--{ev['Attribute'][0]['uuid']}"
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        rows = store.query(c, store.get_org("uk"), Query(ids=(oid,), versions=ALL)).rows
    assert [orjson.loads(row.raw).get("revoked", False) for row in rows] == [False, True]


def test_two_producers_same_value_are_two_objects(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    a = feed_event(1, attributes=1)
    b = feed_event(2, attributes=1)
    b["Attribute"][0]["value"] = a["Attribute"][0]["value"]
    b["Orgc"] = {"name": "Another CERT", "uuid": "6c1d1a8e-0b6f-4f7a-9d2e-3c4b5a6f7e80"}
    assert _ingest(tmp_path, local_hub, capsys, [{"Event": a}, {"Event": b}]).rc == 0  # a list of events
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        rows = store.query(c, store.get_org("uk"), Query(types=("indicator",))).rows
    patterns = [orjson.loads(r.raw)["pattern"] for r in rows]
    assert len(rows) == 2 and patterns[0] == patterns[1]  # never merged
    assert len({orjson.loads(r.raw)["created_by_ref"] for r in rows}) == 2


def test_csv_batches_resume(tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("indicator\n" + "".join(f"198.51.100.{i}\n" for i in range(1, 26)))
    m = tmp_path / "m.toml"
    m.write_text('[fields]\nvalue = "indicator"\ntype = { constant = "ipv4-addr" }\n')
    args = ["ingest", "csv", csv, "--mapping", m, "--batch-rows", "10", "--db", local_hub.db]
    args += ["--collection", "shared", "--org", "uk"]
    first = kizuna(capsys, *args)
    assert (
        first.rc == 0
        and first.err.strip() == "read 25, stored new 25, new versions 0, duplicates 0, rejected 0"
    )
    with SQLiteStore.open(local_hub.db) as store:
        assert sorted(store.ingested_units(str(csv.resolve()))) == [
            "lines 12-21",
            "lines 2-11",
            "lines 22-26",
        ]
    again = kizuna(capsys, *args)  # every batch is recorded as done: nothing is read again
    assert (
        again.rc == 0
        and again.err.strip() == "read 0, stored new 0, new versions 0, duplicates 0, rejected 0"
    )


def test_hub_mode_posts_each_unit_as_one_envelope(
    tmp_path: Path, kizuna_hub: RunningHub, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text(kizuna_hub.token)
    token.chmod(0o600)
    path = tmp_path / "e.json"
    path.write_bytes(orjson.dumps({"Event": feed_event(3, attributes=4)}))
    args = ["ingest", "misp", path, "--hub", kizuna_hub.api_root_url, "--token-file", token]
    args += ["--collection", kizuna_hub.collection_id]
    first = kizuna(capsys, *args)
    # the report, 4 attributes (to_ids on 0 and 1: 2 indicators; 2 and 3: observed-data + SCO), Orgc and
    # kizuna identities, the extension-definition
    assert first.rc == 0, first.err
    assert first.err.strip() == "read 10, stored new 10, new versions 0, duplicates 0, rejected 0"
    again = kizuna(capsys, *args)
    assert again.err.strip() == "read 10, stored new 0, new versions 0, duplicates 10, rejected 0"
    # locally invalid: refused before anything is posted, with the hub's own validator's reason
    bad = feed_event(4, attributes=1)
    bad["Attribute"][0]["first_seen"] = "yesterday"
    path.write_bytes(orjson.dumps({"Event": bad}))
    r = kizuna(capsys, *args)
    assert r.rc == 3 and "first_seen/last_seen" in r.err


def test_dry_run_against_a_hub_takes_the_imports_path_and_stores_nothing(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = feed_event(5, attributes=2)
    assert _ingest(tmp_path, local_hub, capsys, {"Event": ev}).rc == 0
    before = local_hub.counts()
    edited = copy.deepcopy(ev)
    edited["timestamp"] = str(int(ev["timestamp"]) + 1)
    edited["Attribute"][1].update(value="changed.example.com", timestamp=edited["timestamp"])
    dry = _ingest(tmp_path, local_hub, capsys, {"Event": edited}, "--dry-run")
    # what the import would do, duplicates and new versions told apart by the intake itself
    # (the report, two indicators, three identities/definitions: the changed indicator and the report)
    assert dry.rc == 0 and dry.err.strip() == "read 6, stored new 0, new versions 2, duplicates 4, rejected 0"
    assert sorted(orjson.loads(line)["type"] for line in dry.out.splitlines()) == ["indicator", "report"]
    assert local_hub.counts() == before
    real = _ingest(tmp_path, local_hub, capsys, {"Event": edited})
    assert real.err.strip() == dry.err.strip()
