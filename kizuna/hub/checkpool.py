"""Checking a large write's objects on more than one core.

Checking an object (:func:`kizuna.hub.intake.check`: STIX validation, the I-JSON limits, the canonical bytes,
what the read indexes will hold of it) depends on that object alone, so the objects of one large envelope
are checked in parts side by side: the calling thread checks the first part while the processes of a small
pool check the others. The parts are sized from the times of earlier writes so that they end together (a
helper's part also costs the pipe and the pickling both ways; the calling thread shares the interpreter
with the server's other threads). Everything else in a write (the trust decisions, the insert, the audit
record) stays in the one writer, in order. The result is exactly what :func:`~kizuna.hub.intake.check_all`
gives in one thread (``tests/hub/test_checkpool.py`` holds the two equal); a write too small to gain from
it, or any trouble with the pool (a worker killed: the pool is rebuilt), is checked in the calling thread.

The helper processes are started on first use (or by :meth:`CheckPool.start`) as new interpreters running
this module (``python -m kizuna.hub.checkpool``, never ``fork``: a server process has threads and open
database connections), each speaking over two pipes, and stopped by :meth:`CheckPool.close`. A helper
imports only what checking needs, and no other process comes with it (``multiprocessing``'s ``spawn``
re-imported the parent's whole main module in each helper and started a resource tracker process beside
them). A helper whose parent goes away sees its pipe end and exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kizuna.hub import collector
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

#: Bounds of the helpers' share of a write, and how far each timed write moves it towards the split it
#: would have had its parts end together.
MIN_SHARE, MAX_SHARE = 0.2, 0.8
LEARNING = 0.3

Packed = tuple[Any, ...]


class _Helper:
    """One helper process and the pipe to it: a part goes out, its packed results come back."""

    def __init__(self) -> None:
        parts_r, parts_w = os.pipe()  # parts go out: the helper's standard input
        results_r, results_w = os.pipe()  # results come back: its standard output
        env = dict(os.environ)  # the helper imports this kizuna, whatever its parent's sys.path held
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_SOURCE_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", __name__], stdin=parts_r, stdout=results_w, env=env, close_fds=True
            )
        except BaseException:
            os.close(parts_w)
            os.close(results_r)
            raise
        finally:
            os.close(parts_r)
            os.close(results_w)
        self._to = Connection(parts_w, readable=False)
        self._from = Connection(results_r, writable=False)

    def send(self, start: int, items: list[object], limits: ObjectLimits) -> None:
        self._to.send_bytes(pickle.dumps((start, items, limits), protocol=pickle.HIGHEST_PROTOCOL))

    def receive(self) -> tuple[float, list[Packed]]:
        """The packed results of the part sent, and the seconds the helper spent on them."""
        took, result = pickle.loads(self._from.recv_bytes())
        return float(took), result

    def close(self) -> None:
        self._to.close()  # the helper sees the end of its pipe and exits
        self._from.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


#: The directory that holds the ``kizuna`` package this module belongs to.
_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])


def _serve(parts: Connection, results: Connection) -> None:
    """A helper process: check each part it is sent, until its pipe closes."""
    while True:
        try:
            message = parts.recv_bytes()
        except (EOFError, OSError):
            return
        began = time.perf_counter()
        start, items, limits = pickle.loads(message)
        packed = _check_part(start, items, limits)
        took = time.perf_counter() - began
        try:
            results.send_bytes(pickle.dumps((took, packed), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # the parent went away
            return


def _helper_main() -> None:
    """``python -m kizuna.hub.checkpool``: a helper over its standard input and output (output moved to a
    descriptor of its own first, so that nothing printed by accident mixes with the results). Ctrl-C in a
    terminal reaches the whole process group: the helper leaves it to its parent, which closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collector.settle()
    results = os.dup(1)
    os.dup2(2, 1)
    _serve(Connection(0, writable=False), Connection(results, readable=False))


class CheckPool:
    """Checks the objects of large writes with ``processes`` helper processes beside the calling thread
    (``processes`` 0: always in the calling thread). Call it as :func:`~kizuna.hub.intake.check_all`.

    The parts go to the helpers over pipes from the calling thread itself (no executor threads waiting
    for the interpreter lock while the calling thread checks its own part). One write uses the helpers at
    a time; a write that finds them busy checks its objects in its own thread."""

    def __init__(self, processes: int, *, min_items: int = MIN_ITEMS) -> None:
        self.processes = max(0, processes)
        self.min_items = max(2, min_items)
        self._helpers: list[_Helper] = []
        self._busy = threading.Lock()
        self._closed = False
        self._failures = 0
        #: The fraction of a large write's objects the helpers check (see :meth:`_learn`).
        self.share = self.processes / (self.processes + 1) if self.processes else 0.0

    def __call__(self, items: Sequence[object], limits: ObjectLimits) -> list[Incoming | ObjectResult]:
        n = len(items)
        if self.processes == 0 or n < self.min_items or self._closed:
            return check_all(items, limits)
        if not self._busy.acquire(blocking=False):
            return check_all(items, limits)
        try:
            return self._check(items, limits)
        finally:
            self._busy.release()

    def _check(self, items: Sequence[object], limits: ObjectLimits) -> list[Incoming | ObjectResult]:
        n = len(items)
        helpers = self._ready()
        bounds = self._bounds(n, len(helpers))
        sent: list[_Helper | None] = []
        for helper, (start, end) in zip(helpers, bounds[1:], strict=False):
            try:
                helper.send(start, list(items[start:end]), limits)
                sent.append(helper)
            except (OSError, ValueError, pickle.PicklingError) as exc:
                self._fail(helper, exc)
                sent.append(None)
        start, end = bounds[0]
        own_from = time.perf_counter()
        out: list[Incoming | ObjectResult] = [check(i, items[i], limits) for i in range(start, end)]
        own_s = time.perf_counter() - own_from
        helpers_s: list[float] = []
        for k, (start, end) in enumerate(bounds[1:]):
            sent_to = sent[k] if k < len(sent) else None
            if sent_to is not None:
                try:
                    took, packed = sent_to.receive()
                    out.extend(unpack(p) for p in packed)
                    helpers_s.append(took)
                    continue
                except (EOFError, OSError, pickle.UnpicklingError) as exc:  # it died: check the part here
                    self._fail(sent_to, exc)
            out.extend(check(i, items[i], limits) for i in range(start, end))
        if helpers_s and len(helpers_s) == len(bounds) - 1:
            self._learn(bounds, own_s, max(helpers_s))
        return out

    def _bounds(self, n: int, helpers: int) -> list[tuple[int, int]]:
        """The calling thread's part first, then one part for each helper: the helpers' share of the
        objects is :attr:`share` (all parts equal when no write has been timed yet)."""
        if helpers == 0:
            return [(0, n)]
        own = min(n, max(1, round(n * (1 - self.share))))
        size = -(-(n - own) // helpers)
        bounds = [(0, own)]
        for k in range(helpers):
            start = own + k * size
            if start < n:
                bounds.append((start, min(n, start + size)))
        return bounds

    def _learn(self, bounds: list[tuple[int, int]], own_s: float, helped_s: float) -> None:
        """Move :attr:`share` towards the split at which this write's parts would have ended together, from
        the seconds the calling thread spent on its part and the longest a helper spent on its own (as the
        helper timed it: unpickling and packing included). A helper's object costs more than a check, and
        the calling thread shares its interpreter with the server's other threads, so neither side is a
        fixed fraction faster than the other."""
        own_n = bounds[0][1] - bounds[0][0]
        helped_n = max(end - start for start, end in bounds[1:])
        if own_n == 0 or helped_n == 0 or own_s <= 0 or helped_s <= 0:
            return
        own_rate, helper_rate = own_s / own_n, helped_s / helped_n  # seconds an object
        helpers = len(bounds) - 1
        ideal = own_rate / (own_rate + helper_rate / helpers)
        self.share = min(MAX_SHARE, max(MIN_SHARE, self.share + LEARNING * (ideal - self.share)))

    def start(self) -> None:
        """Start the helper processes now, in the background (a server's start-up: its first large write
        then finds them ready instead of waiting for their imports)."""
        if self.processes and not self._closed:
            with self._busy:
                self._ready()

    def _ready(self) -> list[_Helper]:
        while len(self._helpers) < self.processes and not self._closed:
            try:
                self._helpers.append(_Helper())
            except OSError as exc:
                self._fail(None, exc)
        return list(self._helpers)

    def _fail(self, helper: _Helper | None, exc: BaseException) -> None:
        if helper is not None and helper in self._helpers:
            self._helpers.remove(helper)
            helper.close()
        self._failures += 1
        if self._failures >= MAX_FAILURES:
            self._closed = True
            _log.error(
                "the check helpers failed %d times (%s); checking in the calling thread", self._failures, exc
            )
        else:
            _log.warning("a check helper failed (%s); another is started on next use", exc)

    def close(self) -> None:
        """Stop the helper processes (a later call checks in the calling thread)."""
        self._closed = True
        with self._busy:
            helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.close()


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


_LEVEL = {int(level): level for level in TLP}  # a dict lookup, not an Enum call, for each object


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
        None if tlp is None else _LEVEL[tlp],
        raw,
        recipients,
        markings,
        None if declares is None else _LEVEL[declares],
        entries,
        digest,
    )


if __name__ == "__main__":
    _helper_main()
