"""The SQLite store copies its WAL into the database file in a thread of its own (no write waits for a
checkpoint), and a writer that outruns that thread checkpoints and truncates the WAL itself past the cap."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from kizuna.hub import intake
from kizuna.hub.store.sqlite import SQLiteStore, connection
from kizuna.stix.markings import TLP
from tests.hub.conftest import FrozenClock
from tests.hub.store.test_reads import ind


def _fill(store: SQLiteStore, clock: FrozenClock, envelopes: int) -> None:
    org = store.add_org("uk", ceiling=TLP.RED)
    c = store.add_collection("c", readers=["uk"], writers=["uk"])
    for n in range(envelopes):
        objs = [ind(f"10.{n}.{i // 256}.{i % 256}", description="x" * 200) for i in range(200)]
        result = intake.accept(store, c, intake.Sender.local(org), objs, clock=clock)
        assert not result.refused
        clock.advance(1)


def test_the_wal_is_checkpointed_beside_the_writes(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "CHECKPOINT_BYTES", 256 * 1024)
    db = tmp_path / "hub.db"
    store = SQLiteStore.create(db, clock=clock)
    try:
        before = db.stat().st_size
        _fill(store, clock, 5)
        wal = Path(f"{db}-wal")
        assert wal.stat().st_size > 256 * 1024
        deadline = time.monotonic() + 20
        while db.stat().st_size <= before and time.monotonic() < deadline:  # the thread copies the pages
            time.sleep(0.05)
        assert db.stat().st_size > before
        # what the database file holds now is what was committed: another connection reads it all
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT count(*) FROM objects").fetchone()[0] == 1000
        conn.close()
    finally:
        store.close()
    assert not Path(f"{db}-wal").exists()  # the last connection closed: the WAL is gone


def test_past_the_cap_the_writer_checkpoints_and_truncates_the_wal(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "CHECKPOINT_BYTES", 10**12)  # the thread never runs
    monkeypatch.setattr(connection, "CHECKPOINT_CAP_BYTES", 256 * 1024)
    db = tmp_path / "hub.db"
    store = SQLiteStore.create(db, clock=clock)
    try:
        _fill(store, clock, 3)
        assert Path(f"{db}-wal").stat().st_size <= 256 * 1024  # truncated after the commit that passed it
        assert not store._db._checkpointer.started
    finally:
        store.close()
