"""Work ahead of the writer: a bounded queue filled by one background thread.

An ingest run has one writer (the store's transaction, one unit at a time) and work before it that need not
wait for it: fetching a feed's next events, parsing and converting them. :func:`ahead` runs an iterator in a
thread and hands its items over in order through a queue of at most ``depth`` items, so the writer's waits
(the commit's fsync, SQLite's own work outside the interpreter lock) and the network's overlap with the rest.
``ahead(items, 0)`` is the plain reference: the iterator itself, in the caller's thread; both yield the same
items in the same order and raise the same exception at the same place (``tests/ingest/test_pipeline.py``).

Nothing is stored in the background: the writer stays in the caller's thread, so what a kill leaves behind is
exactly what it would leave without the queue.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

_END = object()
_POLL_S = 0.1  # how often a blocked producer looks whether the consumer has gone


def ahead(items: Iterable[T], depth: int) -> Generator[T, None, None]:
    """``items`` in order, produced by a background thread up to ``depth`` items ahead of the consumer.

    An exception raised by ``items`` is raised to the consumer where the item would have been. When the
    consumer stops early (an exception, ``close()``), the producer stops at its next item and the iterator is
    closed in its thread.
    """
    if depth <= 0:
        yield from items
        return
    handoff: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(entry, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((False, _END))
        except BaseException as exc:  # handed to the consumer, raised there
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="kizuna-ingest-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = handoff.get()
            if ok:
                yield value  # type: ignore[misc]
            elif value is _END:
                return
            else:
                assert isinstance(value, BaseException)
                raise value
    finally:
        stop.set()
        thread.join(timeout=10)
