"""Following a hub collection's change stream: what ``kizuna hub sync --follow`` uses to stay current with
a kizuna partner, and what a sensor-side follower (``kizuna match --follow``) uses to keep its indicators
current.

Three layers, each usable alone:

* :class:`EventParser`: server-sent events (WHATWG HTML, section 9.2.6 "Interpreting an event stream"),
  fed text as it arrives, in chunks of any size; it returns each dispatched :class:`ServerSentEvent` and
  each comment (the hub's heartbeats) as a :class:`Comment`.
* :func:`object_event`: the hub's ``object`` event as an :class:`ObjectEvent` (the object as stored, its
  ``date_added`` at the hub, the cursor to resume after it, and for another hub's account the claims a
  pull's envelope carries).
* :class:`ObjectStream`: one collection's stream, delivered as :class:`Batch` es (the hub marks the end of
  each page it sends with a ``page`` event); when the connection drops, or nothing (not even a heartbeat)
  arrives for ``read_timeout_s``, it reconnects with back-off (``backoff_s`` doubling up to
  ``max_backoff_s``, with jitter) and resumes with ``Last-Event-ID``, so it misses and repeats nothing.

Example: print every new indicator of a collection, from now on::

    from kizuna.hub.client import HubClient
    from kizuna.hub.stream_client import ObjectStream

    with HubClient("http://127.0.0.1:8000/api/", token) as hub:
        stream = ObjectStream(hub, collection_id, types=("indicator",), added_after_us=now_us)
        for batch in stream.batches(stop):  # stop: a threading.Event
            for event in batch.events if batch else ():
                print(event.object["pattern"])

``batches`` yields ``None`` at every heartbeat and after each reconnection attempt, so a caller can check
its own timers and ``stop`` while nothing arrives. A follower that must survive a restart stores its
position itself (the last :attr:`ObjectEvent.date_added_us` it committed) and passes it back as
``added_after_us``; within one run :attr:`ObjectStream.last_event_id` is what a reconnection resumes from.

>>> parser = EventParser()
>>> parser.feed("id: 7\\ndata: {\\"a\\":\\n: heartbeat\\n")
[Comment(text='heartbeat')]
>>> parser.feed("data: 1}\\r\\n\\r\\n")
[ServerSentEvent(event='message', data='{"a":\\n1}', id='7')]
"""

from __future__ import annotations

import codecs
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from kizuna.errors import RemoteError
from kizuna.hub.client import HubClient
from kizuna.stix.ids import format_us, parse_timestamp, to_us


# -- server-sent events ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str = ""  # the last event id in force when it was dispatched (it persists across events)


@dataclass(frozen=True, slots=True)
class Comment:
    text: str


class EventParser:
    """Incremental parser of a ``text/event-stream`` (WHATWG HTML 9.2.6). ``retry_ms`` holds the last
    reconnection time the server asked for (None: none)."""

    def __init__(self) -> None:
        self._rest = ""
        self._skip_lf = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self.retry_ms: int | None = None

    def feed(self, text: str) -> list[ServerSentEvent | Comment]:
        if not text:
            return []  # an empty chunk changes nothing (a CR before it may still pair with an LF after)
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        buf = self._rest + text
        out: list[ServerSentEvent | Comment] = []
        start = 0
        n = len(buf)
        i = 0
        while i < n:
            ch = buf[i]
            if ch == "\n" or ch == "\r":
                self._line(buf[start:i], out)
                if ch == "\r":
                    if i + 1 < n:
                        if buf[i + 1] == "\n":
                            i += 1
                    else:
                        self._skip_lf = True  # a CRLF may be split across chunks
                start = i + 1
            i += 1
        self._rest = buf[start:]
        return out

    def _line(self, line: str, out: list[ServerSentEvent | Comment]) -> None:
        if not line:
            if self._data:
                out.append(ServerSentEvent(self._event or "message", "\n".join(self._data), self._last_id))
            self._data = []
            self._event = ""
            return
        if line.startswith(":"):
            out.append(Comment(line[1:].removeprefix(" ")))
            return
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)


# -- the hub's events -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object version from a hub's stream."""

    cursor: str  # the event id: resume after this version with Last-Event-ID or ?after=
    date_added_us: int  # when the hub stored it (its keyset position)
    object: dict[str, Any]  # the object as the hub stores it
    claim: dict[str, Any] | None = None  # for another hub's account: TLP enforced, origin hub, hops


@dataclass(frozen=True, slots=True)
class Batch:
    """The object events of one page the hub sent; ``more``: the hub had more to send at once."""

    events: list[ObjectEvent] = field(default_factory=list)
    more: bool = False

    @property
    def last_date_added_us(self) -> int | None:
        return self.events[-1].date_added_us if self.events else None

    def envelope(self) -> dict[str, Any]:
        """The batch as a TAXII envelope with a pull's claims (``x_kizuna_objects``), for the intake."""
        claims = [e.claim for e in self.events if e.claim is not None]
        body: dict[str, Any] = {"objects": [e.object for e in self.events]}
        if claims:
            body["x_kizuna_objects"] = claims
        return body


def object_event(sse: ServerSentEvent) -> ObjectEvent:
    """The :class:`ObjectEvent` of a hub's ``object`` event; RemoteError when it is not one."""
    try:
        body = orjson.loads(sse.data)
        obj = body["object"]
        date_added_us = to_us(parse_timestamp(body["date_added"]))
        claim = body.get("x_kizuna_object")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise RemoteError("the hub sent an object event that is not one") from None
    if not isinstance(obj, dict) or (claim is not None and not isinstance(claim, dict)):
        raise RemoteError("the hub sent an object event that is not one")
    return ObjectEvent(sse.id, date_added_us, obj, claim)


#: Statuses that say the partner has no change stream (not kizuna, or an older one): poll it instead.
NO_STREAM = (404, 405, 406, 501)


class NoStream(RemoteError):
    """The partner has no change stream at this collection (it answered one of :data:`NO_STREAM`)."""


class ObjectStream:
    """One collection's change stream, resumed and reconnected (see the module's docstring).

    ``on_state(state, detail)`` is told ``"connected"`` (detail None) each time a stream opens and
    ``"error"`` with the reason each time it fails before a reconnection attempt.
    """

    def __init__(
        self,
        hub: HubClient,
        collection_id: str,
        *,
        added_after_us: int | None = None,
        after: str | None = None,
        types: Sequence[str] = (),
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        read_timeout_s: float = 45.0,
        on_state: Callable[[str, str | None], None] | None = None,
    ) -> None:
        self.hub = hub
        self.collection_id = collection_id
        self.added_after_us = added_after_us
        self.last_event_id = after
        self.types = tuple(types)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.read_timeout_s = read_timeout_s
        self.on_state = on_state
        self.reconnections = 0

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.added_after_us is not None and not self.last_event_id:
            params["added_after"] = format_us(self.added_after_us)
        if self.types:
            params["match[type]"] = ",".join(self.types)
        return params

    def batches(self, stop: threading.Event) -> Iterator[Batch | None]:
        """Batches as the hub sends them, until ``stop`` is set; ``None`` at heartbeats and between
        reconnection attempts. Raises :class:`NoStream` when the hub has no stream for this collection."""
        failures = 0
        while not stop.is_set():
            self._opened = False
            try:
                yield from self._connection(stop)
                continue  # the hub ended the stream cleanly (it is stopping): reconnect at once
            except RemoteError as exc:
                if exc.status in NO_STREAM:
                    raise NoStream(str(exc), status=exc.status) from None
                if self.on_state is not None:
                    self.on_state("error", str(exc))
            if self._opened:
                failures = 0  # it had been up: start the back-off again
            delay = min(self.max_backoff_s, self.backoff_s * 2**failures) * random.uniform(0.8, 1.2)
            failures += 1
            self.reconnections += 1
            yield None
            stop.wait(delay)

    _opened = False

    def _connection(self, stop: threading.Event) -> Iterator[Batch | None]:
        with self.hub.open_stream(
            self.collection_id,
            params=self._params(),
            last_event_id=self.last_event_id,
            read_timeout_s=self.read_timeout_s,
        ) as response:
            self._opened = True
            if self.on_state is not None:
                self.on_state("connected", None)
            parser = EventParser()
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            pending: list[ObjectEvent] = []
            for chunk in response.iter_bytes():
                for item in parser.feed(decoder.decode(chunk)):
                    if isinstance(item, Comment):
                        yield None
                    elif item.event == "object":
                        pending.append(object_event(item))
                    elif item.event == "page":
                        more = _more(item.data)
                        batch = Batch(pending, more)
                        pending = []
                        if batch.events:
                            yield batch
                            # only once the caller has taken the batch does a reconnection resume past it
                            self.last_event_id = batch.events[-1].cursor
                if stop.is_set():
                    return


def _more(data: str) -> bool:
    try:
        return bool(orjson.loads(data).get("more"))
    except (orjson.JSONDecodeError, AttributeError):
        raise RemoteError("the hub sent a page event that is not one") from None
