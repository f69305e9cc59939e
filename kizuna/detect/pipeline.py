"""The log path of ``kizuna match``: reading, decoding and matching, split across processes.

Three seams, each small enough to replace on its own:

* **Reader** (this process): cuts logs into :class:`Chunk` s - whole lines, in order - and knows the
  state a chunk starts in (:class:`ChunkState`: the Zeek ``#`` header in force, the JSON format detected
  so far). :func:`plan_file` does it for a finished file (byte ranges that the workers read themselves);
  a follower of a growing file makes chunks of the bytes it read (``Chunk.data``) and carries the state
  on with :func:`advance`, so ``--follow`` reuses everything below.
* **Decoder + matcher** (any process): :meth:`Decoder.run` turns one chunk into a :class:`ChunkResult`:
  counts, the warnings for malformed records, and the events that hold a bracket of some indicator with
  those brackets' leaf ids. It decodes with orjson and the per-format probes of
  :mod:`kizuna.detect.decoders`, so only records the prefilter admits are mapped to observables and
  matched (with the plain mapper and the compiled index: a copy of the matcher, read only).
* **Collector** (this process, in log order): :func:`collect` feeds the events to the one
  :class:`~kizuna.detect.matcher.Matcher` with :meth:`~kizuna.detect.matcher.Matcher.feed_leaves`, which
  keeps the state of patterns across observations - so hits, their order, compound patterns, sightings and
  ``--report`` are exactly those of one process reading the logs with the plain reader.

:class:`Workers` runs the decoder over chunks in forked processes (each inherits the compiled matcher;
nothing is pickled but chunks and results) and yields the results in chunk order. Line numbers in a
result count from the chunk's first line; the collector adds the lines of earlier chunks of the same log
(``Chunk.first`` starts a log again, as after a rotation).

A follower would use the same parts: for each batch of new complete lines ``data`` of a log,
``chunk = Chunk(source, fmt, state, first, data=data)``, ``state = advance(state, data, 0, len(data), fmt)``
and ``futures.append(workers.submit(chunk))``, then hand the chunks and the futures' results, in order, to
:func:`collect`. Changing the indicator set means a new decoder (new workers), and new chunks after it.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from mmap import ACCESS_READ, mmap
from pathlib import Path
from typing import Any, TypeVar

import orjson

from kizuna.detect import linescreen
from kizuna.detect.decoders import PROBES, ZEEK_FIELDS, Prefilter, probe_cef, probe_zeek
from kizuna.detect.matcher import Event, Hit, Matcher
from kizuna.detect.readers import (
    _JSON_MAPPERS,
    ReadStats,
    _is_whole_json,
    _Malformed,
    _zeek_header_line,
    _zeek_record,
    _ZeekHeader,
    is_cef,
    parse_cef,
    sniff,
    stix_events,
    zeek_event,
)
from kizuna.errors import InputError, KizunaError

#: Bytes per chunk of a log file: large enough that a chunk's overhead (a task and a result through a
#: pipe) is noise, small enough that the workers share a file evenly and results stream.
CHUNK_BYTES = 4 << 20
T = TypeVar("T")
_MALFORMED = (_Malformed, KeyError, TypeError, ValueError)  # what the plain reader reports and skips
_TIGHT = {kind: PROBES[kind] for kind in ("ecs", "zeek", "suricata")}  # JSON formats with a probe


@dataclass
class ChunkState:
    """What a line's meaning depends on from the lines before it (as in the plain reader's loop)."""

    header: _ZeekHeader = field(default_factory=_ZeekHeader)
    detected: str | None = None  # the JSON record format, once known (fmt "auto": from the first record)


@dataclass
class Chunk:
    """Whole lines of one log, in order: bytes ``[start, end)`` of ``path``, or ``data`` when given."""

    source: str  # the log's name as events and warnings give it
    fmt: str  # the requested format (readers.FORMATS)
    state: ChunkState
    first: bool  # the first chunk of its log: line numbers start again at 1
    path: str | None = None
    start: int = 0
    end: int = 0
    data: bytes | None = None
    whole: bool = False  # the log is one JSON document (a STIX bundle file), read as one record


@dataclass
class ChunkResult:
    """What decoding and matching one chunk found. Line numbers count from the chunk's first line (1)."""

    lines: int = 0
    records: int = 0
    events: int = 0
    malformed: int = 0
    bytes_read: int = 0
    #: (line, message) for each malformed record, in line order
    warnings: list[tuple[int, str]] = field(default_factory=list)
    #: events that hold at least one bracket, with the leaf ids of those brackets, in line order
    hits: list[tuple[Event, list[int]]] = field(default_factory=list)
    error: str | None = None  # the chunk could not be read (the run stops with this message)


# -- reader side ---------------------------------------------------------------------------------------------
def plan_file(path: str | Path, fmt: str, chunk_bytes: int = CHUNK_BYTES) -> list[Chunk]:
    """Chunks of a finished log file, each with the state it starts in. InputError if it cannot be read."""
    p = Path(path)
    source = str(p)
    try:
        size = p.stat().st_size
        with p.open("rb") as handle:
            head = handle.read(1)
            if fmt in ("auto", "stix") and head == b"{" and _is_whole_json(p):
                return [Chunk(source, fmt, ChunkState(), True, source, 0, size, whole=True)]
            if size == 0:
                return []
            with mmap(handle.fileno(), 0, access=ACCESS_READ) as buf:
                chunks: list[Chunk] = []
                state = ChunkState(detected=None if fmt == "auto" else fmt)
                start = 0
                while start < size:
                    newline = buf.find(b"\n", min(size, start + chunk_bytes) - 1)
                    end = size if newline < 0 else newline + 1
                    chunks.append(Chunk(source, fmt, copy.deepcopy(state), not chunks, source, start, end))
                    state = advance(state, buf, start, end, fmt)
                    start = end
                return chunks
    except FileNotFoundError:
        raise InputError("log file not found", path=source) from None
    except OSError as exc:
        raise InputError(f"cannot read log file: {exc.strerror}", path=source) from None


def advance(state: ChunkState, buf: Any, start: int, end: int, fmt: str) -> ChunkState:
    """The state after the whole lines ``buf[start:end]`` (``start`` at a line start): header lines are
    applied; while the format is still to be detected, records are tried in order as the reader does."""
    state = copy.deepcopy(state)
    header = state.header
    pos = start
    while fmt == "auto" and state.detected is None and not header.fields and pos < end:
        newline = buf.find(b"\n", pos, end)
        stop = end if newline < 0 else newline + 1
        text = bytes(buf[pos:stop]).decode("utf-8", errors="replace").rstrip("\r\n")
        pos = stop
        if not text.strip():
            continue
        if text.startswith("#"):
            _zeek_header_line(text, header)
            continue
        if is_cef(text):
            try:
                parse_cef(text)
            except _Malformed:
                continue
            state.detected = "cef"
            continue
        try:
            record = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict):
            try:
                state.detected = sniff(record)
            except _Malformed:
                continue
    # from here on only header lines change the state; pos is a line start
    if buf.find(b"#", pos, end) < 0:  # one memchr: most chunks of JSON logs hold no '#' at all
        return state
    while pos < end:
        if buf[pos : pos + 1] == b"#":
            line_start = pos
        else:
            found = buf.find(b"\n#", pos, end)
            if found < 0:
                break
            line_start = found + 1
        newline = buf.find(b"\n", line_start, end)
        pos = end if newline < 0 else newline + 1
        _zeek_header_line(bytes(buf[line_start:pos]).decode("utf-8", errors="replace").rstrip("\r\n"), header)
    return state


# -- decoder + matcher side ----------------------------------------------------------------------------------
class Decoder:
    """Decodes and matches chunks with a compiled matcher (only read) and its prefilter."""

    def __init__(self, matcher: Matcher, prefilter: Prefilter | None = None, *, screen: bool = True) -> None:
        self.matcher = matcher
        self.prefilter = prefilter if prefilter is not None else Prefilter.of(matcher.index)
        #: screen chunks of the formats of :data:`linescreen.SCREENS` (Suricata EVE) in batches; without it
        #: every record is probed, the reference the screen is tested against
        self.screen = screen and linescreen.usable(self.prefilter)

    def run(self, chunk: Chunk) -> ChunkResult:
        result = ChunkResult()
        try:
            if chunk.whole:
                self._whole(chunk, result)
                return result
            data = chunk.data
            if data is None:
                assert chunk.path is not None
                with open(chunk.path, "rb") as handle:
                    data = os.pread(handle.fileno(), chunk.end - chunk.start, chunk.start)
        except OSError as exc:
            result.error = f"{chunk.source}: cannot read log file: {exc.strerror}"
            return result
        result.bytes_read = len(data)
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        result.lines = len(lines)
        self._lines(lines, chunk, result)
        return result

    def _lines(self, lines: list[bytes], chunk: Chunk, result: ChunkResult) -> None:
        """The plain reader's loop (readers.read_events) over the lines, with probes and the prefilter
        deciding which records are mapped to observables and matched."""
        header = copy.deepcopy(chunk.state.header)
        detected = chunk.state.detected
        fmt, source = chunk.fmt, chunk.source
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        admits, leaves_of = self.prefilter.admits, self.matcher.leaves
        warnings, hits = result.warnings, result.hits
        columns: list[tuple[str, int, bool]] | None = None
        # the common case in a tight loop: JSON lines of a known format other than STIX
        probe = _TIGHT.get(detected or "")
        mapper = _JSON_MAPPERS.get(detected or "")
        screen = linescreen.SCREENS.get(detected or "") if self.screen and not header.fields else None
        if screen is not None and probe is not None and mapper is not None:
            screened = ChunkResult()
            for start in range(0, len(lines), linescreen.BATCH):
                try:
                    decoded = list(map(loads, lines[start : start + linescreen.BATCH]))
                except decode_error:
                    break  # some line is not JSON: the loop below reports it
                if set(map(type, decoded)) != {dict}:
                    break
                flagged = screen(decoded, self.prefilter)
                if flagged is None:
                    break
                self._flagged(decoded, flagged, start, chunk.source, screened, probe, mapper)
            else:
                result.records, result.events, result.malformed = (
                    screened.records,
                    screened.events,
                    screened.malformed,
                )
                result.hits, result.warnings = screened.hits, screened.warnings
                return
        records = events = 0
        number = 0
        for raw in lines:
            number += 1
            record: Any = None
            if raw[:1] == b"{" and not header.fields:
                try:
                    record = loads(raw)  # bytes: no decoding step; invalid UTF-8 takes the route below
                except decode_error:
                    record = None
                if record is not None and probe is not None and mapper is not None:
                    records += 1
                    try:
                        if admits(probe(record)):
                            when, objects = mapper(record)
                            event = Event(source, number, when, objects)
                            found = leaves_of(event)
                            if found:
                                hits.append((event, found))
                    except _MALFORMED as exc:
                        result.malformed += 1
                        warnings.append((number, f"skipped malformed record: {exc}"))
                        continue
                    events += 1
                    continue
            # the plain reader's steps, for everything else
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if not text.strip():
                continue
            if text.startswith("#"):
                _zeek_header_line(text, header)
                columns = None
                continue
            records += 1
            try:
                if header.fields:
                    if columns is None:
                        columns = _zeek_columns(header)
                    kind = "zeek"
                    record = None
                    probed = probe_zeek(_zeek_row(text, header, columns))
                elif detected == "cef" or (detected is None and is_cef(text)):
                    record = parse_cef(text)
                    kind = detected = "cef"
                    probed = probe_cef(record)
                else:
                    if record is None:
                        try:
                            record = loads(text)
                        except decode_error as exc:
                            raise _Malformed(f"not JSON ({exc})") from None
                        if not isinstance(record, dict):
                            raise _Malformed("a JSON record must be an object")
                    kind = detected or sniff(record)
                    if fmt == "auto" and detected is None:
                        detected = kind
                        probe, mapper = _TIGHT.get(kind), _JSON_MAPPERS.get(kind)
                    if kind == "stix":
                        for event in list(stix_events(record, source, number)):
                            events += 1
                            found = leaves_of(event)
                            if found:
                                hits.append((event, found))
                        continue
                    probed = PROBES[kind](record)
                if admits(probed):
                    if record is None:
                        when, objects = zeek_event(_zeek_record(text, header))
                    else:
                        when, objects = _JSON_MAPPERS[kind](record)
                    event = Event(source, number, when, objects)
                    found = leaves_of(event)
                    if found:
                        hits.append((event, found))
                events += 1
            except _MALFORMED as exc:
                result.malformed += 1
                warnings.append((number, f"skipped malformed record: {exc}"))
        result.records, result.events = records, events

    def _flagged(
        self,
        records: list[dict[str, Any]],
        flagged: list[int],
        first: int,
        source: str,
        result: ChunkResult,
        probe: Callable[[dict[str, Any]], Any],
        mapper: Callable[[dict[str, Any]], Any],
    ) -> None:
        """The loop of :meth:`_lines` over JSON records of one format (lines ``first + 1...`` of the chunk),
        for the records the screen flagged (the others hold nothing to match and are well formed)."""
        admits, leaves_of = self.prefilter.admits, self.matcher.leaves
        malformed = 0
        for i in flagged:
            record = records[i]
            number = first + i + 1
            try:
                if admits(probe(record)):
                    when, objects = mapper(record)
                    event = Event(source, number, when, objects)
                    found = leaves_of(event)
                    if found:
                        result.hits.append((event, found))
            except _MALFORMED as exc:
                malformed += 1
                result.warnings.append((number, f"skipped malformed record: {exc}"))
        result.records += len(records)
        result.events += len(records) - malformed
        result.malformed += malformed

    def _whole(self, chunk: Chunk, result: ChunkResult) -> None:
        """A file that is one JSON document, as :func:`kizuna.detect.readers.read_events` reads it."""
        assert chunk.path is not None
        result.records = 1
        result.bytes_read = chunk.end
        data = Path(chunk.path).read_bytes()
        try:
            doc = orjson.loads(data)
            if not isinstance(doc, dict):
                raise _Malformed("a STIX file must hold one JSON object")
            events = list(stix_events(doc, chunk.source, 1))
        except (orjson.JSONDecodeError, _Malformed) as exc:
            result.malformed = 1
            result.warnings.append((1, f"skipped malformed STIX document: {exc}"))
            return
        for event in events:
            result.events += 1
            found = self.matcher.leaves(event)
            if found:
                result.hits.append((event, found))


def _zeek_columns(header: _ZeekHeader) -> list[tuple[str, int, bool]]:
    """(field, column, is a set or vector) for the columns the Zeek mapper reads, in column order."""
    typed = len(header.types) == len(header.fields)
    return [
        (name, i, typed and header.types[i].startswith(("set[", "vector[")))
        for i, name in enumerate(header.fields)
        if name in ZEEK_FIELDS
    ]


def _zeek_row(text: str, header: _ZeekHeader, columns: list[tuple[str, int, bool]]) -> dict[str, Any]:
    """The fields of a TSV row that the mapper reads, as :func:`readers._zeek_record` gives them."""
    values = text.split(header.separator)
    if len(values) != len(header.fields):
        raise _Malformed(f"{len(values)} fields where the #fields header names {len(header.fields)}")
    row: dict[str, Any] = {}
    for name, i, is_set in columns:
        value = values[i]
        if value == header.unset:
            continue
        if is_set:
            row[name] = [] if value == header.empty else value.split(header.set_separator)
        else:
            row[name] = value
    return row


# -- collector side ------------------------------------------------------------------------------------------
def collect(
    chunks: Iterable[Chunk],
    results: Iterable[ChunkResult],
    matcher: Matcher,
    stats: ReadStats,
    warn: Callable[[str], None],
    progress: Callable[[int], None] = lambda _bytes: None,
) -> Iterator[Hit]:
    """Hits of single-bracket patterns, in log order, from the results of ``chunks`` (in the same order):
    events are fed to ``matcher`` here, so its patterns across observations see what one process reading
    the logs sees (:meth:`Matcher.finish` is the caller's). Warnings and counts go to ``warn`` and
    ``stats`` as the plain reader gives them; ``progress`` gets the bytes read so far."""
    base = 0  # lines of the log before the chunk
    for chunk, result in zip(chunks, results, strict=True):
        if result.error is not None:
            raise InputError(result.error)
        if chunk.first:
            base = 0
        warnings = result.warnings
        w = 0
        for event, leaves in result.hits:
            while w < len(warnings) and warnings[w][0] <= event.line:
                warn(f"{chunk.source}:{base + warnings[w][0]}: {warnings[w][1]}")
                w += 1
            event.line += base
            yield from matcher.feed_leaves(event, leaves)
        for line, message in warnings[w:]:
            warn(f"{chunk.source}:{base + line}: {message}")
        base += result.lines
        stats.records += result.records
        stats.events += result.events
        stats.bytes_read += result.bytes_read
        if result.malformed:
            stats.malformed += result.malformed
            stats.by_file[chunk.source] = stats.by_file.get(chunk.source, 0) + result.malformed
        progress(stats.bytes_read)


# -- running chunks in processes -----------------------------------------------------------------------------
_decoder: Decoder | None = None  # a worker process's decoder, inherited from the parent at fork


def _start_worker(decoder: Decoder) -> None:
    global _decoder
    _decoder = decoder
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and ends the workers


def _run_in_worker(chunk: Chunk) -> ChunkResult:
    assert _decoder is not None
    return _decoder.run(chunk)


def default_workers() -> int:
    """All cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked: the platform has fork, and no other thread runs here
    (a forked child gets only the calling thread; locks other threads hold would stay held there)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


class Workers:
    """Processes that decode and match chunks with one decoder, forked on ``with`` (so they share the
    compiled matcher with this process, copy-on-write). One worker - or a platform without fork, or a
    process where other threads run (fork copies only the calling thread) - decodes in this process.

    ``map(chunks)`` yields results in chunk order; ``submit(chunk)`` returns a future whose ``result()``
    waits for one, for callers (a follower) that make chunks as the logs grow. A worker that dies (out
    of memory, killed) ends the run with a KizunaError instead of a hang.
    """

    def __init__(self, decoder: Decoder, count: int) -> None:
        self.decoder = decoder
        self.count = count
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Workers:
        if self.count > 1 and can_fork():
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self.count, mp_context=context, initializer=_start_worker, initargs=(self.decoder,)
            )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, chunks: Iterable[Chunk]) -> Iterator[ChunkResult]:
        if self._pool is None:
            yield from (self.decoder.run(chunk) for chunk in chunks)
            return
        try:
            yield from self._pool.map(_run_in_worker, chunks)
        except BrokenProcessPool:
            raise KizunaError("a worker process ended unexpectedly (out of memory, or killed)") from None

    def submit(self, chunk: Chunk) -> Future[ChunkResult]:
        if self._pool is None:
            done: Future[ChunkResult] = Future()
            done.set_result(self.decoder.run(chunk))
            return done
        return self._pool.submit(_run_in_worker, chunk)


def in_background(function: Callable[..., T], *args: Any, fork: bool = True) -> Callable[[], T]:
    """Start ``function(*args)`` in a forked process (when ``fork`` and the platform can) and return a
    call that waits for its result (pickled back); otherwise run it here, now."""
    if not (fork and can_fork()):
        value = function(*args)
        return lambda: value
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_send_result, args=(sender, function, args), daemon=True)
    process.start()
    sender.close()

    def wait() -> T:
        try:
            ok, value = receiver.recv()
        except EOFError:
            raise RuntimeError("a helper process ended without an answer") from None
        finally:
            receiver.close()
            process.join()
        if not ok:
            raise RuntimeError(f"a helper process failed: {value}")
        return value  # type: ignore[no-any-return]

    return wait


def _send_result(sender: Any, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sender.send((True, function(*args)))
    except Exception as exc:  # reported by the parent
        sender.send((False, f"{type(exc).__name__}: {exc}"))
    finally:
        sender.close()
