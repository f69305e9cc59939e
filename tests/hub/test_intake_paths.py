"""Every path that stores objects goes through the one intake, so the same input leaves the same trace.

Nothing is patched: the same objects enter hubs set up alike by each path, and the stored rows (every
column but ``date_added``), the audit records (every field but time, hash and write id) and the sightings
routed beside their indicators are compared:

* a local organisation's objects by a TAXII POST and by the demo's loader (``kizuna demo``);
* a partner's objects by a pull (``kizuna hub sync`` with ``--pull``) and by a push (the partner's
  ``kizuna hub sync`` with ``--push``), between real ``kizuna hub serve`` processes on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kizuna.hub import demo
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.settings import HubSettings
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_IDS

from .conftest import BACKENDS, FrozenClock, Place, indicator, new_place
from .test_federation import HubUnderTest, Terms, link, make_objects, new_hub, sync

INDICATOR_ID = "indicator--1f0e5f2c-6d6b-4d3c-9a52-1c1d1f9a0001"
SIGHTING_ID = "sighting--1f0e5f2c-6d6b-4d3c-9a52-1c1d1f9a0002"


def stored_rows(place: Place) -> list[tuple[Any, ...]]:
    """Every stored version, with collections and producers by name, without ``date_added``."""
    with place.connect() as conn:
        rows = conn.execute(
            "SELECT c.title, o.id, o.type, o.spec_version, o.version, o.version_us, o.tlp, o.marked,"
            " g.name, o.origin, o.digest, o.raw, o.date_added"
            " FROM objects o JOIN collections c ON c.key = o.collection_key"
            " LEFT JOIN orgs g ON g.id = o.producer_org_id ORDER BY c.title, o.id, o.version_us"
        ).fetchall()
        return [
            (
                *row[:10],
                bytes(row[10]),
                bytes(row[11]),
                [r[0] for r in conn.execute(
                    "SELECT org_id FROM recipients WHERE object_added = ? ORDER BY org_id", (row[12],)
                )],
            )
            for row in rows
        ]  # fmt: skip


def audit_trace(place: Place, actions: tuple[str, ...], collections: dict[str, str]) -> list[tuple[Any, ...]]:
    """The object-write audit records, with collection ids by title and without time, hash and write id
    (and a pull's flow and cursor, which a push records on the other hub)."""
    with place.connect() as conn:
        records = conn.execute(
            f"SELECT actor, action, detail FROM audit WHERE action IN ({','.join('?' * len(actions))})"
            " ORDER BY seq",
            actions,
        ).fetchall()
    out = []
    for actor, action, detail in records:
        d = orjson.loads(detail)
        for key in ("write", "flow", "cursor"):
            d.pop(key, None)
        d["collection"] = collections[d["collection"]]
        d["routed"] = [[collections[c], *rest] for c, *rest in d.get("routed", [])]
        out.append((actor, action, d))
    return out


def local_hub(place: Place) -> tuple[Any, dict[str, str]]:
    """Organisations ``producer`` and ``other``; ``feeds`` holds other's indicator, readable by both;
    ``inbox`` is where the producer posts."""
    store = place.create(clock=FrozenClock(_start()))
    for name in ("producer", "other"):
        store.add_org(name, ceiling=TLP.RED)
        store.add_token(name, hash_token(new_token()))
    feeds = store.add_collection(
        "feeds",
        readers=["producer", "other"],
        writers=["other"],
        default_tlp=TLP.GREEN,
        collection_id="2b4d1c0e-5f6a-4b7c-8d9e-0f1a2b3c4d01",
    )
    inbox = store.add_collection(
        "inbox",
        readers=["producer"],
        writers=["producer"],
        default_tlp=TLP.AMBER,
        collection_id="2b4d1c0e-5f6a-4b7c-8d9e-0f1a2b3c4d02",
    )
    demo.load(
        store,
        feeds,
        store.get_org("other"),
        [indicator("203.0.113.9", oid=INDICATOR_ID, tlp_ref=TLP2_IDS[TLP.GREEN])],
    )
    return store, {feeds.id: "feeds", inbox.id: "inbox"}


def _start() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 3, 1, tzinfo=UTC)


def local_objects() -> list[dict[str, Any]]:
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": SIGHTING_ID,
        "created": "2026-03-01T00:00:00.000Z",
        "modified": "2026-03-01T00:00:00.000Z",
        "sighting_of_ref": INDICATOR_ID,
        "count": 3,
    }
    green = indicator(
        "198.51.100.7", oid="indicator--1f0e5f2c-6d6b-4d3c-9a52-1c1d1f9a0003", tlp_ref=TLP2_IDS[TLP.GREEN]
    )
    newer = {**green, "modified": "2026-02-01T00:00:00.000Z", "name": "revised"}
    red = indicator(
        "192.0.2.77",
        oid="indicator--1f0e5f2c-6d6b-4d3c-9a52-1c1d1f9a0004",
        tlp_ref=TLP2_IDS[TLP.RED],
        x_kizuna_recipients=["other"],
    )
    unmarked = indicator("192.0.2.78", oid="indicator--1f0e5f2c-6d6b-4d3c-9a52-1c1d1f9a0005")
    return [sighting, green, newer, green, red, unmarked]


@pytest.mark.parametrize("backend", BACKENDS)
def test_taxii_post_and_the_demo_loader_leave_the_same_trace(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    objects = local_objects()
    api, by_demo = new_place(request, backend, tmp_path, "api"), new_place(request, backend, tmp_path, "demo")
    via_api, names_api = local_hub(api)
    via_demo, names_demo = local_hub(by_demo)
    try:
        token = new_token()
        via_api.add_token("producer", hash_token(token))
        via_demo.add_token("producer", hash_token(new_token()))
        inbox = next(cid for cid, title in names_api.items() if title == "inbox")
        with TestClient(create_app(HubSettings(), via_api, clock=FrozenClock(_start()))) as client:
            r = client.post(
                f"/api/collections/{inbox}/objects/",
                content=orjson.dumps({"objects": objects}),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": TAXII_MEDIA_TYPE,
                    "Content-Type": TAXII_MEDIA_TYPE,
                },
            )
        assert r.status_code == 202 and r.json()["failure_count"] == 0
        demo_inbox = via_demo.get_collection(next(c for c, t in names_demo.items() if t == "inbox"))
        assert demo_inbox is not None
        demo.load(via_demo, demo_inbox, via_demo.get_org("producer"), objects, clock=FrozenClock(_start()))
    finally:
        via_api.close()
        via_demo.close()
    rows = stored_rows(api)
    assert rows == stored_rows(by_demo)
    # the sighting was stored where it was posted and routed beside the indicator in the same write, as a
    # copy the hub composed (the producer may not write the indicator's collection)
    assert [r[0] for r in rows if r[1] == SIGHTING_ID] == ["inbox"]
    [routed] = [r for r in rows if r[0] == "feeds" and r[2] == "sighting"]
    assert routed[9] == "hub" and orjson.loads(routed[11])["sighting_of_ref"] == INDICATOR_ID
    trace = audit_trace(api, ("objects.add",), names_api)
    assert trace == audit_trace(by_demo, ("objects.add",), names_demo)
    last = trace[-1][2]
    assert [r[:2] for r in last["routed"]] == [["feeds", routed[1]]]
    assert last["duplicates"] == 1 and len(last["added"]) == 5


def _place(hub: HubUnderTest) -> Place:
    return Place(str(hub.db), hub.env, hub.key_file is not None)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pull_and_push_leave_the_same_trace(
    tmp_path: Path, hubs: dict[str, Any], backend: str, request: pytest.FixtureRequest
) -> None:
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else lambda: None
    a, b, c = (new_hub(tmp_path, n, dsn=new_dsn()) for n in ("a", "b", "c"))
    hubs.update(a=a, b=b, c=c)
    for h in (a, b, c):
        h.start()
    a.post(make_objects("a"))
    terms = Terms("amber")
    link(b, a, tmp_path, direction="pull", terms_at_src=terms, terms_at_dst=terms)
    link(a, c, tmp_path, direction="push", terms_at_src=terms, terms_at_dst=terms)
    sync(b)
    sync(a)
    pulled, pushed = stored_rows(_place(b)), stored_rows(_place(c))
    # 2 types x 7 markings (TLP 1.0 and 2.0 CLEAR, GREEN, AMBER, and unmarked); RED and AMBER+STRICT stay
    assert pulled == pushed and len(pulled) == 14
    assert {r[9] for r in pulled} == {"peer:a-hub"} and {r[8] for r in pulled} == {None}
    assert audit_trace(_place(b), ("objects.receive",), {b.collection_id: "shared"}) == audit_trace(
        _place(c), ("objects.receive",), {c.collection_id: "shared"}
    )
