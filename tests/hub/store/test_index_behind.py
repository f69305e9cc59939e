"""The read indexes are written behind the writes, in batches (kizuna/hub/store/sqlite/indexing.py): a
reader still finds every committed write, a version deleted before it was indexed is never found, versions
whose entries the process does not hold (another process wrote them, or it restarted) are indexed from their
stored bytes, and the indexes caught up are exactly those built from the stored objects afresh."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.hub import intake
from kizuna.hub.models import Query
from kizuna.hub.reads import Search
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.store.sqlite import objects as sqlite_objects
from kizuna.hub.store.sqlite.indexing import reindex_all
from tests.hub.conftest import FrozenClock
from tests.hub.store.conftest import raw_query
from tests.hub.store.test_reads import World, ind, obj


def marks(store: Store) -> tuple[int, int]:
    rows = dict(
        raw_query(store, "SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')")
    )
    return int(str(rows["indexed_to"])), int(str(rows["last_date_added"]))


def test_a_write_is_indexed_behind_it_and_found_by_the_next_read(store: Store, clock: FrozenClock) -> None:
    world = World(store, clock)
    a = ind("198.51.100.41", name="water pumping station scanner")
    world.post("uk", [a])
    indexed, last = marks(store)
    assert indexed < last  # the write left its version to be indexed
    assert world.ids("green", Search(text="pumping")) == [a["id"]]  # ... and the read indexed it first
    assert world.ids("green", Search(value="198.51.100.41")) == [a["id"]]
    assert marks(store)[0] == last


def test_versions_whose_entries_the_process_lacks_are_indexed_from_their_bytes(
    store: Store, clock: FrozenClock
) -> None:
    world = World(store, clock)
    a = ind("198.51.100.42", name="telemetry relay")
    world.post("uk", [a, obj("sighting", sighting_of_ref=a["id"], count=3)])
    store._waiting.clear()  # type: ignore[attr-defined]  # as after a restart, or another process's write
    assert world.ids("amber", Search(text="telemetry")) == [a["id"]]
    assert world.ids("amber", Search(value="198.51.100.42")) == [a["id"]]
    assert [h.row.id for h in store.linked(world.orgs["amber"], a["id"], "sighting").hits] != []


def test_a_version_deleted_before_it_was_indexed_is_never_found(store: Store, clock: FrozenClock) -> None:
    world = World(store, clock)
    gone, kept = ind("203.0.113.9", name="withdrawn report"), ind("203.0.113.10", name="kept report")
    world.post("uk", [gone, kept])
    assert store.delete_versions(world.c, world.orgs["uk"], gone["id"], Query()) == 1
    assert world.ids("uk", Search(text="report")) == [kept["id"]]
    assert world.ids("uk", Search(value="203.0.113.9")) == []
    assert store.count(world.orgs["uk"], Search(text="withdrawn")) == 0


def test_a_batch_of_waiting_versions_is_indexed_without_a_read(
    store: Store, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_objects, "INDEX_BATCH", 4)
    world = World(store, clock)
    world.post("uk", [ind(f"192.0.2.{n}") for n in range(3)])
    indexed, last = marks(store)
    assert indexed < last  # 3 waiting: below the batch
    world.post("uk", [ind(f"192.0.2.{n}") for n in range(3, 5)])
    # 5 waiting: the write that made them a batch handed them to the store's indexer thread
    assert store._indexer.started  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while marks(store)[0] < marks(store)[1] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert marks(store)[0] == marks(store)[1]
    assert store._waiting == {}  # type: ignore[attr-defined]


def test_a_write_indexes_in_line_once_too_many_versions_wait(
    store: Store, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexer thread stopped (as if it kept failing): a batch waits, and past INDEX_CAP versions
    waiting the write indexes them itself, so the entries held in memory stay bounded."""
    monkeypatch.setattr(sqlite_objects, "INDEX_BATCH", 4)
    monkeypatch.setattr(sqlite_objects, "INDEX_CAP", 8)
    store._indexer.close()  # type: ignore[attr-defined]
    world = World(store, clock)
    world.post("uk", [ind(f"192.0.2.{n}") for n in range(5)])
    assert marks(store)[0] < marks(store)[1]  # a batch, but no write indexes it before the cap
    world.post("uk", [ind(f"192.0.2.{n}") for n in range(5, 9)])
    assert marks(store)[0] == marks(store)[1]  # 9 waiting: the write indexed them
    assert store._waiting == {}  # type: ignore[attr-defined]


def test_closing_a_store_indexes_what_it_left_waiting(tmp_path: Path, clock: FrozenClock) -> None:
    store = SQLiteStore.create(tmp_path / "hub.db", durable=False, clock=clock)
    world = World(store, clock)
    world.post("uk", [ind("198.51.100.77", name="closing time")])
    store.close()
    conn = sqlite3.connect(tmp_path / "hub.db")
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')"))
    hits = conn.execute("SELECT count(*) FROM search WHERE search MATCH 'closing'").fetchone()[0]
    conn.close()
    assert meta["indexed_to"] == meta["last_date_added"] and hits == 1


def test_closing_a_store_indexes_what_a_killed_writer_left(tmp_path: Path, clock: FrozenClock) -> None:
    """A rerun after a kill may store nothing new; closing it still indexes what the killed run left."""
    writer = SQLiteStore.create(tmp_path / "hub.db", durable=False, clock=clock)
    rerun = SQLiteStore.open(tmp_path / "hub.db")
    try:
        World(writer, clock).post("uk", [ind("198.51.100.78", name="left behind")])
        writer._waiting.clear()  # type: ignore[attr-defined]  # killed: its entries are gone with it
        rerun.close()
        conn = sqlite3.connect(tmp_path / "hub.db")
        meta = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')")
        )
        hits = conn.execute("SELECT count(*) FROM search WHERE search MATCH 'behind'").fetchone()[0]
        conn.close()
        assert meta["indexed_to"] == meta["last_date_added"] and hits == 1
    finally:
        writer.close()


# -- the indexes caught up are the indexes built afresh ---------------------------------------------------
_INDEX_TABLES = {
    "search": "SELECT rowid, body FROM search ORDER BY rowid",
    "observables": "SELECT value, object_added FROM observables ORDER BY 1, 2",
    "same_keys": "SELECT key, object_added FROM same_keys ORDER BY 1, 2",
    "links": "SELECT ref_key, role, object_added, ref FROM links ORDER BY 1, 2, 3, 4",
    "sightings": "SELECT * FROM sightings ORDER BY object_added",
    "flags": "SELECT * FROM flags ORDER BY object_added",
}


def _dump(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {name: conn.execute(sql).fetchall() for name, sql in _INDEX_TABLES.items()}


def _rebuilt(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The indexes built afresh from the stored objects (what the migration to version 6 does)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for table in _INDEX_TABLES:
        conn.execute(f"DELETE FROM {table}")
    reindex_all(conn)
    out = _dump(conn)
    conn.execute("ROLLBACK")
    conn.close()
    return out


_step = st.one_of(
    st.tuples(st.just("post"), st.lists(st.integers(0, 11), min_size=1, max_size=5)),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 11), max_size=2)),
    st.tuples(st.just("read"), st.just([])),
    st.tuples(st.just("forget"), st.just([])),
)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(_step, min_size=1, max_size=10), batch=st.sampled_from([2, 5, 10_000]))
def test_indexes_caught_up_equal_indexes_built_afresh(steps: list[tuple[str, list[int]]], batch: int) -> None:
    """Writes (new objects, new versions of them, sightings and relationships between them), deletes, reads
    and lost entries in any order, with any batch size: once caught up, every index table holds exactly what
    indexing the stored objects afresh gives."""
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        store = SQLiteStore.create(path, durable=False, clock=clock)
        saved = sqlite_objects.INDEX_BATCH
        sqlite_objects.INDEX_BATCH = batch
        try:
            world = World(store, clock)
            pool = [ind(f"198.51.100.{n}", name=f"pumping station {n}") for n in range(8)]
            pool += [obj("sighting", sighting_of_ref=pool[0]["id"], count=2)]
            pool += [
                obj(
                    "relationship",
                    relationship_type="indicates",
                    source_ref=pool[1]["id"],
                    target_ref=pool[2]["id"],
                )
            ]
            pool += [obj("note", content="seen at the reservoir", object_refs=[pool[3]["id"]])]
            pool += [ind("203.0.113.1", name="revoked later", revoked=True)]
            owner = ["uk", "jp"] * 6  # who writes (and may delete) each object of the pool
            for edits, (kind, picks) in enumerate(steps):
                if kind == "post":
                    stamp = f"2026-02-01T00:00:{edits:02d}.000Z"
                    for org in ("uk", "jp"):
                        versions = [
                            {**pool[i], "modified": stamp} for i in dict.fromkeys(picks) if owner[i] == org
                        ]
                        sender = intake.Sender.local(world.orgs[org])
                        intake.accept(store, world.c, sender, versions, clock=clock)  # some may be refused
                    clock.advance(1)
                elif kind == "delete":
                    for i in picks:
                        store.delete_versions(world.c, world.orgs[owner[i]], pool[i]["id"], Query())
                elif kind == "read":
                    store.search(world.orgs["uk"], Search(text="pumping"))
                else:
                    store._waiting.clear()  # type: ignore[attr-defined]
            store.catch_up_index()  # type: ignore[attr-defined]
            conn = sqlite3.connect(path)
            caught_up = _dump(conn)
            conn.close()
            assert caught_up == _rebuilt(path)
        finally:
            sqlite_objects.INDEX_BATCH = saved
            store.close()
