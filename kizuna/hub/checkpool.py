"""Checking a large write's objects on more than one core.

Checking an object (:func:`kizuna.hub.intake.check`: STIX validation, the I-JSON limits, the canonical bytes,
what the read indexes will hold of it) depends on that object alone, so the objects of one large envelope
are checked in parts side by side: the calling thread checks the first part while the processes of a small
pool check the others. Everything else in a write (the trust decisions, the insert, the audit record) stays
in the one writer, in order. The result is exactly what :func:`~kizuna.hub.intake.check_all` gives in one
thread (``tests/hub/test_checkpool.py`` holds the two equal); a write too small to gain from it, or any
trouble with the pool (a worker killed: the pool is rebuilt), is checked in the calling thread.

The pool's processes are started on first use by ``spawn`` (never ``fork``: a server process has threads
and open database connections) and stopped by :meth:`CheckPool.close`.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from kizuna.hub.index import ConjunctionFacts, Entries, SightingFacts
from kizuna.hub.intake import check, check_all
from kizuna.hub.models import Incoming, ObjectResult, Outcome
from kizuna.stix.ijson import ObjectLimits
from kizuna.stix.markings import TLP

_log = logging.getLogger(__name__)

#: Fewest objects in a write worth sending to the pool (below it, the transfer costs more than it saves).
MIN_ITEMS = 200

#: Failures of the pool after which it is given up (every write is then checked in the calling thread).
MAX_FAILURES = 3

Packed = tuple[Any, ...]


class CheckPool:
    """Checks the objects of large writes with ``processes`` helper processes beside the calling thread
    (``processes`` 0: always in the calling thread). Call it as :func:`~kizuna.hub.intake.check_all`."""

    def __init__(self, processes: int, *, min_items: int = MIN_ITEMS) -> None:
        self.processes = max(0, processes)
        self.min_items = max(2, min_items)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._failures = 0

    def __call__(self, items: Sequence[object], limits: ObjectLimits) -> list[Incoming | ObjectResult]:
        n = len(items)
        if self.processes == 0 or n < self.min_items or self._closed:
            return check_all(items, limits)
        parts = self.processes + 1
        size = -(-n // parts)
        bounds = [(k * size, min(n, (k + 1) * size)) for k in range(parts) if k * size < n]
        try:
            pool = self._get_pool()
            futures: list[Future[list[Packed]]] = [
                pool.submit(_check_part, start, list(items[start:end]), limits) for start, end in bounds[1:]
            ]
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            self._reset(exc)
            return check_all(items, limits)
        start, end = bounds[0]
        out: list[Incoming | ObjectResult] = [check(i, items[i], limits) for i in range(start, end)]
        for (start, end), future in zip(bounds[1:], futures, strict=True):
            try:
                out.extend(unpack(p) for p in future.result())
            except (BrokenProcessPool, OSError) as exc:  # a worker died: check this part here
                self._reset(exc)
                out.extend(check(i, items[i], limits) for i in range(start, end))
        return out

    def start(self) -> None:
        """Start the helper processes now, in the background (a server's start-up: its first large write
        then finds them ready instead of waiting for their imports)."""
        if self.processes == 0 or self._closed:
            return
        try:
            pool = self._get_pool()
            for _ in range(self.processes):
                pool.submit(_check_part, 0, [], ObjectLimits())
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            self._reset(exc)

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.processes, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def _reset(self, exc: BaseException) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._failures += 1
            if self._failures >= MAX_FAILURES:
                self._closed = True
        if self._closed:
            _log.error(
                "the check pool failed %d times (%s); checking in the calling thread", self._failures, exc
            )
        else:
            _log.warning("the check pool failed (%s); it is started again on next use", exc)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the pool's processes (a later call checks in the calling thread)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _check_part(start: int, items: list[object], limits: ObjectLimits) -> list[Packed]:
    return [pack(check(start + i, obj, limits)) for i, obj in enumerate(items)]


# -- the results as plain tuples (cheap to pickle; a frozen dataclass pickles through Python code) ----------
def pack(c: Incoming | ObjectResult) -> Packed:
    if isinstance(c, ObjectResult):
        return (c.id, c.version, c.reason)
    e = c.index
    index = None
    if e is not None:
        s, j = e.sighting, e.conjunction
        index = (
            e.text,
            e.values,
            e.keys,
            e.links,
            None if s is None else (s.ref, s.count, s.first_seen_us, s.last_seen_us, s.seen_us),
            None
            if j is None
            else (j.norad_1, j.norad_2, j.tca_us, j.miss_km, j.rel_speed_km_s, j.pc, j.pc_method),
            e.revoked,
            e.valid_until_us,
        )
    return (
        c.id,
        c.type,
        c.spec_version,
        c.version,
        c.version_us,
        None if c.tlp is None else int(c.tlp),
        c.raw,
        c.recipients,
        c.markings,
        None if c.declares is None else int(c.declares),
        index,
        c.digest,
    )


def unpack(p: Packed) -> Incoming | ObjectResult:
    if len(p) == 3:
        oid, version, reason = p
        return ObjectResult(str(oid), str(version), Outcome.REFUSED, str(reason))
    oid, kind, spec, version, version_us, tlp, raw, recipients, markings, declares, index, digest = p
    entries = None
    if index is not None:
        text, values, keys, links, s, j, revoked, valid_until_us = index
        entries = Entries(
            text,
            values,
            keys,
            links,
            None if s is None else SightingFacts(*s),
            None if j is None else ConjunctionFacts(*j),
            revoked,
            valid_until_us,
        )
    return Incoming(
        oid,
        kind,
        spec,
        version,
        version_us,
        None if tlp is None else TLP(tlp),
        raw,
        recipients,
        markings,
        None if declares is None else TLP(declares),
        entries,
        digest,
    )
