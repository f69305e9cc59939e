"""The analysts' pages in-process: search and filters, the object page, acting on what you read (through the
intake, with CSRF and Origin checks), disagreements, sightings, space and minerals, the admin pages, caching
per write, sessions across a restart."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.index import encode_key
from kizuna.hub.settings import HubSettings
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.web.conftest import ORIGIN, UiHub, csrf_of, indicator, listed_ids, post_form
from tests.web.sample import sample_objects, sid

GREEN = TLP2_IDS[TLP.GREEN]


def writer(ui_hub: UiHub, org: str = "reader") -> TestClient:
    ui_hub.store.grant_access(ui_hub.collection_id, writers=[org])
    return ui_hub.login(org)


# -- search --------------------------------------------------------------------------------------------
def test_search_by_value_and_by_text(any_hub: UiHub) -> None:
    any_hub.post("producer", sample_objects())
    c = any_hub.login("reader")
    r = c.get("/ui/search", params={"q": "203.0.113.3"})
    assert listed_ids(r.text) == [sid("indicator", 3)] and "Exact look-up" in r.text
    assert "1 found" in r.text
    words = c.get("/ui/search", params={"q": "phishing update-2"})
    assert listed_ids(words.text) == [sid("indicator", 102)]
    as_text = c.get("/ui/search", params={"q": "203.0.113.3", "mode": "text"})
    assert sid("indicator", 3) in listed_ids(as_text.text)
    assert listed_ids(c.get("/ui/search", params={"q": "192.0.2.66"}).text) == []  # RED, not for the reader
    assert listed_ids(any_hub.login("producer").get("/ui/search", params={"q": "192.0.2.66"}).text) == [
        sid("indicator", 300)
    ]


def test_words_page_in_date_order_both_ways_on_both_backends(any_hub: UiHub) -> None:
    from kizuna.hub.reads import Search

    red = TLP2_IDS[TLP.RED]
    objs = [
        indicator(f"192.0.2.{i}", tlp_ref=red if i % 4 == 0 else GREEN, name=f"needle {i}") for i in range(9)
    ]
    for obj in objs:  # one envelope each: their dates are their order
        any_hub.post("producer", [obj])
    any_hub.post("producer", [indicator("192.0.2.99", tlp_ref=GREEN, name="haystack")])
    reader = any_hub.store.get_org("reader")
    assert reader is not None
    readable = [o["id"] for i, o in enumerate(objs) if i % 4]
    for newest_first, expected in ((False, readable), (True, readable[::-1])):
        ids: list[str] = []
        after = None
        for _ in range(10):
            page = any_hub.store.search(
                reader, Search(text="needle", newest_first=newest_first, after=after, limit=2)
            )
            ids += [h.row.id for h in page.hits]
            if not page.more:
                break
            after = page.cursor
        assert ids == expected


def test_words_in_any_script_are_found_on_both_backends(any_hub: UiHub) -> None:
    named = {
        "ja": indicator("203.0.113.81", name="日本の水道事業者への標的型攻撃"),
        "fr": indicator("203.0.113.82", name="Campagne « Crème brûlée »"),
        "ru": indicator("203.0.113.83", name="Москва-Сервис"),
    }
    any_hub.post("producer", list(named.values()))
    c = any_hub.login("producer")
    for q, key in (("攻撃", "ja"), ("水道", "ja"), ("creme BRÛL", "fr"), ("москв", "ru")):
        r = c.get("/ui/search", params={"q": q})
        assert listed_ids(r.text) == [named[key]["id"]], q
    assert listed_ids(c.get("/ui/search", params={"q": "撃攻"}).text) == []  # a phrase, in order


def test_every_filter_and_page_size(any_hub: UiHub) -> None:
    any_hub.post("producer", sample_objects())
    c = any_hub.login("producer")
    base = f"/ui/collections/{any_hub.collection_id}"

    def ids(**params: str) -> list[str]:
        return listed_ids(c.get(base, params={"size": "500", **params}).text)

    assert sorted(ids(type="malware")) == sorted([sid("malware", 1), sid("malware", 2)])
    assert set(ids(tlp="red")) == {sid("indicator", 300)}
    assert len(ids(tlp="unmarked")) == 2
    assert len(ids(producer="org:producer")) == 30 and ids(producer="org:reader") == []
    assert len(ids(hub="this")) == 30 and ids(hub="elsewhere") == []
    assert ids(added_after="2999-01-01") == [] and len(ids(added_before="2999-01-01")) == 30
    assert ids(revoked="yes") == [] and len(ids(revoked="no")) == 30
    assert ids(q="PumpJack") == [sid("malware", 2)]
    assert len(listed_ids(c.get(base, params={"size": "50"}).text)) == 30
    page = c.get(base, params={"size": "100", "order": "newest"}).text
    assert listed_ids(page) == list(reversed(ids()))
    assert c.get(base, params={"size": "30"}).status_code == 400
    assert '<option value="org:producer"' in c.get(base).text  # the producer filter offers what it may read


def test_paging_never_loses_or_repeats_a_row_while_objects_arrive(any_hub: UiHub) -> None:
    objs = [indicator(f"10.9.{i // 200}.{i % 200}", tlp_ref=GREEN) for i in range(130)]
    any_hub.post("producer", objs[:100])
    c = any_hub.login("reader")
    first = c.get(f"/ui/collections/{any_hub.collection_id}", params={"size": "50"})
    nxt = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert nxt is not None
    any_hub.post("producer", objs[100:])  # arrive while the reader is on page 1
    seen = listed_ids(first.text)
    r = c.get(nxt.group(1).replace("&amp;", "&"))
    for _ in range(10):
        seen += listed_ids(r.text)
        more = re.search(r'<a rel="next" href="([^"]+)"', r.text)
        if more is None:
            break
        r = c.get(more.group(1).replace("&amp;", "&"))
    assert seen == [o["id"] for o in objs]


# -- the object page ---------------------------------------------------------------------------------
def test_object_page_versions_diff_provenance_and_why(ui_hub: UiHub) -> None:
    oid = "indicator--0b4a5d3e-8a43-4d0c-bb6c-0c3b1c1f7a11"
    ui_hub.post("producer", [indicator("192.0.2.7", oid=oid, tlp_ref=GREEN, name="first", confidence=10)])
    ui_hub.clock.advance(60)
    v2 = indicator("192.0.2.7", oid=oid, tlp_ref=GREEN, name="second", modified="2026-01-02T00:00:00.000Z")
    ui_hub.post("producer", [v2])
    c = ui_hub.login("reader")
    r = c.get(f"/ui/objects/{oid}/")
    assert r.status_code == 200
    assert "TLP:GREEN: shared with readers of collection \u201cshared\u201d; you read as reader." in r.text
    assert "Shared here by</dt><dd>producer" in r.text and "this hub" in r.text
    added = re.findall(r'name="a" value="(\d+)"', r.text)
    assert len(added) == 2
    diff = c.get(f"/ui/objects/{oid}/diff", params={"a": added[1], "b": added[0]})
    rows = re.findall(r'<tr class="(\w+)"><th scope="row"><code>([^<]+)</code>', diff.text)
    kinds = dict((path, kind) for kind, path in rows)
    assert kinds["name"] == "changed" and kinds["confidence"] == "removed" and kinds["modified"] == "changed"
    assert kinds["pattern"] == "same" and "3 properties changed" in diff.text
    download = c.get(f"/ui/objects/{oid}/json")
    assert (
        download.headers["content-disposition"].startswith("attachment")
        and orjson.loads(download.content) == v2
    )
    assert any(r.action == "ui.download" for r in ui_hub.store.audit_records())
    assert c.get(f"/ui/objects/{oid}/diff").status_code == 400
    assert c.get(f"/ui/objects/{oid}").status_code == 307  # without the slash: redirected


def test_red_why_and_relationships_in_and_out(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects(red_recipients=("recipient",)))
    r = ui_hub.login("recipient").get(f"/ui/objects/{sid('indicator', 300)}/")
    assert "only its producer and the recipients it names may read it; it names recipient" in r.text
    mine = ui_hub.login("producer").get(f"/ui/objects/{sid('indicator', 300)}/")
    assert "producer posted it" in mine.text
    target = ui_hub.login("reader").get(f"/ui/objects/{sid('malware', 2)}/").text
    inbound = target.split('id="in"')[1].split('id="about"')[0]
    assert sorted(listed_ids(inbound)) == sorted(sid("relationship", i) for i in range(5))
    source = ui_hub.login("reader").get(f"/ui/objects/{sid('indicator', 1)}/").text
    assert listed_ids(source.split('id="out"')[1].split('id="in"')[0]) == [sid("relationship", 1)]


def test_an_object_with_100000_references_shows_50_at_a_time(ui_hub: UiHub) -> None:
    refs = [f"indicator--{uuid.UUID(int=i, version=4)}" for i in range(100_000)]
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "Huge report",
        "published": "2026-01-01T00:00:00.000Z",
        "object_refs": refs,
        "object_marking_refs": [GREEN],
    }
    ui_hub.post("producer", [report])
    c = ui_hub.login("reader")
    r = c.get(f"/ui/objects/{report['id']}/")
    assert r.status_code == 200 and len(r.content) < 500_000
    shown = re.findall(r'<ul class="refs">(.*?)</ul>', r.text, re.S)[0]
    assert shown.count("<li>") == 50 and refs[0] in shown and refs[50] not in shown
    assert "100,000" in r.text and "cut at 100,000 characters" in r.text
    nxt = re.search(r'href="([^"]+refs=50[^"]*)"', r.text)
    assert nxt is not None
    page2 = c.get(nxt.group(1).replace("&amp;", "&").split("#")[0]).text
    shown2 = re.findall(r'<ul class="refs">(.*?)</ul>', page2, re.S)[0]
    assert refs[50] in shown2 and refs[99] in shown2 and refs[100] not in shown2 and refs[49] not in shown2


def test_hostile_text_is_shown_as_text(ui_hub: UiHub) -> None:
    evil = {
        "type": "malware",
        "spec_version": "2.1",
        "id": "malware--5d1d3a3e-6d3f-4b5e-9e3a-2f1a0c7b9d12",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": "<script>alert(1)</script>",
        "description": "<img src=x onerror=alert(2)>",
        "is_family": False,
        "external_references": [{"source_name": "x", "url": "javascript:alert(3)"}],
        "object_marking_refs": [GREEN],
    }
    ui_hub.post("producer", [evil])
    c = ui_hub.login("reader")
    for path in (
        f"/ui/objects/{evil['id']}/",
        "/ui/search?q=alert",
        f"/ui/collections/{ui_hub.collection_id}",
    ):
        text = c.get(path).text.replace('<script src="/ui/static/copy.js" defer></script>', "")
        assert "<script>" not in text and "<img src=x" not in text and 'href="javascript:' not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# -- acting on what you read ----------------------------------------------------------------------------
def test_we_saw_this_a_note_and_an_opinion_go_through_the_intake(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    c = writer(ui_hub)
    target = sid("indicator", 3)
    before = len(list(ui_hub.store.audit_records()))
    r = post_form(
        c,
        f"/ui/objects/{target}/sighting",
        {"collection": ui_hub.collection_id, "count": "4", "first_seen": "2026-01-20T10:00",
         "last_seen": "2026-01-21T11:30", "tlp": "green"},
    )  # fmt: skip
    assert r.status_code == 303 and "result=" in r.headers["location"]
    page = c.get(r.headers["location"]).text
    assert "What your post did" in page and "stored" in page
    sightings = page.split('id="sightings"')[1].split('id="about"')[0]
    [sighting_id] = listed_ids(sightings)
    stored = orjson.loads(ui_hub.store.versions(ui_hub.store.get_org("reader"), sighting_id)[0].hit.row.raw)
    reader = ui_hub.store.get_org("reader")
    assert stored["where_sighted_refs"] == [reader.identity_id] and stored["count"] == 4
    assert stored["first_seen"] == "2026-01-20T10:00:00.000Z" and stored["sighting_of_ref"] == target
    post_form(
        c, f"/ui/objects/{target}/note", {"collection": ui_hub.collection_id, "content": "we saw it too"}
    )
    post_form(
        c,
        f"/ui/objects/{target}/opinion",
        {
            "collection": ui_hub.collection_id,
            "opinion": "disagree",
            "explanation": "a CDN address",
            "tlp": "clear",
        },
    )
    about = c.get(f"/ui/objects/{target}/").text.split('id="about"')[1]
    assert "we saw it too" in about and "disagree: a CDN address" in about
    records = list(ui_hub.store.audit_records())[before:]
    assert [r.action for r in records if r.action == "objects.add"] == ["objects.add"] * 3
    assert all(r.actor == "org:reader" for r in records if r.action == "objects.add")


def test_bad_form_values_are_400_naming_the_field(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    c = writer(ui_hub)
    target = sid("indicator", 3)
    for data, name in (
        ({"count": "0"}, "count"),
        ({"first_seen": "yesterday"}, "first_seen"),
        ({"first_seen": "2026-01-02", "last_seen": "2026-01-01"}, "last_seen"),
        ({"tlp": "purple"}, "tlp"),
        ({"collection": "nope"}, "collection"),
    ):
        body = {"collection": ui_hub.collection_id, **data}
        r = post_form(c, f"/ui/objects/{target}/sighting", body)
        assert r.status_code == 400 and f"Bad parameter: {name}" in r.text, data
    denied = post_form(
        ui_hub.login("green-reader"),
        f"/ui/objects/{sid('indicator', 1)}/note",
        {"collection": ui_hub.collection_id, "content": "x"},
    )
    assert denied.status_code == 403  # it may read the object but not write to the collection


def test_revoke_only_your_own(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    target = sid("indicator", 3)
    producer = ui_hub.login("producer")
    assert "Revoke this object" in producer.get(f"/ui/objects/{target}/").text
    r = post_form(producer, f"/ui/objects/{target}/revoke", {})
    page = producer.get(r.headers["location"]).text
    assert "new-version" in page and '<span class="tag">revoked</span>' in page
    other = writer(ui_hub)
    assert "Revoke this object" not in other.get(f"/ui/objects/{sid('indicator', 4)}/").text
    refused = post_form(other, f"/ui/objects/{sid('indicator', 4)}/revoke", {})
    result = other.get(refused.headers["location"]).text
    assert "refused" in result and "belongs to another organisation" in result  # the intake's owner rule


def test_upload_a_bundle_shows_each_objects_result(ui_hub: UiHub) -> None:
    c = writer(ui_hub)
    good = indicator("192.0.2.200", tlp_ref=GREEN)
    bad = {"type": "indicator", "id": "indicator--nope"}
    bundle = orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [good, bad]})
    r = c.post(
        "/ui/upload",
        data={"csrf": csrf_of(c), "collection": ui_hub.collection_id},
        files={"file": ("bundle.json", bundle, "application/json")},
        headers={"Origin": ORIGIN},
    )
    assert r.status_code == 200
    assert "1 stored, 1 refused, 2 in all" in r.text and good["id"] in r.text and "indicator--nope" in r.text
    pasted = post_form(c, "/ui/upload", {"collection": ui_hub.collection_id, "bundle": "{not json"})
    assert pasted.status_code == 400 and "not JSON" in pasted.text and "{not json" in pasted.text
    empty = post_form(c, "/ui/upload", {"collection": ui_hub.collection_id})
    assert empty.status_code == 400
    assert "may not post" in ui_hub.login("green-reader").get("/ui/upload").text


def test_csrf_and_origin_failures_keep_what_was_typed_and_the_session(ui_hub: UiHub) -> None:
    ui_hub.post("producer", sample_objects())
    c = writer(ui_hub)
    target = f"/ui/objects/{sid('indicator', 3)}/note"
    typed = {"collection": ui_hub.collection_id, "content": "my long analysis <b>kept</b>"}
    counts = ui_hub.store.table_counts()["objects"]
    for data, headers in (
        (typed, {"Origin": ORIGIN}),  # no token
        ({**typed, "csrf": "forged"}, {"Origin": ORIGIN}),  # a token that is not the session's
        ({**typed, "csrf": csrf_of(c)}, {"Origin": "https://evil.example"}),  # another site
        ({**typed, "csrf": csrf_of(c)}, {"Origin": "null"}),  # null without Sec-Fetch-Site: same-origin
        ({**typed, "csrf": csrf_of(c)}, {}),  # no Origin at all
    ):
        r = c.post(target, data=data, headers=headers)
        assert r.status_code == 403, headers
        assert "my long analysis &lt;b&gt;kept&lt;/b&gt;</textarea>" in r.text and "still signed in" in r.text
        assert "set-cookie" not in r.headers
        assert c.get("/ui/").status_code == 200  # not signed out
    assert ui_hub.store.table_counts()["objects"] == counts
    ok = c.post(
        target,
        data={**typed, "csrf": csrf_of(c)},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # Chromium under no-referrer
    )
    assert ok.status_code == 303
    assert ui_hub.store.table_counts()["objects"] == counts + 1


# -- disagreements, sightings -------------------------------------------------------------------------
def test_disagreements_side_by_side_never_merged(any_hub: UiHub) -> None:
    any_hub.store.grant_access(any_hub.collection_id, writers=["recipient"])
    uk = indicator("198.51.100.23", tlp_ref=GREEN, name="UK: scanner", confidence=80)
    jp = indicator("198.51.100.23", tlp_ref=GREEN, name="JP: shared hosting", confidence=40, lang="ja")
    any_hub.post("producer", [uk])
    any_hub.post("recipient", [jp])
    c = any_hub.login("reader")
    listing = c.get("/ui/disagreements/").text
    key = encode_key("value:198.51.100.23")
    assert f'href="/ui/disagreements/{key}"' in listing and "producer, recipient" in listing
    page = c.get(f"/ui/disagreements/{key}").text
    assert page.count('<span class="mark"><span aria-hidden="true">&#8800;</span> differs</span>') == 2
    assert (
        "UK: scanner" in page and "JP: shared hosting" in page and "Shown side by side, never merged" in page
    )
    obj = c.get(f"/ui/objects/{uk['id']}/").text
    assert "1 other report describes this differently" in obj
    assert (
        c.get("/ui/disagreements/bm9uZQ").status_code == 404
        and c.get("/ui/disagreements/%%%").status_code == 404
    )


class CountingReader:
    """A store reader connection that notes each statement it runs (the per-request statement count)."""

    def __init__(self, conn: Any, seen: list[str]) -> None:
        self._conn, self._seen = conn, seen

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._seen.append(sql)
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_disagreements_list_is_a_fixed_number_of_statements(
    any_hub: UiHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    any_hub.store.grant_access(any_hub.collection_id, writers=["recipient"])
    seen: list[str] = []
    connections: Any = any_hub.store._db  # type: ignore[attr-defined]
    monkeypatch.setattr(
        connections, "reader", lambda reader=connections.reader: CountingReader(reader(), seen)
    )

    def pair(value: str) -> None:
        any_hub.post("producer", [indicator(value, tlp_ref=GREEN, name="UK")])
        any_hub.post("recipient", [indicator(value, tlp_ref=GREEN, name="JP")])

    def statements(c: TestClient) -> tuple[int, str]:
        c.get("/ui/disagreements/")  # caches warm
        seen.clear()
        page = c.get("/ui/disagreements/")
        assert page.status_code == 200
        return len(seen), page.text

    # a key with more reports than the list shows (it says 50+ and never counts them all), and a small one
    many = [indicator("203.0.113.9", tlp_ref=GREEN, name=f"report {i}") for i in range(60)]
    any_hub.post("producer", many[:30])
    any_hub.post("recipient", many[30:])
    pair("203.0.113.1")
    c = any_hub.login("reader")
    few, _ = statements(c)
    for i in range(2, 9):
        pair(f"203.0.113.{i}")
    more, page = statements(c)
    assert few == more  # nine groups cost what two did
    rows = re.findall(r'<tr data-same-key="value:203\.0\.113\.(\d+)">.*?<td class="num">(\d+\+?)</td>', page)
    assert sorted(rows, key=lambda r: int(r[0])) == [(str(i), "2") for i in range(1, 9)] + [("9", "50+")]


def test_sightings_dashboard_and_stale_tab(any_hub: UiHub) -> None:
    fresh = indicator("192.0.2.51", tlp_ref=GREEN, name="fresh one")
    quiet = indicator("192.0.2.52", tlp_ref=GREEN, name="quiet one")
    any_hub.post("producer", [fresh, quiet])
    stamp = "2026-01-30T09:00:00.000Z"  # two days before the hub's clock
    s = {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": stamp,
         "modified": stamp, "sighting_of_ref": fresh["id"], "count": 6, "last_seen": stamp,
         "object_marking_refs": [GREEN]}  # fmt: skip
    any_hub.post("producer", [s])
    c = any_hub.login("reader")
    live = c.get("/ui/sightings/").text
    assert listed_ids(live) == [fresh["id"]] and "fresh one" in live and '<svg class="spark"' in live
    assert "6 in 30 days" in live
    stale = c.get("/ui/sightings/", params={"tab": "stale"}).text
    assert listed_ids(stale) == [quiet["id"]] and "quiet" in stale


# -- space and minerals -----------------------------------------------------------------------------------
@cache
def conjunction() -> dict[str, Any]:
    """The Iridium 33 / Cosmos 2251 event, screened from the shipped TLEs and published as the space wing
    publishes it (a CDM inside)."""
    from kizuna.space import assess_event, parse_catalog_text, screen, write_kvn
    from kizuna.space.assessment import event_to_cdm
    from kizuna.space.publish import conjunction_object

    text = resources.files("kizuna.data").joinpath("space/iridium33_cosmos2251.tle").read_text()
    catalog = parse_catalog_text(text, source="tle")
    event = screen(catalog.objects, datetime(2009, 2, 10, 16, 0, tzinfo=UTC), 3600.0, workers=1).events[0]
    assessed = assess_event(event, hbr_m=10.0)
    cdm = write_kvn(
        event_to_cdm(assessed, originator="TEST", message_id="t-1", created=datetime(2026, 1, 1, tzinfo=UTC))
    )
    return conjunction_object(assessed, cdm, cdm_format="kvn", level=TLP.GREEN)


def test_conjunction_list_and_page_with_its_plot(any_hub: UiHub) -> None:
    conj = conjunction()
    any_hub.post("producer", [conj])
    c = any_hub.login("reader")
    listing = c.get("/ui/space/conjunctions/").text
    assert listed_ids(listing) == [conj["id"]] and "22675 / 24946" in listing
    assert listed_ids(c.get("/ui/space/conjunctions/", params={"norad": "1"}).text) == []
    assert listed_ids(c.get("/ui/space/conjunctions/", params={"sort": "pc", "dir": "asc"}).text) == [
        conj["id"]
    ]
    page = c.get(f"/ui/space/conjunctions/{conj['id']}").text
    assert "could not be drawn" not in page, page.split('role="alert"')[-1][:400]
    svg = re.search(r'<svg[^>]*class="plot".*?</svg>', page, re.S)
    assert svg is not None and 'role="img"' in svg.group(0) and "<title" in svg.group(0)
    assert "style=" not in svg.group(0) and "<style" not in svg.group(0) and "<script" not in svg.group(0)
    assert "Encounter plane" in svg.group(0) and "Range around TCA" in svg.group(0)
    assert page.count('<td class="num">') >= 40  # the range table beneath the plot
    cdm = c.get(f"/ui/space/conjunctions/{conj['id']}/cdm")
    assert cdm.text == conj["cdm"] and cdm.headers["content-disposition"].startswith("attachment")


def test_minerals_page_chart_table_and_csv(ui_hub: UiHub) -> None:
    stage = {"stage": "refining", "year": 2024, "import_shares_pct": {"CHN": 60.0, "FIN": 11.5, "BEL": 5.4},
             "import_hhi": 3800.0, "import_reliance_pct": 100.0, "geopolrisk": {"score": 0.19}}  # fmt: skip
    doc = {"year": 2024, "exposures": [{"partner": "GBR", "mineral": "cobalt", "stages": [stage]}]}
    kind = "x-kizuna-minerals-assessment"
    when = "2026-01-01T00:00:00.000Z"
    a = {"type": kind, "spec_version": "2.1", "id": f"{kind}--{uuid.uuid4()}", "created": when,
         "modified": when, "name": "GBR cobalt exposure", "assessment_kind": "exposure",
         "minerals": ["cobalt"], "assessment": doc, "object_marking_refs": [GREEN]}  # fmt: skip
    ui_hub.post("producer", [a])
    c = ui_hub.login("reader")
    assert listed_ids(c.get("/ui/minerals/").text) == [a["id"]]
    page = c.get(f"/ui/minerals/{a['id']}").text
    assert '<svg class="chart stacked"' in page and "GBR cobalt refining" in page
    table = page.split("<h2>Data</h2>")[1]
    assert "<td>CHN</td><td>60</td>" in table
    rows = list(csv.reader(io.StringIO(c.get(f"/ui/minerals/{a['id']}/csv").text)))
    assert rows[0][-2:] == ["supplier", "share_pct"] and [r[-2:] for r in rows[1:]] == [
        ["CHN", "60"],
        ["FIN", "11.5"],
        ["BEL", "5.4"],
    ]


# -- administrators ----------------------------------------------------------------------------------
def test_audit_and_peers_pages_for_administrators_only(ui_hub: UiHub) -> None:
    ui_hub.store.update_org("producer", admin=True)
    ui_hub.post("producer", sample_objects())
    admin = ui_hub.login("producer")
    assert 'href="/ui/admin/audit/"' in admin.get("/ui/").text
    r = admin.get("/ui/admin/audit/")
    assert r.status_code == 200 and "Chain verified up to record" in r.text and "objects.add" in r.text
    only = admin.get("/ui/admin/audit/", params={"action": "ui.sign-in"}).text
    actions = set(re.findall(r"<td>(ui\.[a-z-]+|objects\.[a-z]+|org\.[a-z]+)</td>", only))
    assert actions == {"ui.sign-in"}
    exported = list(csv.reader(io.StringIO(admin.get("/ui/admin/audit.csv").text)))
    assert exported[0][:4] == ["seq", "at", "actor", "action"] and len(exported) > 10
    assert admin.get("/ui/admin/peers/").status_code == 200
    reader = ui_hub.login("reader")
    assert 'href="/ui/admin/audit/"' not in reader.get("/ui/").text
    for path in ("/ui/admin/audit/", "/ui/admin/peers/", "/ui/admin/audit.csv"):
        assert reader.get(path).status_code == 403
    actions_seen = [rec.action for rec in ui_hub.store.audit_records()]
    assert "ui.sign-in" in actions_seen and "ui.download" in actions_seen  # the CSV export
    ui_hub.client().post("/ui/login", data={"token": "kzn_wrong"})
    post_form(reader, "/ui/logout", {})
    actions_seen = [rec.action for rec in ui_hub.store.audit_records()]
    assert "auth.fail" in actions_seen and "ui.sign-out" in actions_seen  # failed sign-ins count as the API's


def test_the_chain_check_reads_checkpoints_in_batches_and_catches_a_rewritten_chain(ui_hub: UiHub) -> None:
    import sqlite3

    from kizuna.hub.audit import record_hash

    store: Any = ui_hub.store
    for i in range(40):  # a checkpoint line per write
        store.append_audit("ui", "test.action", {"i": i})
    p = store.verify_audit_progress(None, max_records=10_000)
    assert p.ok and p.complete and p.checkpoint_lines >= 40
    conn = sqlite3.connect(store.path)
    keyed_from = int(conn.execute("SELECT value FROM meta WHERE key='audit_keyed_from'").fetchone()[0])
    rows = conn.execute("SELECT seq, at, actor, action, detail, prev_hash FROM audit ORDER BY seq").fetchall()
    prev = rows[0][5]
    for seq, at, actor, action, detail, _ in rows:  # record 3 edited, every MAC after it recomputed
        actor = "someone else" if seq == 3 else actor
        h = record_hash(prev, seq, at, actor, action, detail, store._audit_key if seq >= keyed_from else None)
        conn.execute("UPDATE audit SET actor=?, prev_hash=?, hash=? WHERE seq=?", (actor, prev, h, seq))
        prev = h
    conn.execute("UPDATE audit_head SET hash=?", (prev,))
    conn.commit()
    conn.close()
    bad = None
    for _ in range(100):
        bad = store.verify_audit_progress(bad, max_records=7)
        if bad.complete or not bad.ok:
            break
    assert bad is not None and not bad.ok and "differs from checkpoint line" in bad.reason


def test_audit_page_hides_objects_the_administrator_may_not_read(ui_hub: UiHub) -> None:
    ui_hub.store.update_org("reader", admin=True)
    red = indicator("192.0.2.77", tlp_ref=TLP2_IDS[TLP.RED])
    ui_hub.post("producer", [red])
    page = ui_hub.login("reader").get("/ui/admin/audit/").text
    assert red["id"] not in page and "[an object you may not read]" in page


# -- caching and sessions -----------------------------------------------------------------------------
def test_collection_counts_are_cached_per_write_not_per_request(ui_hub: UiHub) -> None:
    calls = {"tally": 0}
    inner = ui_hub.store

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(inner, name)

        def tally(self, *args: Any, **kwargs: Any) -> Any:
            calls["tally"] += 1
            return inner.tally(*args, **kwargs)

    app = create_app(HubSettings(), Counting(), clock=ui_hub.clock)  # type: ignore[arg-type]
    ui_hub.post("producer", sample_objects())
    with TestClient(app, base_url=ORIGIN, follow_redirects=False) as c:
        assert c.post("/ui/login", data={"token": ui_hub.tokens["reader"]}).status_code == 303
        for _ in range(5):
            assert c.get(f"/ui/collections/{ui_hub.collection_id}").status_code == 200
            c.get("/ui/")
        assert calls["tally"] == 1
        ui_hub.post("producer", [indicator("192.0.2.123", tlp_ref=GREEN)])
        text = c.get(f"/ui/collections/{ui_hub.collection_id}").text
        assert calls["tally"] == 2 and "28 objects you may read" in text


def test_a_session_outlives_a_restart(ui_hub: UiHub) -> None:
    c = ui_hub.login("reader")
    cookie = c.cookies["kizuna_session"]
    again = create_app(
        HubSettings(), ui_hub.store, clock=ui_hub.clock
    )  # a new app: a restart, another worker
    with TestClient(again, base_url=ORIGIN, follow_redirects=False) as other:
        other.cookies.set("kizuna_session", cookie, domain="127.0.0.1", path="/ui")
        assert other.get("/ui/").status_code == 200


@pytest.mark.parametrize("path", ["/ui/search", "/ui/disagreements/", "/ui/sightings/", "/ui/minerals/"])
def test_pages_work_for_an_organisation_with_nothing_to_read(any_hub: UiHub, path: str) -> None:
    assert any_hub.login("outsider").get(path).status_code == 200
