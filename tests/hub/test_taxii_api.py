"""The TAXII 2.1 API, in process: statuses, error bodies, filters, pagination, versions, ingest rules."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from kizuna.stix.markings import TLP, TLP1_IDS, TLP2_IDS

from .conftest import Hub, build_hub, indicator

TAXII = "application/taxii+json;version=2.1"
ERROR_KEYS = {"title", "http_status"}


def assert_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == TAXII
    body = resp.json()
    assert set(body) >= ERROR_KEYS, body
    assert body["http_status"] == str(status)
    return body


def all_objects(hub: Hub, org: str) -> list[dict]:
    r = hub.client.get(hub.url("objects/"), headers=hub.headers(org), params={"limit": "10000"})
    assert r.status_code == 200 and not r.json()["more"]
    return list(r.json().get("objects", []))


def all_ids(hub: Hub, org: str, **params) -> list[str]:
    ids: list[str] = []
    params = {"limit": "1000", **params}
    while True:
        r = hub.client.get(hub.url("objects/"), headers=hub.headers(org), params=params)
        assert r.status_code == 200
        body = r.json()
        ids += [o["id"] for o in body.get("objects", [])]
        if not body.get("more"):
            return ids
        params["next"] = body["next"]


# -- discovery and resources ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """The TAXII API tests run on both store backends."""
    dsn = request.getfixturevalue("new_pg_dsn")() if request.param == "postgres" else None
    yield from build_hub(tmp_path, dsn)


def test_discovery_api_root_collections(hub: Hub):
    r = hub.client.get("/taxii2/", headers=hub.headers("reader"))
    assert r.status_code == 200 and r.headers["content-type"] == TAXII
    assert r.json()["api_roots"] == ["http://127.0.0.1/api/"]
    r = hub.client.get("/api/", headers=hub.headers("reader"))
    assert r.json()["versions"] == [TAXII]
    assert r.json()["max_content_length"] == hub.settings.max_content_length
    r = hub.client.get("/api/collections/", headers=hub.headers("reader"))
    [c] = r.json()["collections"]
    assert c["id"] == hub.collection_id and c["can_read"] and not c["can_write"]
    assert hub.client.get("/api/collections/", headers=hub.headers("outsider")).json() == {}
    r = hub.client.get(hub.url(), headers=hub.headers("write-only"))
    assert r.json()["can_write"] and not r.json()["can_read"]


def test_alias_addresses_the_collection(hub: Hub):
    # asked for by its alias, the collection names itself by the alias (a TAXII client checks that the id
    # is part of the URL it asked); the list and the id's own URL give the UUID
    r = hub.client.get("/api/collections/shared/", headers=hub.headers("reader"))
    assert r.status_code == 200 and r.json()["id"] == "shared" and r.json()["alias"] == "shared"
    r = hub.client.get(f"/api/collections/{hub.collection_id}/", headers=hub.headers("reader"))
    assert r.json()["id"] == hub.collection_id
    (listed,) = hub.client.get("/api/collections/", headers=hub.headers("reader")).json()["collections"]
    assert listed["id"] == hub.collection_id and listed["alias"] == "shared"


# -- errors -----------------------------------------------------------------------------------------
def test_missing_and_bad_credentials_are_401_with_challenge(hub: Hub):
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Digest abc"},
    ):
        r = hub.client.get("/api/collections/", headers={"Accept": TAXII, **headers})
        assert_error(r, 401)
        assert "Bearer" in r.headers["www-authenticate"] and "Basic" in r.headers["www-authenticate"]


def test_basic_auth_needs_the_matching_org_name(hub: Hub):
    ok = base64.b64encode(f"reader:{hub.tokens['reader']}".encode()).decode()
    bad = base64.b64encode(f"producer:{hub.tokens['reader']}".encode()).decode()
    assert hub.client.get("/api/", headers={"Authorization": f"Basic {ok}"}).status_code == 200
    assert_error(hub.client.get("/api/", headers={"Authorization": f"Basic {bad}"}), 401)


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "text/html",
        "application/taxii+json;version=2.0",
        "application/stix+json;version=2.1",
    ],
)
def test_unacceptable_accept_is_406(hub: Hub, accept: str):
    assert_error(hub.client.get("/api/", headers={**hub.headers("reader"), "Accept": accept}), 406)


@pytest.mark.parametrize(
    "accept",
    [
        "application/taxii+json",
        "*/*",
        "application/taxii+json;version=2.1",
        "text/html, application/taxii+json;version=2.1;q=0.9",
    ],
)
def test_acceptable_accept(hub: Hub, accept: str):
    assert hub.client.get("/api/", headers={**hub.headers("reader"), "Accept": accept}).status_code == 200


def test_refused_posts_change_nothing(hub: Hub):
    before = hub.store.table_counts()
    good = orjson.dumps({"objects": [indicator()]})
    cases = [
        (415, good, {"Content-Type": "application/json"}, "producer", hub.url("objects/")),
        (415, good, {"Content-Type": "application/stix+json;version=2.1"}, "producer", hub.url("objects/")),
        (413, b"{" + b" " * 1_000_001 + b"}", {"Content-Type": TAXII}, "producer", hub.url("objects/")),
        (400, b"{not json", {"Content-Type": TAXII}, "producer", hub.url("objects/")),
        (422, b'{"objects": {}}', {"Content-Type": TAXII}, "producer", hub.url("objects/")),
        (422, b"[1, 2]", {"Content-Type": TAXII}, "producer", hub.url("objects/")),
        (403, good, {"Content-Type": TAXII}, "reader", hub.url("objects/")),
        (404, good, {"Content-Type": TAXII}, "producer", "/api/collections/no-such-collection/objects/"),
        (404, good, {"Content-Type": TAXII}, "outsider", hub.url("objects/")),
        (406, good, {"Content-Type": TAXII, "Accept": "text/html"}, "producer", hub.url("objects/")),
    ]
    for status, body, extra, org, url in cases:
        r = hub.client.post(url, content=body, headers={**hub.headers(org), **extra})
        assert_error(r, status)
    r = hub.client.post(hub.url("objects/"), content=good, headers={"Content-Type": TAXII})
    assert_error(r, 401)
    assert hub.store.table_counts() == before


def test_unknown_paths_and_methods_use_the_error_shape(hub: Hub):
    assert_error(hub.client.get("/api/nothing/", headers=hub.headers("reader")), 404)
    assert_error(hub.client.put(hub.url("objects/"), headers=hub.headers("producer")), 405)
    assert_error(hub.client.get("/api/status/unknown/", headers=hub.headers("reader")), 404)


def test_reading_a_write_only_collection_is_403(hub: Hub):
    assert_error(hub.client.get(hub.url("objects/"), headers=hub.headers("write-only")), 403)
    assert_error(hub.client.get(hub.url("manifest/"), headers=hub.headers("write-only")), 403)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "x"},
        {"added_after": "yesterday"},
        {"next": "garbage!"},
        {"match[version]": "latest"},
        {"match[spec_version]": "3.0"},
    ],
)
def test_bad_filters_are_400(hub: Hub, params):
    assert_error(hub.client.get(hub.url("objects/"), headers=hub.headers("reader"), params=params), 400)


# -- ingest -----------------------------------------------------------------------------------------
def test_post_mixed_envelope_reports_each_failure_and_stores_the_valid(hub: Hub):
    good = [indicator(f"198.51.100.{i}") for i in range(3)]
    bad_pattern = indicator(pattern="[ipv4-addr:value = ")
    bad_id = indicator()
    bad_id["id"] = "malware--" + bad_id["id"].split("--")[1]
    missing = indicator()
    del missing["pattern"]
    not_a_dict = "indicator"
    r = hub.post("producer", [good[0], bad_pattern, good[1], bad_id, missing, not_a_dict, good[2]])
    assert r.status_code == 202 and r.headers["content-type"] == TAXII
    status = r.json()
    assert status["status"] == "complete"
    assert status["total_count"] == 7
    assert status["success_count"] == 3 and status["failure_count"] == 4 and status["pending_count"] == 0
    assert (
        status["success_count"] + status["failure_count"] + status["pending_count"] == status["total_count"]
    )
    assert {s["id"] for s in status["successes"]} == {g["id"] for g in good}
    failed = {f["id"]: f["message"] for f in status["failures"]}
    assert "pattern" in failed[bad_pattern["id"]]
    assert "pattern" in failed[missing["id"]]
    assert "objects[5]" in failed
    assert hub.store.count_objects() == 3
    again = hub.client.get(f"/api/status/{status['id']}/", headers=hub.headers("producer"))
    assert again.json() == status
    # a status is visible only to the organisation that posted
    assert_error(hub.client.get(f"/api/status/{status['id']}/", headers=hub.headers("reader")), 404)


def test_objects_are_served_exactly_as_received(hub: Hub):
    obj = indicator(name="Ünïcode ✓", x_custom_number=1.5e-7, description="line\nbreak")
    hub.post("producer", [obj])
    r = hub.client.get(hub.url(f"objects/{obj['id']}/"), headers=hub.headers("producer"))
    [served] = r.json()["objects"]
    assert served == obj
    assert list(served) == list(obj)  # property order kept


def test_same_version_is_idempotent_newer_is_new_version_conflict_fails(hub: Hub):
    v1 = indicator(modified="2026-01-01T00:00:00.000Z")
    assert hub.post("producer", [v1]).json()["success_count"] == 1
    again = hub.post("producer", [v1]).json()
    assert again["success_count"] == 1 and again["successes"][0]["message"] == "already stored"
    assert hub.store.count_objects() == 1
    v2 = {**v1, "modified": "2026-01-02T00:00:00.000Z", "name": "updated"}
    assert hub.post("producer", [v2]).json()["success_count"] == 1
    assert hub.store.count_objects() == 2
    forged = {**v1, "name": "different content, same version"}
    res = hub.post("producer", [forged]).json()
    assert res["failure_count"] == 1 and "already stored" in res["failures"][0]["message"]
    assert hub.store.count_objects() == 2


# -- filters, versions, manifest ---------------------------------------------------------------------
def test_version_filters(hub: Hub):
    oid = "indicator--11111111-1111-4111-8111-111111111111"
    versions = ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z", "2026-01-03T00:00:00.000Z"]
    hub.post("producer", [indicator(oid=oid, modified=v) for v in versions])
    other = indicator()
    hub.post("producer", [other])

    def get(**params):
        r = hub.client.get(hub.url("objects/"), headers=hub.headers("reader"), params=params)
        return sorted((o["id"], o["modified"]) for o in r.json().get("objects", []))

    assert get() == sorted([(oid, versions[2]), (other["id"], other["modified"])])
    assert get(**{"match[version]": "first", "match[id]": oid}) == [(oid, versions[0])]
    assert get(**{"match[version]": "all", "match[id]": oid}) == [(oid, v) for v in versions]
    assert get(**{"match[version]": f"{versions[1]},first", "match[id]": oid}) == [
        (oid, v) for v in versions[:2]
    ]
    assert get(**{"match[type]": "malware"}) == []
    assert get(**{"match[spec_version]": "2.0"}) == []
    assert len(get(**{"match[spec_version]": "2.1"})) == 2

    r = hub.client.get(hub.url(f"objects/{oid}/versions/"), headers=hub.headers("reader"))
    assert r.json()["versions"] == versions
    r = hub.client.get(hub.url("manifest/"), headers=hub.headers("reader"), params={"match[id]": oid})
    [record] = r.json()["objects"]
    assert record["version"] == versions[2] and record["media_type"] == "application/stix+json;version=2.1"
    assert "date_added" in record


def test_delete_removes_versions_and_needs_write(hub: Hub):
    obj = indicator()
    hub.post("producer", [obj, {**obj, "modified": "2026-03-01T00:00:00.000Z"}])
    assert_error(hub.client.delete(hub.url(f"objects/{obj['id']}/"), headers=hub.headers("reader")), 403)
    r = hub.client.delete(
        hub.url(f"objects/{obj['id']}/"), headers=hub.headers("producer"), params={"match[version]": "first"}
    )
    assert r.status_code == 200
    assert hub.store.count_objects() == 1
    assert (
        hub.client.delete(hub.url(f"objects/{obj['id']}/"), headers=hub.headers("producer")).status_code
        == 200
    )
    assert hub.store.count_objects() == 0
    assert_error(hub.client.get(hub.url(f"objects/{obj['id']}/"), headers=hub.headers("producer")), 404)
    assert_error(hub.client.delete(hub.url(f"objects/{obj['id']}/"), headers=hub.headers("producer")), 404)


# -- pagination -------------------------------------------------------------------------------------
def test_paging_loses_and_repeats_nothing_when_thousands_share_one_second(hub: Hub):
    # the clock does not move: every object arrives in the same second
    objs = [indicator(f"203.0.113.{i % 250}", x_n=i) for i in range(3000)]
    for i in range(0, 3000, 1000):
        assert hub.post("producer", objs[i : i + 1000]).json()["success_count"] == 1000
    expected = [o["id"] for o in objs]

    # path 1: follow next
    assert all_ids(hub, "reader", limit="7") == expected

    # path 2: restart each time with added_after = X-TAXII-Date-Added-Last
    seen: list[str] = []
    params: dict[str, str] = {"limit": "333"}
    while True:
        r = hub.client.get(hub.url("objects/"), headers=hub.headers("reader"), params=params)
        body = r.json()
        if not body.get("objects"):
            break
        seen += [o["id"] for o in body["objects"]]
        first, last = r.headers["X-TAXII-Date-Added-First"], r.headers["X-TAXII-Date-Added-Last"]
        assert first <= last and first.startswith("2026-02-01T09:00:00.")
        params["added_after"] = last
    assert seen == expected


def test_paging_under_concurrent_writes(hub: Hub):
    first = [indicator(x_n=i) for i in range(500)]
    hub.post("producer", first)
    params = {"limit": "100"}
    seen: list[str] = []
    while True:
        body = hub.client.get(hub.url("objects/"), headers=hub.headers("reader"), params=params).json()
        seen += [o["id"] for o in body.get("objects", [])]
        hub.post("producer", [indicator()])  # new objects arrive between pages
        if not body.get("more"):
            break
        params["next"] = body["next"]
    assert len(seen) == len(set(seen))
    assert seen[:500] == [o["id"] for o in first]


# -- policy through the API -------------------------------------------------------------------------
def test_tlp_levels_reach_exactly_the_allowed_readers(hub: Hub):
    objs = {
        "clear1": indicator(tlp_ref=TLP1_IDS[TLP.CLEAR]),
        "green2": indicator(tlp_ref=TLP2_IDS[TLP.GREEN]),
        "amber1": indicator(tlp_ref=TLP1_IDS[TLP.AMBER]),
        "strict": indicator(tlp_ref=TLP2_IDS[TLP.AMBER_STRICT]),
        "red": indicator(tlp_ref=TLP2_IDS[TLP.RED], x_kizuna_recipients=["recipient"]),
        "unmarked": indicator(),  # collection default: AMBER
    }
    status = hub.post("producer", list(objs.values())).json()
    assert status["success_count"] == 6, status
    name = {o["id"]: k for k, o in objs.items()}

    def visible(org: str) -> set[str]:
        return {name[i] for i in all_ids(hub, org)}

    assert visible("producer") == set(objs)
    assert visible("recipient") == set(objs)
    assert visible("reader") == {"clear1", "green2", "amber1", "unmarked"}
    assert visible("strict-reader") == {"clear1", "green2", "amber1", "unmarked", "strict"}
    assert visible("green-reader") == {"clear1", "green2"}
    # another hub's account: never RED or AMBER+STRICT; with no agreement on record, GREEN at most
    assert visible("peer") == {"clear1", "green2"}
    # the same rule on every read path
    for org, hidden in (("reader", "red"), ("peer", "strict"), ("green-reader", "unmarked")):
        oid = objs[hidden]["id"]
        assert_error(hub.client.get(hub.url(f"objects/{oid}/"), headers=hub.headers(org)), 404)
        assert_error(hub.client.get(hub.url(f"objects/{oid}/versions/"), headers=hub.headers(org)), 404)
        r = hub.client.get(hub.url("manifest/"), headers=hub.headers(org), params={"match[id]": oid})
        assert "objects" not in r.json()


def test_red_with_unknown_recipient_fails(hub: Hub):
    obj = indicator(tlp_ref=TLP2_IDS[TLP.RED], x_kizuna_recipients=["nobody"])
    status = hub.post("producer", [obj]).json()
    assert status["failure_count"] == 1 and "nobody" in status["failures"][0]["message"]
    assert hub.store.count_objects() == 0


def test_last_version_is_the_last_the_reader_may_see(hub: Hub):
    oid = "indicator--22222222-2222-4222-8222-222222222222"
    old = indicator(oid=oid, modified="2026-01-01T00:00:00.000Z", tlp_ref=TLP2_IDS[TLP.GREEN])
    new = indicator(oid=oid, modified="2026-01-05T00:00:00.000Z", tlp_ref=TLP2_IDS[TLP.RED])
    hub.post("producer", [old, new])
    r = hub.client.get(hub.url(f"objects/{oid}/"), headers=hub.headers("reader")).json()
    assert [o["modified"] for o in r["objects"]] == [old["modified"]]
    r = hub.client.get(hub.url(f"objects/{oid}/"), headers=hub.headers("producer")).json()
    assert [o["modified"] for o in r["objects"]] == [new["modified"]]


def test_a_sighting_reaches_the_indicators_collection(hub: Hub):
    ind = indicator(tlp_ref=TLP2_IDS[TLP.AMBER])
    assert hub.post("producer", [ind]).json()["success_count"] == 1
    # the operator reports into its own sightings collection, which the producer cannot read
    sightings = hub.store.add_collection("operator sightings", readers=["write-only"], writers=["write-only"])
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": "identity--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "name": "a water operator",
        "identity_class": "organization",
    }
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--ee20065d-2555-424f-ad9e-0f8428623c75",
        "created": "2026-02-02T00:00:00.000Z",
        "modified": "2026-02-02T00:00:00.000Z",
        "sighting_of_ref": ind["id"],
        "count": 3,
        "where_sighted_refs": [identity["id"]],
        "object_marking_refs": [TLP2_IDS[TLP.AMBER]],
    }
    unrelated = {
        **sighting,
        "id": "sighting--1e6f6a62-5a5c-4b8b-a8b5-57ad6ef4e9a4",
        "sighting_of_ref": "indicator--9d9ba8d6-5b9f-4a5e-bd4d-c2c7e0f0bd11",
    }
    # write-only may not read the shared collection: nothing is routed for it
    status = hub.post("write-only", [identity, sighting, unrelated], collection_id=sightings.id).json()
    assert status["success_count"] == 3
    assert sighting["id"] not in all_ids(hub, "producer")
    # an organisation that can read the indicator gets its sighting routed beside it; it may not write
    # there, so the hub composes the copy (no content of its choosing enters), readable by the indicator's
    # producer and by it alone
    hub.store.add_collection("reader sightings", alias="rs", readers=["reader"], writers=["reader"])
    own = {**sighting, "id": "sighting--7a1b7c58-40f5-4d61-9f44-3c2a1e0b7d01"}
    status = hub.post(
        "reader",
        [own, {**unrelated, "id": "sighting--0b0e5b1e-2a3c-4d5e-8f90-a1b2c3d4e5f6"}],
        collection_id="rs",
    ).json()
    assert status["success_count"] == 2 and status["total_count"] == 2
    routed = [
        o
        for o in hub.client.get(hub.url("objects/"), headers=hub.headers("producer")).json()["objects"]
        if o["type"] == "sighting"
    ]
    reader_identity = hub.store.get_org("reader").identity_id
    assert [(o["sighting_of_ref"], o["count"], o["where_sighted_refs"]) for o in routed] == [
        (ind["id"], 3, [reader_identity])
    ]
    assert routed[0]["id"] != own["id"] and routed[0]["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
    assert not any(o["type"] == "sighting" for o in all_objects(hub, "green-reader"))
    assert not any(o["type"] == "sighting" for o in all_objects(hub, "strict-reader"))


def test_an_envelope_of_invalid_objects_stores_no_object(hub: Hub):
    before = hub.store.table_counts()
    bad = [indicator(pattern="[x:y = "), {"type": "indicator"}, 42, indicator(created="yesterday")]
    status = hub.post("producer", bad).json()
    assert status["failure_count"] == 4 and status["success_count"] == 0 and status["total_count"] == 4
    after = hub.store.table_counts()
    assert after["objects"] == before["objects"] and after["recipients"] == before["recipients"]
    # the status resource itself is kept, so the client can read it again
    assert after["write_results"] == before["write_results"] + 1


def test_root_sends_people_to_the_web_ui(hub: Hub):
    r = hub.client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
