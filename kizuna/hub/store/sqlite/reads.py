"""The :class:`~kizuna.hub.store.protocols.ReadIndex` of the SQLite store: the web UI's indexed reads.

Every query here filters with :func:`kizuna.hub.policy.visible` (translated by ``predicates.py``) on each
object version it reads, and keeps only the latest version of each object the reader may read (the one the
TAXII API's ``match[version]=last`` serves), exactly like :meth:`SQLiteObjects.query`. Counts are bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from kizuna.hub import policy
from kizuna.hub.index import fts_query, normal_value
from kizuna.hub.models import Collection, Org, Row
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import (
    COUNT_CAP,
    GROUP_COUNT_CAP,
    Conjunction,
    ConjunctionQuery,
    Hit,
    HitPage,
    SameGroup,
    Search,
    SightingTally,
    Source,
    Stale,
    Tally,
    Version,
)
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.hub.store.sqlite.directory import collection_columns, collection_from_row
from kizuna.hub.store.sqlite.ids import id_key
from kizuna.stix.markings import TLP

_COLS = (
    "o.id, o.type, o.spec_version, o.version, o.date_added, o.raw, o.tlp, o.marked, o.origin, o.origin_hub,"
    " o.hops, o.collection_key,"
    " EXISTS (SELECT 1 FROM flags f WHERE f.object_added = o.date_added AND f.revoked = 1)"
)
_NCOLS = 13
_LEVELS = {level.label: int(level) for level in TLP}
_DAY_US = 86_400_000_000


P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R", bound="SQLiteReads")


def _indexed(read: Callable[Concatenate[R, P], T]) -> Callable[Concatenate[R, P], T]:
    """A read of the read indexes: every committed write is indexed first (they are written behind the
    writes, in batches: see ``indexing.py``), so a reader always finds what was stored before it asked."""

    def run(self: R, /, *args: P.args, **kwargs: P.kwargs) -> T:
        if self._index_behind():
            self.catch_up_index()
        return read(self, *args, **kwargs)

    run.__doc__ = read.__doc__
    return run


def source_of(origin: str) -> Source:
    """Who a version came from, from the origin the intake recorded."""
    kind, _, name = origin.partition(":")
    if kind == policy.HUB_ORIGIN or not name:
        return Source("hub", "this hub", origin)
    return Source(kind, name, origin)


class SQLiteReads(SQLiteBase):
    #: The SQL engine ("sqlite", "postgres") where a read is best written differently for each: PostgreSQL
    #: joins ``LATERAL`` (one statement, one plan, for the first rows of many keys; SQLite runs a ``UNION
    #: ALL`` of one LIMITed branch per key) and reads the matches of words in order (see :meth:`search`).
    _dialect = "sqlite"

    if TYPE_CHECKING:

        def _visible(self, reader: Org | policy.Agreement, alias: str) -> tuple[str, list[object]]: ...
        def _index_behind(self) -> bool: ...
        def catch_up_index(self) -> int: ...

    # -- helpers ----------------------------------------------------------------------------------------
    def _collections(self) -> dict[int, Collection]:
        cur = self._db.reader().execute(f"SELECT {collection_columns('c')} FROM collections c")
        return {int(r[0]): collection_from_row(r) for r in cur}

    def _readable_keys(self, reader: Org) -> list[int]:
        cur = self._db.reader().execute(
            "SELECT collection_key FROM grants WHERE org_id = ? AND can_read = 1 ORDER BY collection_key",
            (reader.id,),
        )
        return [int(r[0]) for r in cur]

    def _latest(self, reader: Org, alias: str = "o") -> tuple[str, list[object]]:
        """No newer version of the same object in the same collection is readable."""
        vis, params = self._visible(reader, "o2")
        return (
            f"NOT EXISTS (SELECT 1 FROM objects o2 WHERE o2.collection_key = {alias}.collection_key"
            f" AND o2.id_key = {alias}.id_key AND o2.id = {alias}.id AND o2.version_us > {alias}.version_us"
            f" AND {vis})",
            params,
        )

    def _readable(self, reader: Org, alias: str = "o") -> tuple[str, list[object]]:
        vis, p1 = self._visible(reader, alias)
        latest, p2 = self._latest(reader, alias)
        return f"{vis} AND {latest}", [*p1, *p2]

    def _hits(self, rows: Sequence[Sequence[Any]]) -> list[Hit]:
        collections = self._collections()
        out = []
        for r in rows:
            row = Row(r[0], r[1], r[2], r[3], r[4], r[5], TLP(r[6]), bool(r[7]), r[8], r[9], r[10])
            out.append(Hit(row, collections[int(r[11])], source_of(r[8]), bool(r[12])))
        return out

    @_indexed
    def generation(self) -> int:
        row = self._db.reader().execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    # -- search -----------------------------------------------------------------------------------------
    def _search_where(self, reader: Org, s: Search) -> tuple[str, list[object]]:
        clauses: list[str] = []
        args: list[object] = []
        readable, params = self._readable(reader)
        clauses.append(readable)
        args.extend(params)
        if s.collection is not None:
            clauses.append("o.collection_key = ?")
            args.append(s.collection.key)
        if s.after is not None:
            clauses.append("o.date_added < ?" if s.newest_first else "o.date_added > ?")
            args.append(s.after.date_added_us)
        if s.added_after_us is not None:
            clauses.append("o.date_added > ?")
            args.append(s.added_after_us)
        if s.added_before_us is not None:
            clauses.append("o.date_added < ?")
            args.append(s.added_before_us)
        for column, values in (("o.type", s.types), ("o.origin", s.origins), ("o.origin_hub", s.origin_hubs)):
            if values:
                clauses.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        if s.tlps:
            levels = [_LEVELS[t] for t in s.tlps if t in _LEVELS]
            options = []
            if levels:
                options.append(f"(o.marked = 1 AND o.tlp IN ({','.join('?' * len(levels))}))")
                args.extend(levels)
            if "unmarked" in s.tlps:
                options.append("o.marked = 0")
            clauses.append("(" + (" OR ".join(options) or "0") + ")")
        if s.revoked is not None:
            exists = "EXISTS (SELECT 1 FROM flags f WHERE f.object_added = o.date_added AND f.revoked = 1)"
            clauses.append(exists if s.revoked else "NOT " + exists)
        matches: list[str] = []
        if s.value:
            matches.append("o.date_added IN (SELECT object_added FROM observables WHERE value = ?)")
            args.append(normal_value(s.value))
        if s.text:
            expr = fts_query(s.text)
            if expr is not None:
                matches.append("o.date_added IN (SELECT rowid FROM search WHERE search MATCH ?)")
                args.append(expr)
            elif not s.value:
                matches.append("0")  # only punctuation: nothing to find
        if matches:
            clauses.append("(" + " OR ".join(matches) + ")")
        return " AND ".join(clauses), args

    @_indexed
    def search(self, reader: Org, search: Search) -> HitPage:
        order = "DESC" if search.newest_first else ""
        expr = fts_query(search.text) if search.text and not search.value else None
        if self._dialect == "postgres" and expr is not None:
            # The words' matches (only their keys, from the word index) sorted, then the objects in that
            # order until a page is readable: the cost follows the matches, never the table. Left to
            # itself, PostgreSQL may walk every object in date order looking for the words, from an
            # estimate of their matches that can be far off (words that never occur together, matches all
            # at the end of the table): a search that finds little then reads every object.
            where, args = self._search_where(reader, replace(search, text=""))
            sql = (
                f"SELECT {_COLS} FROM (SELECT rowid FROM search WHERE search MATCH ? ORDER BY rowid {order}"
                f" OFFSET 0) AS m CROSS JOIN objects o ON o.date_added = m.rowid WHERE {where}"
                f" ORDER BY m.rowid {order} LIMIT ?"
            )
            params = [expr, *args, search.limit + 1]
        else:
            where, args = self._search_where(reader, search)
            sql = f"SELECT {_COLS} FROM objects o WHERE {where} ORDER BY o.date_added {order} LIMIT ?"
            params = [*args, search.limit + 1]
        rows = self._db.reader().execute(sql, params).fetchall()
        return HitPage(self._hits(rows[: search.limit]), len(rows) > search.limit)

    @_indexed
    def count(self, reader: Org, search: Search, *, cap: int = COUNT_CAP) -> int:
        where, args = self._search_where(reader, search)
        row = (
            self._db.reader()
            .execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM objects o WHERE {where} LIMIT ?) AS found",
                [*args, cap + 1],
            )
            .fetchone()
        )
        return int(row[0])

    @_indexed
    def tally(self, collection: Collection, reader: Org, *, limit: int = COUNT_CAP) -> Tally:
        readable, args = self._readable(reader)
        where = f"o.collection_key = ? AND {readable}"
        conn = self._db.reader()
        rows = conn.execute(
            "SELECT type, tlp, marked, origin, origin_hub, COUNT(*) FROM (SELECT o.type, o.tlp, o.marked,"
            f" o.origin, o.origin_hub FROM objects o WHERE {where} ORDER BY o.date_added LIMIT ?) AS latest"
            " GROUP BY type, tlp, marked, origin, origin_hub",
            [collection.key, *args, limit],
        ).fetchall()
        by_type: dict[str, int] = {}
        by_tlp: dict[str, int] = {}
        by_source: dict[str, int] = {}
        sources: dict[str, Source] = {}
        by_hub: dict[str, int] = {}
        total = 0
        for kind, tlp, marked, origin, hub, n in rows:
            n = int(n)
            total += n
            by_type[kind] = by_type.get(kind, 0) + n
            label = TLP(tlp).label if marked else "unmarked"
            by_tlp[label] = by_tlp.get(label, 0) + n
            by_source[origin] = by_source.get(origin, 0) + n
            sources[origin] = source_of(origin)
            by_hub[hub] = by_hub.get(hub, 0) + n
        truncated = False
        if total >= limit:  # at the bound: is there one more?
            beyond = conn.execute(
                f"SELECT 1 FROM objects o WHERE {where} ORDER BY o.date_added LIMIT 1 OFFSET ?",
                [collection.key, *args, limit],
            ).fetchone()
            truncated = beyond is not None
        return Tally(total, by_type, by_tlp, by_source, sources, by_hub, truncated)

    # -- one object -------------------------------------------------------------------------------------
    @_indexed
    def versions(self, reader: Org, object_id: str, collection: Collection | None = None) -> list[Version]:
        keys = [collection.key] if collection is not None else self._readable_keys(reader)
        if not keys:
            return []
        vis, params = self._visible(reader, "o")
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLS}, o.restricted, o.producer_org_id IS ?,"
                " EXISTS (SELECT 1 FROM recipients r WHERE r.object_added = o.date_added AND r.org_id = ?)"
                f" FROM objects o WHERE o.collection_key IN ({','.join('?' * len(keys))}) AND o.id_key = ?"
                f" AND o.id = ? AND {vis} ORDER BY o.version_us DESC, o.date_added DESC LIMIT 1000",
                [reader.id, reader.id, *keys, id_key(object_id), object_id, *params],
            )
            .fetchall()
        )
        hits = self._hits(rows)
        return [
            Version(h, bool(r[_NCOLS]), bool(r[_NCOLS + 1]), bool(r[_NCOLS + 2]))
            for h, r in zip(hits, rows, strict=True)
        ]

    @_indexed
    def linked(
        self, reader: Org, object_id: str, role: str, *, after: Cursor | None = None, limit: int = 50
    ) -> HitPage:
        readable, params = self._readable(reader)
        args: list[object] = [id_key(object_id), role, object_id, *params]
        where = ""
        if after is not None:
            where = " AND l.object_added > ?"
            args.append(after.date_added_us)
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLS} FROM links l CROSS JOIN objects o ON o.date_added = l.object_added"
                f" WHERE l.ref_key = ? AND l.role = ? AND l.ref = ? AND {readable}{where}"
                " ORDER BY l.object_added LIMIT ?",
                [*args, limit + 1],
            )
            .fetchall()
        )
        return HitPage(self._hits(rows[:limit]), len(rows) > limit)

    # -- sightings --------------------------------------------------------------------------------------
    def _sighting_where(
        self, reader: Org, collection: Collection | None, tlps: Sequence[str]
    ) -> tuple[str, list[object]]:
        """The sightings the reader may read (any of their versions: a sighting is counted once, by id)."""
        where, args = self._visible(reader, "o")
        if collection is not None:
            where += " AND o.collection_key = ?"
            args.append(collection.key)
        if tlps:
            levels = [_LEVELS[t] for t in tlps if t in _LEVELS]
            options = []
            if levels:
                options.append(f"(o.marked = 1 AND o.tlp IN ({','.join('?' * len(levels))}))")
                args.extend(levels)
            if "unmarked" in tlps:
                options.append("o.marked = 0")
            where += " AND (" + (" OR ".join(options) or "0") + ")"
        return where, args

    @_indexed
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
        where, args = self._sighting_where(reader, collection, tlps)
        conn = self._db.reader()
        # The objects most recently sighted come first: walk the readable sightings newest first, a bounded
        # chunk at a time (keyset on seen_us, then object_added: the same order on both backends), and stop
        # at the page's last object (one page costs what it shows, not what the window holds; a LIMIT lets
        # PostgreSQL walk the time index instead of joining the whole window).
        wanted = offset + limit + 1
        chunk = max(200, 4 * wanted)
        order: dict[str, None] = {}
        last: tuple[int, int] | None = None
        while len(order) < wanted:
            keyset, after = "", []
            if last is not None:
                keyset = " AND (s.seen_us < ? OR (s.seen_us = ? AND s.object_added < ?))"
                after = [last[0], last[0], last[1]]
            rows = conn.execute(
                "SELECT s.ref, s.seen_us, s.object_added FROM sightings s CROSS JOIN objects o"
                " ON o.date_added = s.object_added"
                f" WHERE s.seen_us >= ? AND s.seen_us < ?{keyset} AND {where}"
                " ORDER BY s.seen_us DESC, s.object_added DESC LIMIT ?",
                [since_us, until_us, *after, *args, chunk],
            ).fetchall()
            for ref, _seen, _added in rows:
                order.setdefault(str(ref), None)
                if len(order) >= wanted:
                    break
            if len(rows) < chunk:
                break
            last = (int(rows[-1][1]), int(rows[-1][2]))
        refs = list(order)[offset:]
        more = len(refs) > limit
        refs = refs[:limit]
        if not refs:
            return [], False
        days = max(1, -(-(until_us - since_us - 1) // _DAY_US))
        # every readable sighting of those objects in the window, once by id (a sighting routed beside its
        # indicator is held in two collections)
        rows = conn.execute(
            "SELECT s.ref, o.id, MAX(s.count), MIN(COALESCE(s.first_seen_us, s.seen_us)), MAX(s.seen_us),"
            " MIN(o.origin) FROM sightings s CROSS JOIN objects o ON o.date_added = s.object_added"
            f" WHERE s.ref_key IN ({','.join('?' * len(refs))}) AND s.seen_us >= ? AND s.seen_us < ?"
            f" AND {where} GROUP BY s.ref, o.id",
            [*(id_key(r) for r in refs), since_us, until_us, *args],
        ).fetchall()
        per: dict[str, dict[str, Any]] = {
            r: {"n": 0, "count": 0, "first": None, "last": None, "origins": set(), "days": [0] * days}
            for r in refs
        }
        for ref, _sid, count, first_us, last_us, origin in rows:
            t = per.get(str(ref))
            if t is None:  # a 64-bit key may collide; the id decides
                continue
            t["n"] += 1
            t["count"] += int(count)
            t["first"] = int(first_us) if t["first"] is None else min(t["first"], int(first_us))
            t["last"] = int(last_us) if t["last"] is None else max(t["last"], int(last_us))
            t["origins"].add(origin)
            t["days"][min(max((int(last_us) - since_us) // _DAY_US, 0), days - 1)] += int(count)
        return [
            SightingTally(r, t["n"], t["count"], t["first"], t["last"], len(t["origins"]), tuple(t["days"]))
            for r in refs
            if (t := per[r])["n"]
        ], more

    @_indexed
    def stale_indicators(
        self,
        reader: Org,
        *,
        now_us: int,
        quiet_since_us: int,
        collection: Collection | None = None,
        after: Cursor | None = None,
        limit: int = 50,
    ) -> tuple[list[Stale], bool]:
        readable, args = self._readable(reader)
        seen_vis, seen_params = self._visible(reader, "so")
        last_seen = (
            "(SELECT MAX(s.seen_us) FROM sightings s CROSS JOIN objects so ON so.date_added = s.object_added"
            f" WHERE s.ref_key = o.id_key AND s.ref = o.id AND {seen_vis})"
        )
        where = f"o.type = 'indicator' AND {readable}"
        params: list[object] = [*seen_params, *args]
        if collection is not None:
            where += " AND o.collection_key = ?"
            params.append(collection.key)
        if after is not None:
            where += " AND o.date_added > ?"
            params.append(after.date_added_us)
        rows = (
            self._db.reader()
            .execute(
                f"SELECT * FROM (SELECT {_COLS}, f.revoked, f.valid_until_us, {last_seen} AS last_seen"
                " FROM objects o LEFT JOIN flags f ON f.object_added = o.date_added"
                f" WHERE {where}) AS candidates"
                " WHERE revoked = 1 OR valid_until_us < ? OR last_seen IS NULL OR last_seen < ?"
                " ORDER BY date_added LIMIT ?",
                [*params, now_us, quiet_since_us, limit + 1],
            )
            .fetchall()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        out = []
        for hit, r in zip(self._hits(rows), rows, strict=True):
            revoked, valid_until, last = r[_NCOLS], r[_NCOLS + 1], r[_NCOLS + 2]
            reasons = []
            if revoked:
                reasons.append("revoked")
            if valid_until is not None and int(valid_until) < now_us:
                reasons.append("expired")
            if last is None or int(last) < quiet_since_us:
                reasons.append("quiet")
            out.append(
                Stale(
                    hit,
                    None if last is None else int(last),
                    None if valid_until is None else int(valid_until),
                    tuple(reasons),
                )
            )
        return out, more

    # -- sameness ---------------------------------------------------------------------------------------
    def _same_members_sql(
        self, reader: Org, alias: str, collection: Collection | None
    ) -> tuple[str, list[object]]:
        """``FROM ... WHERE ...`` of the readable latest versions (objects ``alias``) under the key
        ``k{alias}.key`` (the caller adds the condition on that key)."""
        readable, args = self._readable(reader, alias)
        sql = (
            f"FROM same_keys k{alias} CROSS JOIN objects {alias}"
            f" ON {alias}.date_added = k{alias}.object_added WHERE {readable}"
        )
        if collection is not None:
            sql += f" AND {alias}.collection_key = ?"
            args.append(collection.key)
        return sql, args

    @_indexed
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
        first, p_first = self._same_members_sql(reader, "o3", collection)
        other, p_other = self._same_members_sql(reader, "o", collection)
        where = "1"
        params: list[object] = []
        if after is not None:
            where += " AND sk.n > ?"
            params.append(after.date_added_us)
        if kinds:
            where += " AND (" + " OR ".join("substr(sk.key, 1, ?) = ?" for _ in kinds) + ")"
            for kind in kinds:
                params.extend([len(kind) + 1, kind + ":"])
        counted, p_counted = "NULL", list[object]()
        if count:
            members, p_counted = self._same_members_sql(reader, "o4", collection)
            counted = f"(SELECT COUNT(*) FROM (SELECT 1 {members} AND ko4.key = sk.key LIMIT ?) AS members)"
            p_counted.append(GROUP_COUNT_CAP + 1)
        # a key qualifies as soon as two readable reports of different origins are found under it (a common
        # value shared by thousands of reports costs two of them, not thousands)
        rows = (
            self._db.reader()
            .execute(
                f"SELECT sk.n, sk.key, {counted} FROM shared_keys sk WHERE {where}"
                f" AND EXISTS (SELECT 1 {other} AND ko.key = sk.key AND o.origin !="
                f" (SELECT o3.origin {first} AND ko3.key = sk.key LIMIT 1))"
                " ORDER BY sk.n LIMIT ?",
                [*p_counted, *params, *p_other, *p_first, limit + 1],
            )
            .fetchall()
        )
        groups = [
            SameGroup(int(r[0]), str(r[1]), None if r[2] is None else int(r[2]), 2) for r in rows[:limit]
        ]
        return groups, len(rows) > limit

    @_indexed
    def same_members_of(
        self, reader: Org, keys: Sequence[str], *, limit: int = 50, collection: Collection | None = None
    ) -> dict[str, list[Hit]]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, list[Hit]] = {key: [] for key in wanted}
        if not wanted:
            return out
        members, args = self._same_members_sql(reader, "o", collection)
        # each key's first reports by its own LIMITed index scan, all in one statement (a window over the
        # keys would read every report of a key held by thousands)
        one = f"SELECT {_COLS}, ko.key {members} AND ko.key = KEY ORDER BY o.date_added LIMIT ?"
        conn = self._db.reader()
        if self._dialect == "postgres":  # one plan (fifty UNION ALL branches take longer to plan than run)
            rows = conn.execute(
                f"SELECT m.* FROM unnest(?::text[]) AS g(key), LATERAL ({one.replace('KEY', 'g.key')}) AS m",
                [wanted, *args, limit],
            ).fetchall()
        else:
            branches = " UNION ALL ".join(
                f"SELECT * FROM ({one.replace('KEY', '?')}) AS m{i}" for i in range(len(wanted))
            )
            params: list[object] = []
            for key in wanted:
                params.extend([*args, key, limit])
            rows = conn.execute(branches, params).fetchall()
        rows.sort(key=lambda r: int(r[4]))  # each key's reports in the order they were added
        for hit, r in zip(self._hits(rows), rows, strict=True):
            out[str(r[_NCOLS])].append(hit)
        return out

    @_indexed
    def same_members(self, reader: Org, key: str, *, limit: int = 200) -> list[Hit]:
        return self.same_members_of(reader, [key], limit=limit)[key]

    @_indexed
    def latest(self, reader: Org, ids: Sequence[str]) -> dict[str, Hit]:
        keys = self._readable_keys(reader)
        wanted = list(dict.fromkeys(ids))
        out: dict[str, Hit] = {}
        if not keys or not wanted:
            return out
        readable, params = self._readable(reader)
        conn = self._db.reader()
        for i in range(0, len(wanted), 400):
            chunk = wanted[i : i + 400]
            rows = conn.execute(
                f"SELECT {_COLS} FROM objects o WHERE o.collection_key IN ({','.join('?' * len(keys))})"
                f" AND o.id_key IN ({','.join('?' * len(chunk))}) AND {readable}",
                [*keys, *(id_key(x) for x in chunk), *params],
            ).fetchall()
            rows.sort(key=lambda r: -int(r[4]))  # newest first (sorting in SQL would walk the collection)
            for hit in self._hits([r for r in rows if r[0] in chunk]):
                out.setdefault(hit.row.id, hit)  # held in several collections: the one added last
        return out

    @_indexed
    def readable_ids(self, reader: Org, ids: Sequence[str]) -> set[str]:
        keys = self._readable_keys(reader)
        wanted = list(dict.fromkeys(ids))
        if not keys or not wanted:
            return set()
        vis, params = self._visible(reader, "o")
        found: set[str] = set()
        conn = self._db.reader()
        for i in range(0, len(wanted), 400):
            chunk = wanted[i : i + 400]
            cur = conn.execute(
                f"SELECT DISTINCT o.id FROM objects o WHERE o.collection_key IN ({','.join('?' * len(keys))})"
                f" AND o.id_key IN ({','.join('?' * len(chunk))}) AND {vis}",
                [*keys, *(id_key(x) for x in chunk), *params],
            )
            found.update(str(r[0]) for r in cur if r[0] in chunk)
        return found

    # -- conjunctions -----------------------------------------------------------------------------------
    @_indexed
    def conjunctions(self, reader: Org, query: ConjunctionQuery) -> tuple[list[Conjunction], bool]:
        readable, args = self._readable(reader)
        where = readable
        if query.norad is not None:
            where += " AND (c.norad_1 = ? OR c.norad_2 = ?)"
            args.extend([query.norad, query.norad])
        for clause, value in (
            ("c.tca_us >= ?", query.tca_from_us),
            ("c.tca_us < ?", query.tca_to_us),
            ("c.pc >= ?", query.min_pc),
            ("c.miss_km <= ?", query.max_miss_km),
        ):
            if value is not None:
                where += " AND " + clause
                args.append(value)
        rows = (
            self._db.reader()
            .execute(
                f"SELECT {_COLS}, c.norad_1, c.norad_2, c.tca_us, c.miss_km, c.rel_speed_km_s, c.pc,"
                " c.pc_method FROM conjunctions c CROSS JOIN objects o ON o.date_added = c.object_added"
                f" WHERE {where} ORDER BY c.tca_us DESC, o.date_added DESC LIMIT ?",
                [*args, query.limit + 1],
            )
            .fetchall()
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        return [
            Conjunction(
                h, int(r[_NCOLS]), int(r[_NCOLS + 1]), int(r[_NCOLS + 2]), *r[_NCOLS + 3 : _NCOLS + 7]
            )
            for h, r in zip(self._hits(rows), rows, strict=True)
        ], more
