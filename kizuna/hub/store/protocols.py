"""What a hub store is: four small protocols, each complete, that every backend implements.

* :class:`Directory`: the hub itself, organisations, tokens, collections and grants;
* :class:`ObjectStore`: stored object versions: policy-filtered reads, one write transaction at a time
  (:meth:`ObjectStore.write` hands the intake a :class:`WriteTx`), deletion, write results;
* :class:`PeerStore`: peer hubs, their agreements, flows and durable cursors;
* :class:`AuditLog`: the append-only, hash-chained record of every write and share;
* :class:`ReadIndex`: the indexed reads of the web UI (search, versions and provenance, backward links,
  sightings, sameness groups, conjunctions, collection tallies), every one filtered by the sharing policy;
* :class:`SessionStore`: the web UI's sessions, kept in the store so that a restart signs nobody out and
  several workers share them.

:class:`Store` is all six. Only composition roots (the CLI, the demo, tests' fixtures) name a backend; the
rest of kizuna types its store with these protocols. Reads take a :class:`~kizuna.hub.models.Org` or an
:class:`~kizuna.hub.policy.Agreement` and filter with :mod:`kizuna.hub.policy`'s predicates inside the
query; no backend decides who may read what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kizuna.hub.audit import AuditHead, AuditRecord, ChainReport
from kizuna.hub.auth import TokenKey
from kizuna.hub.changes import Changes
from kizuna.hub.models import (
    Collection,
    Flow,
    Grant,
    Incoming,
    IngestUnit,
    LocalSighting,
    Org,
    Page,
    Peer,
    Provenance,
    Query,
    Row,
    TokenInfo,
    TokenRecord,
    WriteResult,
)
from kizuna.hub.paging import Cursor
from kizuna.hub.policy import Agreement
from kizuna.hub.reads import (
    COUNT_CAP,
    AuditFilter,
    ChainProgress,
    Conjunction,
    ConjunctionQuery,
    Hit,
    HitPage,
    SameGroup,
    Search,
    SightingTally,
    Stale,
    Tally,
    UiSession,
    Version,
)
from kizuna.stix.markings import TLP

T = TypeVar("T")


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class Held:
    """A version a collection already holds, as the intake needs it to tell duplicates, conflicts and
    other owners' versions apart."""

    version_us: int
    digest: bytes
    raw: bytes
    origin: str  # whose version it is ("org:NAME", "peer:NAME", "hub")
    readable: bool  # the writer of the current write may read it


@dataclass(slots=True)  # not frozen: made per object on the write path (frozen costs ~3 us each)
class NewVersion:
    """One object version the intake has decided to store, with the hub metadata kept beside it."""

    obj: Incoming
    tlp: TLP  # effective TLP: the object's own marking, or the default decided by policy
    producer_org_id: int | None
    origin: str  # "org:NAME", "peer:NAME" or "hub": whose version it is
    digest: bytes
    recipient_org_ids: tuple[int, ...] = ()
    restricted: bool = False  # readable only by its producer and named recipients, whatever its TLP
    origin_hub: str = ""  # the hub that first shared it ("" for this hub)
    hops: int = 0
    pending: tuple[str, ...] = ()  # marking ids not yet known here (the version counts as RED meanwhile)
    fallback_tlp: TLP | None = None  # with ``pending``: its TLP were those markings not TLP markings


@dataclass(frozen=True, slots=True)
class PendingVersion:
    """A stored version waiting for marking definitions (see :meth:`WriteTx.pending`)."""

    date_added_us: int
    raw: bytes
    pending: tuple[str, ...]
    fallback_tlp: TLP
    producer_org_id: int | None


class Watch(Protocol):
    """Something running that stops on ``close()``."""

    def close(self) -> None: ...


class Directory(Protocol):
    """The hub, its organisations, tokens, collections and grants."""

    def title(self) -> str: ...
    def hub_id(self) -> str: ...
    def created_at(self, org: Org | None = None) -> str:
        """When ``org`` (None: the hub itself) was created here (RFC 3339)."""
        ...

    def cursor_key(self) -> bytes: ...
    def add_org(
        self,
        name: str,
        *,
        ceiling: TLP,
        country: str | None = None,
        sectors: Sequence[str] = (),
        peer_hub: bool = False,
        admin: bool = False,
    ) -> Org: ...
    def get_org(self, name: str) -> Org: ...
    def list_orgs(self) -> list[Org]: ...
    def update_org(
        self,
        name: str,
        *,
        ceiling: TLP | None = None,
        country: str | None = None,
        sectors: Sequence[str] | None = None,
        peer_hub: bool | None = None,
        admin: bool | None = None,
    ) -> Org: ...
    def remove_org(self, name: str, *, force: bool = False) -> dict[str, int]: ...
    def add_token(
        self, org_name: str, key: TokenKey, *, name: str = "", expires_us: int | None = None
    ) -> TokenInfo: ...
    def token_record(self, key: TokenKey) -> TokenRecord | None: ...
    def token_by_id(self, key_id: str) -> TokenRecord | None: ...
    def org_for_token(self, key: TokenKey) -> Org | None: ...
    def list_tokens(self) -> list[TokenInfo]: ...
    def revoke_token(self, key_id: str) -> TokenInfo: ...
    def revoke_tokens(self, org_name: str) -> int: ...
    def touch_token(self, key_id: str, at_us: int) -> None: ...
    def count_auth_failures(
        self, subjects: Sequence[str], since_us: int
    ) -> dict[str, tuple[int, int | None]]:
        """For each subject (``addr:A``, ``key:K``, ``user:U``, ``all``): the failed authentications since
        ``since_us`` and the time of the oldest of them; shared by every worker of the hub."""
        ...

    def record_auth_failure(
        self, subjects: Sequence[str], *, at_us: int, since_us: int, detail: dict[str, object]
    ) -> dict[str, tuple[int, int | None]]:
        """Count one failure against each subject and audit it (``auth.fail``, with ``detail``) in one
        transaction; returns the counts since ``since_us``, this one included."""
        ...

    def count_orgs_with_tokens(self) -> int: ...
    def add_collection(
        self,
        title: str,
        *,
        alias: str | None = None,
        description: str = "",
        default_tlp: TLP = TLP.AMBER,
        readers: Sequence[str] = (),
        writers: Sequence[str] = (),
        collection_id: str | None = None,
    ) -> Collection: ...
    def grant_access(
        self, id_or_alias: str, *, readers: Sequence[str] = (), writers: Sequence[str] = ()
    ) -> Collection: ...
    def revoke_access(
        self, id_or_alias: str, *, readers: Sequence[str] = (), writers: Sequence[str] = ()
    ) -> Collection: ...
    def update_collection(
        self,
        id_or_alias: str,
        *,
        title: str | None = None,
        alias: str | None = None,
        clear_alias: bool = False,
        description: str | None = None,
        default_tlp: TLP | None = None,
        force: bool = False,
    ) -> Collection: ...
    def remove_collection(self, id_or_alias: str, *, force: bool = False) -> dict[str, int]: ...
    def grants_on(self, collection: Collection) -> list[tuple[str, Grant]]: ...
    def get_collection(self, id_or_alias: str) -> Collection | None: ...
    def list_collections(self) -> list[Collection]: ...
    def grant(self, collection: Collection, org: Org) -> Grant | None: ...
    def collections_for(self, org: Org) -> list[tuple[Collection, Grant]]: ...


class WriteTx(Protocol):
    """The operations of one write transaction (all or nothing; see :meth:`ObjectStore.write`)."""

    def held(
        self, collection: Collection, ids: Sequence[str], reader: Org | Agreement
    ) -> dict[str, list[Held]]:
        """Every version ``collection`` holds of those ids, whoever's, each saying whether ``reader`` (the
        writer) may read it."""
        ...

    def owners(self, ids: Sequence[str]) -> dict[str, str]:
        """The owner (an origin) of each of those ids that has one at this hub: the origin of the first
        version of it stored, in any collection. Every id of which a version was ever stored has one (an
        owner is never removed, not even when its versions are deleted), so an id without one has no version
        anywhere."""
        ...

    def org_ids(self, refs: Iterable[str]) -> dict[str, int]:
        """Organisation ids of the names or identity ids in ``refs`` that are organisations here."""
        ...

    def marking_levels(self, ids: Iterable[str]) -> dict[str, TLP | None]:
        """The marking definitions of those ids the hub knows, with the TLP each declares (or None)."""
        ...

    def register_markings(self, definitions: Sequence[tuple[str, TLP | None]]) -> None:
        """Remember marking definitions (id, declared TLP); the first definition of an id stands."""
        ...

    def pending(self, marking_ids: Sequence[str]) -> list[PendingVersion]:
        """Stored versions waiting for any of those marking definitions."""
        ...

    def resolve(
        self, date_added_us: int, tlp: TLP, pending: tuple[str, ...], recipient_org_ids: Sequence[int]
    ) -> None:
        """Re-rank a waiting version now that some of its markings are known."""
        ...

    def insert(self, collection: Collection, versions: Sequence[NewVersion]) -> list[int]:
        """Store ``versions``, in this order; returns the ``date_added`` (microseconds) given to each."""
        ...

    def holders(
        self, object_ids: Sequence[str], reader: Org, exclude: Collection
    ) -> dict[str, list[tuple[Collection, list[str]]]]:
        """For each of ``object_ids``: the other collections where ``reader`` may read it, each with the
        names of the organisations that posted a version of it there (ids held nowhere else are left out)."""
        ...

    def save_result(self, result: WriteResult, org: Org | None) -> None: ...
    def advance_flow(
        self,
        flow_id: int,
        cursor: Cursor,
        transferred: int,
        refused: int,
        refusals: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Move a pull flow's cursor; ``refusals`` (id, reason) of this page replace the flow's last ones."""
        ...

    def audit(self, actor: str, action: str, detail: object) -> None: ...

    def record_unit(
        self,
        unit: IngestUnit,
        write_id: str,
        org: Org | None,
        at_us: int,
        stored: Sequence[tuple[int, str]],
    ) -> None:
        """Record an ingested unit and, for each stored version (its ``date_added``), where in the unit it
        came from (its locator)."""
        ...


class ObjectStore(Protocol):
    """Stored object versions."""

    def write(self, work: Callable[[WriteTx], T]) -> T:
        """Run ``work`` in one write transaction and return what it returns; nothing it did persists if it
        raises. The intake (:mod:`kizuna.hub.intake`) is the only caller that stores objects."""
        ...

    def query(self, collection: Collection, reader: Org | Agreement, query: Query) -> Page:
        """One page of what ``reader`` may read in ``collection``, in ``date_added`` order; given an
        :class:`~kizuna.hub.policy.Agreement`: what may leave to that peer."""
        ...

    def delete_versions(self, collection: Collection, org: Org, object_id: str, query: Query) -> int:
        """Delete the versions of ``object_id`` that ``org`` may read and delete; 0 when it may read none,
        :class:`~kizuna.errors.PermissionDenied` when it may read some but delete none. Audited."""
        ...

    def record_share(
        self, collection: Collection, peer: str, rows: Sequence[Row], *, by: str = "pull"
    ) -> None:
        """Audit a page of versions a peer hub's account read (``by``: its pull, or a stream)."""
        ...

    def changes(self) -> Changes:
        """This process's commit notifications (:mod:`kizuna.hub.changes`): every write transaction that
        stores versions publishes, after commit, the highest ``date_added`` it gave in each collection."""
        ...

    def watch_changes(self) -> Watch:
        """Also publish the commits of other processes on the same storage, until ``close()``."""
        ...

    def local_sightings(self, after_us: int, limit: int) -> tuple[list[LocalSighting], int]:
        """Sighting versions stored after ``after_us`` (any collection), in order, at most ``limit``, with
        their posters; and the position up to which everything was considered."""
        ...

    def stored_versions(self) -> Iterable[tuple[str, str, str, str]]:
        """(collection id, object id, version, digest hex) of every stored version."""
        ...

    def write_result(self, result_id: str, org: Org) -> WriteResult | None: ...
    def count_objects(self) -> int: ...

    def ingested_units(self, source: str) -> dict[str, str]:
        """unit -> the version last stored of each unit ingested from ``source`` (a feed's cursors, the CSV
        batches already done)."""
        ...

    def provenance(self, collection: Collection, object_id: str) -> list[Provenance]:
        """Where each ingested version of ``object_id`` in ``collection`` came from, oldest first."""
        ...


class PeerStore(Protocol):
    """Peer hubs, agreements, flows and their cursors."""

    def add_peer(
        self,
        name: str,
        *,
        url: str,
        user: str | None,
        secret: bytes,
        max_tlp: TLP,
        types: Sequence[str] = (),
        pulls: Sequence[tuple[str, str]] = (),
        pushes: Sequence[tuple[str, str]] = (),
        reshare: Sequence[str] = (),
        reshare_max_tlp: TLP = TLP.GREEN,
        sighter: str = "hub",
    ) -> Peer: ...
    def get_peer(self, name: str) -> Peer: ...
    def list_peers(self) -> list[Peer]: ...
    def remove_peer(self, name: str) -> None: ...
    def agreement_for(self, org: Org) -> Agreement: ...
    def agreement_named(self, peer: str) -> Agreement | None: ...
    def record_sync(self, peer_id: int, flow_id: int | None, error: str | None) -> None: ...
    def confirm_push(
        self, peer: Peer, flow: Flow, cursor: Cursor, rows: Sequence[Row], status: dict[str, Any]
    ) -> None: ...
    def home_waiting(self, peer_id: int, reason: str | None) -> None: ...
    def confirm_home(
        self,
        peer: Peer,
        cursor: Cursor,
        sent: Sequence[tuple[str, str, str]],
        new: int,
        held: int,
        status: dict[str, Any] | None,
    ) -> None: ...
    def hold_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew a lease (one holder at a time, until it expires); False while another holds it.
        With PostgreSQL this is a session advisory lock."""
        ...

    def lease_holder(self, name: str) -> str | None: ...
    def release_lease(self, name: str, holder: str) -> None: ...


class AuditLog(Protocol):
    """The audit chain (records are appended inside the transaction of the write they describe)."""

    def append_audit(self, actor: str, action: str, detail: object) -> None: ...
    def audit_records(self) -> Iterable[AuditRecord]: ...
    def audit_head(self) -> AuditHead | None: ...
    def audit_checkpoints(self) -> list[str]: ...
    def verify_audit(self) -> ChainReport: ...
    def audit_page(self, audit_filter: AuditFilter) -> tuple[list[AuditRecord], bool]:
        """Records matching the filter, newest first, and whether older ones match too."""
        ...

    def verify_audit_progress(self, progress: ChainProgress | None, *, max_records: int) -> ChainProgress:
        """Go on verifying the chain from ``progress`` (None: from its start), at most ``max_records`` more
        records: their links and MACs, the head once the end is reached, and new checkpoint lines (the same
        checks as :meth:`verify_audit`, less the reconciliation of stored objects)."""
        ...


class ReadIndex(Protocol):
    """Indexed reads for one reader (an :class:`Org`); each is filtered by :func:`kizuna.hub.policy.visible`
    inside its query and counts only the latest version of each object the reader may read."""

    def generation(self) -> int:
        """A number that changes whenever stored objects change (caches of reads are keyed by it)."""
        ...

    def search(self, reader: Org, search: Search) -> HitPage: ...
    def count(self, reader: Org, search: Search, *, cap: int = COUNT_CAP) -> int:
        """How many objects the search finds, counted up to ``cap`` (``cap + 1`` means more)."""
        ...

    def tally(self, collection: Collection, reader: Org, *, limit: int = COUNT_CAP) -> Tally: ...
    def versions(self, reader: Org, object_id: str, collection: Collection | None = None) -> list[Version]:
        """Every version of ``object_id`` the reader may read (in ``collection``, or anywhere)."""
        ...

    def linked(
        self, reader: Org, object_id: str, role: str, *, after: Cursor | None = None, limit: int = 50
    ) -> HitPage:
        """Latest versions of the objects that reference ``object_id`` as ``role`` (``source``,
        ``target``: relationships; ``sighting``: sightings; ``about``: notes and opinions)."""
        ...

    def sighting_tallies(
        self,
        reader: Org,
        *,
        since_us: int,
        until_us: int,
        collection: Collection | None = None,
        tlps: Sequence[str] = (),
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[SightingTally], bool]:
        """Per sighted object, what the readable sightings seen in ``[since_us, until_us)`` add up to,
        most recently seen first; and whether more follow."""
        ...

    def stale_indicators(
        self,
        reader: Org,
        *,
        now_us: int,
        quiet_since_us: int,
        collection: Collection | None = None,
        after: Cursor | None = None,
        limit: int = 50,
    ) -> tuple[list[Stale], bool]: ...
    def same_groups(
        self,
        reader: Org,
        *,
        kinds: Sequence[str] = (),
        collection: Collection | None = None,
        after: Cursor | None = None,
        limit: int = 50,
        count: bool = True,
    ) -> tuple[list[SameGroup], bool]:
        """Sameness keys under which the reader may read reports from two or more sources (their reports
        counted unless ``count`` is false)."""
        ...

    def same_members_of(
        self, reader: Org, keys: Sequence[str], *, limit: int = 50, collection: Collection | None = None
    ) -> dict[str, list[Hit]]:
        """The first ``limit`` readable reports under each of ``keys`` (in ``collection``, if given), oldest
        first (one statement)."""
        ...

    def same_members(self, reader: Org, key: str, *, limit: int = 200) -> list[Hit]: ...
    def latest(self, reader: Org, ids: Sequence[str]) -> dict[str, Hit]:
        """The latest version the reader may read of each of ``ids`` it may read (the one added last where
        several collections hold it)."""
        ...

    def readable_ids(self, reader: Org, ids: Sequence[str]) -> set[str]:
        """Those of ``ids`` the reader may read some version of (pages that name objects, such as the audit
        log, show only those)."""
        ...

    def conjunctions(self, reader: Org, query: ConjunctionQuery) -> tuple[list[Conjunction], bool]: ...


class SessionStore(Protocol):
    """The web UI's sessions (cookie ids are kept only as hashes)."""

    def create_session(self, session: UiSession, *, max_sessions: int) -> None:
        """Keep a new session; expired ones go, and the oldest while more than ``max_sessions`` remain."""
        ...

    def get_session(self, id_hash: str) -> UiSession | None: ...
    def end_session(self, id_hash: str) -> bool: ...


class Store(Directory, ObjectStore, PeerStore, AuditLog, ReadIndex, SessionStore, Protocol):
    """A hub store: every protocol above, and a way to let go of its connections."""

    def close(self) -> None: ...
