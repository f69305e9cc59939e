"""The hub's records: organisations, collections, grants, stored rows, queries and write results."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kizuna.hub.index import Entries
from kizuna.hub.paging import Cursor
from kizuna.stix.markings import TLP


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    ceiling: TLP
    country: str | None = None
    sectors: tuple[str, ...] = ()
    peer_hub: bool = False
    identity_id: str | None = None
    admin: bool = False  # may delete any object it can read (and, in the UI, see the audit log)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of an API token: never its secret or hash."""

    key_id: str
    org_name: str
    name: str
    created: str
    expires_us: int | None
    last_used: str | None
    legacy: bool  # a token of the first format (``kzn_`` and 43 characters)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token's row as authentication needs it."""

    key_id: str
    org: Org
    secret_hash: str
    legacy: bool
    expires_us: int | None


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    title: str
    default_tlp: TLP
    alias: str | None = None
    description: str = ""
    key: int = 0  # the store's integer key for the collection (indexes hold it instead of the UUID text)


@dataclass(frozen=True, slots=True)
class Grant:
    can_read: bool
    can_write: bool


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class Incoming:
    """One validated object ready to be stored."""

    id: str
    type: str
    spec_version: str
    version: str  # `modified` (or `created`) as written; "" for objects without one
    version_us: int  # the same instant in microseconds since the epoch; 0 when none
    tlp: TLP | None  # from the object's predefined TLP markings; None when it references none
    raw: bytes  # serialised object, as received (canonical JSON bytes)
    recipients: tuple[str, ...] = ()  # RED recipients named by the producer (org names or identity ids)
    markings: tuple[str, ...] = ()  # marking ids it references that are not predefined TLP markings
    declares: TLP | None = None  # for a marking-definition: the TLP level it declares, if any
    index: Entries | None = None  # what the read indexes hold of it (computed from the parsed object)
    digest: bytes = b""  # BLAKE2b-128 of ``raw``: what the audit record commits to


@dataclass(frozen=True, slots=True)
class VersionFilter:
    """``match[version]``: any of last / first / all / explicit timestamps (microseconds)."""

    last: bool = True
    first: bool = False
    all: bool = False
    at_us: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    """What a TAXII read asks for; every field maps onto an indexed column."""

    added_after_us: int | None = None
    limit: int = 1000
    after: Cursor | None = None  # keyset position (TAXII `next`, a web page link, a federation cursor)
    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: VersionFilter = field(default_factory=VersionFilter)
    spec_versions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Row:
    """One stored object version as a reader gets it; ``date_added_us`` is unique across the hub."""

    id: str
    type: str
    spec_version: str
    version: str
    date_added_us: int
    raw: bytes
    tlp: TLP  # the TLP the hub enforces: the object's marking, or the default it was stored with
    marked: bool  # False when the object carries no TLP marking of its own
    origin: str = ""  # who this hub received it from: "org:NAME", "peer:NAME" or "hub"
    origin_hub: str = ""  # the hub that first shared it ("" for this hub)
    hops: int = 0  # hubs it passed through before this one


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    more: bool

    @property
    def cursor(self) -> Cursor | None:
        """Where the next page starts (after the last row), or None for an empty page."""
        return Cursor(self.rows[-1].date_added_us) if self.rows else None


class Outcome(StrEnum):
    """What the intake did with one object of a write."""

    STORED = "stored"  # a new object
    NEW_VERSION = "new-version"  # a new version of an object the collection already held
    DUPLICATE = "duplicate"  # this exact version was already held; nothing changed
    REFUSED = "refused"  # not stored; ``reason`` says why


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class ObjectResult:
    """The intake's answer for one object of a write, in the order the objects came."""

    id: str  # the object's id, or ``objects[N]`` when it had none
    version: str  # `modified` (or `created`) as written; "" when none
    outcome: Outcome
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is not Outcome.REFUSED


@dataclass(frozen=True, slots=True)
class Routed:
    """A copy of a sighting the intake stored beside its indicator, in another collection."""

    collection_id: str
    sighting_id: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one write did (a TAXII POST, a pulled page, an ingested file unit): one result per object."""

    id: str  # the write's id (a TAXII status id)
    requested_us: int  # when the write was requested (microseconds since the epoch)
    collection_id: str
    objects: tuple[ObjectResult, ...] = ()
    routed: tuple[Routed, ...] = ()

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.objects if r.outcome is outcome)

    @property
    def added(self) -> int:
        """Object versions this write stored (new objects and new versions)."""
        return self.count(Outcome.STORED) + self.count(Outcome.NEW_VERSION)

    @property
    def refused(self) -> tuple[ObjectResult, ...]:
        return tuple(r for r in self.objects if r.outcome is Outcome.REFUSED)


@dataclass(frozen=True, slots=True)
class Flow:
    """One direction of one collection pair with a peer; ``cursor`` is durable progress (the peer's
    ``date_added`` for a pull, this hub's for a push; None before the first page)."""

    id: int
    direction: str  # "pull" or "push"
    remote_collection: str
    local_collection: str
    cursor: Cursor | None = None
    transferred: int = 0
    refused: int = 0
    last_success: str | None = None
    last_error: str | None = None
    last_refusals: tuple[tuple[str, str], ...] = ()  # (id, reason) refused on the flow's last page


@dataclass(frozen=True, slots=True)
class Peer:
    """Another hub this hub syncs with. ``secret`` is the encrypted credential (never shown)."""

    id: int
    name: str
    url: str
    user: str | None
    secret: bytes
    max_tlp: TLP
    types: tuple[str, ...]
    flows: tuple[Flow, ...] = ()
    last_success: str | None = None
    last_error: str | None = None
    reshare: tuple[str, ...] = ()  # peers this peer's objects may go on to (its producers' choice)
    reshare_max_tlp: TLP = TLP.GREEN
    sighter: str = "hub"  # how a sighting sent home to this peer names who saw it: org, hub or anonymous
    home: HomeState = field(default_factory=lambda: HomeState())


@dataclass(frozen=True, slots=True)
class HomeState:
    """Where sending sightings home to one peer has reached: this hub's ``date_added`` of the last sighting
    considered, how many went and how many the agreement held back, and why the rest wait (None: none
    do)."""

    cursor: Cursor | None = None
    sent: int = 0
    held: int = 0
    waiting: str | None = None


@dataclass(frozen=True, slots=True)
class LocalSighting:
    """A sighting version posted at this hub, as sending it home needs it: the row, its poster and
    whether it is a restricted copy."""

    row: Row
    poster: Org | None  # the local organisation that posted it (None: a peer's or the hub's)
    restricted: bool


@dataclass(frozen=True, slots=True)
class IngestUnit:
    """One unit an ingest command stores (a MISP event, a STIX bundle, a CSV file or batch of rows).

    Given to :func:`kizuna.hub.intake.accept`, it makes the write all or nothing (if any object is refused,
    none is stored) and keeps its provenance beside each stored version: the format, the source (file name
    or feed URL), the unit within it and its version (a feed event's ``timestamp``: the feed's cursor), the
    MISP event uuid, the converter, and one locator per item (``FILE:LINE`` or a JSON pointer).
    """

    format: str  # "misp", "misp-feed", "csv", "stix"
    source: str
    unit: str
    converter: str  # "kizuna 0.1.0"
    unit_version: str = ""
    event_uuid: str | None = None
    locators: tuple[str, ...] = ()  # one per item given to accept, in order


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one stored object version came from (hub metadata beside the object as received)."""

    object_id: str
    version: str
    format: str
    source: str
    unit: str
    unit_version: str
    locator: str
    event_uuid: str | None
    org: str | None  # the ingesting organisation
    at_us: int  # when it was ingested
    converter: str
    write_id: str
