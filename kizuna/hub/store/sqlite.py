"""The embedded default store: one SQLite file in WAL mode, one writer, many readers.

Every write goes through one connection under a lock with ``BEGIN IMMEDIATE`` and appends its audit record
in the same transaction. Readers use one connection per thread. Objects are kept as received (canonical JSON
bytes) beside the indexed columns the TAXII filters need, so a page is one indexed query.

``date_added`` is unique across the hub (microseconds, strictly increasing), so a client that restarts
with ``added_after`` set to the last ``date_added`` it saw neither loses nor repeats an object, however many
objects arrive in one second.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from kizuna.errors import Conflict, InputError, NotFound, StoreError
from kizuna.hub import policy
from kizuna.hub.audit import GENESIS_HASH, AuditRecord, canonical_detail, record_hash
from kizuna.hub.models import (
    Collection,
    Flow,
    Grant,
    Incoming,
    Org,
    Page,
    Peer,
    Query,
    Row,
    StatusRecord,
)
from kizuna.stix.ids import Clock, format_timestamp, utc_now
from kizuna.stix.markings import TLP

SCHEMA_VERSION = "1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_CHUNK = 500  # parameters per IN (...) list

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orgs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    ceiling INTEGER NOT NULL,
    country TEXT,
    sectors TEXT NOT NULL DEFAULT '[]',
    peer_hub INTEGER NOT NULL DEFAULT 0,
    identity_id TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL
);
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    created TEXT NOT NULL
);
CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    alias TEXT UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    default_tlp INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE grants (
    collection_id TEXT NOT NULL REFERENCES collections(id),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    can_read INTEGER NOT NULL,
    can_write INTEGER NOT NULL,
    PRIMARY KEY (collection_id, org_id)
);
CREATE TABLE objects (
    seq INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES collections(id),
    id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_us INTEGER NOT NULL,
    date_added INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    marked INTEGER NOT NULL,
    producer_org_id INTEGER REFERENCES orgs(id),
    origin TEXT NOT NULL,
    digest BLOB NOT NULL,
    raw BLOB NOT NULL
);
CREATE INDEX objects_by_date ON objects (collection_id, date_added, seq);
CREATE INDEX objects_by_id ON objects (collection_id, id_key, version_us);
CREATE TABLE recipients (
    object_seq INTEGER NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (object_seq, org_id)
);
CREATE TABLE status (
    id TEXT PRIMARY KEY,
    org_id INTEGER REFERENCES orgs(id),
    body BLOB NOT NULL
);
CREATE TABLE peers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    user TEXT,
    secret BLOB NOT NULL,
    max_tlp INTEGER NOT NULL,
    types TEXT NOT NULL DEFAULT '[]',
    created TEXT NOT NULL,
    last_success TEXT,
    last_error TEXT
);
CREATE TABLE flows (
    id INTEGER PRIMARY KEY,
    peer_id INTEGER NOT NULL REFERENCES peers(id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('pull', 'push')),
    remote_collection TEXT NOT NULL,
    local_collection TEXT NOT NULL REFERENCES collections(id),
    cursor TEXT NOT NULL DEFAULT '',
    transferred INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    last_success TEXT,
    last_error TEXT,
    UNIQUE (peer_id, direction, remote_collection, local_collection)
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
"""

_ORG_COLS = "id, name, ceiling, country, sectors, peer_hub, identity_id"
_COL_COLS = "id, title, default_tlp, alias, description"


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch (exact integer arithmetic)."""
    return (moment - _EPOCH) // _US


def from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def format_us(us: int) -> str:
    return format_timestamp(from_us(us), precision="microsecond")


def _org(row: tuple[Any, ...]) -> Org:
    return Org(
        id=int(row[0]),
        name=str(row[1]),
        ceiling=TLP(int(row[2])),
        country=row[3] if row[3] is None else str(row[3]),
        sectors=tuple(orjson.loads(row[4])),
        peer_hub=bool(row[5]),
        identity_id=str(row[6]),
    )


def _collection(row: tuple[Any, ...]) -> Collection:
    return Collection(
        id=str(row[0]),
        title=str(row[1]),
        default_tlp=TLP(int(row[2])),
        alias=None if row[3] is None else str(row[3]),
        description=str(row[4]),
    )


def id_key(stix_id: str) -> int:
    """A signed 64-bit key for an id: the index holds 8 bytes instead of the 40-odd of the id text, so a
    write touches fewer index pages. Queries compare the id itself as well (keys may collide)."""
    return int.from_bytes(hashlib.blake2b(stix_id.encode(), digest_size=8).digest(), "big", signed=True)


def _digest(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=16).digest()


def _same_content(a: bytes, b: bytes) -> bool:
    """Are two serialisations the same object? Key order and whitespace do not count (another server may
    send an object back with its keys sorted)."""
    if a == b:
        return True
    sort = orjson.OPT_SORT_KEYS
    return orjson.dumps(orjson.loads(a), option=sort) == orjson.dumps(orjson.loads(b), option=sort)


class SQLiteStore:
    """A hub database in one SQLite file. Use :meth:`create` for a new hub and :meth:`open` otherwise."""

    def __init__(
        self, path: str | Path, *, clock: Clock = utc_now, durable: bool = True, _create: bool = False
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._synchronous = "FULL" if durable else "OFF"
        self._lock = threading.Lock()
        self._local = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        if not _create and not self.path.exists():
            raise NotFound(f"{self.path}: no hub database here (create one with 'kizuna hub init')")
        self._writer = self._connect(writer=True)
        if not _create:
            self._check_schema()

    # -- lifecycle ----------------------------------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | Path, *, title: str = "kizuna hub", clock: Clock = utc_now, durable: bool = True
    ) -> SQLiteStore:
        """A new hub database. ``durable=False`` skips fsync (throw-away test databases only)."""
        p = Path(path)
        if p.exists():
            raise Conflict(f"{p}: a file already exists here; refusing to overwrite it")
        if not p.parent.is_dir():
            raise NotFound(f"{p.parent}: directory does not exist")
        store = cls(p, clock=clock, durable=durable, _create=True)
        with store._write() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            now = store._now_text()
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", SCHEMA_VERSION),
                    ("title", title),
                    ("created", now),
                    ("hub_id", str(uuid.uuid4())),
                    ("last_date_added", "0"),
                ],
            )
            store._audit(conn, "cli", "hub.init", {"title": title})
        return store

    @classmethod
    def open(cls, path: str | Path, *, clock: Clock = utc_now) -> SQLiteStore:
        return cls(path, clock=clock)

    def _connect(self, *, writer: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            # page cache: 64 MiB for the one writer, 8 MiB for each reader thread (RSS stays bounded)
            conn.execute(f"PRAGMA cache_size={-65536 if writer else -8192}")
            conn.execute("PRAGMA wal_autocheckpoint=16384")  # checkpoint every ~64 MiB of WAL, not every 4
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open as a hub database: {exc}") from None
        return conn

    def _check_schema(self) -> None:
        try:
            row = self._writer.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError:
            raise StoreError(f"{self.path}: not a kizuna hub database") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: unsupported hub schema version {row and row[0]!r}")

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()
        self._writer.close()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._all_readers.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _now_text(self) -> str:
        return format_timestamp(self._clock(), precision="microsecond")

    # -- audit --------------------------------------------------------------------------------------
    def _audit(self, conn: sqlite3.Connection, actor: str, action: str, detail: object) -> None:
        last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (1, GENESIS_HASH) if last is None else (int(last[0]) + 1, str(last[1]))
        at = self._now_text()
        text = canonical_detail(detail)
        conn.execute(
            "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)",
            (seq, at, actor, action, text, prev, record_hash(prev, seq, at, actor, action, text)),
        )

    def append_audit(self, actor: str, action: str, detail: object) -> None:
        with self._write() as conn:
            self._audit(conn, actor, action, detail)

    def audit_records(self) -> Iterator[AuditRecord]:
        cur = self._reader().execute(
            "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY seq"
        )
        for r in cur:
            yield AuditRecord(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6])

    # -- hub, organisations, tokens -----------------------------------------------------------------
    def title(self) -> str:
        row = self._reader().execute("SELECT value FROM meta WHERE key='title'").fetchone()
        return str(row[0]) if row else "kizuna hub"

    def meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def add_org(
        self,
        name: str,
        *,
        ceiling: TLP,
        country: str | None = None,
        sectors: Sequence[str] = (),
        peer_hub: bool = False,
    ) -> Org:
        name = name.strip()
        if not name or any(c in name for c in ",:/\n\t") or len(name) > 100:
            raise InputError(f"invalid organisation name {name!r} (no commas, colons, slashes; <= 100 chars)")
        identity_id = f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, 'kizuna-org:' + name)}"
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO orgs (name, ceiling, country, sectors, peer_hub, identity_id, created)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (
                        name,
                        int(ceiling),
                        country,
                        orjson.dumps(list(sectors)).decode(),
                        int(peer_hub),
                        identity_id,
                        self._now_text(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"organisation {name!r} already exists") from None
            self._audit(
                conn,
                "cli",
                "org.add",
                {
                    "name": name,
                    "ceiling": ceiling.label,
                    "country": country,
                    "sectors": list(sectors),
                    "peer_hub": peer_hub,
                },
            )
            org_id = int(cur.lastrowid or 0)
        return Org(org_id, name, ceiling, country, tuple(sectors), peer_hub, identity_id)

    def get_org(self, name: str) -> Org:
        row = self._reader().execute(f"SELECT {_ORG_COLS} FROM orgs WHERE name=?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"unknown organisation {name!r}")
        return _org(row)

    def list_orgs(self) -> list[Org]:
        return [_org(r) for r in self._reader().execute(f"SELECT {_ORG_COLS} FROM orgs ORDER BY name")]

    def add_token(self, org_name: str, token_hash: str) -> None:
        org = self.get_org(org_name)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, org_id, created) VALUES (?,?,?)",
                (token_hash, org.id, self._now_text()),
            )
            self._audit(conn, "cli", "token.create", {"org": org.name, "token_sha256_prefix": token_hash[:8]})

    def revoke_tokens(self, org_name: str) -> int:
        """Revoke every token of an organisation (it is locked out at once); returns how many."""
        org = self.get_org(org_name)
        with self._write() as conn:
            n = conn.execute("DELETE FROM tokens WHERE org_id=?", (org.id,)).rowcount
            self._audit(conn, "cli", "token.revoke", {"org": org.name, "tokens": n})
        return int(n)

    def org_for_token(self, token_hash: str) -> Org | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {', '.join('o.' + c.strip() for c in _ORG_COLS.split(','))}"
                " FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE t.token_hash=?",
                (token_hash,),
            )
            .fetchone()
        )
        return None if row is None else _org(row)

    def count_orgs_with_tokens(self) -> int:
        row = self._reader().execute("SELECT COUNT(DISTINCT org_id) FROM tokens").fetchone()
        return int(row[0])

    # -- collections --------------------------------------------------------------------------------
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
    ) -> Collection:
        if not title.strip():
            raise InputError("a collection needs a non-empty title")
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        cid = collection_id or str(uuid.uuid4())
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO collections (id, title, alias, description, default_tlp, created)"
                    " VALUES (?,?,?,?,?,?)",
                    (cid, title, alias, description, int(default_tlp), self._now_text()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a collection with alias {alias!r} or id {cid} already exists") from None
            conn.executemany(
                "INSERT INTO grants (collection_id, org_id, can_read, can_write) VALUES (?,?,?,?)",
                [(cid, org.id, int(name in readers), int(name in writers)) for name, org in orgs.items()],
            )
            self._audit(
                conn,
                "cli",
                "collection.add",
                {
                    "id": cid,
                    "title": title,
                    "alias": alias,
                    "default_tlp": default_tlp.label,
                    "read": sorted(readers),
                    "write": sorted(writers),
                },
            )
        return Collection(cid, title, default_tlp, alias, description)

    def grant_access(
        self, id_or_alias: str, *, readers: Sequence[str] = (), writers: Sequence[str] = ()
    ) -> Collection:
        """Give organisations read and/or write access to an existing collection (grants only widen)."""
        c = self.get_collection(id_or_alias)
        if c is None:
            raise NotFound(f"unknown collection {id_or_alias!r}")
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        if not orgs:
            raise InputError("name at least one organisation with --read or --write")
        with self._write() as conn:
            for name, org in orgs.items():
                conn.execute(
                    "INSERT INTO grants (collection_id, org_id, can_read, can_write) VALUES (?,?,?,?)"
                    " ON CONFLICT (collection_id, org_id) DO UPDATE SET"
                    " can_read = max(can_read, excluded.can_read),"
                    " can_write = max(can_write, excluded.can_write)",
                    (c.id, org.id, int(name in readers), int(name in writers)),
                )
            self._audit(
                conn,
                "cli",
                "collection.grant",
                {"id": c.id, "read": sorted(readers), "write": sorted(writers)},
            )
        return c

    def get_collection(self, id_or_alias: str) -> Collection | None:
        row = (
            self._reader()
            .execute(
                f"SELECT {_COL_COLS} FROM collections WHERE id=? OR alias=? ORDER BY id=? DESC LIMIT 1",
                (id_or_alias, id_or_alias, id_or_alias),
            )
            .fetchone()
        )
        return None if row is None else _collection(row)

    def list_collections(self) -> list[Collection]:
        cur = self._reader().execute(f"SELECT {_COL_COLS} FROM collections ORDER BY created, id")
        return [_collection(r) for r in cur]

    def grant(self, collection_id: str, org_id: int) -> Grant | None:
        row = (
            self._reader()
            .execute(
                "SELECT can_read, can_write FROM grants WHERE collection_id=? AND org_id=?",
                (collection_id, org_id),
            )
            .fetchone()
        )
        if row is None or not (row[0] or row[1]):
            return None
        return Grant(bool(row[0]), bool(row[1]))

    def collections_for(self, org: Org) -> list[tuple[Collection, Grant]]:
        cur = self._reader().execute(
            f"SELECT {', '.join('c.' + c.strip() for c in _COL_COLS.split(','))}, g.can_read, g.can_write"
            " FROM collections c JOIN grants g ON g.collection_id = c.id"
            " WHERE g.org_id=? AND (g.can_read OR g.can_write) ORDER BY c.created, c.id",
            (org.id,),
        )
        return [(_collection(r[:5]), Grant(bool(r[5]), bool(r[6]))) for r in cur]

    # -- objects: write -----------------------------------------------------------------------------
    def add_objects(
        self,
        collection: Collection,
        org: Org | None,
        incoming: Sequence[Incoming],
        status: StatusRecord,
        *,
        unmarked_tlp: TLP | None = None,
        origin: str | None = None,
        cursor: tuple[int, str] | None = None,
        refused: int = 0,
    ) -> StatusRecord:
        """Store ``incoming`` (already validated) and the status; failures already in ``status`` stay.

        Same id and version already stored with the same bytes: a success, stored once. Same id and version
        with different bytes: a failure (the stored version is never replaced). ``org`` is the posting
        organisation (None for objects pulled from a peer, whose ``origin`` is ``peer:NAME``); ``cursor``
        (flow id, value) advances a pull flow in the same transaction, with ``refused`` objects counted.
        """
        default_tlp = collection.default_tlp if unmarked_tlp is None else unmarked_tlp
        if origin is None:
            if org is None:
                raise ValueError("add_objects needs an organisation or an origin")
            origin = f"org:{org.name}"
        org_id = None if org is None else org.id
        with self._write() as conn:
            stored = self._existing(conn, collection.id, [o.id for o in incoming])
            recipient_ids = self._recipient_ids(conn, incoming)
            last_added = int(conn.execute("SELECT value FROM meta WHERE key='last_date_added'").fetchone()[0])
            next_seq = int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM objects").fetchone()[0]) + 1
            now_us = to_us(self._clock())
            rows: list[tuple[object, ...]] = []
            recipient_rows: list[tuple[int, int]] = []
            added: list[list[str]] = []
            duplicates = 0
            for obj in incoming:
                key = (obj.id, obj.version_us)
                digest = _digest(obj.raw)
                ref = {"id": obj.id, "version": obj.version} if obj.version else {"id": obj.id}
                if key in stored:
                    held_digest, held_raw = stored[key]
                    if held_digest == digest or _same_content(held_raw, obj.raw):
                        duplicates += 1
                        status.successes.append({**ref, "message": "already stored"})
                    else:
                        status.failures.append(
                            {
                                **ref,
                                "message": "a different object with this id and version"
                                " is already stored; post a new version instead",
                            }
                        )
                    continue
                tlp = default_tlp if obj.tlp is None else obj.tlp
                unknown = [r for r in obj.recipients if r not in recipient_ids]
                if tlp == TLP.RED and unknown:
                    status.failures.append({**ref, "message": f"unknown recipient(s) {', '.join(unknown)}"})
                    continue
                stored[key] = (digest, obj.raw)
                last_added = max(now_us, last_added + 1)
                rows.append(
                    (
                        next_seq,
                        collection.id,
                        obj.id,
                        id_key(obj.id),
                        obj.type,
                        obj.spec_version,
                        obj.version,
                        obj.version_us,
                        last_added,
                        int(tlp),
                        int(obj.tlp is not None),
                        org_id,
                        origin,
                        digest,
                        obj.raw,
                    )
                )
                if tlp == TLP.RED:
                    recipient_rows.extend((next_seq, recipient_ids[r]) for r in set(obj.recipients))
                added.append([obj.id, obj.version])
                status.successes.append(ref)
                next_seq += 1
            conn.executemany(
                "INSERT INTO objects (seq, collection_id, id, id_key, type, spec_version, version,"
                " version_us, date_added, tlp, marked, producer_org_id, origin, digest, raw)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO recipients (object_seq, org_id) VALUES (?,?)", recipient_rows
            )
            conn.execute("UPDATE meta SET value=? WHERE key='last_date_added'", (str(last_added),))
            conn.execute(
                "INSERT INTO status (id, org_id, body) VALUES (?,?,?)",
                (status.id, org_id, orjson.dumps(status.resource())),
            )
            detail: dict[str, object] = {
                "collection": collection.id,
                "status": status.id,
                "added": added,
                "duplicates": duplicates,
                "failures": status.failures,
            }
            if cursor is not None:
                conn.execute(
                    "UPDATE flows SET cursor=?, transferred=transferred+?, refused=refused+? WHERE id=?",
                    (cursor[1], len(added), refused, cursor[0]),
                )
                detail["flow"] = cursor[0]
                detail["cursor"] = cursor[1]
            action = "objects.add" if origin.startswith("org:") else "objects.receive"
            self._audit(conn, origin, action, detail)
        return status

    def _existing(
        self, conn: sqlite3.Connection, collection_id: str, ids: list[str]
    ) -> dict[tuple[str, int], tuple[bytes, bytes]]:
        """(id, version_us) -> (digest, serialised object) of what the collection already holds."""
        found: dict[tuple[str, int], tuple[bytes, bytes]] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            cur = conn.execute(
                f"SELECT id, version_us, digest, raw FROM objects WHERE collection_id=? AND id_key IN"
                f" ({','.join('?' * len(chunk))})",
                [collection_id, *(id_key(i) for i in chunk)],
            )
            wanted = set(chunk)
            for r in cur:
                if r[0] in wanted:  # a 64-bit key may collide; the id decides
                    found[(str(r[0]), int(r[1]))] = (bytes(r[2]), bytes(r[3]))
        return found

    def _recipient_ids(self, conn: sqlite3.Connection, incoming: Sequence[Incoming]) -> dict[str, int]:
        wanted = {r for o in incoming for r in o.recipients}
        if not wanted:
            return {}
        out: dict[str, int] = {}
        for r in conn.execute("SELECT id, name, identity_id FROM orgs"):
            if r[1] in wanted:
                out[str(r[1])] = int(r[0])
            if r[2] in wanted:
                out[str(r[2])] = int(r[0])
        return out

    # -- peers (federation) --------------------------------------------------------------------------
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
    ) -> Peer:
        """Record a peer hub. ``pulls`` are (remote, local) collection pairs, ``pushes`` (local, remote)."""
        policy.Agreement(name, max_tlp, tuple(types))  # refuses an agreement above AMBER
        flows: list[tuple[str, str, str]] = []
        for remote, local in pulls:
            flows.append(("pull", remote, self._local_collection_id(local)))
        for local, remote in pushes:
            flows.append(("push", remote, self._local_collection_id(local)))
        with self._write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO peers (name, url, user, secret, max_tlp, types, created)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (
                        name,
                        url,
                        user,
                        secret,
                        int(max_tlp),
                        orjson.dumps(list(types)).decode(),
                        self._now_text(),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"peer {name!r} already exists") from None
            peer_id = int(cur.lastrowid or 0)
            try:
                conn.executemany(
                    "INSERT INTO flows (peer_id, direction, remote_collection, local_collection)"
                    " VALUES (?,?,?,?)",
                    [(peer_id, d, r, lc) for d, r, lc in flows],
                )
            except sqlite3.IntegrityError:
                raise InputError("the same flow is given twice") from None
            self._audit(
                conn,
                "cli",
                "peer.add",
                {
                    "name": name,
                    "url": url,
                    "max_tlp": max_tlp.label,
                    "types": list(types),
                    "flows": [list(f) for f in flows],
                },
            )
        return self.get_peer(name)

    def _local_collection_id(self, id_or_alias: str) -> str:
        c = self.get_collection(id_or_alias)
        if c is None:
            raise NotFound(f"unknown local collection {id_or_alias!r}")
        return c.id

    def get_peer(self, name: str) -> Peer:
        for peer in self.list_peers():
            if peer.name == name:
                return peer
        raise NotFound(f"unknown peer {name!r}")

    def list_peers(self) -> list[Peer]:
        conn = self._reader()
        flows: dict[int, list[Flow]] = {}
        for r in conn.execute(
            "SELECT peer_id, id, direction, remote_collection, local_collection, cursor, transferred,"
            " refused, last_success, last_error FROM flows ORDER BY id"
        ):
            flows.setdefault(int(r[0]), []).append(Flow(*r[1:]))
        return [
            Peer(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                bytes(r[4]),
                TLP(int(r[5])),
                tuple(orjson.loads(r[6])),
                tuple(flows.get(int(r[0]), ())),
                r[7],
                r[8],
            )
            for r in conn.execute(
                "SELECT id, name, url, user, secret, max_tlp, types, last_success, last_error FROM peers"
                " ORDER BY name"
            )
        ]

    def remove_peer(self, name: str) -> None:
        peer = self.get_peer(name)
        with self._write() as conn:
            conn.execute("DELETE FROM peers WHERE id=?", (peer.id,))
            self._audit(conn, "cli", "peer.remove", {"name": name})

    def agreement_for(self, org: Org) -> policy.Agreement:
        """The agreement that governs what another hub's account may read: its peer record of the same
        name, else the most restrictive default (GREEN, every type)."""
        row = self._reader().execute("SELECT max_tlp, types FROM peers WHERE name=?", (org.name,)).fetchone()
        if row is None:
            return policy.Agreement(org.name)
        return policy.Agreement(org.name, TLP(int(row[0])), tuple(orjson.loads(row[1])))

    def record_sync(self, peer_id: int, flow_id: int | None, error: str | None) -> None:
        """Note a flow's (or a whole peer's) last success or last error."""
        now = self._now_text()
        with self._write() as conn:
            if error is None:
                conn.execute("UPDATE peers SET last_success=?, last_error=NULL WHERE id=?", (now, peer_id))
                if flow_id is not None:
                    conn.execute(
                        "UPDATE flows SET last_success=?, last_error=NULL WHERE id=?", (now, flow_id)
                    )
            else:
                conn.execute("UPDATE peers SET last_error=? WHERE id=?", (f"{now} {error}", peer_id))
                if flow_id is not None:
                    conn.execute("UPDATE flows SET last_error=? WHERE id=?", (f"{now} {error}", flow_id))

    def confirm_push(
        self, peer: Peer, flow: Flow, cursor: str, rows: Sequence[Row], status: dict[str, Any]
    ) -> None:
        """After the peer's status confirmed a pushed page: advance the cursor and audit the share."""
        failures = status.get("failures") or []
        with self._write() as conn:
            conn.execute(
                "UPDATE flows SET cursor=?, transferred=transferred+?, refused=refused+? WHERE id=?",
                (cursor, len(rows) - len(failures), len(failures), flow.id),
            )
            self._audit(
                conn,
                policy.peer_origin(peer.name),
                "objects.share",
                {
                    "peer": peer.name,
                    "flow": flow.id,
                    "local_collection": flow.local_collection,
                    "remote_collection": flow.remote_collection,
                    "cursor": cursor,
                    "shared": [[r.id, r.version] for r in rows],
                    "remote_status": status.get("id"),
                    "remote_failures": failures,
                },
            )

    # -- objects: read ------------------------------------------------------------------------------
    def _visible(self, org: Org | policy.Agreement, alias: str) -> tuple[str, list[object]]:
        """The read predicate: an organisation's (peer-hub accounts include their agreement), or egress."""
        if isinstance(org, policy.Agreement):
            return policy.egress_sql(org, alias)
        return policy.visible_sql(org, alias, self.agreement_for(org) if org.peer_hub else None)

    def _where(
        self, collection: Collection, org: Org | policy.Agreement, query: Query
    ) -> tuple[str, list[object]]:
        visible, params = self._visible(org, "o")
        clauses = ["o.collection_id = ?", visible]
        args: list[object] = [collection.id, *params]
        if query.added_after_us is not None:
            clauses.append("o.date_added > ?")
            args.append(query.added_after_us)
        if query.after is not None:
            clauses.append("(o.date_added, o.seq) > (?, ?)")
            args.extend(query.after)
        if query.ids:
            clauses.append(f"o.id_key IN ({','.join('?' * len(query.ids))})")
            args.extend(id_key(i) for i in query.ids)
        for column, values in (
            ("o.id", query.ids),
            ("o.type", query.types),
            ("o.spec_version", query.spec_versions),
        ):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        v = query.versions
        if not v.all:
            options: list[str] = []
            for wanted, op in ((v.last, ">"), (v.first, "<")):
                if wanted:
                    vis2, p2 = self._visible(org, "o2")
                    options.append(
                        "NOT EXISTS (SELECT 1 FROM objects o2 WHERE o2.collection_id = o.collection_id"
                        " AND o2.id_key = o.id_key AND o2.id = o.id"
                        f" AND o2.version_us {op} o.version_us AND {vis2})"
                    )
                    args.extend(p2)
            if v.at_us:
                options.append(f"o.version_us IN ({','.join('?' * len(v.at_us))})")
                args.extend(v.at_us)
            clauses.append("(" + " OR ".join(options or ["0"]) + ")")
        return " AND ".join(clauses), args

    def query(self, collection: Collection, org: Org | policy.Agreement, query: Query) -> Page:
        """One page of what ``org`` may read in ``collection``, in (date_added, seq) order.

        Given an :class:`~kizuna.hub.policy.Agreement` instead of an organisation: what may leave to that
        peer (the push side of federation).
        """
        where, args = self._where(collection, org, query)
        cur = self._reader().execute(
            "SELECT o.seq, o.id, o.type, o.spec_version, o.version, o.date_added, o.raw, o.tlp, o.marked"
            " FROM objects o"
            f" WHERE {where} ORDER BY o.date_added, o.seq LIMIT ?",
            [*args, query.limit + 1],
        )
        rows = [Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], TLP(r[7]), bool(r[8])) for r in cur]
        more = len(rows) > query.limit
        return Page(rows[: query.limit], more)

    def delete_versions(self, collection: Collection, org: Org, object_id: str, query: Query) -> int:
        where, args = self._where(
            collection,
            org,
            Query(ids=(object_id,), versions=query.versions, spec_versions=query.spec_versions, limit=1),
        )
        with self._write() as conn:
            seqs = [int(r[0]) for r in conn.execute(f"SELECT o.seq FROM objects o WHERE {where}", args)]
            for i in range(0, len(seqs), _CHUNK):
                chunk = seqs[i : i + _CHUNK]
                conn.execute(f"DELETE FROM objects WHERE seq IN ({','.join('?' * len(chunk))})", chunk)
            if seqs:
                self._audit(
                    conn,
                    f"org:{org.name}",
                    "objects.delete",
                    {"collection": collection.id, "id": object_id, "versions_deleted": len(seqs)},
                )
        return len(seqs)

    def get_status(self, status_id: str, org: Org) -> StatusRecord | None:
        row = (
            self._reader()
            .execute("SELECT body FROM status WHERE id=? AND org_id=?", (status_id, org.id))
            .fetchone()
        )
        if row is None:
            return None
        body = orjson.loads(row[0])
        return StatusRecord(
            id=body["id"],
            request_timestamp=body["request_timestamp"],
            successes=body["successes"],
            failures=body["failures"],
            pendings=body["pendings"],
            total_count=body["total_count"],
        )

    def producer_names(self, collection_id: str, object_id: str) -> list[str]:
        """The organisations that posted any version of ``object_id`` in the collection."""
        cur = self._reader().execute(
            "SELECT DISTINCT g.name FROM objects o JOIN orgs g ON g.id = o.producer_org_id"
            " WHERE o.collection_id=? AND o.id_key=? AND o.id=? ORDER BY g.name",
            (collection_id, id_key(object_id), object_id),
        )
        return [str(r[0]) for r in cur]

    def count_objects(self) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM objects").fetchone()[0])

    def table_counts(self) -> dict[str, int]:
        """Row count of every table (tests use it to prove that a refused request changed nothing)."""
        conn = self._reader()
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        ]
        return {n: int(conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]) for n in names}
