"""A thread that does one job whenever it is poked (started on the first poke), so that a writer hands off
work no write needs to wait for (checkpointing the WAL: ``connection.py``; indexing a batch of versions for
reads: ``indexing.py``). Pokes while the job runs fold into one more run. The job should spend most of its
time outside the interpreter (in the database): a job in Python would only take turns with the writer for
the interpreter lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Background:
    def __init__(self, name: str, job: Callable[[], object]) -> None:
        self._name = name
        self._job = job
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def poke(self) -> None:
        if self._thread is None:
            with self._start:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._job()
            except Exception as exc:  # the job is tried again at the next poke (and done in line if need be)
                log.warning("%s: %s", self._name, exc)

    def close(self) -> None:
        """Stop the thread (after the run in progress, if any) and wait for it."""
        with self._start:
            self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
