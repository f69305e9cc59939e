"""``kizuna match --follow``: match growing logs against a hub collection's indicators as both change.

One loop in one process (the log path's decoder and the one matcher of :mod:`kizuna.detect.pipeline`):

1. take the indicator versions the collection's change stream delivered (a thread reads the stream; the
   loop applies them to :class:`~kizuna.detect.live.LiveIndicators` between two reads, so a new version
   matches from the next event and matching never pauses);
2. read the new whole lines of every log (:class:`~kizuna.detect.tail.LogTail`: rotation by rename and
   copy-truncate), decode and match them, and count each hit into the open *window*: per indicator a
   count, the first and last time seen and the observables of the first event;
3. every ``flush_s`` close the window: its sightings get ids derived from this follower's id, the
   window's number and the indicator (UUIDv5), and go into the **state file** together with every log's
   position, in one atomic write (temporary file, fsync, rename; mode 0600). Then the unsent windows are
   posted, oldest first, and removed from the state file once the hub has them.

So after a kill -9 at any moment the restart resumes at the positions of the last window written: the
events after it were in no written window and are read again, the events before it are in exactly one
window, and a window posted before the crash but not yet marked sent is posted again with the same ids,
which the hub takes as a duplicate, not a second sighting. While the hub is unreachable windows wait in
the state file; they go, in order, once it answers.

Patterns across observations (``AND`` / ``FOLLOWEDBY`` between brackets) are decided over the events of
one window: each window starts with no remembered events, so a restart changes nothing there either.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kizuna.detect.exports import write_atomically
from kizuna.detect.live import LiveIndicators, stream_indicators
from kizuna.detect.matcher import Event, Hit
from kizuna.detect.pipeline import Chunk, ChunkState, Decoder, advance
from kizuna.detect.readers import _ZeekHeader
from kizuna.detect.sightings import identity_for, stix_objects_of
from kizuna.detect.tail import STDIN, LogTail, Position
from kizuna.errors import InputError, KizunaError, RemoteError
from kizuna.hub.client import HubClient
from kizuna.stix.ids import format_timestamp, name_uuid, parse_timestamp, to_us, utc_now
from kizuna.stix.markings import TLP2_IDS

#: Namespace of the ids of the sightings a follower posts (with its own id, the window and the indicator).
SIGHTING_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://kizuna.invalid/match-follow")
STATE_VERSION = 1
Report = Callable[[str], None]


@dataclass(frozen=True)
class FollowOptions:
    hub: str
    token: str
    collection: str  # indicators come from here
    report_to: str  # sightings go here
    org: str
    files: Sequence[str]
    state_path: Path
    fmt: str = "auto"
    flush_s: float = 5.0
    from_end: bool = False
    include_listed: bool = False
    idle_s: float = 0.05  # the loop's sleep when no log grew
    exit_at_eof: bool = False  # stop once standard input ends (a pipe that closes)


# -- the state file --------------------------------------------------------------------------------------
@dataclass
class _Seen:
    """One indicator's hits in the open window."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    sample: list[Event] = field(default_factory=list)


@dataclass
class FollowState:
    """What must survive a restart: log positions and decoder states, unsent windows, the window count."""

    follower: str
    hub: str
    collection: str
    window: int = 0
    positions: dict[str, Position] = field(default_factory=dict)
    chunk_states: dict[str, ChunkState] = field(default_factory=dict)
    unsent: list[dict[str, Any]] = field(default_factory=list)  # {"window": n, "objects": [...]}

    def logs_json(self) -> dict[str, Any]:
        """The logs' positions and decoder states as the file holds them (a snapshot: new objects)."""
        return {
            path: {"position": pos.to_json(), "decoder": _state_json(self.chunk_states.get(path))}
            for path, pos in self.positions.items()
        }

    def to_json(self, logs: dict[str, Any] | None = None) -> bytes:
        """The file's bytes; ``logs`` is a snapshot taken earlier (:meth:`logs_json`), else the current."""
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "follower": self.follower,
                "hub": self.hub,
                "collection": self.collection,
                "window": self.window,
                "logs": self.logs_json() if logs is None else logs,
                "unsent": self.unsent,
            }
        )

    @classmethod
    def load(cls, path: Path, hub: str, collection: str) -> FollowState:
        """The state at ``path`` (a new one when there is no file). InputError when it cannot be used."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(str(uuid.uuid4()), hub, collection)
        except OSError as exc:
            raise InputError(f"cannot read state file: {exc.strerror}", path=str(path)) from None
        try:
            doc = orjson.loads(data)
            if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
                raise ValueError("not a kizuna match --follow state file")
            state = cls(str(doc["follower"]), str(doc["hub"]), str(doc["collection"]), int(doc["window"]))
            for log, entry in dict(doc["logs"]).items():
                state.positions[log] = Position.from_json(entry["position"])
                state.chunk_states[log] = _state_from_json(entry["decoder"])
            state.unsent = [dict(u) for u in doc["unsent"]]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise InputError(f"not a usable state file ({exc})", path=str(path)) from None
        if (state.hub, state.collection) != (hub, collection):
            raise InputError(
                f"the state file follows collection {state.collection} at {state.hub}; give another"
                " --state file for this hub and collection",
                path=str(path),
            )
        return state

    def save(self, path: Path, logs: dict[str, Any] | None = None) -> None:
        """Write atomically (temporary file in the same folder, fsync, rename), readable by the owner only."""
        write_atomically(path, self.to_json(logs), mode=0o600)


def _state_json(state: ChunkState | None) -> dict[str, Any] | None:
    if state is None:
        return None
    h = state.header
    return {
        "detected": state.detected,
        "header": {
            "separator": h.separator,
            "set_separator": h.set_separator,
            "empty": h.empty,
            "unset": h.unset,
            "fields": h.fields,
            "types": h.types,
        },
    }


def _state_from_json(data: Any) -> ChunkState:
    if data is None:
        return ChunkState()
    h = data["header"]
    header = _ZeekHeader(
        str(h["separator"]),
        str(h["set_separator"]),
        str(h["empty"]),
        str(h["unset"]),
        [str(f) for f in h["fields"]],
        [str(t) for t in h["types"]],
    )
    detected = data["detected"]
    return ChunkState(header, None if detected is None else str(detected))


# -- sightings of one window -------------------------------------------------------------------------------
def window_objects(
    follower: str,
    window: int,
    seen: Mapping[str, _Seen],
    tlps: Mapping[str, Any],
    identity: Mapping[str, Any],
    now: datetime,
) -> list[dict[str, Any]]:
    """The objects to post for one closed window: the sighter's identity, then per indicator its SCOs,
    observed-data and sighting, every id but the SCOs' (content-derived) made from the follower's id,
    the window number and the indicator's id."""
    stamp = format_timestamp(now)
    objects: list[dict[str, Any]] = [dict(identity)]
    scos_seen: set[str] = set()
    for ind_id, s in seen.items():
        assert s.first is not None and s.last is not None
        tlp = tlps.get(ind_id)
        markings = [TLP2_IDS[tlp]] if tlp is not None else []
        name = f"{follower}/{window}/{ind_id}"
        scos = [o for e in s.sample for o in stix_objects_of(e, markings)]
        count = min(s.count, 999_999_999)
        first, last = format_timestamp(s.first), format_timestamp(s.last)
        observed: dict[str, Any] = {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": f"observed-data--{name_uuid(SIGHTING_NAMESPACE, 'observed/' + name)}",
            "created": stamp,
            "modified": stamp,
            "created_by_ref": identity["id"],
            "first_observed": first,
            "last_observed": last,
            "number_observed": count,
            "object_refs": list(dict.fromkeys(o["id"] for o in scos)),
        }
        sighting: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{name_uuid(SIGHTING_NAMESPACE, 'sighting/' + name)}",
            "created": stamp,
            "modified": stamp,
            "created_by_ref": identity["id"],
            "sighting_of_ref": ind_id,
            "count": count,
            "first_seen": first,
            "last_seen": last,
            "where_sighted_refs": [identity["id"]],
            "observed_data_refs": [observed["id"]],
            "description": f"kizuna match --follow: {count} match(es) in window {window}",
        }
        if markings:
            observed["object_marking_refs"] = markings
            sighting["object_marking_refs"] = markings
        for o in scos:
            if o["id"] not in scos_seen:
                scos_seen.add(o["id"])
                objects.append(o)
        objects.extend([observed, sighting])
    return objects


# -- the follower --------------------------------------------------------------------------------------------
class Follower:
    """``kizuna match --follow``; :meth:`run` until ``stop`` is set (then the open window is flushed)."""

    def __init__(
        self,
        options: FollowOptions,
        live: LiveIndicators,
        *,
        report: Report,
        on_hit: Callable[[Hit, str], None] | None = None,
    ) -> None:
        self.o = options
        self.live = live
        self.report = report
        self.on_hit = on_hit
        self.state = FollowState.load(options.state_path, options.hub, options.collection)
        self.identity = identity_for(options.org)
        self.tails = [
            LogTail(f, None if f == STDIN else self.state.positions.get(f), from_end=options.from_end)
            for f in options.files
        ]
        for t in self.tails:
            self.state.chunk_states.setdefault(t.path, ChunkState(detected=_initial(options.fmt)))
        self.seen: dict[str, _Seen] = {}
        self._updates: queue.Queue[list[dict[str, Any]]] = queue.Queue()
        self._stream_state = ""
        self._post_failing = ""
        self.events = 0
        self.records = 0
        self.hits = 0
        self.posted_windows = 0
        #: Sightings are posted by a thread of their own (:meth:`_post_loop`), so reading and matching
        #: never wait for the hub. The lock guards the unsent windows and the state file; the file's log
        #: positions are always those of the last flush (``_flushed``), so it never claims lines whose hits
        #: are in no window yet.
        self._lock = threading.Lock()
        self._flushed = self.state.logs_json()
        self._wake = threading.Event()

    # -- indicators ------------------------------------------------------------------------------------
    def load_indicators(self, client: HubClient) -> int | None:
        """Every indicator version the collection holds now; returns the stream's starting point."""
        params = {"limit": "1000", "match[type]": "indicator"}
        last_us: int | None = None
        while True:
            envelope, headers = client.get_objects_page(self.o.collection, params)
            objects = [o for o in envelope.get("objects", []) if isinstance(o, dict)]
            self.live.apply(objects, utc_now())
            last = headers.get("X-TAXII-Date-Added-Last")
            if last:
                last_us = max(last_us or 0, to_us(parse_timestamp(last)))
            if not envelope.get("more") or not envelope.get("next"):
                return last_us
            params["next"] = str(envelope["next"])

    def _follow_stream(self, added_after_us: int | None, stop: threading.Event) -> None:
        def on_state(state: str, detail: str | None) -> None:
            if state != self._stream_state or state == "error":
                if state == "connected" and self._stream_state == "error":
                    self.report("indicator stream: connected again")
                elif state == "error" and self._stream_state != "error":
                    self.report(f"warning: indicator stream: {detail}; reconnecting")
            self._stream_state = state

        try:
            stream_indicators(
                self.o.hub, self.o.token, self.o.collection, added_after_us, stop, on_state, self._updates.put
            )
        except KizunaError as exc:  # the hub has no stream: keep matching what we have
            self.report(f"warning: indicator stream: {exc}; indicators no longer follow the hub")

    def _apply_updates(self) -> None:
        objects: list[dict[str, Any]] = []
        while True:
            try:
                objects.extend(self._updates.get_nowait())
            except queue.Empty:
                break
        if objects:
            self.live.apply(objects, utc_now())

    # -- logs ----------------------------------------------------------------------------------------------
    def _read_logs(self) -> bool:
        """One read of every log; whether any had new lines."""
        grew = False
        for tail in self.tails:
            lines = tail.read()
            if lines is None:
                continue
            grew = True
            path = tail.path
            if lines.restart:
                self.state.chunk_states[path] = ChunkState(detected=_initial(self.o.fmt))
            chunk_state = self.state.chunk_states[path]
            source = "<stdin>" if path == STDIN else path
            chunk = Chunk(source, self.o.fmt, chunk_state, lines.first_line == 0, data=lines.data)
            result = Decoder(self.live.matcher, self.live.prefilter).run(chunk)
            if result.error is not None:
                raise InputError(result.error)
            self.state.chunk_states[path] = advance(chunk_state, lines.data, 0, len(lines.data), self.o.fmt)
            for line, message in result.warnings[:20]:
                self.report(f"warning: {source}:{lines.first_line + line}: {message}")
            self.records += result.records
            self.events += result.events
            now = utc_now()
            for event, leaves in result.hits:
                event.line += lines.first_line
                for hit in self.live.matcher.feed_leaves(event, leaves):
                    self._count(hit, now)
            if tail.resumable:
                self.state.positions[path] = tail.position
        return grew

    def _count(self, hit: Hit, now: datetime) -> None:
        ind = self.live.current(hit.key, now)
        if ind is None:
            return  # a retired version, or past its valid_until
        self.hits += 1
        s = self.seen.get(ind.id)
        if s is None:
            s = self.seen[ind.id] = _Seen(sample=list(hit.events))
        s.count += 1
        for e in hit.events:
            if s.first is None or e.time < s.first:
                s.first = e.time
            if s.last is None or (e.last or e.time) > s.last:
                s.last = e.last or e.time
        if self.on_hit is not None:
            self.on_hit(hit, ind.id)

    # -- windows -------------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Close the window (with the patterns across observations decided over it), write the state."""
        now = utc_now()
        for hit in self.live.matcher.finish():
            self._count(hit, now)
        self.live.matcher.forget_observations()
        if self.seen:
            self.state.window += 1
            tlps = {i: self.live.tlp_of(i) for i in self.seen}
            objects = window_objects(
                self.state.follower, self.state.window, self.seen, tlps, self.identity, now
            )
            with self._lock:
                self.state.unsent.append({"window": self.state.window, "objects": objects})
            self.seen = {}
        with self._lock:
            self._flushed = self.state.logs_json()
            self.state.save(self.o.state_path, self._flushed)

    def post(self, client: HubClient) -> None:
        """Post the unsent windows, oldest first; stop at the first failure (they wait in the state file)."""
        while True:
            with self._lock:
                if not self.state.unsent:
                    return
                window = self.state.unsent[0]
            try:
                status = client.add_objects(self.o.report_to, window["objects"], poll_interval_s=0.02)
            except RemoteError as exc:
                if not self._post_failing:
                    self.report(f"warning: sightings wait in {self.o.state_path}: {exc}")
                self._post_failing = str(exc)
                return
            if self._post_failing:
                self.report("the hub answers again: sending the sightings that waited")
                self._post_failing = ""
            for failure in status.get("failures") or []:
                self.report(f"warning: hub refused {failure.get('id')}: {failure.get('message')}")
            with self._lock:
                self.state.unsent.pop(0)  # only this thread takes windows out: it is still the first
                self.posted_windows += 1
                self.state.save(self.o.state_path, self._flushed)

    def _post_loop(self, stop: threading.Event) -> None:
        """Post the windows as :meth:`flush` closes them, until ``stop``."""
        with HubClient(self.o.hub, self.o.token) as client:
            while not stop.is_set():
                self._wake.wait(1.0)
                self._wake.clear()
                if not stop.is_set():
                    self.post(client)

    def run(self, stop: threading.Event) -> None:
        with HubClient(self.o.hub, self.o.token) as client:
            after_us = self.load_indicators(client)
            flagged = f" ({self.live.flagged} on warning lists not alerted)" if self.live.flagged else ""
            self.report(f"following {len(self.tails)} log(s) with {len(self.live)} indicators{flagged}")
            stream_stop = threading.Event()
            stream = threading.Thread(
                target=self._follow_stream, args=(after_us, stream_stop), name="indicator-stream", daemon=True
            )
            stream.start()
            poster_stop = threading.Event()
            poster = threading.Thread(
                target=self._post_loop, args=(poster_stop,), name="sightings", daemon=True
            )
            try:
                self.post(client)  # windows left from the last run
                poster.start()
                next_flush = time.monotonic() + self.o.flush_s
                while not stop.is_set():
                    self._apply_updates()
                    grew = self._read_logs()
                    if time.monotonic() >= next_flush:
                        self.flush()
                        self._wake.set()
                        next_flush = time.monotonic() + self.o.flush_s
                    if self.o.exit_at_eof and not grew and all(t.at_eof_stdin for t in self.tails):
                        break
                    if not grew:
                        stop.wait(self.o.idle_s)
                poster_stop.set()
                self._wake.set()
                poster.join()
                self._apply_updates()
                self._read_logs()
                self.flush()
                self.post(client)
            finally:
                poster_stop.set()
                self._wake.set()
                stream_stop.set()
                for t in self.tails:
                    t.close()


def _initial(fmt: str) -> str | None:
    return None if fmt == "auto" else fmt
