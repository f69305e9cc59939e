"""The :class:`~kizuna.hub.store.protocols.ObjectStore` of the SQLite store.

Objects are kept as received (canonical JSON bytes) beside the indexed columns the filters need. The row
key is ``date_added`` in microseconds: unique across the hub and strictly increasing in commit order (one
writer), so a client that continues after the last ``date_added`` it saw neither loses nor repeats an
object, however many arrive in one second, and a page is one range scan of the collection's index.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from kizuna.errors import KizunaError, PermissionDenied
from kizuna.hub import policy
from kizuna.hub.changes import Changes
from kizuna.hub.index import Entries
from kizuna.hub.models import (
    Collection,
    IngestUnit,
    LocalSighting,
    ObjectResult,
    Org,
    Outcome,
    Page,
    Provenance,
    Query,
    Routed,
    Row,
    WriteResult,
)
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Held, NewVersion, PendingVersion
from kizuna.hub.store.sqlite.background import Background
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.hub.store.sqlite.directory import (
    collection_columns,
    collection_from_row,
    org_columns,
    org_from_row,
)
from kizuna.hub.store.sqlite.ids import id_key
from kizuna.hub.store.sqlite.indexing import INDEX_BATCH, INDEX_CAP, bump_generation, catch_up, unindex
from kizuna.hub.store.sqlite.predicates import to_sql
from kizuna.hub.store.sqlite.watch import SQLiteWatcher
from kizuna.stix.ids import to_us
from kizuna.stix.markings import TLP

T = TypeVar("T")

_CHUNK = 500  # parameters per IN (...) list
_ROW_COLUMNS = (
    "o.id, o.type, o.spec_version, o.version, o.date_added, o.raw, o.tlp, o.marked, o.origin, o.origin_hub,"
    " o.hops"
)


def _row(r: tuple[Any, ...]) -> Row:
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], TLP(r[6]), bool(r[7]), r[8], r[9], r[10])


def result_to_json(result: WriteResult) -> bytes:
    return orjson.dumps(result)  # dataclasses and enums natively: one pass, no intermediate dicts


def result_from_json(body: bytes) -> WriteResult:
    data = orjson.loads(body)
    return WriteResult(
        id=data["id"],
        requested_us=int(data["requested_us"]),
        collection_id=data["collection_id"],
        objects=tuple(
            ObjectResult(o["id"], o["version"], Outcome(o["outcome"]), o["reason"]) for o in data["objects"]
        ),
        routed=tuple(Routed(r["collection_id"], r["sighting_id"]) for r in data["routed"]),
    )


#: Refusals of a flow's last page kept for ``kizuna hub peer list`` (all are in the audit log).
MAX_REFUSALS_KEPT = 20


def owners_of(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    """The owner of each of ``ids`` that has one: the origin recorded in ``owners`` (ids some of whose
    versions were deleted, and ids stored before schema 8), else the origin of the id's first stored
    version, in any collection (the first to store an id owns it)."""
    out: dict[str, str] = {}
    unique = list(dict.fromkeys(ids))
    for i in range(0, len(unique), _CHUNK):
        chunk = unique[i : i + _CHUNK]
        wanted = set(chunk)
        cur = conn.execute(
            f"SELECT id, owner FROM owners WHERE id_key IN ({','.join('?' * len(chunk))})",
            [id_key(x) for x in chunk],
        )
        out.update((r[0], r[1]) for r in cur if r[0] in wanted)
        rest = [x for x in chunk if x not in out]
        if not rest:
            continue
        unowned = set(rest)
        first: dict[str, tuple[int, str]] = {}
        cur = conn.execute(
            f"SELECT id, date_added, origin FROM objects WHERE id_key IN ({','.join('?' * len(rest))})",
            [id_key(x) for x in rest],
        )
        for oid, added, origin in cur:
            if oid in unowned and (oid not in first or added < first[oid][0]):  # a 64-bit key may collide
                first[oid] = (added, origin)
        out.update((oid, origin) for oid, (_, origin) in first.items())
    return out


class SQLiteWriteTx:
    """The operations of one write transaction on the writer connection (see ``WriteTx``)."""

    def __init__(self, store: SQLiteObjects, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self._marks: dict[int, int] = {}  # collection key -> highest date_added given in this transaction
        self._fresh: list[tuple[int, Entries]] = []  # versions stored here, with their index entries

    def held(
        self, collection: Collection, ids: Sequence[str], reader: Org | policy.Agreement
    ) -> dict[str, list[Held]]:
        found: dict[str, list[Held]] = {}
        unique = list(dict.fromkeys(ids))
        visible, params = self._store._visible(reader, "o")
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            cur = self._conn.execute(
                f"SELECT o.id, o.version_us, o.digest, o.raw, o.origin, {visible} FROM objects o"
                f" WHERE o.collection_key=? AND o.id_key IN ({','.join('?' * len(chunk))})",
                [*params, collection.key, *(id_key(x) for x in chunk)],
            )
            wanted = set(chunk)
            for r in cur:
                if r[0] in wanted:  # a 64-bit key may collide; the id decides
                    found.setdefault(r[0], []).append(Held(r[1], r[2], r[3], r[4], bool(r[5])))
        return found

    def owners(self, ids: Sequence[str]) -> dict[str, str]:
        return owners_of(self._conn, ids)

    def marking_levels(self, ids: Iterable[str]) -> dict[str, TLP | None]:
        wanted = list(dict.fromkeys(ids))
        out: dict[str, TLP | None] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            cur = self._conn.execute(
                f"SELECT id, tlp FROM markings WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update((r[0], None if r[1] is None else TLP(r[1])) for r in cur)
        return out

    def register_markings(self, definitions: Sequence[tuple[str, TLP | None]]) -> None:
        if definitions:
            self._conn.executemany(
                "INSERT OR IGNORE INTO markings (id, tlp) VALUES (?,?)",
                [(mid, None if level is None else int(level)) for mid, level in definitions],
            )

    def pending(self, marking_ids: Sequence[str]) -> list[PendingVersion]:
        wanted = list(dict.fromkeys(marking_ids))
        if not wanted:
            return []
        added: set[int] = set()
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            cur = self._conn.execute(
                "SELECT object_added FROM pending_markings WHERE marking_id IN"
                f" ({','.join('?' * len(chunk))})",
                chunk,
            )
            added.update(r[0] for r in cur)
        out: list[PendingVersion] = []
        for key in sorted(added):
            row = self._conn.execute(
                "SELECT raw, producer_org_id FROM objects WHERE date_added=?", (key,)
            ).fetchone()
            waits = self._conn.execute(
                "SELECT marking_id, fallback_tlp FROM pending_markings WHERE object_added=?"
                " ORDER BY marking_id",
                (key,),
            ).fetchall()
            out.append(PendingVersion(key, row[0], tuple(w[0] for w in waits), TLP(waits[0][1]), row[1]))
        return out

    def resolve(
        self, date_added_us: int, tlp: TLP, pending: tuple[str, ...], recipient_org_ids: Sequence[int]
    ) -> None:
        conn = self._conn
        conn.execute("UPDATE objects SET tlp=? WHERE date_added=?", (int(tlp), date_added_us))
        keep = set(pending)
        for (mid,) in conn.execute(
            "SELECT marking_id FROM pending_markings WHERE object_added=?", (date_added_us,)
        ).fetchall():
            if mid not in keep:
                conn.execute(
                    "DELETE FROM pending_markings WHERE marking_id=? AND object_added=?", (mid, date_added_us)
                )
        conn.executemany(
            "INSERT OR IGNORE INTO recipients (object_added, org_id) VALUES (?,?)",
            [(date_added_us, org_id) for org_id in recipient_org_ids],
        )
        bump_generation(conn)

    def org_ids(self, refs: Iterable[str]) -> dict[str, int]:
        wanted = set(refs)
        if not wanted:
            return {}
        out: dict[str, int] = {}
        for oid, name, identity in self._conn.execute("SELECT id, name, identity_id FROM orgs"):
            if name in wanted:
                out[str(name)] = int(oid)
            if identity in wanted:
                out[str(identity)] = int(oid)
        return out

    def insert(self, collection: Collection, versions: Sequence[NewVersion]) -> list[int]:
        if not versions:
            return []
        conn = self._conn
        last = int(conn.execute("SELECT value FROM meta WHERE key='last_date_added'").fetchone()[0])
        now_us = to_us(self._store._clock())
        added: list[int] = []
        rows: list[tuple[object, ...]] = []
        recipients: list[tuple[int, int]] = []
        waiting: list[tuple[str, int, int]] = []
        for v in versions:
            last = max(now_us, last + 1)
            added.append(last)
            o = v.obj
            rows.append(
                (
                    last,
                    collection.key,
                    o.id,
                    id_key(o.id),
                    o.type,
                    o.spec_version,
                    o.version,
                    o.version_us,
                    int(v.tlp),
                    int(o.tlp is not None),
                    int(v.restricted),
                    v.producer_org_id,
                    v.origin,
                    v.origin_hub,
                    v.hops,
                    v.digest,
                    o.raw,
                )
            )
            if v.recipient_org_ids:
                recipients.extend((last, org_id) for org_id in v.recipient_org_ids)
            if v.pending:
                fallback = int(v.tlp if v.fallback_tlp is None else v.fallback_tlp)
                waiting.extend((m, last, fallback) for m in v.pending)
        conn.executemany(
            "INSERT INTO objects (date_added, collection_key, id, id_key, type, spec_version, version,"
            " version_us, tlp, marked, restricted, producer_org_id, origin, origin_hub, hops, digest, raw)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        if recipients:
            conn.executemany(
                "INSERT OR IGNORE INTO recipients (object_added, org_id) VALUES (?,?)", recipients
            )
        if waiting:
            conn.executemany(
                "INSERT OR IGNORE INTO pending_markings (marking_id, object_added, fallback_tlp)"
                " VALUES (?,?,?)",
                waiting,
            )
        conn.execute("UPDATE meta SET value=? WHERE key='last_date_added'", (str(last),))
        bump_generation(conn)
        marks = self._marks
        marks[collection.key] = last
        store = self._store
        changes, unindexed, fresh = store._changes, store._waiting, self._fresh
        # indexed behind the write (indexing.py): the entries the check computed wait for it, once committed
        fresh.extend(
            (a, v.obj.index) for a, v in zip(added, versions, strict=True) if v.obj.index is not None
        )
        store._db.after_commit["changes"] = lambda: changes.published(marks)
        store._db.after_commit["index"] = lambda: unindexed.update(fresh)
        return added

    def holders(
        self, object_ids: Sequence[str], reader: Org, exclude: Collection
    ) -> dict[str, list[tuple[Collection, list[str]]]]:
        wanted = list(dict.fromkeys(object_ids))
        out: dict[str, list[tuple[Collection, list[str]]]] = {}
        if not wanted:
            return out
        visible, params = to_sql(policy.visible(reader, None), "o")
        others = [
            collection_from_row(r)
            for r in self._conn.execute(
                f"SELECT {collection_columns('c')} FROM collections c WHERE c.key != ? ORDER BY c.key",
                (exclude.key,),
            )
        ]
        for c in others:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                hits = self._conn.execute(
                    "SELECT DISTINCT o.id FROM objects o WHERE o.collection_key = ? AND o.id_key IN"
                    f" ({','.join('?' * len(chunk))}) AND {visible}",
                    [c.key, *(id_key(x) for x in chunk), *params],
                ).fetchall()
                for (oid,) in hits:
                    if oid not in chunk:  # a 64-bit key may collide; the id decides
                        continue
                    names = self._conn.execute(
                        "SELECT DISTINCT g.name FROM objects o JOIN orgs g ON g.id = o.producer_org_id"
                        " WHERE o.collection_key=? AND o.id_key=? AND o.id=? ORDER BY g.name",
                        (c.key, id_key(oid), oid),
                    )
                    out.setdefault(str(oid), []).append((c, [str(n[0]) for n in names]))
        return out

    def save_result(self, result: WriteResult, org: Org | None) -> None:
        self._conn.execute(
            "INSERT INTO write_results (id, org_id, body) VALUES (?,?,?)",
            (result.id, None if org is None else org.id, result_to_json(result)),
        )

    def advance_flow(
        self,
        flow_id: int,
        cursor: Cursor,
        transferred: int,
        refused: int,
        refusals: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._conn.execute(
            "UPDATE flows SET cursor_us=?, cursor_complete=?, transferred=transferred+?, refused=refused+?"
            " WHERE id=?",
            (cursor.date_added_us, int(cursor.complete), transferred, refused, flow_id),
        )
        if refusals:
            kept = [[i, r[:300]] for i, r in refusals[-MAX_REFUSALS_KEPT:]]
            self._conn.execute(
                "UPDATE flows SET last_refusals=? WHERE id=?", (orjson.dumps(kept).decode(), flow_id)
            )

    def audit(self, actor: str, action: str, detail: object) -> None:
        self._store._audit(self._conn, actor, action, detail)

    def record_unit(
        self,
        unit: IngestUnit,
        write_id: str,
        org: Org | None,
        at_us: int,
        stored: Sequence[tuple[int, str]],
    ) -> None:
        cur = self._conn.execute(
            "INSERT INTO ingest_units (write_id, format, source, unit, unit_version, event_uuid, org,"
            " converter, at_us) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                write_id,
                unit.format,
                unit.source,
                unit.unit,
                unit.unit_version,
                unit.event_uuid,
                None if org is None else org.name,
                unit.converter,
                at_us,
            ),
        )
        unit_id = cur.lastrowid
        self._conn.executemany(
            "INSERT INTO provenance (object_added, unit_id, locator) VALUES (?,?,?)",
            [(added, unit_id, locator) for added, locator in stored],
        )


class SQLiteObjects(SQLiteBase):
    _changes: Changes
    _waiting: dict[int, Entries]  # index entries of versions this process stored, not yet indexed
    _indexer: Background  # the thread that indexes a batch behind the writes (started on first use)

    def changes(self) -> Changes:
        """This process's commit notifications (see :mod:`kizuna.hub.changes`)."""
        return self._changes

    def watch_changes(self) -> SQLiteWatcher:
        """Start publishing commits made by other processes on this file too; ``close()`` the result to
        stop."""
        return SQLiteWatcher(self._db.path, self._changes)

    def write(self, work: Callable[[SQLiteWriteTx], T]) -> T:
        with self._db.write() as conn:
            out = work(SQLiteWriteTx(self, conn))
        self._written()
        return out

    def _index_behind_writes(self) -> None:
        """Start with nothing waiting to be indexed (the store's constructor calls it)."""
        self._waiting = {}
        self._indexer = Background("kizuna-index", self.catch_up_index)

    def _written(self) -> None:
        """After a write: index what waits once it is a batch (see ``indexing.py``), in this store's indexer
        thread, so that the write (and the request that made it) does not wait for it; in line once
        :data:`INDEX_CAP` versions wait (the indexer is behind, or failing), which bounds the memory."""
        waiting = len(self._waiting)
        if waiting >= INDEX_CAP:
            self.catch_up_index()
        elif waiting >= INDEX_BATCH:
            self._indexer.poke()

    def catch_up_index(self) -> int:
        """Index every committed version not yet in the read indexes; returns how many. Called before the
        reads of :class:`~kizuna.hub.store.protocols.ReadIndex`, by the indexer thread after a batch of writes
        (by a write itself past ``INDEX_CAP``), at ``close()``."""
        if self._db.writing():  # a read inside this thread's own write: it sees the indexes as they are
            return 0
        with self._db.write() as conn:
            return catch_up(conn, self._waiting)

    def _index_before_close(self) -> None:
        """Index what is left to index: this process's writes, and those of a process killed before it
        indexed its own. Nothing is lost if that fails (the database is unusable, a read-only file): the mark
        in the database says what is not indexed, and the next reader indexes it."""
        self._indexer.close()  # after the batch it is indexing, if any
        with contextlib.suppress(KizunaError, sqlite3.Error, OSError):
            if self._waiting or self._index_behind():
                self.catch_up_index()

    def _index_behind(self) -> bool:
        """Whether some committed version is not yet in the read indexes (one read of two ``meta`` rows)."""
        meta = dict(
            self._db.reader().execute(
                "SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')"
            )
        )
        return int(meta["indexed_to"]) < int(meta["last_date_added"])

    # -- reads ----------------------------------------------------------------------------------------
    def _visible(self, reader: Org | policy.Agreement, alias: str) -> tuple[str, list[object]]:
        if isinstance(reader, policy.Agreement):
            return to_sql(policy.egress(reader), alias)
        agreement = self.agreement_for(reader) if policy.is_peer_account(reader) else None
        return to_sql(policy.visible(reader, agreement), alias)

    if TYPE_CHECKING:

        def agreement_for(self, org: Org) -> policy.Agreement: ...  # the peers part of the store

    def _where(
        self, collection: Collection, reader: Org | policy.Agreement, query: Query
    ) -> tuple[str, list[object]]:
        visible, params = self._visible(reader, "o")
        # asked for ids: found through objects_by_id (SQLite, without statistics, would otherwise walk the
        # whole collection in date order for the sake of ORDER BY ... LIMIT: 0.3 s at 1,000,000 objects)
        clauses = ["+o.collection_key = ?" if query.ids else "o.collection_key = ?", visible]
        args: list[object] = [collection.key, *params]
        if query.added_after_us is not None:
            clauses.append("o.date_added > ?")
            args.append(query.added_after_us)
        if query.after is not None:
            clauses.append("o.date_added > ?" if query.after.complete else "o.date_added >= ?")
            args.append(query.after.date_added_us)
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
                    vis2, p2 = self._visible(reader, "o2")
                    options.append(
                        "NOT EXISTS (SELECT 1 FROM objects o2 WHERE o2.collection_key = o.collection_key"
                        " AND o2.id_key = o.id_key AND o2.id = o.id"
                        f" AND o2.version_us {op} o.version_us AND {vis2})"
                    )
                    args.extend(p2)
            if v.at_us:
                options.append(f"o.version_us IN ({','.join('?' * len(v.at_us))})")
                args.extend(v.at_us)
            clauses.append("(" + " OR ".join(options or ["0"]) + ")")
        return " AND ".join(clauses), args

    def query(self, collection: Collection, reader: Org | policy.Agreement, query: Query) -> Page:
        where, args = self._where(collection, reader, query)
        cur = self._db.reader().execute(
            f"SELECT {_ROW_COLUMNS} FROM objects o WHERE {where} ORDER BY o.date_added LIMIT ?",
            [*args, query.limit + 1],
        )
        rows = [_row(r) for r in cur]
        return Page(rows[: query.limit], len(rows) > query.limit)

    def delete_versions(self, collection: Collection, org: Org, object_id: str, query: Query) -> int:
        """Delete the versions of ``object_id`` that ``org`` may read and may delete (its own; any if it is
        an administrator). 0 when it can read none; PermissionDenied when it can read some but may delete
        none of them."""
        where, args = self._where(
            collection,
            org,
            Query(ids=(object_id,), versions=query.versions, spec_versions=query.spec_versions, limit=1),
        )
        with self._db.write() as conn:
            cur = conn.execute(
                f"SELECT o.date_added, o.version, o.digest, o.origin FROM objects o WHERE {where}", args
            )
            readable = cur.fetchall()
            doomed = [r for r in readable if policy.may_delete(org, r[3])]
            if readable and not doomed:
                raise PermissionDenied(
                    "only the organisation that shared this object, or an administrator, may delete it"
                )
            keys = [int(r[0]) for r in doomed]
            if keys:  # the owner outlives the versions: nobody else may take the id over
                for oid, owner in owners_of(conn, [object_id]).items():
                    conn.execute(
                        "INSERT OR IGNORE INTO owners (id_key, id, owner) VALUES (?,?,?)",
                        (id_key(oid), oid, owner),
                    )
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                conn.execute(f"DELETE FROM objects WHERE date_added IN ({','.join('?' * len(chunk))})", chunk)
            if keys:
                unindex(conn, keys)
                bump_generation(conn)
                self._audit(
                    conn,
                    policy.org_origin(org),
                    "objects.delete",
                    {
                        "collection": collection.id,
                        "id": object_id,
                        "deleted": [[object_id, r[1], bytes(r[2]).hex()] for r in doomed],
                    },
                )
        return len(keys)

    def record_share(
        self, collection: Collection, peer: str, rows: Sequence[Row], *, by: str = "pull"
    ) -> None:
        """Audit a page of versions a peer hub's account read (``by`` its pull, or a stream): one record,
        listing them."""
        if not rows:
            return
        with self._db.write() as conn:
            self._audit(
                conn,
                policy.peer_origin(peer),
                "objects.share",
                {
                    "peer": peer,
                    "collection": collection.id,
                    "by": by,
                    "shared": [[r.id, r.version] for r in rows],
                },
            )

    def local_sightings(self, after_us: int, limit: int) -> tuple[list[LocalSighting], int]:
        """Sighting versions stored after ``after_us`` (this hub's ``date_added``, every collection), in
        order, at most ``limit``, with their posters; and the position the scan covered (everything up to
        it was considered)."""
        conn = self._db.reader()
        conn.execute("BEGIN")  # one snapshot for the bound and the scan
        try:
            top = int(conn.execute("SELECT value FROM meta WHERE key='last_date_added'").fetchone()[0])
            cur = conn.execute(
                f"SELECT {_ROW_COLUMNS}, o.restricted, {org_columns('g')} FROM objects o"
                " LEFT JOIN orgs g ON g.id = o.producer_org_id"
                " WHERE o.date_added > ? AND o.date_added <= ? AND o.type = 'sighting'"
                " ORDER BY o.date_added LIMIT ?",
                (after_us, top, limit),
            )
            found = [
                LocalSighting(_row(r[:11]), None if r[12] is None else org_from_row(r[12:]), bool(r[11]))
                for r in cur
            ]
        finally:
            conn.execute("COMMIT")
        covered = found[-1].row.date_added_us if len(found) == limit else max(top, after_us)
        return found, covered

    def stored_versions(self) -> Iterator[tuple[str, str, str, str]]:
        """(collection id, object id, version, digest hex) of every stored version (for the audit check)."""
        cur = self._db.reader().execute(
            "SELECT c.id, o.id, o.version, o.digest FROM objects o"
            " JOIN collections c ON c.key = o.collection_key ORDER BY o.date_added"
        )
        for r in cur:
            yield r[0], r[1], r[2], bytes(r[3]).hex()

    def write_result(self, result_id: str, org: Org) -> WriteResult | None:
        row = (
            self._db.reader()
            .execute("SELECT body FROM write_results WHERE id=? AND org_id=?", (result_id, org.id))
            .fetchone()
        )
        return None if row is None else result_from_json(bytes(row[0]))

    # -- ingest ---------------------------------------------------------------------------------------
    def ingested_units(self, source: str) -> dict[str, str]:
        rows = self._db.reader().execute(
            "SELECT unit, unit_version FROM ingest_units WHERE source=? ORDER BY id", (source,)
        )
        return {str(u): str(v) for u, v in rows}

    def provenance(self, collection: Collection, object_id: str) -> list[Provenance]:
        rows = self._db.reader().execute(
            "SELECT o.id, o.version, u.format, u.source, u.unit, u.unit_version, p.locator, u.event_uuid,"
            " u.org, u.at_us, u.converter, u.write_id FROM objects o"
            " JOIN provenance p ON p.object_added = o.date_added JOIN ingest_units u ON u.id = p.unit_id"
            " WHERE o.collection_key=? AND o.id_key=? AND o.id=? ORDER BY o.date_added",
            (collection.key, id_key(object_id), object_id),
        )
        return [Provenance(*r) for r in rows]

    def count_objects(self) -> int:
        return int(self._db.reader().execute("SELECT COUNT(*) FROM objects").fetchone()[0])
