"""Commit notifications: how a write wakes the change streams and followers of its collection.

The seam is small and backend-neutral. A store publishes, after each commit that stored object versions,
the highest ``date_added`` it gave in each collection (:meth:`Changes.published`); whoever waits for news of
a collection (a stream on the TAXII API, a federation follower's push flow, sightings going home) asks
:meth:`Changes.wait` (from the event loop) or :meth:`Changes.wait_blocking` (from a thread) to return once
the collection has moved past the position it last read. Nothing polls: a waiter sleeps on a future or a
condition variable until a commit wakes it or its timeout (a stream's heartbeat) expires.

Who publishes:

* **in-process writers** (the TAXII API's writes, ``hub serve --follow-peers``): the SQLite store's
  after-commit hook (``Connections.after_commit``), in commit order, under the writer lock;
* **writers in other processes** on the same database (``kizuna hub sync --follow`` run on its own,
  ``kizuna ingest``, a second server worker): the store's watcher (:meth:`kizuna.hub.store.protocols.
  ObjectStore.watch_changes`), started by the process that serves or follows. For SQLite it sleeps on
  inotify on the database's directory (the WAL file grows at every commit) where the platform has it, at
  most one look per rest however many writes a commit makes, and checks ``PRAGMA data_version`` every
  quarter second besides (see :mod:`kizuna.hub.store.sqlite.watch`); on a look it reads which collections
  received versions beyond the last ``date_added`` it saw and publishes them.

Several server workers (issue 18) keep one :class:`Changes` each and the same wait logic; only the feed
changes: with PostgreSQL, the write transaction runs
``NOTIFY kizuna_changes, '<collection key>:<date_added>'`` and one ``LISTEN`` connection per worker
publishes what it hears. A notification is only ever a hint to read again: readers always re-query the
store (policy-filtered), so a lost, early or duplicated notification can delay an event, never change
what a reader sees.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping

#: Key under which every collection's news is also published (the hub as a whole).
ANY = 0


class Changes:
    """The latest committed ``date_added`` per collection key, and the waiters for each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._latest: dict[int, int] = {}
        self._waiters: dict[int, list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]]] = {}
        self._closed = False

    def latest(self, key: int = ANY) -> int:
        """The highest ``date_added`` published for collection ``key`` (``ANY``: any collection); 0 before
        the first."""
        with self._lock:
            return self._latest.get(key, 0)

    def published(self, marks: Mapping[int, int]) -> None:
        """Collections ``marks`` (key -> highest ``date_added`` committed) moved: wake their waiters.
        Called by a store after commit, from any thread; positions only ever move forward."""
        if not marks:
            return
        wake: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        with self._lock:
            top = max(marks.values())
            for key, mark in (*marks.items(), (ANY, top)):
                if mark <= self._latest.get(key, 0):
                    continue
                self._latest[key] = mark
                waiting = self._waiters.get(key)
                if not waiting:
                    continue
                keep = []
                for after_us, loop, fut in waiting:
                    if after_us < mark:
                        wake.append((loop, fut))
                    else:
                        keep.append((after_us, loop, fut))
                self._waiters[key] = keep
            self._cond.notify_all()
        for loop, fut in wake:
            loop.call_soon_threadsafe(_resolve, fut)

    def close(self) -> None:
        """Wake every waiter for good (the process is stopping)."""
        with self._lock:
            self._closed = True
            waiting = [w for ws in self._waiters.values() for w in ws]
            self._waiters.clear()
            self._cond.notify_all()
        for _after, loop, fut in waiting:
            loop.call_soon_threadsafe(_resolve, fut)

    @property
    def closed(self) -> bool:
        return self._closed

    async def wait(self, key: int, after_us: int, timeout_s: float) -> int:
        """Return once collection ``key`` has moved past ``after_us`` or ``timeout_s`` has passed; returns
        the latest position (not past ``after_us`` on a timeout)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (after_us, loop, fut)
        with self._lock:
            latest = self._latest.get(key, 0)
            if latest > after_us or self._closed:
                return latest
            self._waiters.setdefault(key, []).append(entry)
        try:
            await asyncio.wait_for(fut, timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                waiting = self._waiters.get(key)
                if waiting and entry in waiting:
                    waiting.remove(entry)
        return self.latest(key)

    def wait_blocking(
        self, key: int, after_us: int, timeout_s: float, stop: threading.Event | None = None
    ) -> int:
        """:meth:`wait` for a thread; it also returns when ``stop`` is set and :meth:`poke` is called."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._latest.get(key, 0) <= after_us and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0 or (stop is not None and stop.is_set()):
                    break
                self._cond.wait(left)
            return self._latest.get(key, 0)

    def poke(self) -> None:
        """Wake the threads in :meth:`wait_blocking` so that they look at their ``stop`` events."""
        with self._cond:
            self._cond.notify_all()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
