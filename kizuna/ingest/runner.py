"""Store units: into a local hub through :func:`kizuna.hub.intake.accept`, into a running hub through its
TAXII API (:class:`~kizuna.hub.client.HubClient`), or nowhere (``--dry-run``), and count what happened.

The rules of a unit (issue 15, item 2): by default a unit with any invalid record is refused whole and every
problem in it is listed, while other units go on; with ``--skip-invalid`` its valid records are stored and
each refused one is listed. Either way a record whose endpoint was refused (a relationship, a reference, a
sighting) is refused too: "depends on refused ``/Event/Attribute/3``". In a local hub a unit is one
``accept`` call: one transaction with its audit record and its provenance.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

import orjson

from kizuna.hub import intake
from kizuna.hub.models import Collection, Incoming, IngestUnit, ObjectResult, Outcome
from kizuna.hub.store.protocols import Store
from kizuna.ingest.misp import CONVERTER
from kizuna.ingest.units import Problem, Record, Unit
from kizuna.stix.ids import Clock
from kizuna.stix.ijson import DEFAULT_LIMITS, ObjectLimits

if TYPE_CHECKING:  # --hub runs only: the HTTP client is not imported for a local hub
    from kizuna.hub.client import HubClient

_NOT_STORED = "not stored: its unit was refused"


@dataclass(slots=True)
class Tally:
    read: int = 0
    stored: int = 0
    new_versions: int = 0
    duplicates: int = 0
    rejected: int = 0
    units_stored: int = 0
    units_refused: int = 0

    def as_json(self) -> dict[str, int]:
        return {
            "read": self.read,
            "stored_new": self.stored,
            "new_versions": self.new_versions,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "units_stored": self.units_stored,
            "units_refused": self.units_refused,
        }


@dataclass(slots=True)
class Report:
    """What a run did: counts per source, every refused record, every warning (``--report FILE.json``)."""

    sources: dict[str, Tally] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. a feed's new / updated / unchanged events

    def tally(self, source: str) -> Tally:
        t = self.sources.get(source)
        if t is None:
            t = self.sources[source] = Tally()
        return t

    @property
    def total(self) -> Tally:
        out = Tally()
        for t in self.sources.values():
            for name in Tally.__slots__:
                setattr(out, name, getattr(out, name) + getattr(t, name))
        return out

    def summary(self) -> str:
        t = self.total
        return (
            f"read {t.read}, stored new {t.stored}, new versions {t.new_versions},"
            f" duplicates {t.duplicates}, rejected {t.rejected}"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "totals": self.total.as_json(),
            "sources": {s: t.as_json() for s, t in self.sources.items()},
            "problems": [p.as_json() for p in self.problems],
            "warnings": [w.as_json() for w in self.warnings],
            **self.extra,
        }


class Sink(Protocol):
    """Where units go; ``write`` returns one result per object, in order."""

    validates: bool  # whether the sink refuses a unit whole by itself (a local hub's intake)

    def write(
        self, unit: Unit, objects: Sequence[dict[str, Any]], locators: Sequence[str]
    ) -> list[ObjectResult]: ...


class LocalSink:
    """A local hub: each unit is one :func:`~kizuna.hub.intake.accept` call with its provenance."""

    validates = True

    def __init__(
        self,
        store: Store,
        collection: Collection,
        sender: intake.Sender,
        *,
        clock: Clock,
        checker: intake.Checker = intake.check_all,
    ) -> None:
        self.store = store
        self.collection = collection
        self.sender = sender
        self.clock = clock
        self.checker = checker  # how each unit's objects are checked (a check pool for large units)

    def write(
        self, unit: Unit, objects: Sequence[dict[str, Any]], locators: Sequence[str]
    ) -> list[ObjectResult]:
        meta = IngestUnit(
            format=unit.format,
            source=unit.source,
            unit=unit.key,
            converter=CONVERTER,
            unit_version=unit.version,
            event_uuid=unit.event_uuid,
            locators=tuple(locators),
        )
        result = intake.accept(
            self.store,
            self.collection,
            self.sender,
            objects,
            clock=self.clock,
            unit=meta,
            checker=_checker_for(unit, objects, self.checker),
        )
        return list(result.objects)


def _checker_for(unit: Unit, objects: Sequence[dict[str, Any]], checker: intake.Checker) -> intake.Checker:
    """The unit's own check results when they are of exactly ``objects`` (the unit's records, checked in
    the converter process: :mod:`kizuna.ingest.convproc`), else ``checker``."""
    checked = unit.checked
    records = unit.records
    if (
        checked is not None
        and len(objects) == len(records) == len(checked)
        and all(o is r.obj for o, r in zip(objects, records, strict=True))
    ):

        def prechecked(items: Sequence[object], limits: ObjectLimits) -> list[Incoming | ObjectResult]:
            if limits != DEFAULT_LIMITS:
                if unit.detached:
                    raise RuntimeError("a detached unit checked under other limits")
                return checker(items, limits)
            return list(checked)

        return prechecked
    if unit.detached:  # its objects are placeholders: checking them would refuse every one
        raise RuntimeError(f"unit {unit.key}: its objects stayed in the converter and its checks do not fit")
    return checker


class HubSink:
    """A running hub: each unit is one TAXII envelope; the hub's status says what became of each object."""

    validates = False

    def __init__(self, client: HubClient, collection_id: str) -> None:
        self.client = client
        self.collection_id = collection_id

    def write(
        self, unit: Unit, objects: Sequence[dict[str, Any]], locators: Sequence[str]
    ) -> list[ObjectResult]:
        status = self.client.add_objects(self.collection_id, objects)
        outcome: dict[tuple[str, str], ObjectResult] = {}
        for s in status.get("successes", []):
            dup = s.get("message") == "already stored"
            key = (str(s.get("id")), str(s.get("version", "")))
            outcome[key] = ObjectResult(key[0], key[1], Outcome.DUPLICATE if dup else Outcome.STORED)
        for f in status.get("failures", []):
            key = (str(f.get("id")), str(f.get("version", "")))
            outcome[key] = ObjectResult(key[0], key[1], Outcome.REFUSED, str(f.get("message", "refused")))
        out = []
        for obj in objects:
            version = str(obj.get("modified") or obj.get("created") or "")
            key = (str(obj.get("id")), version)
            out.append(
                outcome.get(key) or ObjectResult(key[0], version, Outcome.REFUSED, "not in the hub's status")
            )
        return out


class DrySink:
    """``--dry-run``: nothing is stored; each object that would be stored is printed as one JSON line."""

    validates = False

    def __init__(self, out: IO[bytes] | None = None) -> None:
        self.out = out if out is not None else sys.stdout.buffer

    def write(
        self, unit: Unit, objects: Sequence[dict[str, Any]], locators: Sequence[str]
    ) -> list[ObjectResult]:
        for obj in objects:
            self.out.write(orjson.dumps(obj) + b"\n")
        return [
            ObjectResult(str(o.get("id")), str(o.get("modified") or o.get("created") or ""), Outcome.STORED)
            for o in objects
        ]


class _RolledBack(Exception):
    pass


class _RollbackStore:
    """A store whose writes run to the end and are then rolled back (``--dry-run`` against a local hub)."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def write(self, work: Callable[[Any], Any]) -> Any:
        done: list[Any] = []

        def run(tx: Any) -> None:
            done.append(work(tx))
            raise _RolledBack

        with contextlib.suppress(_RolledBack):
            self._inner.write(run)
        return done[0]


class LocalDrySink(LocalSink):
    """``--dry-run`` against a local hub: each unit goes through exactly the intake's write (validation,
    policy, duplicates and versions against what the hub holds), which is then rolled back; each object
    that would be stored is printed as one JSON line."""

    def __init__(
        self,
        store: Store,
        collection: Collection,
        sender: intake.Sender,
        *,
        clock: Clock,
        out: IO[bytes] | None = None,
    ) -> None:
        super().__init__(cast(Store, _RollbackStore(store)), collection, sender, clock=clock)
        self.out = out if out is not None else sys.stdout.buffer

    def write(
        self, unit: Unit, objects: Sequence[dict[str, Any]], locators: Sequence[str]
    ) -> list[ObjectResult]:
        results = super().write(unit, objects, locators)
        for obj, r in zip(objects, results, strict=True):
            if r.outcome is Outcome.STORED or r.outcome is Outcome.NEW_VERSION:
                self.out.write(orjson.dumps(obj) + b"\n")
        return results


class Ingest:
    """Store units one by one into ``sink`` and account for every record in ``report``."""

    def __init__(
        self,
        sink: Sink,
        report: Report,
        *,
        skip_invalid: bool = False,
        on_unit: Callable[[Unit], None] | None = None,
        screen_first: bool = False,
    ) -> None:
        self.sink = sink
        self.report = report
        self.skip_invalid = skip_invalid
        self.on_unit = on_unit
        #: With --skip-invalid into a hub whose intake validates, a unit with no problem from its
        #: conversion is first written whole, so that its objects are validated once (by the intake), not
        #: twice; only when the intake refuses some are the records screened and what is valid written.
        #: ``screen_first`` always screens first: the plain reference the tests hold the shortcut to.
        self.screen_first = screen_first

    def store(self, unit: Unit) -> bool:
        """Store one unit; True when it was stored (whole, or what was valid of it with --skip-invalid)."""
        tally = self.report.tally(unit.source)
        self.report.warnings.extend(unit.warnings)
        records = unit.records
        tally.read += len(records) + len(unit.problems)
        try:
            if unit.refusal is not None:
                return self._refuse(unit, tally, list(unit.problems))
            problems = list(unit.problems)
            if self.skip_invalid and self.sink.validates and not problems and not self.screen_first:
                objects = [r.obj for r in records]
                results = self.sink.write(unit, objects, [r.locator for r in records])
                if all(res.outcome is not Outcome.REFUSED for res in results):
                    return self._account(unit, tally, records, results)
                # something was refused and nothing written: screen, then write what is valid (when the
                # screen finds nothing, the refusal was the hub's policy: that answer stands)
                kept, problems = self._screen(unit, records, problems)
                if not problems:
                    return self._account(unit, tally, records, results)
                records = kept
            elif self.skip_invalid or not self.sink.validates:
                records, problems = self._screen(unit, records, problems)
            if problems and not self.skip_invalid:
                return self._refuse(unit, tally, problems)
            self.report.problems.extend(problems)
            tally.rejected += len(problems)
            if self.skip_invalid:
                records = _trimmed(records, {p.object_id for p in problems if p.object_id})
            if not records:
                tally.units_refused += 1
                return False
            objects = [r.obj for r in records]
            results = self.sink.write(unit, objects, [r.locator for r in records])
            return self._account(unit, tally, records, results)
        finally:
            if self.on_unit is not None:
                self.on_unit(unit)

    def _screen(
        self, unit: Unit, records: list[Record], problems: list[Problem]
    ) -> tuple[list[Record], list[Problem]]:
        """Validate each record with the hub's own validator; refuse what depends on a refused record."""
        refused: dict[str, str] = {p.object_id: p.locator for p in problems if p.object_id}
        kept: list[Record] = []
        for i, r in enumerate(records):
            checked = intake.check(i, r.obj)
            if isinstance(checked, ObjectResult):
                problems.append(Problem(unit.source, r.locator, r.record_id, checked.reason, checked.id))
                refused[checked.id] = r.locator or checked.id
            else:
                kept.append(r)
        changed = True
        while changed:
            changed = False
            still: list[Record] = []
            for r in kept:
                bad = next((d for d in r.depends if d in refused), None)
                if bad is None:
                    still.append(r)
                    continue
                oid = str(r.obj.get("id"))
                problems.append(
                    Problem(unit.source, r.locator, r.record_id, f"depends on refused {refused[bad]}", oid)
                )
                refused[oid] = r.locator or oid
                changed = True
            kept = still
        return kept, problems

    def _refuse(self, unit: Unit, tally: Tally, problems: list[Problem]) -> bool:
        n = len(problems)
        self.report.problems.extend(problems)
        tally.rejected += len(unit.records) + len(unit.problems)
        tally.units_refused += 1
        if unit.refusal is None:
            self.report.problems.append(
                Problem(
                    unit.source,
                    unit.key,
                    unit.event_uuid or unit.key,
                    f"unit refused whole: {n} problem(s) in it",
                )
            )
        return False

    def _account(self, unit: Unit, tally: Tally, records: list[Record], results: list[ObjectResult]) -> bool:
        refused = [
            (r, res) for r, res in zip(records, results, strict=True) if res.outcome is Outcome.REFUSED
        ]
        for res in results:
            if res.outcome is Outcome.STORED:
                tally.stored += 1
            elif res.outcome is Outcome.NEW_VERSION:
                tally.new_versions += 1
            elif res.outcome is Outcome.DUPLICATE:
                tally.duplicates += 1
        tally.rejected += len(refused)
        for r, res in refused:
            if res.reason.startswith(_NOT_STORED):
                continue
            self.report.problems.append(Problem(unit.source, r.locator, r.record_id, res.reason, res.id))
        if refused and len(refused) == len(results):
            tally.units_refused += 1
            self.report.problems.append(
                Problem(unit.source, unit.key, unit.event_uuid or unit.key, "unit refused whole by the hub")
            )
            return False
        tally.units_stored += 1
        return True


def _trimmed(records: list[Record], refused: set[str]) -> list[Record]:
    """A container's (report's) object_refs without what was refused."""
    if not refused:
        return records
    out = []
    for r in records:
        if r.container:
            refs = [x for x in r.obj.get("object_refs", []) if x not in refused]
            if not refs:
                continue
            r = Record({**r.obj, "object_refs": refs}, r.locator, r.record_id, r.depends, True)
        out.append(r)
    return out


def json_report(report: Report) -> bytes:
    return orjson.dumps(report.as_json(), option=orjson.OPT_INDENT_2)


def attack_index(objects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """ATT&CK technique id -> attack-pattern id, from attack-pattern objects' ``mitre-attack`` references."""
    out: dict[str, str] = {}
    for obj in objects:
        if obj.get("type") != "attack-pattern" or obj.get("revoked"):
            continue
        for ref in obj.get("external_references") or []:
            if (
                isinstance(ref, dict)
                and str(ref.get("source_name", "")).startswith("mitre")
                and ref.get("external_id")
            ):
                out.setdefault(str(ref["external_id"]), str(obj["id"]))
    return out
