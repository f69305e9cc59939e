"""Conversion in a process of its own, ahead of the writer (``kizuna ingest`` into a local hub).

A local ``kizuna ingest`` has two halves of about the same cost: reading, parsing and converting the input
and checking each converted object (:func:`kizuna.hub.intake.check`: validation, canonical bytes, digest,
index entries), and the intake's serial part (trust decisions, the inserts, the audit record, the commit).
Under one interpreter lock they take turns; here the first half runs in a **converter process**
(``python -m kizuna.ingest.convproc``) that reads and converts the units in order, checks each unit's
objects and hands the unit over a pipe, while the writer (the ``kizuna ingest`` process) stores the unit
before, one transaction a unit, exactly as without it. The writer gives the intake the converter's check
results (:attr:`Unit.checked`) instead of checking again; the objects themselves are sent only when the
writer may need them (``--skip-invalid`` screens a unit's records itself).

The queue is bounded by the pipe: the converter blocks while a unit waits to be taken, so at most one unit
is in the pipe and one being converted. The writer alone writes: a kill of the writer leaves what it left
before, and the converter, whose next write to the pipe then fails (or whose read of its job meets the end
of its input), exits. A failure of conversion (an unreadable file, bad JSON) reaches the writer as the
same exception at the same place in the stream of units as in one process.

:func:`job_units` is the one conversion both paths run; ``--no-pipeline`` (and small inputs, one core,
``--dry-run``, ``--hub``) converts in the writer's process (``tests/ingest/test_convproc.py`` holds the two
to identical stores).
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kizuna.errors import InputError, KizunaError, NotFound
from kizuna.ingest.units import Problem, Record, Unit
from kizuna.stix.markings import TLP

if TYPE_CHECKING:
    from kizuna.ingest.csvfile import CsvMapping
    from kizuna.ingest.feed import Choice, Feed
    from kizuna.ingest.misp import Options

#: The cyclic garbage collector's thresholds during an ingest run (writer and converter). A run allocates
#: millions of short-lived dicts and lists (parsed input, converted objects, the intake's rows) that reference
#: counting frees; at Python's defaults (700, 10, 10) the collector walks them again and again: about a
#: tenth of a MISP run's CPU time, a third of its conversion's. At these it runs a few times a run.
RUN_GC_THRESHOLDS = (50_000, 50, 1_000)

#: Inputs smaller than this (bytes, all files together) are converted in the writer's process: the
#: converter's start (a fresh interpreter and its imports, ~0.5 s of CPU) would cost more than it saves.
MIN_PIPELINE_BYTES = 4 * 1024 * 1024

_PROTOCOL = pickle.HIGHEST_PROTOCOL


def read_json(path: Path) -> object:
    """A JSON file; InputError naming the file, line and column when it is not JSON."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"not JSON: {exc.msg} (column {exc.colno})", path=str(path), line=exc.lineno
        ) from None


def mark_unmarked(unit: Unit, level: TLP) -> None:
    """``--default-tlp``: the TLP marking on every object of the unit that has none."""
    from kizuna.stix.markings import TLP2_IDS, tlp_of

    for r in unit.records:
        o = r.obj
        if "created" in o and o.get("type") != "marking-definition" and tlp_of(o) is None:
            o["object_marking_refs"] = [*o.get("object_marking_refs", []), TLP2_IDS[level]]


@dataclass(frozen=True)
class FeedJob:
    """A feed pull's events to fetch and convert (the writer chose them: it holds the cursors)."""

    source: str
    max_event_bytes: int
    chosen: tuple[Choice, ...]
    hashes: set[str] | None
    workers: int


@dataclass(frozen=True)
class Job:
    """What one run converts (everything conversion needs; picklable)."""

    kind: str  # misp, csv, stix, misp-feed
    files: tuple[str, ...]
    level: TLP | None = None  # --default-tlp for csv and stix (misp: in ``misp``)
    misp: Options | None = None
    mapping: CsvMapping | None = None
    producer: str = "kizuna"
    batch_rows: int = 0
    done: dict[str, frozenset[str]] = field(default_factory=dict)  # csv: source -> batches committed
    feed: FeedJob | None = None  # misp-feed: the events (``files`` is empty)
    send_objects: bool = False  # the writer may need the objects themselves (--skip-invalid)
    check_helpers: int = 0  # check pool helpers of the converter (kizuna.hub.checkpool)


def job_units(
    job: Job,
    path: Path,
    read: Callable[[Path], object] = read_json,
    done: Callable[[str], Collection[str]] | None = None,
) -> Iterator[Unit]:
    """The units of one input file, converted: the one conversion of both paths. ``done``: the CSV batches
    committed by earlier runs, asked when the file is reached (else ``job.done``, read up front)."""
    if job.kind == "misp":
        from kizuna.ingest.misp import iter_units

        assert job.misp is not None
        yield from iter_units(read(path), str(path), job.misp)
    elif job.kind == "stix":
        from kizuna.ingest.stix20 import unit_of

        unit = unit_of(read(path), str(path))
        if job.level is not None:
            mark_unmarked(unit, job.level)
        yield unit
    elif job.kind == "csv":
        from kizuna.ingest.csvfile import CsvReader

        assert job.mapping is not None
        reader = CsvReader(path, job.mapping, producer_org=job.producer, batch_rows=job.batch_rows)
        committed = done(reader.source) if done is not None else job.done.get(reader.source, frozenset())
        for unit in reader.units():
            if unit.key in committed:
                continue  # a batch an earlier run committed
            if job.level is not None:
                mark_unmarked(unit, job.level)
            yield unit
    else:
        raise ValueError(f"no conversion {job.kind!r}")


#: Feed pulls of fewer events than this are converted in the writer's process (a thread ahead of it).
MIN_PIPELINE_EVENTS = 50


def wanted_for_feed(events: int, *, local: bool, dry_run: bool, choice: bool | None) -> bool:
    """:func:`wanted` for a feed pull of ``events`` chosen events."""
    if not local or dry_run:
        return False
    if choice is not None:
        return choice
    return (os.cpu_count() or 1) >= 2 and events >= MIN_PIPELINE_EVENTS


def wanted(paths: Sequence[Path], *, local: bool, dry_run: bool, choice: bool | None) -> bool:
    """Whether a run converts in a converter process: ``--pipeline`` / ``--no-pipeline`` when given; else a
    local, stored (not ``--dry-run``) run of at least :data:`MIN_PIPELINE_BYTES` on two cores or more."""
    if not local or dry_run:
        return False
    if choice is not None:
        return choice
    if (os.cpu_count() or 1) < 2:
        return False
    if len({p.resolve() for p in paths}) < len(paths):
        return False  # a file named twice: its second pass depends on what the first committed
    size = 0
    for p in paths:
        try:
            size += p.stat().st_size
        except OSError:
            continue
    return size >= MIN_PIPELINE_BYTES


# -- the wire ----------------------------------------------------------------------------------------------
# Messages from the converter, each one pickled frame: ("unit", file_index, packed unit),
# ("end", file_index) after a file's last unit, ("error", file_index, the exception) where conversion of
# that file failed (it has no further units). The converter exits after the last file.


def _exception_state(exc: BaseException) -> tuple[Any, ...]:
    state = (type(exc), exc.args, dict(getattr(exc, "__dict__", {})))
    try:
        pickle.dumps(state, protocol=_PROTOCOL)
    except Exception:  # an attribute that does not pickle: the class and message still do
        return (type(exc), exc.args, {}) if _picklable(exc.args) else (RuntimeError, (str(exc),), {})
    return state


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value, protocol=_PROTOCOL)
    except Exception:
        return False
    return True


def _rebuilt(state: tuple[Any, ...]) -> BaseException:
    cls, args, attrs = state
    exc: BaseException = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(attrs)
    return exc


def _packed_unit(unit: Unit, job: Job, checker: Any) -> tuple[Any, ...]:
    from kizuna.hub.checkpool import pack
    from kizuna.hub.intake import check
    from kizuna.stix.ijson import DEFAULT_LIMITS

    objs = [r.obj for r in unit.records]
    checks = None
    # the writer writes a unit only when nothing refuses it before (or, --skip-invalid, to keep what is valid)
    if unit.refusal is None and (not unit.problems or job.send_objects):
        if checker.processes:
            checks = [_compact(pack(c)) for c in checker(objs, DEFAULT_LIMITS)]
        else:  # one object at a time: what a unit's checks hold is no more than what is sent
            checks = [_compact(pack(check(i, obj, DEFAULT_LIMITS))) for i, obj in enumerate(objs)]
    return (
        unit.format,
        unit.source,
        unit.key,
        unit.version,
        unit.event_uuid,
        [(r.locator, r.record_id, r.depends, r.container) for r in unit.records],
        [_problem(p) for p in unit.problems],
        [_problem(p) for p in unit.warnings],
        unit.refusal,
        unit.skipped,
        objs if job.send_objects else None,
        checks,
    )


def _compact(packed: tuple[Any, ...]) -> tuple[Any, ...]:
    """A packed check with its serialised object in a bytes object of its own size (the serialiser's
    buffer is several times larger than a small object: 4 kB for a CSV row's ~300 bytes)."""
    if len(packed) < 7:
        return packed  # a refusal
    return (*packed[:6], bytes(memoryview(packed[6])), *packed[7:])


def _problem(p: Problem) -> tuple[str, str, str, str, str | None]:
    return (p.source, p.locator, p.record_id, p.reason, p.object_id)


def _unpacked_unit(packed: tuple[Any, ...]) -> Unit:
    from kizuna.hub.checkpool import unpack

    (fmt, source, key, version, event_uuid, metas, problems, warnings, refusal, skipped, objs, checks) = (
        packed
    )
    if objs is None:
        records = [Record({}, loc, rid, deps, cont) for loc, rid, deps, cont in metas]
    else:
        records = [
            Record(obj, loc, rid, deps, cont) for obj, (loc, rid, deps, cont) in zip(objs, metas, strict=True)
        ]
    unit = Unit(
        fmt,
        source,
        key,
        version,
        event_uuid,
        records,
        [Problem(*p) for p in problems],
        [Problem(*p) for p in warnings],
        refusal,
        skipped,
    )
    unit.detached = objs is None
    if checks is not None:
        unit.checked = [unpack(c) for c in checks]
    return unit


# -- the converter process -----------------------------------------------------------------------------------
def serve(reader: Connection, writer: Connection) -> None:
    """The converter: read the job, then send every unit of every file in order (see the wire above)."""
    from kizuna.hub.checkpool import CheckPool

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle; its exit ends this
    gc.set_threshold(*RUN_GC_THRESHOLDS)
    try:
        job: Job = pickle.loads(reader.recv_bytes())
    except (EOFError, OSError):
        return  # the writer went away before sending the job
    checker = CheckPool(job.check_helpers)
    try:
        for index, stream in enumerate(_streams(job, checker)):
            while True:
                try:
                    message: tuple[Any, ...] = ("unit", index, next(stream))
                except StopIteration:
                    message = ("end", index)
                except Exception as exc:  # handed to the writer, raised there
                    message = ("error", index, _exception_state(exc))
                try:
                    writer.send_bytes(pickle.dumps(message, protocol=_PROTOCOL))
                except OSError:  # BrokenPipeError: the writer is gone (killed, or stopped early)
                    return
                if message[0] != "unit":
                    break
    finally:
        checker.close()


def _streams(job: Job, checker: Any) -> Iterator[Iterator[Any]]:
    """What the converter sends: for each file, its packed units; for a feed, one stream of its events
    (each: its choice, its packed units, why it was refused before converting)."""
    if job.feed is None:
        for name in job.files:
            yield (_packed_unit(u, job, checker) for u in job_units(job, Path(name)))
        return
    yield _feed_stream(job, job.feed, checker)


def _feed_stream(job: Job, fj: FeedJob, checker: Any) -> Iterator[Any]:
    from kizuna.ingest.feed import Feed

    assert job.misp is not None
    with Feed(fj.source, max_event_bytes=fj.max_event_bytes) as feed:
        for choice, units, error in feed_units(feed, fj.chosen, job.misp, fj.hashes, workers=fj.workers):
            yield choice, [_packed_unit(u, job, checker) for u in units], error


def feed_units(
    feed: Feed, chosen: Sequence[Choice], opts: Options, hashes: set[str] | None, *, workers: int
) -> Iterator[tuple[Choice, list[Unit], str | None]]:
    """For each chosen feed event, in order: (its choice, its units, why it was refused before converting).
    Fetching, parsing and converting: everything of a feed pull but the write."""
    from kizuna.ingest.feed import FeedError, unhashed_values
    from kizuna.ingest.misp import events_in, iter_units

    by_uuid = {c.uuid: c for c in chosen}
    for uuid, raw in feed.fetch_all([c.uuid for c in chosen], workers=workers):
        choice = by_uuid[uuid]
        name = f"{uuid}.json"
        try:
            if not isinstance(raw, bytes):
                raise raw
            events = events_in(orjson.loads(raw), name)
            if len(events) != 1:
                raise FeedError(f"{name} holds {len(events)} events, not one")
            _base, event = events[0]
            ev_uuid = str(event.get("uuid", "")) if isinstance(event, dict) else ""
            if ev_uuid.lower() != uuid.lower():
                raise FeedError(f"{name}: the event's uuid {ev_uuid!r} differs from its manifest key")
        except (FeedError, KizunaError, orjson.JSONDecodeError) as exc:
            yield choice, [], str(exc)
            continue
        units = []
        for unit in iter_units({"Event": event}, feed.source, opts, "misp-feed"):
            unit.version = choice.timestamp
            for r in unit.records:
                r.locator = name + "#" + r.locator if r.locator else r.locator
            if hashes is not None and isinstance(event, dict):
                for v in unhashed_values(event, hashes):
                    unit.warn(name, uuid, f"value {v!r} is not in the feed's hashes.csv")
            units.append(unit)
        yield choice, units, None


class Converter:
    """The writer's side: start the converter process, give it a job, take its units file by file."""

    def __init__(self) -> None:
        import kizuna

        # the converter imports the very kizuna this process runs, installed or not
        home = str(Path(kizuna.__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": home + (os.pathsep + path if path else "")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kizuna.ingest.convproc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            env=env,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._to = Connection(os.dup(self.proc.stdin.fileno()), readable=False)
        self._from = Connection(os.dup(self.proc.stdout.fileno()), writable=False)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self._next = 0

    def start(self, job: Job) -> None:
        self._to.send_bytes(pickle.dumps(job, protocol=_PROTOCOL))
        self._to.close()

    def _receive(self) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = pickle.loads(self._from.recv_bytes())
        except EOFError:
            code = self.proc.wait(timeout=10)
            raise KizunaError(
                f"the ingest converter process ended early (exit status {code}); the units stored before"
                " it stay stored, nothing of the rest was"
            ) from None
        return message

    def _stream(self, index: int) -> Iterator[Any]:
        assert index == self._next, "streams are taken in order"
        self._next += 1
        while True:
            message = self._receive()
            kind, at = message[0], message[1]
            assert at == index, "the converter and the writer agree on the stream"
            if kind == "unit":
                yield message[2]
            elif kind == "end":
                return
            else:
                raise _rebuilt(message[2])

    def units(self, index: int) -> Iterator[Unit]:
        """The units of file ``index`` (files are taken in order), or the exception converting it raised."""
        for packed in self._stream(index):
            yield _unpacked_unit(packed)

    def events(self) -> Iterator[tuple[Choice, list[Unit], str | None]]:
        """A feed's events, as :func:`feed_units` gives them."""
        for choice, packed, error in self._stream(0):
            yield choice, [_unpacked_unit(p) for p in packed], error

    def close(self) -> None:
        """Stop the converter (it has finished, or it stops at its next unit) and wait for it."""
        if not self._to.closed:
            self._to.close()
        self._from.close()  # a converter still sending meets a broken pipe and exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _main() -> None:
    reader = Connection(os.dup(0), writable=False)
    writer = Connection(os.dup(1), readable=False)
    # nothing else may write to the pipe: print() and stray output go to stderr
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)
    serve(reader, writer)


if __name__ == "__main__":
    _main()
