"""Commits by other processes on one SQLite hub file, published to this process's
:class:`~kizuna.hub.changes.Changes`.

Writers in this process publish through the after-commit hook; this watcher covers the others (a separate
``kizuna hub sync --follow``, ``kizuna ingest``, a second server on the same file). It looks at ``PRAGMA
data_version`` (which changes when another connection commits) and, when it changed, reads the hub's last
``date_added`` and which collections received versions beyond the last one it saw, and publishes them.

It looks when Linux's inotify (where the platform has it) reports a write to the database or its WAL, and
every :data:`FALLBACK_POLL_S` besides: a commit becomes visible only after its last write to the WAL, so a
look woken by that write may come too early, and nothing else would wake it. A commit writes the WAL page by
page and inotify reports every write (a bulk write of 1,000 objects is hundreds of events), so after a woken
look the watcher rests :data:`REST_S` before it reads the next events: a busy writer costs it at most
``1 / REST_S`` looks a second, and another process's commit is published at most ``FALLBACK_POLL_S`` after
it became visible, ``REST_S`` in the common case.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import sqlite3
import struct
import threading
from pathlib import Path

from kizuna.hub.changes import Changes

FALLBACK_POLL_S = 0.25
#: Seconds the watcher rests after a wake before it reads the next events (see the module's docstring).
REST_S = 0.02

_IN_MODIFY = 0x002
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_Q_OVERFLOW = 0x4000
_EVENT = struct.Struct("iIII")


def _inotify(directory: Path) -> int | None:
    """An inotify descriptor watching ``directory`` for writes, or None where there is no inotify."""
    if not hasattr(os, "O_NONBLOCK"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        init = libc.inotify_init1
        add = libc.inotify_add_watch
    except (OSError, AttributeError):
        return None
    fd = int(init(os.O_NONBLOCK | os.O_CLOEXEC))
    if fd < 0:
        return None
    mask = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_TO | _IN_CREATE
    if int(add(fd, os.fsencode(directory), mask)) < 0:
        os.close(fd)
        return None
    return fd


class SQLiteWatcher:
    """A daemon thread that publishes other processes' commits; :meth:`close` stops it."""

    def __init__(self, path: Path, changes: Changes) -> None:
        self.path = path
        self.changes = changes
        self._names = {path.name.encode(), f"{path.name}-wal".encode()}
        self._stop_r, self._stop_w = os.pipe()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA query_only=ON")
        self._version = self._data_version()  # read before _seen: a commit between the two is looked at
        self._seen = self._last_added()
        self._fd = _inotify(path.parent)
        self._thread = threading.Thread(target=self._run, name="kizuna-watch", daemon=True)
        self._thread.start()

    @property
    def uses_inotify(self) -> bool:
        return self._fd is not None

    def _last_added(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='last_date_added'").fetchone()
        return int(row[0]) if row else 0

    def _check(self) -> None:
        last = self._last_added()
        if last <= self._seen:
            return
        marks = {
            int(key): int(top)
            for key, top in self._conn.execute(
                "SELECT collection_key, MAX(date_added) FROM objects WHERE date_added > ?"
                " GROUP BY collection_key",
                (self._seen,),
            )
        }
        self._seen = last
        self.changes.published(marks)

    def _relevant(self, data: bytes) -> bool:
        """Whether events ``data`` name the database or its WAL, or say events were lost. A commit is
        hundreds of events, so the common case is a search for either name (an event's name is followed by
        at least one NUL); only a read that has neither is walked event by event."""
        if any(name + b"\0" in data for name in self._names):
            return True
        offset = 0
        while offset + _EVENT.size <= len(data):
            _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0")
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW or name in self._names:
                return True
        return False

    def _run(self) -> None:
        try:
            watched = [self._stop_r] if self._fd is None else [self._fd, self._stop_r]
            while True:
                ready, _, _ = select.select(watched, [], [], FALLBACK_POLL_S)
                if self._stop_r in ready:
                    return
                if not ready:  # a quiet moment: a commit whose last write came before it was visible
                    self._look()
                    continue
                if self._drain_relevant():
                    self._look()
                    if select.select([self._stop_r], [], [], REST_S)[0]:
                        return
        except (sqlite3.Error, OSError):  # the database went away under us: stop watching
            return
        finally:
            self._conn.close()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _look(self) -> None:
        """Publish what was committed since the last look, if anything was (``data_version`` changes when
        another connection, this process's writer included, commits)."""
        now = self._data_version()
        if now != self._version:
            self._version = now
            self._check()

    def _drain_relevant(self) -> bool:
        """Read every pending event; whether any was about the database."""
        assert self._fd is not None
        relevant = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return relevant
            relevant = relevant or self._relevant(data)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._fd, self._stop_r, self._stop_w):
            if fd is not None:
                os.close(fd)
