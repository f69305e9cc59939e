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
        name = name.strip()
        if not name or any(c in name for c in ",:/\n\t") or len(name) > 100:
            raise InputError(f"invalid organisation name {name!r} (no commas, colons, slashes; <= 100 chars)")
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
        if not title.strip():
            raise InputError("a collection needs a non-empty title")
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
        c = self.get_collection(id_or_alias)
        if c is None:
            raise NotFound(f"unknown collection {id_or_alias!r}")
        orgs = {name: self.get_org(name) for name in {*readers, *writers}}
        if not orgs:
            raise InputError("name at least one organisation with --read or --write")
        with self._db.write() as conn:
            for name, org in orgs.items():
                conn.execute(
                    "INSERT INTO grants (collection_key, org_id, can_read, can_write) VALUES (?,?,?,?)"
                    " ON CONFLICT (collection_key, org_id) DO UPDATE SET"
                    " can_read = max(can_read, excluded.can_read),"
                    " can_write = max(can_write, excluded.can_write)",
                    (c.key, org.id, int(name in readers), int(name in writers)),
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
            " WHERE g.org_id=? AND (g.can_read OR g.can_write) ORDER BY c.key",
            (org.id,),
        )
        n = len(COLLECTION_COLUMNS)
        return [(collection_from_row(r[:n]), Grant(bool(r[n]), bool(r[n + 1]))) for r in cur]
