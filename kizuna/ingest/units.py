"""What every ingest format produces: units of STIX objects, each object with where it came from.

A :class:`Unit` is what is stored whole or not at all: one MISP event, one STIX bundle, one CSV file or batch
of rows. Its :class:`Record` s are the STIX objects it converts to, each with a locator (a JSON pointer such
as ``/Event/Attribute/17`` or ``FILE:LINE``), the id of the record it came from, and the ids of the objects
it cannot stand without (a relationship's ends, a sighting's indicator). :class:`Problem` s are records
refused with a reason; warnings are kept beside them (a tag kept as a label, a type kept whole).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kizuna.hub.models import Incoming, ObjectResult


@dataclass(slots=True)
class Record:
    obj: dict[str, Any]
    locator: str
    record_id: str
    depends: tuple[str, ...] = ()  # STIX ids in the unit without which this record is refused
    container: bool = False  # a report or grouping: object_refs are trimmed to what is stored


@dataclass(frozen=True, slots=True)
class Problem:
    """A record refused (or, as a warning, kept with a remark): ``{source, locator, record_id, reason}``."""

    source: str
    locator: str
    record_id: str
    reason: str
    object_id: str | None = None  # the STIX id the refused record would have had

    def as_json(self) -> dict[str, str]:
        return {
            "source": self.source,
            "locator": self.locator,
            "record_id": self.record_id,
            "reason": self.reason,
        }


@dataclass(slots=True)
class Unit:
    format: str  # misp, misp-feed, csv, stix
    source: str  # file name or URL
    key: str  # the unit within its source: event uuid, bundle id, "rows 2-10001"
    version: str = ""  # a feed event's timestamp (the feed's cursor)
    event_uuid: str | None = None
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # records refused while converting
    warnings: list[Problem] = field(default_factory=list)
    refusal: str | None = None  # why the whole unit is refused before anything is stored
    skipped: int = 0  # records deliberately not converted (MISP proposals), listed in warnings
    #: The intake's check of each record's object, in order, done where the unit was converted (a converter
    #: process, :mod:`kizuna.ingest.convproc`); None: the writer checks.
    checked: list[Incoming | ObjectResult] | None = None
    #: The records' objects stayed in the converter (only their checks came): nothing may read them.
    detached: bool = False

    def problem(self, locator: str, record_id: str, reason: str, object_id: str | None = None) -> None:
        self.problems.append(Problem(self.source, locator, record_id, reason, object_id))

    def warn(self, locator: str, record_id: str, reason: str) -> None:
        self.warnings.append(Problem(self.source, locator, record_id, reason))
