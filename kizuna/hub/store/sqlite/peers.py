"""The :class:`~kizuna.hub.store.protocols.PeerStore` of the SQLite store: peer hubs, agreements, flows."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from kizuna.errors import Conflict, InputError, NotFound
from kizuna.hub import names, policy
from kizuna.hub.models import Collection, Flow, HomeState, Org, Peer, Row
from kizuna.hub.paging import Cursor
from kizuna.hub.store.sqlite.base import SQLiteBase
from kizuna.stix.ids import format_us, to_us
from kizuna.stix.markings import TLP


class SQLitePeers(SQLiteBase):
    if TYPE_CHECKING:

        def get_collection(self, id_or_alias: str) -> Collection | None: ...  # the directory part

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
    ) -> Peer:
        """Record a peer hub. ``pulls`` are (remote, local) collection pairs, ``pushes`` (local, remote);
        ``reshare`` names the other peers this peer's objects may go on to, at most at ``reshare_max_tlp``;
        ``sighter`` how sightings sent home to it name who saw them (org, hub, anonymous)."""
        names.peer_name(name)
        policy.Agreement(name, max_tlp, tuple(types))  # refuses an agreement above AMBER
        policy.check_sighter(sighter)
        if reshare:
            policy.check_reshare_tlp(reshare_max_tlp, max_tlp)
        flows: list[tuple[str, str, Collection]] = []
        for remote, local in pulls:
            flows.append(("pull", remote, self._local_collection(local)))
        for local, remote in pushes:
            flows.append(("push", remote, self._local_collection(local)))
        with self._db.write() as conn:
            try:
                cur = conn.execute(
                    "INSERT INTO peers (name, url, user, secret, max_tlp, types, created, reshare,"
                    " reshare_max_tlp, sighter) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        name,
                        url,
                        user,
                        secret,
                        int(max_tlp),
                        orjson.dumps(list(types)).decode(),
                        self._now_text(),
                        orjson.dumps(list(reshare)).decode(),
                        int(reshare_max_tlp),
                        sighter,
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"peer {name!r} already exists") from None
            peer_id = int(cur.lastrowid or 0)
            try:
                conn.executemany(
                    "INSERT INTO flows (peer_id, direction, remote_collection, local_collection_key)"
                    " VALUES (?,?,?,?)",
                    [(peer_id, d, r, c.key) for d, r, c in flows],
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
                    "flows": [[d, r, c.id] for d, r, c in flows],
                    "reshare": list(reshare),
                    "reshare_max_tlp": reshare_max_tlp.label,
                    "sighter": sighter,
                },
            )
        return self.get_peer(name)

    def _local_collection(self, id_or_alias: str) -> Collection:
        c = self.get_collection(id_or_alias)
        if c is None:
            raise NotFound(f"unknown local collection {id_or_alias!r}")
        return c

    def get_peer(self, name: str) -> Peer:
        for peer in self.list_peers():
            if peer.name == name:
                return peer
        raise NotFound(f"unknown peer {name!r}")

    def list_peers(self) -> list[Peer]:
        conn = self._db.reader()
        flows: dict[int, list[Flow]] = {}
        for r in conn.execute(
            "SELECT f.peer_id, f.id, f.direction, f.remote_collection, c.id, f.cursor_us, f.cursor_complete,"
            " f.transferred, f.refused, f.last_success, f.last_error, f.last_refusals"
            " FROM flows f JOIN collections c ON c.key = f.local_collection_key ORDER BY f.id"
        ):
            cursor = None if r[5] is None else Cursor(int(r[5]), bool(r[6]))
            refusals = tuple((str(i), str(why)) for i, why in orjson.loads(r[11]))
            flows.setdefault(int(r[0]), []).append(
                Flow(r[1], r[2], r[3], r[4], cursor, r[7], r[8], r[9], r[10], refusals)
            )
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
                tuple(orjson.loads(r[9])),
                TLP(int(r[10])),
                str(r[11]),
                HomeState(None if r[12] is None else Cursor(int(r[12])), int(r[13]), int(r[14]), r[15]),
            )
            for r in conn.execute(
                "SELECT id, name, url, user, secret, max_tlp, types, last_success, last_error, reshare,"
                " reshare_max_tlp, sighter, home_cursor_us, home_sent, home_held, home_waiting"
                " FROM peers ORDER BY name"
            )
        ]

    def remove_peer(self, name: str) -> None:
        peer = self.get_peer(name)
        with self._db.write() as conn:
            conn.execute("DELETE FROM peers WHERE id=?", (peer.id,))
            self._audit(conn, "cli", "peer.remove", {"name": name})

    def agreement_for(self, org: Org) -> policy.Agreement:
        """The agreement that governs another hub's account: its peer record of the same name, else the
        most restrictive default (GREEN, every type)."""
        return self.agreement_named(org.name) or policy.Agreement(org.name)

    def agreement_named(self, peer: str) -> policy.Agreement | None:
        """The agreement on record with ``peer`` (with the other peers whose objects may go on to it), or
        None when there is no peer record of that name."""
        conn = self._db.reader()
        row = conn.execute("SELECT max_tlp, types FROM peers WHERE name=?", (peer,)).fetchone()
        if row is None:
            return None
        onward = tuple(
            (str(name), TLP(int(level)))
            for name, reshare, level in conn.execute("SELECT name, reshare, reshare_max_tlp FROM peers")
            if peer in orjson.loads(reshare)
        )
        return policy.Agreement(peer, TLP(int(row[0])), tuple(orjson.loads(row[1])), onward)

    def record_sync(self, peer_id: int, flow_id: int | None, error: str | None) -> None:
        """Note a flow's (or a whole peer's) last success or last error."""
        now = self._now_text()
        with self._db.write() as conn:
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
        self, peer: Peer, flow: Flow, cursor: Cursor, rows: Sequence[Row], status: dict[str, Any]
    ) -> None:
        """After the peer's status confirmed a pushed page: advance the cursor and audit the share."""
        failures = status.get("failures") or []
        with self._db.write() as conn:
            conn.execute(
                "UPDATE flows SET cursor_us=?, cursor_complete=1, transferred=transferred+?,"
                " refused=refused+? WHERE id=?",
                (cursor.date_added_us, len(rows) - len(failures), len(failures), flow.id),
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
                    "cursor": format_us(cursor.date_added_us),
                    "shared": [[r.id, r.version] for r in rows],
                    "remote_status": status.get("id"),
                    "remote_failures": failures,
                },
            )

    # -- sightings home -------------------------------------------------------------------------------
    def home_waiting(self, peer_id: int, reason: str | None) -> None:
        """Say why sightings for a peer wait (None: they no longer do)."""
        with self._db.write() as conn:
            conn.execute("UPDATE peers SET home_waiting=? WHERE id=?", (reason, peer_id))

    def confirm_home(
        self,
        peer: Peer,
        cursor: Cursor,
        sent: Sequence[tuple[str, str, str]],
        new: int,
        held: int,
        status: dict[str, Any] | None,
    ) -> None:
        """After the peer's status confirmed the sightings sent home (``sent``: remote collection, id,
        version of each composed sighting; ``new`` of them new there), or when none of a batch went
        (``status`` None): move the cursor past the batch and audit the share."""
        failures = [] if status is None else status.get("failures") or []
        with self._db.write() as conn:
            conn.execute(
                "UPDATE peers SET home_cursor_us=?, home_sent=home_sent+?, home_held=home_held+?,"
                " home_waiting=NULL WHERE id=?",
                (cursor.date_added_us, new, held, peer.id),
            )
            if sent:
                self._audit(
                    conn,
                    policy.peer_origin(peer.name),
                    "objects.share",
                    {
                        "peer": peer.name,
                        "by": "sightings-home",
                        "cursor": format_us(cursor.date_added_us),
                        "shared": [[oid, version] for _remote, oid, version in sent],
                        "remote_collections": [remote for remote, _oid, _version in sent],
                        "held": held,
                        "remote_status": None if status is None else status.get("id"),
                        "remote_failures": failures,
                    },
                )

    # -- leases ---------------------------------------------------------------------------------------
    def hold_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl_s`` seconds; False while another
        holder's lease has not expired."""
        now = to_us(self._clock())
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO leases (name, holder, expires_us) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE"
                " SET holder=excluded.holder, expires_us=excluded.expires_us"
                " WHERE leases.holder=excluded.holder OR leases.expires_us < ?",
                (name, holder, now + int(ttl_s * 1_000_000), now),
            )
            row = conn.execute("SELECT holder FROM leases WHERE name=?", (name,)).fetchone()
        return row is not None and row[0] == holder

    def lease_holder(self, name: str) -> str | None:
        """Who holds the lease ``name`` now (None: nobody, or it expired)."""
        row = (
            self._db.reader()
            .execute("SELECT holder, expires_us FROM leases WHERE name=?", (name,))
            .fetchone()
        )
        if row is None or int(row[1]) < to_us(self._clock()):
            return None
        return str(row[0])

    def release_lease(self, name: str, holder: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM leases WHERE name=? AND holder=?", (name, holder))
