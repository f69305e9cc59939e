"""The one small Store protocol every backend implements (SQLite embedded; PostgreSQL to scale out)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from kizuna.hub.audit import AuditRecord
from kizuna.hub.models import Collection, Flow, Grant, Incoming, Org, Page, Peer, Query, Row, StatusRecord
from kizuna.hub.policy import Agreement
from kizuna.stix.markings import TLP


class Store(Protocol):
    # -- hub, organisations, tokens, collections ------------------------------------------------------
    def title(self) -> str: ...
    def add_org(
        self,
        name: str,
        *,
        ceiling: TLP,
        country: str | None = None,
        sectors: Sequence[str] = (),
        peer_hub: bool = False,
    ) -> Org: ...
    def get_org(self, name: str) -> Org: ...
    def list_orgs(self) -> list[Org]: ...
    def add_token(self, org_name: str, token_hash: str) -> None: ...
    def org_for_token(self, token_hash: str) -> Org | None: ...
    def count_orgs_with_tokens(self) -> int: ...
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
    ) -> Collection: ...
    def get_collection(self, id_or_alias: str) -> Collection | None: ...
    def list_collections(self) -> list[Collection]: ...
    def grant(self, collection_id: str, org_id: int) -> Grant | None: ...
    def collections_for(self, org: Org) -> list[tuple[Collection, Grant]]: ...

    # -- objects ------------------------------------------------------------------------------------
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
    ) -> StatusRecord: ...
    def query(self, collection: Collection, org: Org | Agreement, query: Query) -> Page: ...
    def delete_versions(self, collection: Collection, org: Org, object_id: str, query: Query) -> int: ...
    def get_status(self, status_id: str, org: Org) -> StatusRecord | None: ...
    def count_objects(self) -> int: ...

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
    ) -> Peer: ...
    def get_peer(self, name: str) -> Peer: ...
    def list_peers(self) -> list[Peer]: ...
    def remove_peer(self, name: str) -> None: ...
    def agreement_for(self, org: Org) -> Agreement: ...
    def record_sync(self, peer_id: int, flow_id: int | None, error: str | None) -> None: ...
    def confirm_push(
        self, peer: Peer, flow: Flow, cursor: str, rows: Sequence[Row], status: dict[str, Any]
    ) -> None: ...

    # -- audit --------------------------------------------------------------------------------------
    def append_audit(self, actor: str, action: str, detail: object) -> None: ...
    def audit_records(self) -> Iterable[AuditRecord]: ...

    def close(self) -> None: ...
