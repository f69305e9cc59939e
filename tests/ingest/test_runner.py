"""``--skip-invalid`` into a local hub writes a unit whole first and screens only when the intake refuses
something (each object validated once, not twice); the plain reference screens first. Both end with the
same report and the same stored objects, whatever the unit holds."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.hub import intake
from kizuna.hub.models import Query, VersionFilter
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.ingest.runner import Ingest, LocalSink, Report
from kizuna.ingest.units import Record, Unit
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import TLP
from tests.hub.conftest import indicator

RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
NS = uuid.UUID("0d6f3c1e-2b4a-4c5d-8e7f-9a0b1c2d3e4f")


def _id(kind: str, n: int) -> str:
    return f"{kind}--{uuid.uuid5(NS, f'{kind}/{n}')}"


def _relationship(n: int, source: str, target: str) -> dict[str, Any]:
    return {
        "type": "relationship",
        "spec_version": "2.1",
        "id": _id("relationship", n),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "relationship_type": "related-to",
        "source_ref": source,
        "target_ref": target,
    }


def _units() -> dict[str, list[Record]]:
    good = [indicator(f"198.51.100.{n}", oid=_id("indicator", n)) for n in range(1, 4)]
    bad = indicator("198.51.100.9", oid=_id("indicator", 9), pattern="[ipv4-addr:value = ")
    rel_bad = _relationship(1, good[0]["id"], bad["id"])
    rel_good = _relationship(2, good[0]["id"], good[1]["id"])
    red = indicator("198.51.100.7", oid=_id("indicator", 7), tlp_ref=RED, x_kizuna_recipients=["nobody"])

    def records(
        objs: list[dict[str, Any]], depends: dict[int, tuple[str, ...]] | None = None
    ) -> list[Record]:
        depends = depends or {}
        return [Record(o, f"/objects/{i}", o["id"], depends.get(i, ())) for i, o in enumerate(objs)]

    return {
        "all valid": records([*good, rel_good], {3: (good[0]["id"], good[1]["id"])}),
        "one invalid, one depending on it": records(
            [*good, bad, rel_bad, rel_good],
            {4: (good[0]["id"], bad["id"]), 5: (good[0]["id"], good[1]["id"])},
        ),
        "only invalid": records([bad]),
        "refused by the hub's policy": records([good[2], red]),
    }


def _run(tmp_path: Path, name: str, records: list[Record], *, screen_first: bool) -> tuple[Any, ...]:
    db = tmp_path / f"{name.replace(' ', '-')}-{screen_first}.db"
    with SQLiteStore.create(db, durable=False) as store:
        org = store.add_org("uk", ceiling=TLP.RED)
        c = store.add_collection("c", readers=["uk"], writers=["uk"])
        report = Report()
        sink = LocalSink(store, c, intake.sender_for(store, org), clock=utc_now)
        ingest = Ingest(sink, report, skip_invalid=True, screen_first=screen_first)
        for n in range(2):  # the second time: duplicates
            unit = Unit("stix", "bundle.json", f"bundle-{n}", records=[Record(**_fields(r)) for r in records])
            ingest.store(unit)
        rows = store.query(c, org, Query(limit=1000, versions=VersionFilter(all=True, last=False))).rows
        stored = sorted(orjson.loads(r.raw)["id"] for r in rows)
        counts = dict(store.table_counts())
    return report.as_json(), stored, counts


def _fields(r: Record) -> dict[str, Any]:
    return {"obj": dict(r.obj), "locator": r.locator, "record_id": r.record_id, "depends": r.depends}


@pytest.mark.parametrize("name", list(_units()))
def test_write_first_agrees_with_screen_first(tmp_path: Path, name: str) -> None:
    records = _units()[name]
    fast = _run(tmp_path, name, records, screen_first=False)
    reference = _run(tmp_path, name, records, screen_first=True)
    assert fast == reference
    report, stored, _counts = fast
    if name == "all valid":
        assert len(stored) == 4 and report["totals"]["duplicates"] == 4 and not report["problems"]
    if name == "one invalid, one depending on it":
        assert len(stored) == 4 and report["totals"]["rejected"] == 4  # twice: the bad one, the one after
        assert any(p["reason"].startswith("depends on refused /objects/3") for p in report["problems"])
    if name == "refused by the hub's policy":
        assert stored == [] and any("unknown recipient" in p["reason"] for p in report["problems"])
