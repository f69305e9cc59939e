"""In-process web UI fixtures: a real hub (a SQLite file or, for ``any_hub``, a PostgreSQL database too), the
real ASGI app (TAXII API and UI), Starlette's client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.hub.conftest import ORGS, FrozenClock, indicator

__all__ = [
    "BACKENDS",
    "ORIGIN",
    "TLP2_IDS",
    "UiHub",
    "csrf_of",
    "follow_ids",
    "indicator",
    "listed_ids",
    "new_store",
    "post_form",
]

#: The store backends the policy, read-property and search tests run on.
BACKENDS = ["sqlite", "postgres"]


@dataclass
class UiHub:
    store: Store
    app: Any
    tokens: dict[str, str]
    collection_id: str
    clock: FrozenClock
    clients: list[TestClient] = field(default_factory=list)
    _api: list[TestClient] = field(default_factory=list)

    def api(self) -> TestClient:
        """The one client that publishes and reads through the TAXII API."""
        if not self._api:
            self._api.append(self.client())
        return self._api[0]

    def client(self) -> TestClient:
        """A fresh browser-like client (its own cookie jar), not logged in; redirects are not followed.
        It is entered (one event loop and worker threads for all its requests, as a server has: the
        PostgreSQL store keeps a reader connection per thread) and left when the fixture ends."""
        c = TestClient(self.app, base_url="http://127.0.0.1", follow_redirects=False).__enter__()
        self.clients.append(c)
        return c

    def login(self, org: str) -> TestClient:
        c = self.client()
        r = c.post("/ui/login", data={"token": self.tokens[org]})
        assert r.status_code == 303, r.text
        return c

    def post(
        self, org: str, objects: list[dict[str, Any]], collection_id: str | None = None
    ) -> dict[str, Any]:
        """Publish through the TAXII API, as a producer would."""
        cid = collection_id or self.collection_id
        r = self.api().post(
            f"/api/collections/{cid}/objects/",
            content=orjson.dumps({"objects": objects}),
            headers={
                "Authorization": f"Bearer {self.tokens[org]}",
                "Accept": TAXII_MEDIA_TYPE,
                "Content-Type": TAXII_MEDIA_TYPE,
            },
        )
        assert r.status_code == 202, r.text
        status: dict[str, Any] = r.json()
        assert status["failure_count"] == 0, status["failures"]
        return status

    def api_ids(self, org: str, collection_id: str | None = None) -> set[str]:
        """Ids the TAXII API serves ``org`` (latest versions), following ``next``: the UI's oracle."""
        cid = collection_id or self.collection_id
        ids: set[str] = set()
        url = f"/api/collections/{cid}/objects/?limit=1000"
        headers = {"Authorization": f"Bearer {self.tokens[org]}", "Accept": TAXII_MEDIA_TYPE}
        for _ in range(1000):
            r = self.api().get(url, headers=headers)
            assert r.status_code == 200, r.text
            body = r.json()
            ids.update(o["id"] for o in body.get("objects", []))
            if not body.get("more"):
                return ids
            url = f"/api/collections/{cid}/objects/?limit=1000&next={body['next']}"
        raise AssertionError("paging did not end")


ORIGIN = "http://127.0.0.1"


def listed_ids(html: str) -> list[str]:
    """The ``data-stix-id`` of every row a list page shows, in order."""
    return re.findall(r'<tr data-stix-id="([^"]+)"', html)


def follow_ids(client: TestClient, url: str, **params: str) -> list[str]:
    """Every object id listed on a list page and the pages its 'Next' links lead to (bounded)."""
    ids: list[str] = []
    r = client.get(url, params=params)
    for _ in range(1000):
        assert r.status_code == 200, r.text
        ids.extend(listed_ids(r.text))
        found = re.search(r'<a rel="next" href="([^"]+)"', r.text)
        if found is None:
            return ids
        r = client.get(found.group(1).replace("&amp;", "&"))
    raise AssertionError("paging did not end")


def ui_ids(client: TestClient, collection_id: str, **params: str) -> list[str]:
    """Every object id listed on the UI's collection pages, following 'Next' links (bounded)."""
    return follow_ids(client, f"/ui/collections/{collection_id}", **params)


def csrf_of(client: TestClient) -> str:
    """The session's CSRF token, as every form of the UI carries it."""
    r = client.get("/ui/upload")
    found = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert found is not None, r.text[:500]
    return found.group(1)


def post_form(client: TestClient, path: str, data: dict[str, Any], *, origin: str | None = ORIGIN) -> Any:
    """A form post as the UI's own page sends it: its CSRF token and the hub's Origin."""
    headers = {} if origin is None else {"Origin": origin}
    return client.post(path, data={"csrf": csrf_of(client), **data}, headers=headers)


def new_store(
    tmp_path: Path,
    dsn: str | None,
    clock: FrozenClock,
    *,
    title: str = "web test hub",
    name: str = "hub",
    durable: bool = True,
) -> Any:
    """A new hub: the SQLite file ``tmp_path/NAME.db``, or (given ``dsn``, a fresh place) a PostgreSQL hub
    with its key file ``tmp_path/NAME.key``."""
    if dsn is None:
        return SQLiteStore.create(tmp_path / f"{name}.db", title=title, clock=clock, durable=durable)
    from kizuna.hub.store.postgres import PostgresStore

    return PostgresStore.create(dsn, title=title, clock=clock, key_file=tmp_path / f"{name}.key")


def pg_dsn_for(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A fresh PostgreSQL place when ``backend`` is "postgres" (the session's cluster), else None."""
    return request.getfixturevalue("new_pg_dsn")() if backend == "postgres" else None


def _ui_hub(tmp_path: Path, dsn: str | None) -> Iterator[UiHub]:
    clock = FrozenClock(datetime(2026, 2, 1, 9, 0, 0, tzinfo=UTC))
    store = new_store(tmp_path, dsn, clock)
    tokens = {}
    for name, (ceiling, peer) in ORGS.items():
        store.add_org(name, ceiling=ceiling, peer_hub=peer)
        tokens[name] = new_token()
        store.add_token(name, hash_token(tokens[name]))
    readers = [n for n in ORGS if n not in ("outsider", "write-only")]
    c = store.add_collection(
        "shared", alias="shared", readers=readers, writers=["producer", "write-only"], default_tlp=TLP.AMBER
    )
    app = create_app(HubSettings(title="web test hub"), store, clock=clock)
    hub = UiHub(store, app, tokens, c.id, clock)
    try:
        yield hub
    finally:
        for client in hub.clients:
            client.__exit__(None, None, None)
        store.close()


@pytest.fixture
def ui_hub(tmp_path: Path) -> Iterator[UiHub]:
    """The UI over a SQLite hub."""
    yield from _ui_hub(tmp_path, None)


@pytest.fixture(params=BACKENDS)
def any_hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UiHub]:
    """The UI over a hub of each backend (SQLite, PostgreSQL)."""
    yield from _ui_hub(tmp_path, pg_dsn_for(request, str(request.param)))
