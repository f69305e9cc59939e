"""Paging stays lossless with many writers (issue 18): once a reader has been served an object with
``date_added`` T, no object with ``date_added`` <= T becomes visible later in that collection. Eight
writers post envelopes through the intake while four readers page, two following the keyset cursor (TAXII
``next``) and two restarting from the last ``date_added`` they saw (``added_after``); every object shares
one second of the clock. Each reader must see every object exactly once, in increasing ``date_added``."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from kizuna.hub import intake
from kizuna.hub.models import Query
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.stix.markings import TLP
from tests.hub.conftest import FrozenClock, indicator

WRITERS, READERS, ENVELOPES, PER_ENVELOPE = 8, 4, 5, 50  # 2,000 objects in one second


def reopen(store: Store, clock: FrozenClock) -> Store:
    """The same hub through a second store object (as another worker process would hold it)."""
    dsn = getattr(store, "dsn", None)
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        return PostgresStore.open(dsn, key_file=store.key_file, clock=clock)  # type: ignore[attr-defined]
    from kizuna.hub.store.sqlite import SQLiteStore

    return SQLiteStore.open(store.path, clock=clock)  # type: ignore[attr-defined]


def test_paging_guarantee_with_8_writers_and_4_readers(
    make_store: Callable[[], Store], clock: FrozenClock
) -> None:
    store = make_store()
    org = store.add_org("producer", ceiling=TLP.RED)
    c = store.add_collection("shared", readers=["producer"], writers=["producer"], default_tlp=TLP.AMBER)
    sender = intake.Sender.local(org)
    done = threading.Event()
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for e in range(ENVELOPES):
                objs = [
                    indicator(oid=f"indicator--{uuid.uuid4()}", x_w=w, x_e=e) for _ in range(PER_ENVELOPE)
                ]
                result = intake.accept(store, c, sender, objs, clock=clock)
                assert all(o.outcome == "stored" for o in result.objects)
        except BaseException as exc:
            errors.append(exc)

    seen: list[list[tuple[int, str]]] = [[] for _ in range(READERS)]

    def read(r: int) -> None:
        try:
            cursor: Cursor | None = None
            last = 0
            deadline = time.monotonic() + 120
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
        t.join(timeout=120)
    done.set()
    for t in threads[:READERS]:
        t.join(timeout=120)
    assert not errors, errors[:3]
    stored = store.query(c, org, Query(limit=WRITERS * ENVELOPES * PER_ENVELOPE + 1)).rows
    assert len(stored) == WRITERS * ENVELOPES * PER_ENVELOPE
    everything = [(row.date_added_us, row.id) for row in stored]
    for r in range(READERS):
        added = [a for a, _ in seen[r]]
        assert added == sorted(set(added)), f"reader {r}: date_added went back or repeated"
        assert seen[r] == everything, f"reader {r} missed {len(set(everything) - set(seen[r]))} objects"
