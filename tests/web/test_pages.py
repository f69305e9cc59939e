"""The UI's behaviour in-process: login and sessions, pages, paging, filters, errors, headers."""

from __future__ import annotations

import re
import uuid
from http.cookies import SimpleCookie
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from kizuna.hub.paging import CursorCodec
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.web import WebUI
from kizuna.web.security import CONTENT_SECURITY_POLICY
from tests.web.conftest import UiHub, indicator, listed_ids, post_form, ui_ids
from tests.web.sample import MALICIOUS_NAME, sample_objects, sid


def set_cookie(response: object) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):  # type: ignore[attr-defined]
        jar.load(header)
    return jar


def chart_bars(html: str, chart_id: str) -> dict[str, str]:
    """{label: count} of the bars of one inline SVG chart."""
    found = re.search(rf'<svg [^>]*aria-labelledby="{chart_id}-t".*?</svg>', html, re.S)
    assert found is not None, chart_id
    return dict(re.findall(r"<g><title>([^<]+): (\d+)</title>", found.group(0)))


# -- login, sessions, logout ---------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ui/", "/ui/collections/shared", "/ui/collections/x/objects/y"])
def test_pages_need_login(ui_hub: UiHub, path: str) -> None:
    r = ui_hub.client().get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/login")


def test_ui_without_slash_redirects(ui_hub: UiHub) -> None:
    r = ui_hub.client().get("/ui")
    assert r.status_code == 307 and r.headers["location"] == "/ui/"


def test_login_form(ui_hub: UiHub) -> None:
    r = ui_hub.client().get("/ui/login?next=/ui/collections/shared")
    assert r.status_code == 200
    assert 'name="token" type="password"' in r.text
    assert 'name="next" value="/ui/collections/shared"' in r.text
    assert "valid for 8 hours" in r.text


@pytest.mark.parametrize(
    "nxt", ["//evil.example/", "https://evil.example/ui/", "/api/collections/", "/ui/\\x"]
)
def test_login_never_redirects_outside_the_ui(ui_hub: UiHub, nxt: str) -> None:
    r = ui_hub.client().post("/ui/login", data={"token": ui_hub.tokens["reader"], "next": nxt})
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_login_sets_a_session_cookie_not_the_token(ui_hub: UiHub) -> None:
    token = ui_hub.tokens["reader"]
    r = ui_hub.client().post("/ui/login", data={"token": token, "next": "/ui/collections/shared"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/collections/shared"
    raw = r.headers["set-cookie"]
    assert token not in raw and token[4:] not in raw
    morsel = set_cookie(r)["kizuna_session"]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "strict"
    assert morsel["path"] == "/ui"
    assert int(morsel["max-age"]) == 8 * 3600
    assert len(morsel.value) >= 40


def test_wrong_token_is_refused_clearly(ui_hub: UiHub) -> None:
    c = ui_hub.client()
    r = c.post("/ui/login", data={"token": "kzn_wrong"})
    assert r.status_code == 401
    assert "unknown or has been revoked" in r.text
    assert "set-cookie" not in r.headers
    assert c.get("/ui/").status_code == 303
    empty = c.post("/ui/login", data={"token": "  "})
    assert empty.status_code == 400 and "Paste your" in empty.text


def test_cross_site_login_post_is_refused(ui_hub: UiHub) -> None:
    r = ui_hub.client().post(
        "/ui/login", data={"token": ui_hub.tokens["reader"]}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_login_form_must_be_urlencoded(ui_hub: UiHub) -> None:
    r = ui_hub.client().post(
        "/ui/login", content=b'{"token": "x"}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 415
    big = ui_hub.client().post("/ui/login", data={"token": "x" * 20_000})
    assert big.status_code == 413


def test_logout_ends_the_session_server_side(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    session_id = c.cookies["kizuna_session"]
    assert c.get("/ui/").status_code == 200
    r = post_form(c, "/ui/logout", {})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    replay = ui_hub.client()
    replay.cookies.set("kizuna_session", session_id, domain="127.0.0.1", path="/ui")
    assert replay.get("/ui/").status_code == 303  # the old cookie no longer opens anything


def test_session_expires_after_eight_hours(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    ui_hub.clock.advance(8 * 3600 - 1)
    assert c.get("/ui/").status_code == 200
    ui_hub.clock.advance(1)
    assert c.get("/ui/").status_code == 303


def test_revoked_token_ends_its_sessions(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    assert ui_hub.store.revoke_tokens("reader") == 1
    assert c.get("/ui/").status_code == 303


def test_login_page_when_logged_in_goes_home(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    r = c.get("/ui/login")
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


# -- pages ---------------------------------------------------------------------------------------------
def test_index_lists_collections_with_counts_per_tlp(any_hub: UiHub) -> None:
    any_hub.store.add_collection("drop box", alias="dropbox", readers=[], writers=["reader"])
    any_hub.post("producer", sample_objects())
    c = any_hub.login("reader")
    r = c.get("/ui/")
    assert r.status_code == 200
    assert f'href="/ui/collections/{any_hub.collection_id}"' in r.text
    # reader: ceiling AMBER; sample has 4 CLEAR, 15 GREEN, 6 AMBER, 2 unmarked (AMBER default) it may read
    cells = re.findall(r'<span class="tlp (tlp-[a-z-]+)">[^<]+</span> (\d+)</span>', r.text)
    assert cells == [("tlp-clear", "4"), ("tlp-green", "15"), ("tlp-amber", "6"), ("tlp-unmarked", "2")]
    assert '<td class="num">27</td>' in r.text
    assert "drop box" in r.text and "write only" in r.text  # a write-only collection: listed, not counted


def test_collection_page_shows_table_and_charts(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    r = ui_hub.login("producer").get(f"/ui/collections/{ui_hub.collection_id}")
    assert r.status_code == 200
    assert r.text.count('<svg class="chart"') == 2
    assert chart_bars(r.text, "chart-types") == {
        "indicator": "20",
        "relationship": "5",
        "malware": "2",
        "attack-pattern": "2",
        "threat-actor": "1",
    }
    assert chart_bars(r.text, "chart-tlp") == {
        "TLP:CLEAR": "4",
        "TLP:GREEN": "15",
        "TLP:AMBER": "6",
        "TLP:AMBER+STRICT": "2",
        "TLP:RED": "1",
        "unmarked": "2",
    }
    assert "C2 node 203.0.113.0" in r.text and "2026-01-15T08:30:00.000Z" in r.text
    assert "no TLP marking of its own; the hub enforces TLP:AMBER here" in r.text
    assert "indicator--" + sid("indicator", 0).split("--")[1][:8] + " indicates malware--" in r.text


def test_alias_works_in_place_of_the_id(ui_hub: UiHub) -> None:
    ui_hub.post("producer", [indicator("192.0.2.1", tlp_ref=TLP2_IDS[TLP.GREEN])])
    assert "192.0.2.1" in ui_hub.login("reader").get("/ui/collections/shared").text


def test_keyset_paging_lists_every_object_once(any_hub: UiHub) -> None:
    objs = [indicator(f"198.51.100.{i}", tlp_ref=TLP2_IDS[TLP.GREEN]) for i in range(120)]
    for i in range(0, 120, 40):
        any_hub.post("producer", objs[i : i + 40])
    c = any_hub.login("reader")
    first = c.get(f"/ui/collections/{any_hub.collection_id}")
    assert len(listed_ids(first.text)) == 50  # one page of 50
    ids = ui_ids(c, any_hub.collection_id)
    assert len(ids) == 120 and set(ids) == {o["id"] for o in objs}
    assert ids == [o["id"] for o in objs]  # in the order they were added


def test_type_filter(any_hub: UiHub) -> None:
    any_hub.post("producer", sample_objects())
    c = any_hub.login("producer")
    r = c.get(f"/ui/collections/{any_hub.collection_id}", params={"type": "malware"})
    types = re.findall(r'<td class="type">([a-z-]+)</td>', r.text)
    assert types == ["malware", "malware"]
    assert '<option value="malware" selected>' in r.text
    assert sorted(ui_ids(c, any_hub.collection_id, type="relationship")) == sorted(
        sid("relationship", i) for i in range(5)
    )
    bad = c.get(f"/ui/collections/{any_hub.collection_id}", params={"type": "<b>"})
    assert bad.status_code == 400 and "&lt;b&gt;" in bad.text


def test_forged_page_link_is_a_clear_400(ui_hub: UiHub) -> None:
    r = ui_hub.login("reader").get(f"/ui/collections/{ui_hub.collection_id}?page=%%%not-a-cursor")
    assert r.status_code == 400 and "page link" in r.text and "page:" in r.text


def test_object_page_shows_versions_and_json(ui_hub: UiHub) -> None:
    oid = "indicator--0b4a5d3e-8a43-4d0c-bb6c-0c3b1c1f7a11"
    green = TLP2_IDS[TLP.GREEN]
    ui_hub.post("producer", [indicator("192.0.2.7", oid=oid, tlp_ref=green, name="first")])
    ui_hub.clock.advance(60)
    ui_hub.post(
        "producer",
        [indicator("192.0.2.7", oid=oid, tlp_ref=green, name="second", modified="2026-01-02T00:00:00.000Z")],
    )
    c = ui_hub.login("reader")
    r = c.get(f"/ui/collections/{ui_hub.collection_id}/objects/{oid}")
    assert r.status_code == 200
    versions = r.text.split('id="versions"')[1].split("</table>")[0]
    assert versions.count('<td class="time">2026-01-0') == 2  # both versions listed
    assert "&#34;name&#34;: &#34;second&#34;" in r.text  # the newest version's JSON, escaped
    older = re.search(r'href="([^"]+\?added=\d+)">show</a>', r.text)
    assert older is not None
    r2 = c.get(older.group(1))
    assert "&#34;name&#34;: &#34;first&#34;" in r2.text
    assert c.get(f"/ui/collections/{ui_hub.collection_id}/objects/{oid}?added=1").status_code == 404
    # the collection table shows only the latest version
    assert ui_ids(c, ui_hub.collection_id) == [oid]


# -- errors and headers --------------------------------------------------------------------------------
def test_unknown_collection_and_object_are_404_pages(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    r = c.get("/ui/collections/no-such-thing")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert "Collection not found" in r.text and "no-such-thing" in r.text
    r = c.get(
        f"/ui/collections/{ui_hub.collection_id}/objects/indicator--0b4a5d3e-8a43-4d0c-bb6c-0c3b1c1f7a11"
    )
    assert r.status_code == 404 and "Object not found" in r.text
    r = c.get("/ui/nowhere")
    assert r.status_code == 404 and "Page not found" in r.text and "text/html" in r.headers["content-type"]


def test_collection_without_grant_is_404_and_write_only_is_403(ui_hub: UiHub) -> None:
    assert ui_hub.login("outsider").get(f"/ui/collections/{ui_hub.collection_id}").status_code == 404
    r = ui_hub.login("write-only").get(f"/ui/collections/{ui_hub.collection_id}")
    assert r.status_code == 403 and "not read" in r.text


def test_malicious_text_is_escaped_everywhere(ui_hub: UiHub) -> None:
    evil = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--5d1d3a3e-6d3f-4b5e-9e3a-2f1a0c7b9d11",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": MALICIOUS_NAME,
        "description": '"><svg onload=alert(3)>',
        "is_family": False,
        "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
    }
    ui_hub.post("producer", [evil])
    c = ui_hub.login("reader")
    for path in (
        f"/ui/collections/{ui_hub.collection_id}",
        f"/ui/collections/{ui_hub.collection_id}/objects/{evil['id']}",
    ):
        r = c.get(path)
        assert r.status_code == 200
        text = r.text.replace('<script src="/ui/static/copy.js" defer></script>', "")
        assert "<script" not in text and "<img src=x" not in text and "<svg onload" not in text
        assert "&lt;script&gt;alert(" in text
    title = ui_hub.store.add_collection("<i>x</i>", readers=["reader"], description="<b>d</b>")
    index = c.get("/ui/").text
    assert "&lt;i&gt;x&lt;/i&gt;" in index and "&lt;b&gt;d&lt;/b&gt;" in index and "<i>" not in index
    assert c.get(f"/ui/collections/{title.id}").status_code == 200


@pytest.mark.parametrize("path", ["/ui/login", "/ui/", "/ui/nowhere", "/ui/static/kizuna.css"])
def test_security_headers_on_every_response(ui_hub: UiHub, path: str) -> None:
    r = ui_hub.login("reader").get(path)
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert (
        "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        and "script-src 'self';" in CONTENT_SECURITY_POLICY
    )
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_pages_have_no_inline_script_or_style(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    c = ui_hub.login("producer")
    for path in (
        "/ui/",
        f"/ui/collections/{ui_hub.collection_id}",
        f"/ui/collections/{ui_hub.collection_id}/objects/{sid('indicator', 1)}",
    ):
        text = c.get(path).text
        scripts = re.findall(r"<script[^>]*>", text)
        assert scripts == ['<script src="/ui/static/copy.js" defer>']  # one file of the hub, no inline script
        assert (
            "</script>" not in text.replace('<script src="/ui/static/copy.js" defer></script>', "")
            and "style=" not in text
            and "<style" not in text
            and " on" + "load" not in text
        )


def test_static_files(ui_hub: UiHub) -> None:
    c = ui_hub.client()
    css = c.get("/ui/static/kizuna.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert c.get("/ui/static/favicon.svg").headers["content-type"] == "image/svg+xml"
    assert c.get("/ui/static/../ui.py").status_code == 404
    assert c.get("/ui/static/ui.py").status_code == 404


def test_taxii_api_is_unchanged_beside_the_ui(ui_hub: UiHub) -> None:
    r = ui_hub.client().get("/taxii2/")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/taxii+json")
    r = ui_hub.client().get("/nowhere")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/taxii+json")


def test_store_failure_is_a_plain_500_page(ui_hub: UiHub) -> None:
    class BrokenStore:
        """The real store, except that object queries fail."""

        def __init__(self, inner: SQLiteStore) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def search(self, *args: Any) -> Any:
            raise RuntimeError("disk on fire: /var/lib/secret/path")

    cursors = CursorCodec(ui_hub.store.cursor_key())
    ui = WebUI(BrokenStore(ui_hub.store), title="t", clock=ui_hub.clock, cursors=cursors)
    with TestClient(Starlette(routes=ui.routes()), raise_server_exceptions=False) as c:
        assert (
            c.post("/ui/login", data={"token": ui_hub.tokens["reader"]}, follow_redirects=False).status_code
            == 303
        )
        r = c.get(f"/ui/collections/{ui_hub.collection_id}")
    assert r.status_code == 500 and "Internal error" in r.text
    assert "disk on fire" not in r.text and "secret" not in r.text
    assert r.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_many_types_share_an_other_bar_and_revoked_is_tagged(ui_hub: UiHub) -> None:
    objs = [
        {
            "type": f"x-kizuna-kind-{chr(97 + k)}",
            "spec_version": "2.1",
            "id": f"x-kizuna-kind-{chr(97 + k)}--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        }
        for k in range(15)
        for _ in range(15 - k)  # kind a: 15 objects, kind b: 14 ... kind o: 1
    ]
    revoked = indicator("192.0.2.99", tlp_ref=TLP2_IDS[TLP.GREEN], revoked=True)
    ui_hub.post("producer", [*objs, revoked])
    r = ui_hub.login("reader").get(f"/ui/collections/{ui_hub.collection_id}")
    bars = chart_bars(r.text, "chart-types")
    assert len(bars) == 13
    assert bars["x-kizuna-kind-a"] == "15" and bars["x-kizuna-kind-l"] == "4"  # the 12 largest
    assert bars["4 other types"] == str(3 + 2 + 1 + 1)  # kinds m, n, o and the indicator
    page = ui_hub.login("reader").get(f"/ui/collections/{ui_hub.collection_id}", params={"type": "indicator"})
    row = re.search(r'<tr data-stix-id="[^"]+">\s*<td class="type">indicator</td>.*?</tr>', page.text, re.S)
    assert row is not None and revoked["id"] in row.group(0)
    assert '<span class="tag">revoked</span>' in row.group(0)
    assert 'class="tag"' not in r.text  # no other object is revoked


def test_wrong_method_is_a_405_page(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    r = c.post(f"/ui/collections/{ui_hub.collection_id}")
    assert (
        r.status_code == 405 and "Method not allowed" in r.text and "text/html" in r.headers["content-type"]
    )
    assert c.get("/ui/logout").status_code == 405  # logging out takes a POST (the form's button)


def test_unmarked_badge_names_the_tlp_the_hub_enforces(tmp_path):
    from kizuna.hub.models import Query
    from kizuna.hub.store.sqlite import SQLiteStore
    from kizuna.stix.markings import TLP

    with SQLiteStore.create(tmp_path / "h.db", durable=False) as store:
        store.add_org("a", ceiling=TLP.RED)
        c = store.add_collection("c", readers=["a"], writers=["a"], default_tlp=TLP.GREEN)
        from kizuna.hub import intake
        from kizuna.stix.ids import utc_now

        obj = {
            "type": "malware",
            "spec_version": "2.1",
            "id": "malware--4c8f4b4e-6d4e-4b57-9f1a-2b9cc7f3e001",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "name": "x",
            "is_family": False,
        }
        intake.accept(store, c, intake.Sender.local(store.get_org("a")), [obj], clock=utc_now)
        [row] = store.query(c, store.get_org("a"), Query()).rows
        assert row.tlp == TLP.GREEN and row.marked is False
