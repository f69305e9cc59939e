"""``kizuna match export --watch``: keep Zeek intel files and Suricata datasets current from a hub collection.

The mechanism is that of ``kizuna match --follow`` (:mod:`kizuna.detect.follow`): the collection's
indicators are listed once through ``objects/``, then its change stream (``stream/``, read by
:class:`~kizuna.hub.stream_client.ObjectStream` in a thread) delivers every new version. One loop:

1. apply the versions that arrived to :class:`ExportSet` (per indicator id the version that counts, chosen
   by the rules of a one-shot export: :func:`~kizuna.detect.indicators.select_indicators` on each version);
2. when the set changed, or an indicator's ``valid_until`` has passed, render the export files; write
   those whose content differs from what is on disk, each atomically (:func:`write_atomically`: temporary
   file in the same folder, fsync, rename), never more than once per ``min_interval_s``;
3. every ``resync_s``, and each time the stream connects again after a failure, list the collection
   again: an object deleted at the hub sends no event, so the listing is what removes it.

While the hub is unreachable the files on disk stay as they were (the last good export) and the stream
reconnects with back-off; a listing that fails is retried. :meth:`ExportSet.reference` is the plain
reference: a one-shot selection over every version seen.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from kizuna.detect.exports import ExportReport, export_files, write_atomically
from kizuna.detect.indicators import Indicator, Selection, select_indicators
from kizuna.detect.live import stream_indicators
from kizuna.detect.pattern import parse_stix_timestamp
from kizuna.detect.warninglists import WarningLists
from kizuna.errors import KizunaError, RemoteError
from kizuna.hub.client import HubClient
from kizuna.stix.ids import parse_timestamp, to_us, utc_now

Report = Callable[[str], None]
#: Statuses of a first listing that no retry will cure: the token, the rights or the collection id is wrong.
FATAL_STATUSES = (400, 401, 403, 404)


@dataclass(frozen=True)
class WatchOptions:
    hub: str
    token: str
    collection: str
    fmt: str  # one of kizuna.detect.exports.EXPORT_FORMATS
    out_dir: Path
    min_interval_s: float = 5.0
    resync_s: float = 300.0
    include_listed: bool = False
    tick_s: float = 0.05  # the loop's sleep when nothing arrived


@dataclass(slots=True)
class _Entry:
    indicator: Indicator
    until: datetime | None


class ExportSet:
    """The indicators to export, by id, kept current version by version."""

    def __init__(self, warninglists: WarningLists | None, *, include_listed: bool = False) -> None:
        self.warninglists = warninglists
        self.include_listed = include_listed
        self._latest: dict[str, Mapping[str, Any]] = {}  # id -> the version that counts
        self._active: dict[str, _Entry] = {}  # id -> its indicator, when that version is exported
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return len(self._active)

    def apply(self, objects: Iterable[Mapping[str, Any]], now: datetime) -> int:
        """Take these versions (any order; non-indicators ignored); returns how many changed the set."""
        changed = 0
        for obj in objects:
            ident = obj.get("id")
            if obj.get("type") != "indicator" or not isinstance(ident, str):
                continue
            prev = self._latest.get(ident)
            if prev is not None and str(obj.get("modified", "")) < str(prev.get("modified", "")):
                continue  # older than the version that counts
            self._latest[ident] = obj
            self._active.pop(ident, None)
            changed += 1
            sel = self._select([obj], now)
            self.warnings.extend(sel.errors)
            for ind in sel.active:
                self._active[ind.id] = _Entry(ind, _until(ind.raw))
        return changed

    def replace(self, objects: Iterable[Mapping[str, Any]], now: datetime) -> None:
        """Start again from a full listing: what it lacks was deleted at the hub."""
        self._latest.clear()
        self._active.clear()
        self.apply(objects, now)

    def current(self, now: datetime) -> list[Indicator]:
        """The indicators to export at ``now``, in id order (files do not change with arrival order)."""
        return [e.indicator for _ident, e in sorted(self._active.items()) if e.until is None or e.until > now]

    def next_expiry(self, now: datetime) -> datetime | None:
        """The first ``valid_until`` after ``now`` among exported indicators (the files change then)."""
        later = [e.until for e in self._active.values() if e.until is not None and e.until > now]
        return min(later, default=None)

    def reference(self, now: datetime) -> Selection:
        """The plain reference: a one-shot run's selection over every version seen, at ``now``."""
        return self._select(list(self._latest.values()), now)

    def _select(self, objects: list[Mapping[str, Any]], now: datetime) -> Selection:
        return select_indicators(
            objects, now=now, warninglists=self.warninglists, include_listed=self.include_listed
        )


def _until(obj: Mapping[str, Any]) -> datetime | None:
    until = obj.get("valid_until")
    if not isinstance(until, str):
        return None
    try:
        return parse_stix_timestamp(until)
    except ValueError:
        return None


class ExportWatcher:
    """``kizuna match export --watch``; :meth:`run` until ``stop`` is set."""

    def __init__(self, options: WatchOptions, exports: ExportSet, *, report: Report) -> None:
        self.o = options
        self.exports = exports
        self.report = report
        self.rewrites = 0  # passes that wrote at least one file
        self._updates: queue.Queue[list[dict[str, Any]]] = queue.Queue()
        self._resync = threading.Event()  # the stream connected again after a failure
        self._stream_state = ""
        self._on_disk = self._read_existing()  # file name -> content this watcher knows is on disk
        self._last_write = float("-inf")  # monotonic time of the last rewrite
        self._rendered_at: datetime | None = None  # when the set was last rendered
        self._dirty = True
        self._listing_failing = ""

    def _read_existing(self) -> dict[str, bytes]:
        """Files of this format already in the folder (an earlier run's): a rewrite only when they differ."""
        existing: dict[str, bytes] = {}
        if not self.o.out_dir.is_dir():
            return existing
        names = ["kizuna.intel"] if self.o.fmt == "zeek-intel" else ["kizuna.rules"]
        if self.o.fmt != "zeek-intel":
            names += [p.name for p in self.o.out_dir.glob("kizuna-*.lst")]
        for name in names:
            try:
                existing[name] = (self.o.out_dir / name).read_bytes()
            except OSError:
                continue
        return existing

    # -- indicators ------------------------------------------------------------------------------------
    def list_collection(self, client: HubClient) -> int | None:
        """Every indicator the collection holds now (replacing what the set had); returns the stream's
        starting point (the last ``date_added`` listed)."""
        params = {"limit": "1000", "match[type]": "indicator"}
        objects: list[dict[str, Any]] = []
        last_us: int | None = None
        while True:
            envelope, headers = client.get_objects_page(self.o.collection, params)
            objects.extend(o for o in envelope.get("objects", []) if isinstance(o, dict))
            last = headers.get("X-TAXII-Date-Added-Last")
            if last:
                last_us = max(last_us or 0, to_us(parse_timestamp(last)))
            if not envelope.get("more") or not envelope.get("next"):
                break
            params["next"] = str(envelope["next"])
        self.exports.replace(objects, utc_now())
        self._dirty = True
        return last_us

    def _follow_stream(self, added_after_us: int | None, stop: threading.Event) -> None:
        def on_state(state: str, detail: str | None) -> None:
            if state == "connected" and self._stream_state == "error":
                self.report("indicator stream: connected again")
                self._resync.set()  # deletions while away send no event: list again
            elif state == "error" and self._stream_state != "error":
                self.report(f"warning: indicator stream: {detail}; keeping the files, reconnecting")
            self._stream_state = state

        try:
            stream_indicators(
                self.o.hub, self.o.token, self.o.collection, added_after_us, stop, on_state, self._updates.put
            )
        except KizunaError as exc:  # the hub has no stream: the periodic listing still follows it
            self.report(f"warning: indicator stream: {exc}; following by listing every {self.o.resync_s:g} s")

    def _apply_updates(self) -> None:
        objects: list[dict[str, Any]] = []
        while True:
            try:
                objects.extend(self._updates.get_nowait())
            except queue.Empty:
                break
        if objects and self.exports.apply(objects, utc_now()):
            self._dirty = True

    # -- files -----------------------------------------------------------------------------------------
    def render(self, now: datetime) -> tuple[dict[str, bytes], ExportReport]:
        return export_files(self.o.fmt, self.exports.current(now), keep=self._on_disk)

    def write_if_changed(self, now: datetime) -> bool:
        """Write the files whose content changed; whether any was written."""
        files, rep = self.render(now)
        changed = {name: data for name, data in files.items() if self._on_disk.get(name) != data}
        if not changed:
            return False
        self.o.out_dir.mkdir(exist_ok=True)  # one new folder at most: its parent was checked
        for name, data in changed.items():
            write_atomically(self.o.out_dir / name, data)
            self._on_disk[name] = data
        self.rewrites += 1
        self.report(f"wrote {', '.join(sorted(changed))}: {rep.exported} indicators as {rep.lines} entries")
        return True

    # -- the loop --------------------------------------------------------------------------------------
    def _first_listing(self, client: HubClient, stop: threading.Event) -> int | None:
        """The first listing, retried while the hub is unreachable; a refusal no retry cures is raised."""
        delay = 0.5
        while True:
            try:
                return self.list_collection(client)
            except RemoteError as exc:
                if exc.status in FATAL_STATUSES:
                    raise
                self.report(f"warning: {exc}; keeping the files as they are, retrying")
            if stop.wait(delay):
                return None
            delay = min(delay * 2, 5.0)

    def run(self, stop: threading.Event) -> None:
        with HubClient(self.o.hub, self.o.token) as client:
            after_us = self._first_listing(client, stop)
            if stop.is_set():
                return
            self.report(f"watching collection {self.o.collection}: {len(self.exports)} indicators to export")
            stream_stop = threading.Event()
            stream = threading.Thread(
                target=self._follow_stream, args=(after_us, stream_stop), name="indicator-stream", daemon=True
            )
            stream.start()
            next_resync = time.monotonic() + self.o.resync_s
            try:
                while not stop.is_set():
                    self._apply_updates()
                    mono = time.monotonic()
                    if self._resync.is_set() or mono >= next_resync:
                        self._resync.clear()
                        next_resync = self._relist(client, mono)
                    now = utc_now()
                    if self._rendered_at is not None:
                        expiry = self.exports.next_expiry(self._rendered_at)
                        if expiry is not None and expiry <= now:
                            self._dirty = True  # an indicator's valid_until has passed since
                    if self._dirty and mono - self._last_write >= self.o.min_interval_s:
                        self._dirty = False
                        self._rendered_at = now
                        if self.write_if_changed(now):
                            self._last_write = time.monotonic()  # the interval runs from the end of it
                    stop.wait(self.o.tick_s)
            finally:
                stream_stop.set()

    def _relist(self, client: HubClient, mono: float) -> float:
        """List the collection again; the monotonic time of the next listing."""
        try:
            self.list_collection(client)
        except RemoteError as exc:
            if not self._listing_failing:
                self.report(f"warning: {exc}; keeping the files as they are, retrying")
            self._listing_failing = str(exc)
            return mono + min(5.0, self.o.resync_s)
        if self._listing_failing:
            self.report("the hub answers again")
            self._listing_failing = ""
        return mono + self.o.resync_s
