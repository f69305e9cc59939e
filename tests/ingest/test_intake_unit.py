"""The intake's ingest unit (issue 15): all or nothing, provenance beside each stored version, one audit
record per stored unit; and schema migration 3 from a version-2 database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kizuna.hub import intake
from kizuna.hub.keys import HubKeys, key_path
from kizuna.hub.models import Collection, IngestUnit, Org, Outcome
from kizuna.hub.store.sqlite import SQLiteStore, schema
from kizuna.stix.markings import TLP
from tests.hub.conftest import indicator

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def _unit(n: int) -> IngestUnit:
    return IngestUnit(
        format="misp",
        source="event.json",
        unit="5a3c2fcd-8328-42bb-a95e-4f4402de0b81",
        converter="kizuna test",
        unit_version="1513948642",
        event_uuid="5a3c2fcd-8328-42bb-a95e-4f4402de0b81",
        locators=tuple(f"/Event/Attribute/{i}" for i in range(n)),
    )


def _store(tmp_path: Path) -> tuple[SQLiteStore, Org, Collection]:
    store = SQLiteStore.create(tmp_path / "hub.db", durable=False)
    org = store.add_org("producer", ceiling=TLP.RED)
    c = store.add_collection("c", readers=["producer"], writers=["producer"])
    return store, org, c


def test_a_unit_is_stored_with_its_provenance_and_one_audit_record(tmp_path: Path) -> None:
    store, org, c = _store(tmp_path)
    objs = [indicator("198.51.100.1", tlp_ref=GREEN), indicator("198.51.100.2")]
    before = len(list(store.audit_records()))
    r = intake.accept(store, c, intake.Sender.local(org), objs, clock=store._clock, unit=_unit(2))
    assert [o.outcome for o in r.objects] == [Outcome.STORED, Outcome.STORED]
    records = list(store.audit_records())[before:]
    assert len(records) == 1 and '"ingest"' in records[0].detail
    p = store.provenance(c, objs[1]["id"])
    assert [(x.locator, x.format, x.source, x.org, x.unit_version) for x in p] == [
        ("/Event/Attribute/1", "misp", "event.json", "producer", "1513948642")
    ]
    assert store.ingested_units("event.json") == {"5a3c2fcd-8328-42bb-a95e-4f4402de0b81": "1513948642"}
    # again: duplicates, nothing new stored, the unit recorded once more (its cursor stays)
    r2 = intake.accept(store, c, intake.Sender.local(org), objs, clock=store._clock, unit=_unit(2))
    assert [o.outcome for o in r2.objects] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(store.provenance(c, objs[1]["id"])) == 1
    store.close()


def test_one_refused_object_refuses_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    store, org, c = _store(tmp_path)
    first = indicator("198.51.100.1")
    intake.accept(store, c, intake.Sender.local(org), [first], clock=store._clock)
    before = store.table_counts()
    conflict = {**first, "description": "same id and version, other content"}
    r = intake.accept(
        store,
        c,
        intake.Sender.local(org),
        [indicator("198.51.100.9"), conflict],
        clock=store._clock,
        unit=_unit(2),
    )
    assert [o.outcome for o in r.objects] == [Outcome.REFUSED, Outcome.REFUSED]
    assert r.objects[0].reason.startswith("not stored: its unit was refused")
    assert "already stored" in r.objects[1].reason
    assert store.table_counts() == before  # no object, no provenance, no audit record, no write result
    store.close()


def test_migration_3_adds_the_ingest_tables_to_a_version_2_hub(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    HubKeys.create(key_path(path))  # 'hub init' writes the key file beside the database
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, target=2)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("title", "v2"),
            ("created", "2026-01-01T00:00:00.000000Z"),
            ("hub_id", "h"),
            ("last_date_added", "0"),
        ],
    )
    conn.close()
    applied = SQLiteStore.migrate(path)
    assert [m.version for m in applied] == [m.version for m in schema.MIGRATIONS[2:]]
    with SQLiteStore.open(path) as store:
        counts = store.table_counts()
    assert counts["ingest_units"] == 0 and counts["provenance"] == 0
