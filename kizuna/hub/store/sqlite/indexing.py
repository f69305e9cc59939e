"""The read indexes of the SQLite store (:mod:`kizuna.hub.index` decides what is indexed; this module writes
and removes the rows).

They are written behind the writes, in batches: a write stores its versions and leaves them to be indexed
(``meta.indexed_to`` is the ``date_added`` up to which every version is indexed), and :func:`catch_up`
indexes everything above the mark in one transaction. A store catches up before any read of these tables
(so a reader always sees every committed write: read your writes), when a process holds
:data:`INDEX_BATCH` versions waiting (in the store's indexer thread, so that neither the write which made
the batch nor the client waiting for it waits for the batch; past :data:`INDEX_CAP` a write indexes them
itself), and when it is closed. Each version's entries were computed by the intake's check; the store keeps
them in memory until they are indexed, and a version whose entries it does not hold (written by another
process, or before a restart) is indexed from its stored bytes. Batching is what makes this cheaper than
indexing in each write: the indexes are keyed by values and hashes, so one envelope's entries land on as
many leaf pages as there are entries, and each commit wrote every touched page to the WAL again; a batch of
many writes touches each page once.

Tables (schema version 3): ``search`` (FTS5 over names, descriptions, aliases and observable values, rowid =
the version's ``date_added``), ``observables`` (exact values), ``same_keys`` and ``shared_keys`` (sameness
keys, and those held by versions of two or more origins: a superset of what any reader may see as a
disagreement, narrowed per reader at read time; ``key_origins``, the origin that first held each key, from
which a write learns whether another origin holds one of its keys), ``links`` (backward references),
``sightings``, ``conjunctions`` and ``flags`` (revoked, ``valid_until``). ``meta.generation`` changes with
every write that changes stored objects, so caches of reads know when they are stale.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from kizuna.hub.index import Entries, entries
from kizuna.hub.store.sqlite.ids import id_key

_CHUNK = 500

#: Versions a process leaves waiting before its indexer thread indexes them without waiting for a read.
INDEX_BATCH = 16_384
#: Versions waiting past which a write indexes them itself (the indexer thread is behind, or failing).
INDEX_CAP = 2 * INDEX_BATCH
#: Versions indexed per statement batch while catching up (bounds the memory of one step).
_STEP = 2_000


def parse(raw: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = json.loads(raw)  # integers beyond 64 bits
    return obj if isinstance(obj, dict) else {}


def index_versions(conn: sqlite3.Connection, versions: Iterable[tuple[int, str, Entries]]) -> None:
    """Index stored versions given as (date_added, origin, what is indexed of it), already in
    ``objects``."""
    text: list[tuple[int, str]] = []
    values: list[tuple[str, int]] = []
    keys: list[tuple[str, int]] = []
    key_origins: dict[str, dict[str, None]] = {}  # the origins of each key in this write, in order
    links: list[tuple[int, str, int, str]] = []
    sightings: list[tuple[object, ...]] = []
    conjunctions: list[tuple[object, ...]] = []
    flags: list[tuple[int, int, int | None]] = []
    for added, origin, e in versions:
        if e.text:
            text.append((added, e.text))
        values.extend((v, added) for v in e.values)
        for k in e.keys:
            keys.append((k, added))
            key_origins.setdefault(k, {})[origin] = None
        links.extend((id_key(ref), role, added, ref) for role, ref in e.links)
        if e.sighting is not None:
            s = e.sighting
            sightings.append(
                (added, s.ref, id_key(s.ref), s.seen_us, s.first_seen_us, s.last_seen_us, s.count)
            )
        if e.conjunction is not None:
            c = e.conjunction
            conjunctions.append(
                (added, c.norad_1, c.norad_2, c.tca_us, c.miss_km, c.rel_speed_km_s, c.pc, c.pc_method)
            )
        if e.flagged:
            flags.append((added, int(e.revoked), e.valid_until_us))
    if text:
        conn.executemany("INSERT INTO search (rowid, body) VALUES (?,?)", text)
    if values:
        conn.executemany("INSERT OR IGNORE INTO observables (value, object_added) VALUES (?,?)", values)
    if keys:
        conn.executemany("INSERT OR IGNORE INTO same_keys (key, object_added) VALUES (?,?)", keys)
        _share_keys(conn, key_origins)
    if links:
        conn.executemany(
            "INSERT OR IGNORE INTO links (ref_key, role, object_added, ref) VALUES (?,?,?,?)", links
        )
    if sightings:
        conn.executemany(
            "INSERT OR REPLACE INTO sightings (object_added, ref, ref_key, seen_us, first_seen_us,"
            " last_seen_us, count) VALUES (?,?,?,?,?,?,?)",
            sightings,
        )
    if conjunctions:
        conn.executemany(
            "INSERT OR REPLACE INTO conjunctions (object_added, norad_1, norad_2, tca_us, miss_km,"
            " rel_speed_km_s, pc, pc_method) VALUES (?,?,?,?,?,?,?,?)",
            conjunctions,
        )
    if flags:
        conn.executemany(
            "INSERT OR REPLACE INTO flags (object_added, revoked, valid_until_us) VALUES (?,?,?)", flags
        )


def _share_keys(conn: sqlite3.Connection, key_origins: dict[str, dict[str, None]]) -> None:
    """Record the keys now held by versions of two or more origins: those of two origins in this write, and
    those whose first origin (``key_origins``) is not the one origin writing them now (one lookup a key)."""
    shared = [k for k, origins in key_origins.items() if len(origins) > 1]
    keys = list(key_origins)
    first: dict[str, str] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        cur = conn.execute(
            f"SELECT key, origin FROM key_origins WHERE key IN ({','.join('?' * len(chunk))})", chunk
        )
        first.update((str(r[0]), str(r[1])) for r in cur)
    new: list[tuple[str, str]] = []
    for key, origins in key_origins.items():
        held = first.get(key)
        if held is None:
            new.append((key, next(iter(origins))))
        elif len(origins) == 1 and held not in origins:
            shared.append(key)
    if new:
        conn.executemany("INSERT OR IGNORE INTO key_origins (key, origin) VALUES (?,?)", new)
    if shared:
        conn.executemany("INSERT OR IGNORE INTO shared_keys (key) VALUES (?)", [(k,) for k in shared])


def catch_up(conn: sqlite3.Connection, waiting: dict[int, Entries]) -> int:
    """Index every committed version above ``meta.indexed_to`` (inside the caller's write transaction) and
    move the mark to the last version stored; ``waiting`` holds the entries of some of them (by
    ``date_added``: used, then dropped). Returns how many versions were indexed."""
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')"))
    mark, top = int(meta["indexed_to"]), int(meta["last_date_added"])
    done = 0
    while mark < top:
        rows = conn.execute(
            "SELECT date_added, origin FROM objects WHERE date_added > ? AND date_added <= ?"
            " ORDER BY date_added LIMIT ?",
            (mark, top, _STEP),
        ).fetchall()
        if not rows:
            break
        missing = [int(r[0]) for r in rows if int(r[0]) not in waiting]
        stored: dict[int, Entries] = {}
        for i in range(0, len(missing), _CHUNK):
            chunk = missing[i : i + _CHUNK]
            cur = conn.execute(
                f"SELECT date_added, raw FROM objects WHERE date_added IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            stored.update((int(a), entries(parse(bytes(raw)))) for a, raw in cur)
        got = [(int(a), str(o)) for a, o in rows]
        index_versions(conn, [(a, o, waiting.pop(a) if a in waiting else stored[a]) for a, o in got])
        done += len(rows)
        mark = int(rows[-1][0])
    conn.execute("UPDATE meta SET value=? WHERE key='indexed_to'", (str(top),))
    for a in [a for a in waiting if a <= top]:  # deleted before they were indexed, or indexed elsewhere
        del waiting[a]
    if done:
        bump_generation(conn)
    return done


def unindex(conn: sqlite3.Connection, added: Sequence[int]) -> None:
    """Remove the index rows of versions being deleted (``shared_keys`` stays a superset, and
    ``key_origins`` keeps each key's first origin: a later origin's version of the key then counts as shared,
    which is never less than the truth)."""
    for i in range(0, len(added), _CHUNK):
        chunk = list(added[i : i + _CHUNK])
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM search WHERE rowid IN ({marks})", chunk)
        for table in ("observables", "same_keys", "links", "sightings", "conjunctions", "flags"):
            conn.execute(f"DELETE FROM {table} WHERE object_added IN ({marks})", chunk)


def bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def reindex_all(conn: sqlite3.Connection) -> None:
    """Index every stored version (the migration to schema version 3)."""
    last = -1
    while True:
        batch = conn.execute(
            "SELECT date_added, origin, raw FROM objects WHERE date_added > ? ORDER BY date_added LIMIT 2000",
            (last,),
        ).fetchall()
        if not batch:
            return
        index_versions(conn, [(int(a), str(o), entries(parse(bytes(r)))) for a, o, r in batch])
        last = int(batch[-1][0])
