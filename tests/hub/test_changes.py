"""Commit notifications (kizuna/hub/changes.py) and each store's feed of them (SQLite: a poll of the file;
PostgreSQL: LISTEN/NOTIFY); leases, on both backends."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kizuna.hub import intake
from kizuna.hub.changes import ANY, Changes
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.store.sqlite.watch import REST_S, SQLiteWatcher
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import TLP

from .conftest import BACKENDS, FrozenClock, indicator

Clock = Callable[[], datetime]


@pytest.fixture(params=BACKENDS)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """A factory of a fresh hub store on the backend, and of a second store object over the same hub (as
    another process would hold it)."""
    made: list[Any] = []

    def make(clock: Clock = utc_now, *, same_as: Any = None) -> Any:
        store: Any
        if request.param == "postgres":
            from kizuna.hub.store.postgres import PostgresStore

            if same_as is not None:
                store = PostgresStore.open(same_as.dsn, key_file=same_as.key_file, clock=clock)
            else:
                dsn = request.getfixturevalue("new_pg_dsn")()
                store = PostgresStore.create(dsn, key_file=tmp_path / "hub.key", clock=clock)
        elif same_as is not None:
            store = SQLiteStore.open(same_as.path, clock=clock)
        else:
            store = SQLiteStore.create(tmp_path / "hub.db", durable=False, clock=clock)
        made.append(store)
        return store

    yield make
    for s in made:
        s.close()


def test_waiters_wake_when_their_collection_moves_and_only_then() -> None:
    changes = Changes()

    async def main() -> list[int]:
        woken: list[int] = []

        async def waiter(key: int) -> None:
            woken.append(await changes.wait(key, 0, 5.0))

        tasks = [asyncio.create_task(waiter(k)) for k in (1, 2)]
        await asyncio.sleep(0.05)
        threading.Thread(target=changes.published, args=({1: 10},)).start()  # from a writer thread
        await asyncio.wait_for(tasks[0], 2.0)
        assert not tasks[1].done()
        assert await changes.wait(2, 0, 0.05) == 0  # a timeout returns the unchanged position
        changes.published({2: 11, 1: 9})  # positions never move back
        await asyncio.wait_for(tasks[1], 2.0)
        return woken

    assert asyncio.run(main()) == [10, 11]
    assert changes.latest(1) == 10 and changes.latest(ANY) == 11
    started = time.monotonic()
    assert changes.wait_blocking(1, 10, 0.05) == 10 and time.monotonic() - started < 2
    stop = threading.Event()
    threading.Timer(0.05, lambda: (stop.set(), changes.poke())).start()
    assert changes.wait_blocking(1, 10, 30.0, stop) == 10  # stop and poke end the wait at once


def test_the_store_publishes_after_commit_and_other_processes_commits_through_its_watcher(
    new_store: Callable[..., Any],
) -> None:
    store = new_store()
    org = store.add_org("producer", ceiling=TLP.RED)
    a = store.add_collection("a", readers=["producer"], writers=["producer"])
    b = store.add_collection("b", readers=["producer"], writers=["producer"])
    changes = store.changes()
    intake.accept(store, a, intake.Sender.local(org), [indicator()], clock=utc_now)
    assert changes.latest(a.key) > 0 and changes.latest(b.key) == 0
    watch = store.watch_changes()
    try:
        other = new_store(same_as=store)  # another connection, as another process would hold
        seen = changes.latest(b.key)
        intake.accept(other, b, intake.Sender.local(org), [indicator()], clock=utc_now)
        other.close()
        assert changes.wait_blocking(b.key, seen, 10.0) > seen  # woken by the watcher
    finally:
        watch.close()


def test_the_sqlite_watcher_rests_between_wakes_while_this_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit writes the WAL page by page and inotify reports every write: the watcher looks at most once
    per rest however many events a burst of writes makes, and still publishes another process's commit."""
    checks: list[float] = []
    real = SQLiteWatcher._check

    def counted(self: SQLiteWatcher) -> None:
        checks.append(time.monotonic())
        real(self)

    monkeypatch.setattr(SQLiteWatcher, "_check", counted)
    store = SQLiteStore.create(tmp_path / "hub.db", durable=False)
    other = SQLiteStore.open(tmp_path / "hub.db")
    try:
        org = store.add_org("producer", ceiling=TLP.RED)
        c = store.add_collection("a", readers=["producer"], writers=["producer"])
        watch = store.watch_changes()
        assert isinstance(watch, SQLiteWatcher)
        if not watch.uses_inotify:
            watch.close()
            pytest.skip("no inotify here: the watcher polls data_version every quarter second")
        started = time.monotonic()
        for _ in range(30):  # a burst of writes in this process: hundreds of WAL writes, so of events
            intake.accept(store, c, intake.Sender.local(org), [indicator() for _ in range(50)], clock=utc_now)
        seen = store.changes().latest(c.key)
        intake.accept(other, c, intake.Sender.local(org), [indicator()], clock=utc_now)  # another process
        published = store.changes().wait_blocking(c.key, seen, 10.0)
        elapsed = time.monotonic() - started
        watch.close()
        assert published > seen  # the other store's commit was published by the watcher
        assert checks and len(checks) <= 1 + elapsed / REST_S
        assert all(b - a >= REST_S * 0.9 for a, b in itertools.pairwise(checks))  # one look per rest at most
    finally:
        other.close()
        store.close()


def test_one_holder_of_a_lease_until_it_expires(new_store: Callable[..., Any]) -> None:
    clock = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
    store = new_store(clock)
    assert store.hold_lease("follow", "a", 30)
    assert not store.hold_lease("follow", "b", 30) and store.lease_holder("follow") == "a"
    clock.advance(20)
    assert store.hold_lease("follow", "a", 30)  # renewed
    clock.advance(20)
    assert not store.hold_lease("follow", "b", 30)
    clock.advance(11)
    assert store.lease_holder("follow") is None and store.hold_lease("follow", "b", 30)
    store.release_lease("follow", "a")  # not the holder: nothing happens
    assert store.lease_holder("follow") == "b"
    store.release_lease("follow", "b")
    assert store.hold_lease("follow", "a", 30)
