"""The :class:`~kizuna.hub.store.protocols.Directory` of the SQLite store: the hub, organisations, tokens,
collections and grants."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from kizuna.errors import Conflict, InputError, NotFound
from kizuna.hub.models import Collection, Grant, Org
from kizuna.hub.store.sqlite.base import SQLiteBase
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

    def set_admin(self, name: str, admin: bool) -> Org:
        """Make an organisation an administrator (it may delete any object it can read and sees the audit
        log in the web UI) or take that away; audited."""
        org = self.get_org(name)
        with self._db.write() as conn:
            conn.execute("UPDATE orgs SET admin=? WHERE id=?", (int(admin), org.id))
            self._audit(
                conn, "cli", "org.update", {"name": org.name, "changes": {"admin": [org.admin, admin]}}
            )
        return self.get_org(name)

    def add_token(self, org_name: str, token_hash: str) -> None:
        org = self.get_org(org_name)
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO tokens (token_hash, org_id, created) VALUES (?,?,?)",
                (token_hash, org.id, self._now_text()),
            )
            self._audit(conn, "cli", "token.create", {"org": org.name, "token_sha256_prefix": token_hash[:8]})

    def revoke_tokens(self, org_name: str) -> int:
        """Revoke every token of an organisation (it is locked out at once); returns how many."""
        org = self.get_org(org_name)
        with self._db.write() as conn:
            n = conn.execute("DELETE FROM tokens WHERE org_id=?", (org.id,)).rowcount
            self._audit(conn, "cli", "token.revoke", {"org": org.name, "tokens": n})
        return int(n)

    def org_for_token(self, token_hash: str) -> Org | None:
        row = (
            self._db.reader()
            .execute(
                f"SELECT {org_columns('o')} FROM tokens t JOIN orgs o ON o.id = t.org_id"
                " WHERE t.token_hash=?",
                (token_hash,),
            )
            .fetchone()
        )
        return None if row is None else org_from_row(row)

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
