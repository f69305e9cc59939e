"""The SQLite schema's migrations: a database of the first release becomes a current one, data intact."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import orjson
import pytest

from kizuna.errors import StoreError
from kizuna.hub.audit import GENESIS_HASH, canonical_detail, record_hash, verify_chain
from kizuna.hub.keys import HubKeys, key_path
from kizuna.hub.models import Org, Outcome, Query, VersionFilter
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import Search
from kizuna.hub.store.sqlite import SQLiteStore, schema
from kizuna.hub.store.sqlite.objects import id_key
from kizuna.stix.ids import parse_timestamp, to_us
from kizuna.stix.markings import TLP
from tests.conftest import kizuna_cli
from tests.hub.conftest import indicator

COLLECTION = "8f1b4a6e-2f3c-4d5e-9a7b-000000000001"


def make_v1(path: Path) -> dict[str, object]:
    """A hub database as the first release wrote it: two organisations, a collection, a RED object with a
    recipient, a GREEN one in two versions, a status, a peer with a half-done pull and a push cursor, and
    an intact audit chain."""
    HubKeys.create(key_path(path))  # the first release's 'hub init' wrote the key file too
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, target=1)
    rows = [
        ("title", "old hub"),
        ("created", "2026-01-01T00:00:00.000000Z"),
        ("hub_id", "h"),
        ("last_date_added", "0"),
    ]
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", rows)
    conn.execute(
        "INSERT INTO orgs VALUES (1, 'producer', 4, 'GB', '[]', 0, 'identity--a', '2026-01-01T00:00:00Z')"
    )
    conn.execute(
        "INSERT INTO orgs VALUES (2, 'recipient', 4, 'JP', '[]', 0, 'identity--b', '2026-01-01T00:00:00Z')"
    )
    conn.execute("INSERT INTO tokens VALUES ('t' || hex(randomblob(8)), 1, '2026-01-01')")
    conn.execute(f"INSERT INTO collections VALUES ('{COLLECTION}', 'cni', 'cni', '', 2, '2026-01-01')")
    conn.execute(f"INSERT INTO grants VALUES ('{COLLECTION}', 1, 1, 1), ('{COLLECTION}', 2, 1, 0)")
    red = indicator("192.0.2.1", tlp_ref="marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1")
    green1 = indicator("192.0.2.2", tlp_ref="marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb")
    green2 = {**green1, "modified": "2026-02-01T00:00:00.000Z"}
    for seq, (obj, tlp, added) in enumerate(
        [
            (red, 4, 1_767_225_600_000_001),
            (green1, 1, 1_767_225_600_000_002),
            (green2, 1, 1_767_225_600_000_003),
        ],
        start=1,
    ):
        raw = orjson.dumps(obj)
        conn.execute(
            "INSERT INTO objects VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                seq,
                COLLECTION,
                obj["id"],
                id_key(obj["id"]),
                "indicator",
                "2.1",
                obj["modified"],
                to_us(parse_timestamp(obj["modified"])),
                added,
                tlp,
                1,
                1,
                "org:producer",
                b"d" * 16,
                raw,
            ),
        )
    conn.execute("INSERT INTO recipients VALUES (1, 2)")
    conn.execute("UPDATE meta SET value='1767225600000003' WHERE key='last_date_added'")
    status = {
        "id": "status-1",
        "status": "complete",
        "request_timestamp": "2026-01-01T00:00:00.000000Z",
        "total_count": 3,
        "success_count": 2,
        "successes": [
            {"id": red["id"], "version": red["modified"]},
            {"id": green1["id"], "message": "already stored"},
        ],
        "failure_count": 1,
        "failures": [{"id": "objects[2]", "message": "bad"}],
        "pending_count": 0,
        "pendings": [],
    }
    conn.execute("INSERT INTO status VALUES ('status-1', 1, ?)", (orjson.dumps(status),))
    conn.execute(
        "INSERT INTO peers VALUES"
        " (1, 'jp-hub', 'http://127.0.0.1:9/api/', NULL, x'00', 2, '[]', 'x', NULL, NULL)"
    )
    conn.execute(
        "INSERT INTO flows VALUES"
        " (1, 1, 'pull', 'remote', ?, '2026-01-05T00:00:00.123456Z~', 7, 1, NULL, NULL)",
        (COLLECTION,),
    )
    conn.execute(
        "INSERT INTO flows VALUES (2, 1, 'push', 'remote2', ?, '1767225600000002.2', 2, 0, NULL, NULL)",
        (COLLECTION,),
    )
    prev = GENESIS_HASH
    added = {"collection": COLLECTION, "added": [[o["id"], o["modified"]] for o in (red, green1, green2)]}
    for seq, (action, body) in enumerate(
        [("hub.init", {}), ("org.add", {}), ("org.add", {}), ("objects.add", added)], start=1
    ):
        detail = canonical_detail(body)
        h = record_hash(prev, seq, "2026-01-01T00:00:00Z", "cli", action, detail)
        conn.execute(
            "INSERT INTO audit VALUES (?,?,?,?,?,?,?)",
            (seq, "2026-01-01T00:00:00Z", "cli", action, detail, prev, h),
        )
        prev = h
    conn.close()
    return {"red": red, "green1": green1, "green2": green2}


def test_an_old_database_is_refused_until_migrated(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    make_v1(db)
    with pytest.raises(StoreError, match="kizuna hub migrate"):
        SQLiteStore.open(db)


def test_migration_keeps_every_object_grant_cursor_status_and_the_chain(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    objs = make_v1(db)
    applied = SQLiteStore.migrate(db)
    assert [m.version for m in applied] == [m.version for m in schema.MIGRATIONS[1:]]  # 2 and later
    assert SQLiteStore.migrate(db) == []  # nothing left to do
    with SQLiteStore.open(db) as store:
        c = store.get_collection("cni")
        assert c is not None and c.id == COLLECTION and c.default_tlp == TLP.AMBER
        producer, recipient = store.get_org("producer"), store.get_org("recipient")
        every = Query(versions=VersionFilter(all=True))
        assert [r.id for r in store.query(c, recipient, every).rows] == [
            objs["red"]["id"],  # type: ignore[index]
            objs["green1"]["id"],  # type: ignore[index]
            objs["green1"]["id"],  # type: ignore[index]
        ]
        outsider = Org(99, "nobody", TLP.RED)
        assert store.query(c, outsider, every).rows == []
        result = store.write_result("status-1", producer)
        assert result is not None
        assert [o.outcome for o in result.objects] == [Outcome.STORED, Outcome.DUPLICATE, Outcome.REFUSED]
        pull, push = store.get_peer("jp-hub").flows
        assert pull.cursor == Cursor(to_us(parse_timestamp("2026-01-05T00:00:00.123456Z")), complete=False)
        assert push.cursor == Cursor(1_767_225_600_000_002) and pull.transferred == 7
        assert verify_chain(store.audit_records(), store.audit_head()).ok
        assert len(store.cursor_key()) == 32
        # migration 3 indexed what was already stored: found by value, the latest version only
        found = store.search(recipient, Search(value="192.0.2.2")).hits
        assert [(h.row.id, h.row.version) for h in found] == [
            (objs["green1"]["id"], "2026-02-01T00:00:00.000Z")  # type: ignore[index]
        ]
        assert [h.row.id for h in store.search(recipient, Search(value="192.0.2.1")).hits] == [
            objs["red"]["id"]  # type: ignore[index]
        ]
    assert kizuna_cli("hub", "audit", "verify", "--db", str(db)).returncode == 0


def test_a_new_database_has_the_migrated_schema(tmp_path: Path) -> None:
    old, new = tmp_path / "old.db", tmp_path / "new.db"
    make_v1(old)
    SQLiteStore.migrate(old)
    SQLiteStore.create(new).close()

    def shape(path: Path) -> list[tuple[str, str]]:
        conn = sqlite3.connect(path)
        try:
            return sorted(
                (r[0], " ".join(r[1].replace('"', "").split()))
                for r in conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
            )
        finally:
            conn.close()

    def normal(entries: list[tuple[str, str]]) -> list[tuple[str, str]]:
        # a renamed table keeps the name it was created with in its CREATE text
        return [
            (n, s.replace("2 (", " (").replace("2(", "(").replace("collections2", "collections"))
            for n, s in entries
        ]

    assert normal(shape(old)) == normal(shape(new))


def test_a_new_database_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        SQLiteStore.create(tmp_path / "hub.db").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "hub.db").stat().st_mode) == 0o600


def test_a_file_that_is_not_a_hub_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError):
        SQLiteStore.open(junk)
