"""One error shape on the API: every library error is a TAXII error resource with its own status, never a
500; cursors are opaque, authenticated and bound to their collection and reader."""

from __future__ import annotations

import base64
import inspect
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kizuna import errors
from kizuna.hub.app import create_app
from kizuna.hub.settings import HubSettings
from kizuna.hub.taxii.errors import STATUS, TAXII_MEDIA_TYPE

from .conftest import BACKENDS, Hub, hub_on, indicator


@pytest.fixture(params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """These tests run on both store backends."""
    yield from hub_on(request, tmp_path)


LIBRARY_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.KizunaError) and cls is not errors.KizunaError
]


def test_every_library_error_has_a_status() -> None:
    mapped = {cls for cls, _ in STATUS}
    assert set(LIBRARY_ERRORS) <= mapped
    # the most specific class comes first, so a subclass never takes its parent's status
    for i, (cls, _) in enumerate(STATUS):
        assert not any(issubclass(cls, parent) for parent, _ in STATUS[:i])


class FailingStore:
    """The real store, except that one read raises a library error."""

    def __init__(self, inner: Any, exc: Exception) -> None:
        self.inner = inner
        self.exc = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def collections_for(self, *args: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize("cls", LIBRARY_ERRORS, ids=lambda c: c.__name__)
def test_no_library_error_is_a_500(hub: Hub, cls: type[errors.KizunaError]) -> None:
    exc = cls("/var/lib/kizuna/secret.db: something broke") if cls is not errors.RemoteError else cls("x")
    app = create_app(HubSettings(), FailingStore(hub.store, exc), clock=hub.clock)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/collections/", headers=hub.headers("reader"))
    expected = next(status for c, status in STATUS if isinstance(exc, c))
    assert r.status_code == expected != 500
    assert r.headers["content-type"] == TAXII_MEDIA_TYPE
    body = r.json()
    assert set(body) <= {"title", "description", "http_status", "error_id"}
    assert body["http_status"] == str(expected)
    if cls is errors.StoreError:  # storage details stay on the hub
        assert "secret" not in r.text


def _pages(hub: Hub, n: int) -> str:
    hub.post("producer", [indicator(f"198.51.100.{i}") for i in range(n)])
    r = hub.client.get(hub.url("objects/"), params={"limit": 1}, headers=hub.headers("producer"))
    assert r.json()["more"] is True
    return str(r.json()["next"])


def test_next_is_bound_to_its_collection_and_reader(hub: Hub) -> None:
    token = _pages(hub, 3)
    ok = hub.client.get(
        hub.url("objects/"), params={"limit": 1, "next": token}, headers=hub.headers("producer")
    )
    assert ok.status_code == 200 and len(ok.json()["objects"]) == 1
    # the same token from another reader of the same collection: not one the hub issued to it
    other = hub.client.get(
        hub.url("objects/"), params={"limit": 1, "next": token}, headers=hub.headers("reader")
    )
    assert other.status_code == 400 and other.json()["title"] == "invalid cursor"


@pytest.mark.parametrize(
    "forged",
    [
        "garbage!",
        "",
        base64.urlsafe_b64encode(b"\xff" * 25).decode(),
        base64.urlsafe_b64encode(struct.pack(">qB", 1, 1) + b"\0" * 16).decode().rstrip("="),
        base64.urlsafe_b64encode(str(2**70).encode() + b".1").decode(),  # beyond 64 bits
        "A" * 5000,
    ],
)
def test_a_forged_or_edited_next_is_a_400(hub: Hub, forged: str) -> None:
    _pages(hub, 2)
    r = hub.client.get(hub.url("objects/"), params={"next": forged}, headers=hub.headers("producer"))
    assert r.status_code == 400 and r.headers["content-type"] == TAXII_MEDIA_TYPE


def test_an_edited_position_fails_its_tag(hub: Hub) -> None:
    token = _pages(hub, 2)
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[7] ^= 1  # one microsecond later
    edited = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    r = hub.client.get(hub.url("objects/"), params={"next": edited}, headers=hub.headers("producer"))
    assert r.status_code == 400
