"""The SQLite hub schema as one ordered list of migrations.

A new database applies every migration in order; an older one applies those it lacks
(``kizuna hub migrate``). ``meta.schema_version`` records the last applied. Each migration runs in one
transaction with foreign-key checks deferred to its end, so a database is at one version or the next,
never between.

Version 1 is the schema of the first release (issue 2). Version 2 (the hub's house and its trust rules,
issues 12 and 13): integer collection keys in every index; ``date_added`` (microseconds, unique across the
hub, assigned in commit order) is the objects' row key, so a page is one range scan and cursors need nothing
else; federation cursors in typed columns; write results instead of TAXII status bodies; the audit chain's
head, and the sequence number from which records are keyed; each id's owner; each version's origin hub, hop
count and whether it is restricted to its producer and named recipients; the marking definitions the hub
knows and the versions waiting for one; administrators; peers' onward-sharing lists. Version 3 (hardening,
issue 14): tokens found by a key id (``kzn_<key-id>_<secret>``; a token of the first format keeps working
until revoked, found by its hash), with a name, an expiry and when it was last used; failed authentications
(the rate limiter's counters, shared by every worker); the last refusals of each flow.
Version 4 (ingest, issue 15): the units that ingest commands stored and the provenance of each object
version they stored, written in the unit's own transaction.
Version 5 (live response, issue 16): how each peer's record names the sighter of a sighting sent home
(``sighter``) and where sending sightings home has reached (``home_*``); leases, so that one process of
several follows the peers.
Version 6 (the web
UI, issue 17): the read indexes kept in each write's transaction (full text in FTS5, exact observable values,
sameness keys, backward links, sightings, conjunctions, revoked and ``valid_until`` flags; see
``indexing.py``), built for the objects already stored; a generation number for caches of reads; the web
UI's sessions; audit records indexed by action and by actor.
Version 7: the read indexes written behind the writes, in batches (``meta.indexed_to``: every version up to
it is indexed; see ``indexing.py``); the origin that first held each sameness key (``key_origins``), so that
indexing learns which keys another origin holds with one lookup a key, where it read every version holding
the key.
Version 8: an id's owner is the origin of its first stored version, found through ``objects_by_id``, now
keyed by the id first (hub-wide, whatever the collection); ``owners`` keeps only the owners of ids some of
whose versions were deleted (and every owner recorded before). A write no longer adds an ``owners`` row for
each new id: at 1,000,000 ids those rows were a B-tree of 76 MB written at random, half of what a bulk
ingest wrote to disk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from kizuna.errors import StoreError
from kizuna.stix.ids import parse_timestamp, to_us


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


_V1 = """
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

_V2_TABLES = """
CREATE TABLE collections2 (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    alias TEXT UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    default_tlp INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE grants2 (
    collection_key INTEGER NOT NULL REFERENCES collections2(key),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    can_read INTEGER NOT NULL,
    can_write INTEGER NOT NULL,
    PRIMARY KEY (collection_key, org_id)
) WITHOUT ROWID;
CREATE TABLE objects2 (
    date_added INTEGER PRIMARY KEY,
    collection_key INTEGER NOT NULL REFERENCES collections2(key),
    id TEXT NOT NULL,
    id_key INTEGER NOT NULL,
    type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    version TEXT NOT NULL,
    version_us INTEGER NOT NULL,
    tlp INTEGER NOT NULL,
    marked INTEGER NOT NULL,
    restricted INTEGER NOT NULL DEFAULT 0,
    producer_org_id INTEGER REFERENCES orgs(id),
    origin TEXT NOT NULL,
    origin_hub TEXT NOT NULL DEFAULT '',
    hops INTEGER NOT NULL DEFAULT 0,
    digest BLOB NOT NULL,
    raw BLOB NOT NULL
);
CREATE TABLE owners (
    id_key INTEGER NOT NULL,
    id TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (id_key, id)
) WITHOUT ROWID;
CREATE TABLE markings (
    id TEXT PRIMARY KEY,
    tlp INTEGER
) WITHOUT ROWID;
CREATE TABLE pending_markings (
    marking_id TEXT NOT NULL,
    object_added INTEGER NOT NULL REFERENCES objects2(date_added) ON DELETE CASCADE,
    fallback_tlp INTEGER NOT NULL,
    PRIMARY KEY (marking_id, object_added)
) WITHOUT ROWID;
CREATE TABLE recipients2 (
    object_added INTEGER NOT NULL REFERENCES objects2(date_added) ON DELETE CASCADE,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    PRIMARY KEY (object_added, org_id)
) WITHOUT ROWID;
CREATE TABLE write_results (
    id TEXT PRIMARY KEY,
    org_id INTEGER REFERENCES orgs(id),
    body BLOB NOT NULL
);
CREATE TABLE flows2 (
    id INTEGER PRIMARY KEY,
    peer_id INTEGER NOT NULL REFERENCES peers(id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('pull', 'push')),
    remote_collection TEXT NOT NULL,
    local_collection_key INTEGER NOT NULL REFERENCES collections2(key),
    cursor_us INTEGER,
    cursor_complete INTEGER NOT NULL DEFAULT 1,
    transferred INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    last_success TEXT,
    last_error TEXT,
    UNIQUE (peer_id, direction, remote_collection, local_collection_key)
);
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    records INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    hash TEXT NOT NULL
)
"""

_V2_INDEXES = """
CREATE INDEX objects_by_collection ON objects (collection_key);
CREATE INDEX objects_by_id ON objects (collection_key, id_key, version_us);
CREATE INDEX pending_markings_by_object ON pending_markings (object_added)
"""


def _rank_markings(conn: sqlite3.Connection) -> None:
    """Fill the registry of marking definitions from those already stored, then treat every version that
    references a marking the hub does not know as RED until its definition arrives (a first-release hub
    counted such versions as unmarked)."""
    from kizuna.stix.markings import MARKING_RANK, declared_tlp, marking_refs

    for (raw,) in conn.execute("SELECT raw FROM objects2 WHERE type = 'marking-definition'").fetchall():
        obj = orjson.loads(raw)
        level = declared_tlp(obj)
        conn.execute(
            "INSERT OR IGNORE INTO markings (id, tlp) VALUES (?, ?)",
            (obj["id"], None if level is None else int(level)),
        )
    known = {r[0] for r in conn.execute("SELECT id FROM markings")} | set(MARKING_RANK)
    for added, raw, tlp in conn.execute("SELECT date_added, raw, tlp FROM objects2").fetchall():
        unknown = [m for m in marking_refs(orjson.loads(raw)) if m not in known]
        if unknown:
            conn.execute("UPDATE objects2 SET tlp = 4 WHERE date_added = ?", (added,))
            conn.executemany(
                "INSERT OR IGNORE INTO pending_markings (marking_id, object_added, fallback_tlp)"
                " VALUES (?, ?, ?)",
                [(m, added, tlp) for m in unknown],
            )


def _flow_cursor(direction: str, text: str) -> tuple[int | None, int]:
    """A version-1 flow cursor as (cursor_us, complete): a push cursor was ``US.SEQ``, a pull cursor the
    peer's ``date_added`` text with a trailing ``~`` when the pass stopped mid-way."""
    if not text:
        return None, 1
    if direction == "push":
        return int(text.split(".")[0]), 1
    return to_us(parse_timestamp(text.rstrip("~"))), 0 if text.endswith("~") else 1


def _status_to_result(body: bytes) -> bytes:
    """A version-1 TAXII status body as a version-2 write result."""
    status = orjson.loads(body)
    objects = [
        {
            "id": s["id"],
            "version": s.get("version", ""),
            "outcome": "duplicate" if s.get("message") == "already stored" else "stored",
            "reason": "",
        }
        for s in status.get("successes", [])
    ]
    objects += [
        {"id": f["id"], "version": f.get("version", ""), "outcome": "refused", "reason": f.get("message", "")}
        for f in status.get("failures", [])
    ]
    return orjson.dumps(
        {
            "id": status["id"],
            "requested_us": to_us(parse_timestamp(status["request_timestamp"])),
            "collection_id": "",
            "objects": objects,
            "routed": [],
        }
    )


def _to_v2(conn: sqlite3.Connection) -> None:
    _script(_V2_TABLES)(conn)
    conn.execute(
        "INSERT INTO collections2 (id, title, alias, description, default_tlp, created)"
        " SELECT id, title, alias, description, default_tlp, created FROM collections ORDER BY created, id"
    )
    conn.execute(
        "INSERT INTO grants2 SELECT c.key, g.org_id, g.can_read, g.can_write"
        " FROM grants g JOIN collections2 c ON c.id = g.collection_id"
    )
    conn.execute(
        "INSERT INTO objects2 SELECT o.date_added, c.key, o.id, o.id_key, o.type, o.spec_version, o.version,"
        " o.version_us, o.tlp, o.marked, 0, o.producer_org_id, o.origin,"
        " CASE WHEN o.origin LIKE 'peer:%' THEN substr(o.origin, 6) ELSE '' END,"
        " CASE WHEN o.origin LIKE 'peer:%' THEN 1 ELSE 0 END, o.digest, o.raw"
        " FROM objects o JOIN collections2 c ON c.id = o.collection_id ORDER BY o.date_added"
    )
    conn.execute(
        "INSERT INTO owners SELECT id_key, id, origin FROM"
        " (SELECT id_key, id, origin, MIN(date_added) FROM objects2 GROUP BY id_key, id)"
    )
    conn.execute(
        "INSERT INTO recipients2 SELECT o.date_added, r.org_id FROM recipients r"
        " JOIN objects o ON o.seq = r.object_seq"
    )
    for fid, peer_id, direction, remote, local, cursor, moved, refused, ok, error in conn.execute(
        "SELECT id, peer_id, direction, remote_collection, local_collection, cursor, transferred, refused,"
        " last_success, last_error FROM flows"
    ).fetchall():
        us, complete = _flow_cursor(direction, cursor)
        conn.execute(
            "INSERT INTO flows2 SELECT ?, ?, ?, ?, key, ?, ?, ?, ?, ?, ? FROM collections2 WHERE id = ?",
            (fid, peer_id, direction, remote, us, complete, moved, refused, ok, error, local),
        )
    for sid, org_id, body in conn.execute("SELECT id, org_id, body FROM status").fetchall():
        conn.execute(
            "INSERT INTO write_results (id, org_id, body) VALUES (?,?,?)",
            (sid, org_id, _status_to_result(body)),
        )
    _rank_markings(conn)
    conn.execute("ALTER TABLE orgs ADD COLUMN admin INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE peers ADD COLUMN reshare TEXT NOT NULL DEFAULT '[]'")
    conn.execute("ALTER TABLE peers ADD COLUMN reshare_max_tlp INTEGER NOT NULL DEFAULT 1")
    for old in ("recipients", "objects", "grants", "flows", "status", "collections"):
        conn.execute(f"DROP TABLE {old}")
    for name in ("collections", "grants", "objects", "recipients", "flows"):
        conn.execute(f"ALTER TABLE {name}2 RENAME TO {name}")
    _script(_V2_INDEXES)(conn)
    last = conn.execute("SELECT COUNT(*), MAX(seq) FROM audit").fetchone()
    head = conn.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute(
        "INSERT INTO audit_head (id, records, last_seq, hash) VALUES (1, ?, ?, ?)",
        (int(last[0]), int(last[1] or 0), head[0] if head else "0" * 64),
    )
    # records written so far carry plain SHA-256; from here on they are MAC'd under the hub's audit key
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('audit_keyed_from', ?)", (str(int(last[1] or 0) + 1),)
    )


_V3 = """
CREATE TABLE tokens3 (
    key_id TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    secret_hash TEXT NOT NULL UNIQUE,
    legacy INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    expires_us INTEGER,
    last_used TEXT
);
INSERT INTO tokens3 (key_id, org_id, secret_hash, legacy, name, created)
    SELECT lower(hex(randomblob(8))), org_id, token_hash, 1, '', created FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens3 RENAME TO tokens;
CREATE INDEX tokens_by_org ON tokens (org_id);
CREATE TABLE auth_failures (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE INDEX auth_failures_by_subject ON auth_failures (subject, at_us);
ALTER TABLE flows ADD COLUMN last_refusals TEXT NOT NULL DEFAULT '[]'
"""

_V4 = """
CREATE TABLE ingest_units (
    id INTEGER PRIMARY KEY,
    write_id TEXT NOT NULL,
    format TEXT NOT NULL,
    source TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_version TEXT NOT NULL,
    event_uuid TEXT,
    org TEXT,
    converter TEXT NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE INDEX ingest_units_by_source ON ingest_units (source, unit);
CREATE TABLE provenance (
    object_added INTEGER PRIMARY KEY REFERENCES objects(date_added) ON DELETE CASCADE,
    unit_id INTEGER NOT NULL REFERENCES ingest_units(id),
    locator TEXT NOT NULL
)
"""

_V5 = """
ALTER TABLE peers ADD COLUMN sighter TEXT NOT NULL DEFAULT 'hub'
    CHECK (sighter IN ('org', 'hub', 'anonymous'));
ALTER TABLE peers ADD COLUMN home_cursor_us INTEGER;
ALTER TABLE peers ADD COLUMN home_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE peers ADD COLUMN home_held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE peers ADD COLUMN home_waiting TEXT;
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_us INTEGER NOT NULL
) WITHOUT ROWID
"""


_V6 = """
CREATE VIRTUAL TABLE search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE observables (
    value TEXT NOT NULL,
    object_added INTEGER NOT NULL,
    PRIMARY KEY (value, object_added)
) WITHOUT ROWID;
CREATE INDEX observables_by_object ON observables (object_added);
CREATE TABLE same_keys (
    key TEXT NOT NULL,
    object_added INTEGER NOT NULL,
    PRIMARY KEY (key, object_added)
) WITHOUT ROWID;
CREATE INDEX same_keys_by_object ON same_keys (object_added);
CREATE TABLE shared_keys (n INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE links (
    ref_key INTEGER NOT NULL,
    role TEXT NOT NULL,
    object_added INTEGER NOT NULL,
    ref TEXT NOT NULL,
    PRIMARY KEY (ref_key, role, object_added, ref)
) WITHOUT ROWID;
CREATE INDEX links_by_object ON links (object_added);
CREATE TABLE sightings (
    object_added INTEGER PRIMARY KEY,
    ref TEXT NOT NULL,
    ref_key INTEGER NOT NULL,
    seen_us INTEGER NOT NULL,
    first_seen_us INTEGER,
    last_seen_us INTEGER,
    count INTEGER NOT NULL
);
CREATE INDEX sightings_by_ref ON sightings (ref_key, seen_us);
CREATE INDEX sightings_by_time ON sightings (seen_us);
CREATE TABLE conjunctions (
    object_added INTEGER PRIMARY KEY,
    norad_1 INTEGER NOT NULL,
    norad_2 INTEGER NOT NULL,
    tca_us INTEGER NOT NULL,
    miss_km REAL,
    rel_speed_km_s REAL,
    pc REAL,
    pc_method TEXT
);
CREATE INDEX conjunctions_by_tca ON conjunctions (tca_us);
CREATE TABLE flags (
    object_added INTEGER PRIMARY KEY,
    revoked INTEGER NOT NULL,
    valid_until_us INTEGER
);
CREATE TABLE ui_sessions (
    id_hash TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ui_sessions_by_expiry ON ui_sessions (expires_us);
CREATE INDEX ui_sessions_by_org ON ui_sessions (org_id);
CREATE INDEX audit_by_action ON audit (action, seq);
CREATE INDEX audit_by_actor ON audit (actor, seq);
INSERT INTO meta (key, value) VALUES ('generation', '0')
"""


_V7 = """
CREATE TABLE IF NOT EXISTS key_origins (key TEXT PRIMARY KEY, origin TEXT NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO key_origins (key, origin)
    SELECT k.key, o.origin FROM same_keys k CROSS JOIN objects o ON o.date_added = k.object_added
    ORDER BY k.object_added;
INSERT OR IGNORE INTO meta (key, value)
    VALUES ('indexed_to', COALESCE((SELECT value FROM meta WHERE key = 'last_date_added'), '0'))
"""

_V8 = """
DROP INDEX objects_by_id;
CREATE INDEX objects_by_id ON objects (id_key, collection_key, version_us)
"""


def _to_v6(conn: sqlite3.Connection) -> None:
    from kizuna.hub.store.sqlite.indexing import reindex_all

    _script(_V6)(conn)
    _script(_V7)(conn)  # indexing as this code does it needs version 7's table (which then finds it made)
    reindex_all(conn)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "first release: organisations, tokens, collections, objects, peers, audit", _script(_V1)),
    Migration(2, "integer collection keys, date_added as row key, typed flow cursors, audit head", _to_v2),
    Migration(
        3, "token key ids, names and expiry; failed-authentication counters; flow refusals", _script(_V3)
    ),
    Migration(4, "ingested units and the provenance of the object versions they stored", _script(_V4)),
    Migration(5, "live response: how each peer names sighters, sightings-home cursors, leases", _script(_V5)),
    Migration(6, "read indexes (full text, observable values, sameness keys, links), UI sessions", _to_v6),
    Migration(
        7, "read indexes written behind the writes; the first origin of each sameness key", _script(_V7)
    ),
    Migration(
        8, "owners found from the first stored version of each id (objects_by_id: id first)", _script(_V8)
    ),
)

#: The schema version this code reads and writes.
SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    """The version of the database on ``conn``: 0 when empty; StoreError when it is not a hub database."""
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError:
        raise StoreError("not a kizuna hub database") from None
    if not tables:
        return 0
    if "meta" not in tables:
        raise StoreError("not a kizuna hub database")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None or not str(row[0]).isdigit():
        raise StoreError("not a kizuna hub database (no schema version)")
    return int(row[0])


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> list[Migration]:
    """Apply the migrations the database on ``conn`` lacks, each in its own transaction; returns them."""
    current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise StoreError(
            f"the database is at schema version {current}, newer than this kizuna ({SCHEMA_VERSION})"
        )
    applied: list[Migration] = []
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        for m in MIGRATIONS:
            if not current < m.version <= target:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                m.apply(conn)
                if m.version == 1:
                    conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
                conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(m.version),))
                problems = conn.execute("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise StoreError(f"migration {m.version} left dangling references: {problems[:3]}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            applied.append(m)
            current = m.version
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    return applied
