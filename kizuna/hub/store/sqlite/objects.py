"""The :class:`~kizuna.hub.store.protocols.ObjectStore` of the SQLite store.

Objects are kept as received (canonical JSON bytes) beside the indexed columns the filters need. The row
key is ``date_added`` in microseconds: unique across the hub and strictly increasing in commit order (one
writer), so a client that continues after the last ``date_added`` it saw neither loses nor repeats an
object, however many arrive in one second, and a page is one range scan of the collection's index.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from kizuna.hub import policy
from kizuna.hub.models import (
    Collection,
    IngestUnit,
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
from kizuna.hub.store.protocols import Held, NewVersion
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.hub.store.sqlite.directory import collection_columns, collection_from_row
from kizuna.hub.store.sqlite.predicates import to_sql
from kizuna.stix.ids import to_us
from kizuna.stix.markings import TLP

T = TypeVar("T")

_CHUNK = 500  # parameters per IN (...) list
_ROW_COLUMNS = "o.id, o.type, o.spec_version, o.version, o.date_added, o.raw, o.tlp, o.marked"


def id_key(stix_id: str) -> int:
    """A signed 64-bit key for an id: the index holds 8 bytes instead of the 40-odd of the id text, so a
    write touches fewer index pages. Queries compare the id itself as well (keys may collide)."""
    return int.from_bytes(hashlib.blake2b(stix_id.encode(), digest_size=8).digest(), "big", signed=True)


def _row(r: tuple[Any, ...]) -> Row:
    return Row(r[0], r[1], r[2], r[3], r[4], r[5], TLP(r[6]), bool(r[7]))


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


class SQLiteWriteTx:
    """The operations of one write transaction on the writer connection (see ``WriteTx``)."""

    def __init__(self, store: SQLiteObjects, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn

    def held(self, collection: Collection, ids: Sequence[str]) -> dict[tuple[str, int], Held]:
        found: dict[tuple[str, int], Held] = {}
        unique = list(dict.fromkeys(ids))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            cur = self._conn.execute(
                "SELECT id, version_us, digest, raw FROM objects WHERE collection_key=? AND id_key IN"
                f" ({','.join('?' * len(chunk))})",
                [collection.key, *(id_key(x) for x in chunk)],
            )
            wanted = set(chunk)
            for r in cur:
                if r[0] in wanted:  # a 64-bit key may collide; the id decides
                    found[(str(r[0]), int(r[1]))] = Held(bytes(r[2]), bytes(r[3]))
        return found

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
                    v.producer_org_id,
                    v.origin,
                    v.digest,
                    o.raw,
                )
            )
            recipients.extend((last, org_id) for org_id in v.recipient_org_ids)
        conn.executemany(
            "INSERT INTO objects (date_added, collection_key, id, id_key, type, spec_version, version,"
            " version_us, tlp, marked, producer_org_id, origin, digest, raw)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        if recipients:
            conn.executemany(
                "INSERT OR IGNORE INTO recipients (object_added, org_id) VALUES (?,?)", recipients
            )
        conn.execute("UPDATE meta SET value=? WHERE key='last_date_added'", (str(last),))
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

    def advance_flow(self, flow_id: int, cursor: Cursor, transferred: int, refused: int) -> None:
        self._conn.execute(
            "UPDATE flows SET cursor_us=?, cursor_complete=?, transferred=transferred+?, refused=refused+?"
            " WHERE id=?",
            (cursor.date_added_us, int(cursor.complete), transferred, refused, flow_id),
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
    def write(self, work: Callable[[SQLiteWriteTx], T]) -> T:
        with self._db.write() as conn:
            return work(SQLiteWriteTx(self, conn))

    # -- reads ----------------------------------------------------------------------------------------
    def _visible(self, reader: Org | policy.Agreement, alias: str) -> tuple[str, list[object]]:
        if isinstance(reader, policy.Agreement):
            return to_sql(policy.egress(reader), alias)
        agreement = self.agreement_for(reader) if reader.peer_hub else None
        return to_sql(policy.visible(reader, agreement), alias)

    if TYPE_CHECKING:

        def agreement_for(self, org: Org) -> policy.Agreement: ...  # the peers part of the store

    def _where(
        self, collection: Collection, reader: Org | policy.Agreement, query: Query
    ) -> tuple[str, list[object]]:
        visible, params = self._visible(reader, "o")
        clauses = ["o.collection_key = ?", visible]
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
        where, args = self._where(
            collection,
            org,
            Query(ids=(object_id,), versions=query.versions, spec_versions=query.spec_versions, limit=1),
        )
        with self._db.write() as conn:
            keys = [
                int(r[0]) for r in conn.execute(f"SELECT o.date_added FROM objects o WHERE {where}", args)
            ]
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                conn.execute(f"DELETE FROM objects WHERE date_added IN ({','.join('?' * len(chunk))})", chunk)
            if keys:
                self._audit(
                    conn,
                    policy.org_origin(org),
                    "objects.delete",
                    {"collection": collection.id, "id": object_id, "versions_deleted": len(keys)},
                )
        return len(keys)

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
