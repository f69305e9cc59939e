"""The UI never shows what the policy withholds: fixed cases, and random ones against the plain rule."""

from __future__ import annotations

import itertools
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from kizuna.hub import policy
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.models import Grant
from kizuna.hub.paging import CursorCodec
from kizuna.hub.settings import HubSettings
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_IDS, tlp_of
from kizuna.web import WebUI
from tests.hub.conftest import FrozenClock
from tests.web.conftest import BACKENDS, UiHub, indicator, new_store, ui_ids

ID_RE = re.compile(r"[a-z][a-z0-9-]*--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _enforced(marked: TLP | None, default: TLP) -> TLP:
    """The reference's rule: an object's own TLP marking, else its collection's default."""
    return default if marked is None else marked


def all_ui_text(client: TestClient, collection_id: str) -> str:
    """Every UI page an org can reach from a collection page: index, table pages, filters, object pages."""
    pages = [client.get("/ui/").text]
    seen: set[str] = set()
    queue = [f"/ui/collections/{collection_id}"]
    while queue and len(seen) < 300:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        text = client.get(url).text
        pages.append(text)
        for href in re.findall(r'href="(/ui/(?:collections|objects)/[^"#]+)', text):
            queue.append(href.replace("&amp;", "&"))
    return "\n".join(pages)


def test_green_ceiling_org_never_sees_amber_or_red(any_hub: UiHub) -> None:
    levels = [TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.AMBER_STRICT, TLP.RED]
    objs = [
        indicator(
            f"192.0.2.{i}",
            tlp_ref=TLP2_IDS[level],
            name=f"{level.label} {i}",
            x_kizuna_recipients=["green-reader"],
        )
        if level == TLP.RED
        else indicator(f"192.0.2.{i}", tlp_ref=TLP2_IDS[level], name=f"{level.label} {i}")
        for i, level in enumerate(levels * 3)
    ]
    objs.append(indicator("192.0.2.200", name="unmarked: collection default AMBER"))
    any_hub.post("producer", objs)
    withheld = {o["id"] for o in objs if _enforced(tlp_of(o), TLP.AMBER) > TLP.GREEN}
    shown = {o["id"] for o in objs} - withheld
    assert len(withheld) == 10 and len(shown) == 6

    c = any_hub.login("green-reader")
    text = all_ui_text(c, any_hub.collection_id)
    assert set(ID_RE.findall(text)) - {TLP2_IDS[TLP.CLEAR], TLP2_IDS[TLP.GREEN]} == shown
    for oid in withheld:
        assert oid not in text
        r = c.get(f"/ui/collections/{any_hub.collection_id}/objects/{oid}")
        assert r.status_code == 404 and oid in r.text  # the id it asked for, echoed (escaped) in the message
    main = "".join(t.split('<main id="main" tabindex="-1">', 1)[-1] for t in text.split("<!doctype html>"))
    assert "TLP:AMBER</span> " not in main and "tlp-red" not in main


def test_red_only_for_producer_and_named_recipients(any_hub: UiHub) -> None:
    red = indicator("192.0.2.66", tlp_ref=TLP2_IDS[TLP.RED], x_kizuna_recipients=["recipient"])
    any_hub.post("producer", [red])
    path = f"/ui/collections/{any_hub.collection_id}/objects/{red['id']}"
    for org, visible in [
        ("producer", True),
        ("recipient", True),
        ("reader", False),
        ("strict-reader", False),
    ]:
        c = any_hub.login(org)
        assert (red["id"] in c.get(f"/ui/collections/{any_hub.collection_id}").text) is visible, org
        assert c.get(path).status_code == (200 if visible else 404), org


def test_peer_hub_account_never_sees_red_or_amber_strict(any_hub: UiHub) -> None:
    objs = [indicator(f"192.0.2.{i}", tlp_ref=TLP2_IDS[level]) for i, level in enumerate(TLP)]
    any_hub.post("producer", objs)
    c = any_hub.login("peer")
    assert set(ui_ids(c, any_hub.collection_id)) == any_hub.api_ids("peer")
    assert {o["id"] for o in objs if tlp_of(o) in (TLP.RED, TLP.AMBER_STRICT)}.isdisjoint(
        ui_ids(c, any_hub.collection_id)
    )


# -- random objects, random organisations: the UI lists exactly what the plain rule allows ---------------
ORG_CEILINGS = {
    "producer": (TLP.RED, False),
    "second-producer": (TLP.RED, False),
    "amber": (TLP.AMBER, False),
    "green": (TLP.GREEN, False),
    "strict": (TLP.AMBER_STRICT, False),
    "recipient": (TLP.RED, False),
    "peer": (TLP.RED, True),
}
WRITERS = ("producer", "second-producer")

an_object = st.fixed_dictionaries(
    {
        "tlp": st.one_of(st.none(), st.sampled_from(list(TLP))),
        "writer": st.sampled_from(WRITERS),
        "recipients": st.lists(st.sampled_from(sorted(ORG_CEILINGS)), max_size=3, unique=True),
        "type": st.sampled_from(["indicator", "malware"]),
    }
)


def _stix(spec: dict[str, Any], n: int) -> dict[str, Any]:
    if spec["type"] == "indicator":
        obj = indicator(f"198.51.100.{n % 250}")
    else:
        obj = {
            "type": "malware",
            "spec_version": "2.1",
            "id": f"malware--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "name": f"family {n}",
            "is_family": True,
        }
    if spec["tlp"] is not None:
        obj["object_marking_refs"] = [TLP2_IDS[spec["tlp"]]]
        if spec["tlp"] == TLP.RED and spec["recipients"]:
            obj["x_kizuna_recipients"] = spec["recipients"]
    return obj


#: Examples per backend (a PostgreSQL example costs about three SQLite ones: a new schema, round trips).
EXAMPLES = {"sqlite": 20, "postgres": 10}


@pytest.mark.parametrize("backend", BACKENDS)
def test_ui_lists_exactly_what_the_plain_rule_allows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None

    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        specs=st.lists(an_object, min_size=0, max_size=14),
        default=st.sampled_from([TLP.GREEN, TLP.AMBER, TLP.RED]),
        page_size=st.integers(min_value=1, max_value=5),
    )
    def run(specs: list[dict[str, Any]], default: TLP, page_size: int) -> None:
        _ui_lists_match(tmp_path, None if new_dsn is None else new_dsn(), specs, default, page_size)

    run()


def _ui_lists_match(
    tmp_path: Path, dsn: str | None, specs: list[dict[str, Any]], default: TLP, page_size: int
) -> None:
    clock = FrozenClock(datetime(2026, 2, 1, tzinfo=UTC))
    store = new_store(tmp_path, dsn, clock, title="prop", name=str(uuid.uuid4()))
    try:
        tokens, orgs = {}, {}
        for name, (ceiling, peer) in ORG_CEILINGS.items():
            orgs[name] = store.add_org(name, ceiling=ceiling, peer_hub=peer)
            tokens[name] = new_token()
            store.add_token(name, hash_token(tokens[name]))
        col = store.add_collection(
            "c", readers=list(ORG_CEILINGS), writers=list(WRITERS), default_tlp=default
        )
        api = TestClient(create_app(HubSettings(), store, clock=clock)).__enter__()
        ui_app = Starlette(
            routes=WebUI(
                store, title="prop", clock=clock, cursors=CursorCodec(store.cursor_key()), page_size=page_size
            ).routes()
        )
        stored: list[tuple[dict[str, Any], str]] = []
        for n, spec in enumerate(specs):
            obj = _stix(spec, n)
            r = api.post(
                f"/api/collections/{col.id}/objects/",
                content=orjson.dumps({"objects": [obj]}),
                headers={
                    "Authorization": f"Bearer {tokens[spec['writer']]}",
                    "Accept": TAXII_MEDIA_TYPE,
                    "Content-Type": TAXII_MEDIA_TYPE,
                },
            )
            assert r.status_code == 202
            if r.json()["success_count"] == 1:
                stored.append((obj, spec["writer"]))
        for name, org in orgs.items():
            agreement = store.agreement_for(org)
            expected = [
                obj["id"]
                for obj, writer in stored
                if policy.may_read(
                    org,
                    Grant(can_read=True, can_write=name in WRITERS),
                    _enforced(tlp_of(obj), default),
                    orgs[writer].id,
                    {orgs[r].id for r in obj.get("x_kizuna_recipients", ())},
                )
                # another hub's account also gets only what may leave to it (no agreement on record: GREEN)
                and (
                    not org.peer_hub
                    or policy.may_leave(agreement, _enforced(tlp_of(obj), default), obj["type"], "")
                )
            ]
            with TestClient(ui_app, follow_redirects=False) as ui:
                assert ui.post("/ui/login", data={"token": tokens[name]}).status_code == 303
                assert ui_ids(ui, col.id) == expected, name
                malware = [i for i in expected if i.startswith("malware--")]
                assert ui_ids(ui, col.id, type="malware") == malware, name  # filter kept across pages
                index = ui.get("/ui/").text
                total = re.search(r'<td class="num">(\d+)</td>', index)
                assert total is not None and int(total.group(1)) == len(expected), name
        api.__exit__(None, None, None)
    finally:
        store.close()


def test_every_id_on_a_page_is_one_the_org_may_read(any_hub: UiHub) -> None:
    """Cross-check with the TAXII API (same org, same store): the UI adds nothing and drops nothing."""
    objs = [
        indicator(f"203.0.113.{i}", tlp_ref=TLP2_IDS[level])
        for i, level in enumerate(itertools.islice(itertools.cycle(TLP), 23))
    ]
    any_hub.post("producer", objs)
    for org in ("producer", "reader", "green-reader", "strict-reader", "recipient", "peer"):
        c = any_hub.login(org)
        assert sorted(ui_ids(c, any_hub.collection_id)) == sorted(any_hub.api_ids(org)), org
