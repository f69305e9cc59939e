"""The :class:`~kizuna.hub.store.protocols.Directory` of the SQLite store: the hub, organisations, tokens,
collections and grants."""

from __future__ import annotations

import secrets
import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from kizuna.errors import Conflict, InputError, NotFound
from kizuna.hub import names
from kizuna.hub.auth import TokenKey, secret_matches
from kizuna.hub.models import Collection, Grant, Org, TokenInfo, TokenRecord
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.stix.ids import format_us, to_us
from kizuna.stix.markings import TLP

ORG_COLUMNS = ("id", "name", "ceiling", "country", "sectors", "peer_hub", "identity_id", "admin")
COLLECTION_COLUMNS = ("key", "id", "title", "default_tlp", "alias", "description")


def org_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in ORG_COLUMNS)


def collection_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{c}" for c in COLLECTION_COLUMNS)


def org_from_row(row: Sequence[Any]) -> Org:
    return Org(
        id=int(row[0]),
        name=str(row[1]),
        ceiling=TLP(int(row[2])),
        country=row[3] if row[3] is None else str(row[3]),
        sectors=tuple(orjson.loads(row[4])),
        peer_hub=bool(row[5]),
        identity_id=str(row[6]),
        admin=bool(row[7]),
    )


def collection_from_row(row: Sequence[Any]) -> Collection:
    return Collection(
        key=int(row[0]),
        id=str(row[1]),
        title=str(row[2]),
        default_tlp=TLP(int(row[3])),
        alias=None if row[4] is None else str(row[4]),
        description=str(row[5]),
    )


def identity_id_for(name: str) -> str:
    """The STIX identity id of an organisation of this name (the same on every hub)."""
    return f"identity--{uuid.uuid5(uuid.NAMESPACE_URL, 'kizuna-org:' + name)}"


class SQLiteDirectory(SQLiteBase):
    # -- the hub --------------------------------------------------------------------------------------
    def title(self) -> str:
        row = self._db.reader().execute("SELECT value FROM meta WHERE key='title'").fetchone()
        return str(row[0]) if row else "kizuna hub"

    _cursor_key: bytes

    def cursor_key(self) -> bytes:
        return self._cursor_key

    def created_at(self, org: Org | None = None) -> str:
        conn = self._db.reader()
        if org is None:
            row = conn.execute("SELECT value FROM meta WHERE key='created'").fetchone()
        else:
            row = conn.execute("SELECT created FROM orgs WHERE id=?", (org.id,)).fetchone()
        if row is None:
            raise NotFound("no such organisation")
        return str(row[0])

    def hub_id(self) -> str:
        row = self._db.reader().execute("SELECT value FROM meta WHERE key='hub_id'").fetchone()
        return str(row[0])

    # -- organisations and tokens ---------------------------------------------------------------------
    def add_org(
        self,
        name: str,
        *,
        ceiling: TLP,
        country: str | None = None,
        sectors: Sequence[str] = (),
        peer_hub: bool = False,
        admin: bool = False,
    ) -> Org:
        name = names.org_name(name)
        country = names.country(country)
        sectors = [names.sector(s) for s in sectors]
        identity_id = identity_id_for(name)
        with self._db.write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO orgs (name, ceiling, country, sectors, peer_hub, identity_id, created,"
                    " admin) VALUES (?,?,?,?,?,?,?,?)",
                    (
                        name,
                        int(ceiling),
                        country,
                        orjson.dumps(list(sectors)).decode(),
                        int(peer_hub),
                        identity_id,
                        self._now_text(),
                        int(admin),
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
                    "admin": admin,
                },
            )
            org_id = int(cur.lastrowid or 0)
        return Org(org_id, name, ceiling, country, tuple(sectors), peer_hub, identity_id, admin)

    def get_org(self, name: str) -> Org:
        row = (
            self._db.reader()
            .execute(f"SELECT {org_columns('o')} FROM orgs o WHERE o.name=?", (name,))
            .fetchone()
        )
        if row is None:
            raise NotFound(f"unknown organisation {name!r}")
        return org_from_row(row)

    def list_orgs(self) -> list[Org]:
        cur = self._db.reader().execute(f"SELECT {org_columns('o')} FROM orgs o ORDER BY o.name")
        return [org_from_row(r) for r in cur]

    def update_org(
        self,
        name: str,
        *,
        ceiling: TLP | None = None,
        country: str | None = None,
        sectors: Sequence[str] | None = None,
        peer_hub: bool | None = None,
        admin: bool | None = None,
    ) -> Org:
        """Change an organisation's ceiling, country, sectors, peer-hub or administrator flag (None:
        unchanged). An administrator may delete any object it can read and sees the audit log in the web UI.

        Refuses to turn a peer hub's account into an ordinary one while a peer record of its name exists:
        that record's agreement is what binds the account."""
        old = self.get_org(name)
        new_country = old.country if country is None else names.country(country)
        new_sectors = old.sectors if sectors is None else tuple(names.sector(s) for s in sectors)
        new_ceiling = old.ceiling if ceiling is None else ceiling
        new_peer = old.peer_hub if peer_hub is None else peer_hub
        new_admin = old.admin if admin is None else admin
        with self._db.write() as conn:
            if old.peer_hub and not new_peer and self._peer_named(conn, old.name):
                raise Conflict(
                    f"peer {old.name!r} is recorded with this name and its agreement binds this account;"
                    f" remove the peer first ('kizuna hub peer remove {old.name}')"
                )
            conn.execute(
                "UPDATE orgs SET ceiling=?, country=?, sectors=?, peer_hub=?, admin=? WHERE id=?",
                (
                    int(new_ceiling),
                    new_country,
                    orjson.dumps(list(new_sectors)).decode(),
                    int(new_peer),
                    int(new_admin),
                    old.id,
                ),
            )
            changes = {
                key: [before, after]
                for key, before, after in (
                    ("ceiling", old.ceiling.label, new_ceiling.label),
                    ("country", old.country, new_country),
                    ("sectors", list(old.sectors), list(new_sectors)),
                    ("peer_hub", old.peer_hub, new_peer),
                    ("admin", old.admin, new_admin),
                )
                if before != after
            }
            self._audit(conn, "cli", "org.update", {"name": old.name, "changes": changes})
        return Org(
            old.id, old.name, new_ceiling, new_country, new_sectors, new_peer, old.identity_id, new_admin
        )

    def remove_org(self, name: str, *, force: bool = False) -> dict[str, int]:
        """Remove an organisation with its tokens, grants, RED-recipient entries and write results.

        Refused while a peer record of its name exists, and, unless ``force``, while it is the producer of
        objects held here (with ``force`` they stay, with no producer: nobody can change them any more, and
        a RED one is readable only by the recipients it names). Returns what went with it (counts)."""
        org = self.get_org(name)
        with self._db.write() as conn:
            if self._peer_named(conn, org.name):
                raise Conflict(
                    f"peer {org.name!r} is recorded with this name; remove the peer first"
                    f" ('kizuna hub peer remove {org.name}'), then the organisation"
                )
            produced = int(
                conn.execute("SELECT COUNT(*) FROM objects WHERE producer_org_id=?", (org.id,)).fetchone()[0]
            )
            if produced and not force:
                raise Conflict(
                    f"organisation {org.name!r} produced {produced} object version(s) held here; removed, it"
                    " would leave them without a producer (nobody could change or revoke them, and its RED"
                    " ones would be readable only by their named recipients); --force removes it anyway"
                )
            counts = {"objects_left_without_producer": produced}
            conn.execute("UPDATE objects SET producer_org_id=NULL WHERE producer_org_id=?", (org.id,))
            for table in ("tokens", "grants", "recipients", "write_results"):
                counts[table] = int(conn.execute(f"DELETE FROM {table} WHERE org_id=?", (org.id,)).rowcount)
            conn.execute("DELETE FROM orgs WHERE id=?", (org.id,))
            self._audit(conn, "cli", "org.remove", {"name": org.name, "force": force, **counts})
        return counts

    @staticmethod
    def _peer_named(conn: sqlite3.Connection, name: str) -> bool:
        return conn.execute("SELECT 1 FROM peers WHERE name=?", (name,)).fetchone() is not None

    def add_token(
        self, org_name: str, key: TokenKey, *, name: str = "", expires_us: int | None = None
    ) -> TokenInfo:
        """Store a token (its key id and the hash of its secret; a token of the first format is given a
        key id here). Audited with the key id, never the hash."""
        org = self.get_org(org_name)
        legacy = key.key_id == ""
        key_id = secrets.token_hex(8) if legacy else key.key_id
        created = self._now_text()
        with self._db.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO tokens (key_id, org_id, secret_hash, legacy, name, created, expires_us)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (key_id, org.id, key.secret_hash, int(legacy), name, created, expires_us),
                )
            except sqlite3.IntegrityError:
                raise Conflict("a token with this key id or secret already exists") from None
            self._audit(
                conn,
                "cli",
                "token.create",
                {"org": org.name, "key_id": key_id, "name": name, "expires_us": expires_us},
            )
        return TokenInfo(key_id, org.name, name, created, expires_us, None, legacy)

    def token_record(self, key: TokenKey) -> TokenRecord | None:
        """The row ``key`` names (by key id, or by hash for a token of the first format); the secret is
        compared by the caller (:func:`kizuna.hub.auth.secret_matches`)."""
        where, arg = (
            ("t.key_id=? AND t.legacy=0", key.key_id) if key.key_id else ("t.secret_hash=?", key.secret_hash)
        )
        return self._token_where(where, arg)

    def token_by_id(self, key_id: str) -> TokenRecord | None:
        return self._token_where("t.key_id=?", key_id)

    def _token_where(self, where: str, arg: str) -> TokenRecord | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT t.key_id, t.secret_hash, t.legacy, t.expires_us, {org_columns('o')}"
                f" FROM tokens t JOIN orgs o ON o.id = t.org_id WHERE {where}",
                (arg,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return TokenRecord(str(row[0]), org_from_row(row[4:]), str(row[1]), bool(row[2]), row[3])

    def org_for_token(self, key: TokenKey) -> Org | None:
        """The organisation of a valid, unexpired token (no failure counting: see ``auth.Authenticator``)."""
        record = self.token_record(key)
        if not secret_matches(record, key) or record is None:
            return None
        if record.expires_us is not None and to_us(self._clock()) >= record.expires_us:
            return None
        return record.org

    def list_tokens(self) -> list[TokenInfo]:
        cur = self._db.reader().execute(
            "SELECT t.key_id, o.name, t.name, t.created, t.expires_us, t.last_used, t.legacy"
            " FROM tokens t JOIN orgs o ON o.id = t.org_id ORDER BY o.name, t.created, t.key_id"
        )
        return [TokenInfo(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in cur]

    def revoke_token(self, key_id: str) -> TokenInfo:
        """Revoke one token by its key id (it stops working at once)."""
        found = [t for t in self.list_tokens() if t.key_id == key_id]
        if not found:
            raise NotFound(f"no token with key id {key_id!r}")
        with self._db.write() as conn:
            conn.execute("DELETE FROM tokens WHERE key_id=?", (key_id,))
            self._audit(conn, "cli", "token.revoke", {"org": found[0].org_name, "key_id": key_id})
        return found[0]

    def revoke_tokens(self, org_name: str) -> int:
        """Revoke every token of an organisation (it is locked out at once); returns how many."""
        org = self.get_org(org_name)
        with self._db.write() as conn:
            ids = [r[0] for r in conn.execute("SELECT key_id FROM tokens WHERE org_id=?", (org.id,))]
            conn.execute("DELETE FROM tokens WHERE org_id=?", (org.id,))
            self._audit(conn, "cli", "token.revoke", {"org": org.name, "key_ids": ids})
        return len(ids)

    def touch_token(self, key_id: str, at_us: int) -> None:
        with self._db.write() as conn:
            conn.execute("UPDATE tokens SET last_used=? WHERE key_id=?", (format_us(at_us), key_id))

    # -- failed authentication ------------------------------------------------------------------------
    def count_auth_failures(
        self, subjects: Sequence[str], since_us: int
    ) -> dict[str, tuple[int, int | None]]:
        """For each subject: failures since ``since_us`` and the time of the oldest of them."""
        conn = self._db.reader()
        out: dict[str, tuple[int, int | None]] = {}
        for subject in subjects:
            n, oldest = conn.execute(
                "SELECT COUNT(*), MIN(at_us) FROM auth_failures WHERE subject=? AND at_us>?",
                (subject, since_us),
            ).fetchone()
            out[subject] = (int(n), None if oldest is None else int(oldest))
        return out

    def record_auth_failure(
        self, subjects: Sequence[str], *, at_us: int, since_us: int, detail: dict[str, object]
    ) -> dict[str, tuple[int, int | None]]:
        """Count one failed authentication against each subject and audit it (``auth.fail``); returns the
        counts since ``since_us``, this one included. Older failures are forgotten."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM auth_failures WHERE at_us<=?", (since_us,))
            conn.executemany(
                "INSERT INTO auth_failures (subject, at_us) VALUES (?,?)", [(s, at_us) for s in subjects]
            )
            self._audit(conn, "http", "auth.fail", detail)
            out: dict[str, tuple[int, int | None]] = {}
            for subject in subjects:
                n, oldest = conn.execute(
                    "SELECT COUNT(*), MIN(at_us) FROM auth_failures WHERE subject=? AND at_us>?",
                    (subject, since_us),
                ).fetchone()
                out[subject] = (int(n), None if oldest is None else int(oldest))
        return out

    def count_orgs_with_tokens(self) -> int:
        row = self._db.reader().execute("SELECT COUNT(DISTINCT org_id) FROM tokens").fetchone()
        return int(row[0])

    # -- collections and grants -----------------------------------------------------------------------
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
        title = names.title(title)
        alias = None if alias is None else names.alias(alias)
        description = names.description(description)
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        cid = collection_id or str(uuid.uuid4())
        with self._db.write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO collections (id, title, alias, description, default_tlp, created)"
                    " VALUES (?,?,?,?,?,?)",
                    (cid, title, alias, description, int(default_tlp), self._now_text()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"a collection with alias {alias!r} or id {cid} already exists") from None
            key = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO grants (collection_key, org_id, can_read, can_write) VALUES (?,?,?,?)",
                [(key, org.id, int(name in readers), int(name in writers)) for name, org in orgs.items()],
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
        return Collection(cid, title, default_tlp, alias, description, key)

    def grant_access(
        self, id_or_alias: str, *, readers: Sequence[str] = (), writers: Sequence[str] = ()
    ) -> Collection:
        """Give organisations read and/or write access to an existing collection (grants only widen)."""
        c = self._collection(id_or_alias)
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        if not orgs:
            raise InputError("name at least one organisation with --read or --write")
        with self._db.write() as conn:
            for name, org in orgs.items():
                conn.execute(
                    "INSERT INTO grants (collection_key, org_id, can_read, can_write) VALUES (?,?,?,?)"
                    " ON CONFLICT (collection_key, org_id) DO UPDATE SET"
                    " can_read = max(grants.can_read, excluded.can_read),"
                    " can_write = max(grants.can_write, excluded.can_write)",
                    (c.key, org.id, int(name in readers), int(name in writers)),
                )
            self._audit(
                conn,
                "cli",
                "collection.grant",
                {"id": c.id, "read": sorted(readers), "write": sorted(writers)},
            )
        return c

    def revoke_access(
        self, id_or_alias: str, *, readers: Sequence[str] = (), writers: Sequence[str] = ()
    ) -> Collection:
        """Take back read and/or write access to a collection from organisations (the reverse of
        :meth:`grant_access`). Naming an organisation that does not hold that grant is an error."""
        c = self._collection(id_or_alias)
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        if not orgs:
            raise InputError("name at least one organisation with --read or --write")
        with self._db.write() as conn:
            missing = []
            for name, org in sorted(orgs.items()):
                row = conn.execute(
                    "SELECT can_read, can_write FROM grants WHERE collection_key=? AND org_id=?",
                    (c.key, org.id),
                ).fetchone()
                held_read, held_write = (False, False) if row is None else (bool(row[0]), bool(row[1]))
                if (name in readers and not held_read) or (name in writers and not held_write):
                    missing.append(name)
                    continue
                read = held_read and name not in readers
                write = held_write and name not in writers
                if read or write:
                    conn.execute(
                        "UPDATE grants SET can_read=?, can_write=? WHERE collection_key=? AND org_id=?",
                        (int(read), int(write), c.key, org.id),
                    )
                else:
                    conn.execute("DELETE FROM grants WHERE collection_key=? AND org_id=?", (c.key, org.id))
            if missing:
                raise InputError(
                    f"{', '.join(missing)} hold(s) no such grant on collection {c.alias or c.id};"
                    " nothing changed"
                )
            self._audit(
                conn,
                "cli",
                "collection.revoke",
                {"id": c.id, "read": sorted(readers), "write": sorted(writers)},
            )
        return c

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
    ) -> Collection:
        """Change a collection's title, alias, description or default TLP (None: unchanged). The id never
        changes. A new default TLP applies to unmarked objects stored from now on (stored ones keep theirs).

        Changing or clearing the alias is refused, unless ``force``, while another hub's account holds a
        grant on the collection: partners may reach it by the alias in their URLs."""
        old = self._collection(id_or_alias)
        new_title = old.title if title is None else names.title(title)
        new_alias = None if clear_alias else (old.alias if alias is None else names.alias(alias))
        new_description = old.description if description is None else names.description(description)
        new_tlp = old.default_tlp if default_tlp is None else default_tlp
        with self._db.write() as conn:
            if new_alias != old.alias and old.alias is not None and not force:
                partners = [
                    str(r[0])
                    for r in conn.execute(
                        "SELECT o.name FROM grants g JOIN orgs o ON o.id = g.org_id WHERE g.collection_key=?"
                        " AND o.peer_hub = 1 AND (g.can_read = 1 OR g.can_write = 1) ORDER BY o.name",
                        (old.key,),
                    )
                ]
                if partners:
                    raise Conflict(
                        f"other hubs ({', '.join(partners)}) may reach this collection as {old.alias!r} in"
                        " their URLs; --force changes the alias anyway (its id stays the same)"
                    )
            try:
                conn.execute(
                    "UPDATE collections SET title=?, alias=?, description=?, default_tlp=? WHERE key=?",
                    (new_title, new_alias, new_description, int(new_tlp), old.key),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"another collection already has the alias {new_alias!r}") from None
            changes = {
                key: [before, after]
                for key, before, after in (
                    ("title", old.title, new_title),
                    ("alias", old.alias, new_alias),
                    ("description", old.description, new_description),
                    ("default_tlp", old.default_tlp.label, new_tlp.label),
                )
                if before != after
            }
            self._audit(conn, "cli", "collection.update", {"id": old.id, "changes": changes, "force": force})
        return Collection(old.id, new_title, new_tlp, new_alias, new_description, old.key)

    def remove_collection(self, id_or_alias: str, *, force: bool = False) -> dict[str, int]:
        """Remove a collection and its grants. Refused while a peer flow pulls into or pushes from it
        (remove or re-add that peer first), and, unless ``force``, while it holds objects (with ``force``
        they are deleted with it). Returns what went with it (counts)."""
        c = self._collection(id_or_alias)
        with self._db.write() as conn:
            flows = [
                f"{r[0]} ({r[1]})"
                for r in conn.execute(
                    "SELECT p.name, f.direction FROM flows f JOIN peers p ON p.id = f.peer_id"
                    " WHERE f.local_collection_key=? ORDER BY p.name, f.direction",
                    (c.key,),
                )
            ]
            if flows:
                raise Conflict(
                    f"peer flows use collection {c.alias or c.id}: {', '.join(flows)}; remove the peer"
                    " ('kizuna hub peer remove NAME') or add it again without that flow first"
                )
            held = int(
                conn.execute("SELECT COUNT(*) FROM objects WHERE collection_key=?", (c.key,)).fetchone()[0]
            )
            if held and not force:
                raise Conflict(
                    f"collection {c.alias or c.id} holds {held} object version(s);"
                    " --force deletes them with it"
                )
            # the versions deleted with it are listed in delete records (as a DELETE lists them), so the
            # audit check knows they were deleted, not lost
            doomed = conn.execute(
                "SELECT id, version, digest FROM objects WHERE collection_key=? ORDER BY date_added", (c.key,)
            ).fetchall()
            for i in range(0, len(doomed), 10_000):
                self._audit(
                    conn,
                    "cli",
                    "objects.delete",
                    {
                        "collection": c.id,
                        "deleted": [
                            [oid, version, bytes(digest).hex()]
                            for oid, version, digest in doomed[i : i + 10_000]
                        ],
                        "by": "collection.remove",
                    },
                )
            counts = {
                "objects": int(conn.execute("DELETE FROM objects WHERE collection_key=?", (c.key,)).rowcount),
                "grants": int(conn.execute("DELETE FROM grants WHERE collection_key=?", (c.key,)).rowcount),
            }
            conn.execute("DELETE FROM collections WHERE key=?", (c.key,))
            self._audit(
                conn,
                "cli",
                "collection.remove",
                {"id": c.id, "title": c.title, "alias": c.alias, "force": force, **counts},
            )
        return counts

    def grants_on(self, collection: Collection) -> list[tuple[str, Grant]]:
        """Who holds a grant on ``collection``: (organisation name, grant), by name."""
        cur = self._db.reader().execute(
            "SELECT o.name, g.can_read, g.can_write FROM grants g JOIN orgs o ON o.id = g.org_id"
            " WHERE g.collection_key=? ORDER BY o.name",
            (collection.key,),
        )
        return [(str(r[0]), Grant(bool(r[1]), bool(r[2]))) for r in cur]

    def _collection(self, id_or_alias: str) -> Collection:
        c = self.get_collection(id_or_alias)
        if c is None:
            raise NotFound(f"unknown collection {id_or_alias!r}")
        return c

    def get_collection(self, id_or_alias: str) -> Collection | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {collection_columns('c')} FROM collections c WHERE c.id=? OR c.alias=?"
                " ORDER BY c.id=? DESC LIMIT 1",
                (id_or_alias, id_or_alias, id_or_alias),
            )
            .fetchone()
        )
        return None if row is None else collection_from_row(row)

    def list_collections(self) -> list[Collection]:
        cur = self._db.reader().execute(f"SELECT {collection_columns('c')} FROM collections c ORDER BY c.key")
        return [collection_from_row(r) for r in cur]

    def grant(self, collection: Collection, org: Org) -> Grant | None:
        row = (
            self._db.reader()
            .execute(
                "SELECT can_read, can_write FROM grants WHERE collection_key=? AND org_id=?",
                (collection.key, org.id),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Grant(bool(row[0]), bool(row[1]))

    def collections_for(self, org: Org) -> list[tuple[Collection, Grant]]:
        cur = self._db.reader().execute(
            f"SELECT {collection_columns('c')}, g.can_read, g.can_write"
            " FROM collections c JOIN grants g ON g.collection_key = c.key"
            " WHERE g.org_id=? AND (g.can_read = 1 OR g.can_write = 1) ORDER BY c.key",
            (org.id,),
        )
        n = len(COLLECTION_COLUMNS)
        return [(collection_from_row(r[:n]), Grant(bool(r[n]), bool(r[n + 1]))) for r in cur]
