"""The read interface's questions and answers beyond a TAXII page: search, an object's versions and
provenance, backward links, sighting tallies, stale indicators, sameness groups, collection tallies, the
audit log's pages and the web UI's sessions.

Every answer is computed by a store (:class:`~kizuna.hub.store.protocols.ReadIndex`) for one reader,
filtered with :func:`kizuna.hub.policy.visible` inside the query: nothing here holds an object the reader
may not read, and no count includes one.
"""

from __future__ import annotations

from dataclasses import dataclass

from kizuna.hub.models import Collection, Row
from kizuna.hub.paging import Cursor

#: Counts stop here; beyond, interfaces show "10,000+" (no unbounded COUNT).
COUNT_CAP = 10_000

#: Reports under one sameness key are counted to here in the disagreements list ("1,000+" beyond).
GROUP_COUNT_CAP = 1_000

#: Labels of the TLP filter: the enforced levels of marked objects, and objects with no marking of their own.
TLP_FILTER_LABELS = ("clear", "green", "amber", "amber+strict", "red", "unmarked")


@dataclass(frozen=True, slots=True)
class Search:
    """A search over the latest versions a reader may read (every filter optional; all must hold).

    ``text`` is matched word by word (prefixes) against names, descriptions, aliases and observable values;
    ``value`` finds indicators whose patterns compare it and observables holding it, exactly. Given both,
    an object matches either."""

    collection: Collection | None = None  # None: every collection the reader may read
    text: str = ""
    value: str = ""
    types: tuple[str, ...] = ()
    tlps: tuple[str, ...] = ()  # of TLP_FILTER_LABELS
    origins: tuple[str, ...] = ()  # who the hub received it from (a Source's ``origin``)
    origin_hubs: tuple[str, ...] = ()  # "" for this hub
    added_after_us: int | None = None
    added_before_us: int | None = None
    revoked: bool | None = None
    after: Cursor | None = None
    newest_first: bool = False
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Source:
    """Who a version came from: ``kind`` is ``org`` (a local organisation), ``peer`` (another hub) or
    ``hub`` (composed by this hub); ``origin`` is the value the search filters on."""

    kind: str
    name: str
    origin: str


@dataclass(frozen=True, slots=True)
class Hit:
    """One version a reader may read, with where it is held, who it came from and whether it is revoked."""

    row: Row
    collection: Collection
    source: Source
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class HitPage:
    hits: list[Hit]
    more: bool

    @property
    def cursor(self) -> Cursor | None:
        return Cursor(self.hits[-1].row.date_added_us) if self.hits else None


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an object as the object page shows it, with what makes it readable to the reader."""

    hit: Hit
    restricted: bool  # readable only by its producer and named recipients, whatever its TLP
    reader_produced: bool  # the reader posted it
    reader_named: bool  # the producer named the reader as a recipient


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of the latest versions a reader may read in one collection (the first ``total`` when
    ``truncated``)."""

    total: int
    by_type: dict[str, int]
    by_tlp: dict[str, int]  # TLP label of marked versions, "unmarked" for the others
    by_source: dict[str, int]  # Source.origin -> count
    sources: dict[str, Source]
    by_hub: dict[str, int]  # origin hub ("" for this hub) -> count
    truncated: bool


@dataclass(frozen=True, slots=True)
class SightingTally:
    """What the readable sightings of one object within a window add up to."""

    ref: str
    sightings: int
    count: int  # the sum of their ``count``
    first_seen_us: int
    last_seen_us: int
    reporters: int  # distinct organisations (and peer hubs) that reported them
    per_day: tuple[int, ...] = ()  # sighting counts per day of the window, oldest first


@dataclass(frozen=True, slots=True)
class Stale:
    """A readable indicator nobody has sighted lately, past its ``valid_until`` or revoked."""

    hit: Hit
    last_seen_us: int | None  # its latest readable sighting, if any
    valid_until_us: int | None
    reasons: tuple[str, ...]  # "revoked", "expired", "quiet"


@dataclass(frozen=True, slots=True)
class SameGroup:
    """A sameness key under which a reader may read reports from two or more sources."""

    position: int  # keyset position of the key in the list of shared keys
    key: str
    reports: int | None  # readable latest versions under the key, counted up to GROUP_COUNT_CAP + 1 (None:
    # not counted)
    sources: int  # at least this many sources (two: the search stops at the second)


@dataclass(frozen=True, slots=True)
class Conjunction:
    hit: Hit
    norad_1: int
    norad_2: int
    tca_us: int
    miss_km: float | None
    rel_speed_km_s: float | None
    pc: float | None
    pc_method: str | None


@dataclass(frozen=True, slots=True)
class ConjunctionQuery:
    norad: int | None = None  # either object of the pair
    tca_from_us: int | None = None
    tca_to_us: int | None = None
    min_pc: float | None = None
    max_miss_km: float | None = None
    limit: int = COUNT_CAP


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit records a page shows (newest first)."""

    actions: tuple[str, ...] = ()
    actors: tuple[str, ...] = ()
    since_at: str | None = None  # RFC 3339, inclusive
    until_at: str | None = None  # RFC 3339, exclusive
    before_seq: int | None = None  # keyset position: records older than this
    limit: int = 100


@dataclass(frozen=True, slots=True)
class ChainProgress:
    """How far the audit chain has been verified, record by record, so that the next check goes on from
    there (``ok`` False: damage was found at ``first_bad_seq``, saying ``reason``)."""

    seq: int = 0
    hash: str = "0" * 64
    records: int = 0
    checkpoint_lines: int = 0  # checkpoint lines checked
    checkpoint_offset: int = 0  # bytes of the checkpoint file checked
    ok: bool = True
    first_bad_seq: int | None = None
    reason: str = ""
    head_records: int = 0  # records the head says exist (so a page can say how far along the check is)
    complete: bool = False  # every record up to the head is verified


@dataclass(frozen=True, slots=True)
class UiSession:
    """A signed-in browser: the hash of its cookie's id, the organisation, the key id of the token it
    signed in with (not a secret; every page re-checks that token), its CSRF token, and when it ends."""

    id_hash: str
    org_id: int
    key_id: str
    csrf: str
    created_us: int
    expires_us: int
