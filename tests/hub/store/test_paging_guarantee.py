"""Paging stays lossless with many writers (issue 18): once a reader has been served an object with
``date_added`` T, no object with ``date_added`` <= T becomes visible later in that collection. Eight
writers post envelopes through the intake while four readers page, two following the keyset cursor (TAXII
``next``) and two restarting from the last ``date_added`` they saw (``added_after``); every object shares
one second of the clock. Each reader must see every object exactly once, in increasing ``date_added``.

Each writer holds its own store object (as another worker process or host would: nothing in the process
serialises them), and every other envelope holds its transaction open for a while after its ``date_added``
values were taken, so that writers overlap: without a hub-wide lock taken before ``date_added`` is
assigned (PostgreSQL's advisory lock, SQLite's ``BEGIN IMMEDIATE``), another writer commits meanwhile and
the held rows appear later below what readers were served (or collide with them).

The suite runs 2,000 objects; ``KIZUNA_PAGING_OBJECTS=100000`` runs the acceptance's size (issue 18: 100,000
objects, the first 2,000 in one second of the clock, the rest spread over later seconds), which takes
minutes on two cores."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kizuna.hub import intake
from kizuna.hub.models import Query
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.stix.markings import TLP
from tests.hub.conftest import FrozenClock, indicator

TOTAL = int(os.environ.get("KIZUNA_PAGING_OBJECTS", "2000"))
BUNCH = 2000  # objects written within one second of the clock
WRITERS, READERS = 8, 4
PER_ENVELOPE = 50 if TOTAL <= BUNCH else 250
ENVELOPES = max(1, TOTAL // (WRITERS * PER_ENVELOPE))
HOLD_S = 0.03  # how long a held write keeps its transaction open after taking its date_added values


def reopen(store: Store, clock: Callable[[], datetime]) -> Store:
    """The same hub through a second store object (as another worker process would hold it)."""
    dsn = getattr(store, "dsn", None)
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        return PostgresStore.open(dsn, key_file=store.key_file, clock=clock)  # type: ignore[attr-defined]
    from kizuna.hub.store.sqlite import SQLiteStore

    return SQLiteStore.open(store.path, clock=clock)  # type: ignore[attr-defined]


class TickingClock:
    """A clock that moves 50 us on every reading (thread-safe), so that every write of the test, though
    all fall in one second, reads a later time than the writes before it."""

    def __init__(self, start: datetime) -> None:
        self._now, self._lock = start, threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(microseconds=50)
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


def holding(store: Store) -> Store:
    """``store``, its write transactions held open for ``HOLD_S`` after their work (every other one)."""
    plain = store.write
    count = [0]

    def write(work: Callable[[Any], Any]) -> Any:
        count[0] += 1
        hold = count[0] % 2 == 1

        def held(tx: Any) -> Any:
            out = work(tx)
            if hold:  # date_added is taken and the rows are written; the commit waits
                time.sleep(HOLD_S)
            return out

        return plain(held)

    store.write = write  # type: ignore[method-assign]
    return store


def test_paging_guarantee_with_8_writers_and_4_readers(
    make_store: Callable[[], Store], clock: FrozenClock
) -> None:
    store = make_store()
    org = store.add_org("producer", ceiling=TLP.RED)
    c = store.add_collection("shared", readers=["producer"], writers=["producer"], default_tlp=TLP.AMBER)
    sender = intake.Sender.local(org)
    done = threading.Event()
    errors: list[BaseException] = []

    ticking = TickingClock(clock())
    writers = [holding(reopen(store, ticking)) for _ in range(WRITERS)]

    def write(w: int) -> None:
        try:
            for e in range(ENVELOPES):
                if e * WRITERS * PER_ENVELOPE >= BUNCH:  # beyond the first 2,000: later seconds
                    ticking.advance(0.05)
                objs = [
                    indicator(oid=f"indicator--{uuid.uuid4()}", x_w=w, x_e=e) for _ in range(PER_ENVELOPE)
                ]
                result = intake.accept(writers[w], c, sender, objs, clock=ticking)
                assert all(o.outcome == "stored" for o in result.objects)
        except BaseException as exc:
            errors.append(exc)

    seen: list[list[tuple[int, str]]] = [[] for _ in range(READERS)]

    def read(r: int) -> None:
        try:
            cursor: Cursor | None = None
            last = 0
            deadline = time.monotonic() + 120 * max(1, TOTAL // BUNCH)
            while time.monotonic() < deadline:
                finished = done.is_set()  # read before the page: a page after the end sees everything
                if r % 2 == 0:  # follow `next`
                    page = store.query(c, org, Query(limit=37, after=cursor))
                else:  # restart from the last date_added seen
                    page = store.query(c, org, Query(limit=37, added_after_us=last or None))
                seen[r] += [(row.date_added_us, row.id) for row in page.rows]
                if page.rows:
                    cursor, last = page.cursor, page.rows[-1].date_added_us
                if finished and not page.more:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(r,)) for r in range(READERS)]
    threads += [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads[READERS:]:
        t.join(timeout=120 * max(1, TOTAL // BUNCH))
    done.set()
    for t in threads[:READERS]:
        t.join(timeout=120 * max(1, TOTAL // BUNCH))
    for w in writers:
        w.close()  # type: ignore[attr-defined]
    assert not errors, errors[:3]
    stored = store.query(c, org, Query(limit=WRITERS * ENVELOPES * PER_ENVELOPE + 1)).rows
    assert len(stored) == WRITERS * ENVELOPES * PER_ENVELOPE
    added_all = [row.date_added_us for row in stored]
    assert (
        stored[min(BUNCH, len(stored)) - 1].date_added_us - stored[0].date_added_us < 1_000_000
    )  # one second
    if TOTAL > BUNCH:
        assert added_all[-1] - added_all[0] > 2_000_000  # the rest are spread over later seconds
    everything = [(row.date_added_us, row.id) for row in stored]
    for r in range(READERS):
        added = [a for a, _ in seen[r]]
        assert added == sorted(set(added)), f"reader {r}: date_added went back or repeated"
        assert seen[r] == everything, f"reader {r} missed {len(set(everything) - set(seen[r]))} objects"
