"""Random query strings, cursors, path values and form bodies to every route of the UI (hypothesis, 1,000
requests): none answers 500, and a parameter the UI cannot use answers 400 naming it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.paging import Cursor, CursorCodec
from kizuna.hub.settings import HubSettings
from tests.web.conftest import ORIGIN, csrf_of
from tests.web.corpus import Corpus, build, sid
from tests.web.test_crawl import MISSING, ui_routes

PARAMS = (
    "q", "mode", "type", "tlp", "producer", "hub", "added_after", "added_before", "revoked", "order", "size",
    "page", "collection", "added", "a", "b", "out", "in", "sightings", "about", "refs", "result", "tab",
    "window", "offset", "norad", "from", "to", "min_pc", "max_miss_km", "sort", "dir", "kind", "action",
    "actor", "since", "until", "next", "count", "first_seen", "last_seen", "content", "abstract", "opinion",
    "explanation", "bundle", "token",
)  # fmt: skip


SAMPLES = (
    "", "yes", "no", "any", "newest", "stale", "500", "50", "-1", "1e309", "nan", "2026-02-30", "2026-03-01",
    "2026-03-01T10:00", "198.18.0.2", "indicator", "amber+strict", "unmarked", "org:admin", "this", "value",
    "conjunction", "%00", "\x00", "\u2028", "a" * 2000, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
)  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Corpus, Any, dict[str, TestClient]]]:
    corpus = build(tmp_path_factory.mktemp("fuzz") / "hub.db")
    app = create_app(HubSettings(), corpus.store, clock=corpus.clock)
    clients = {}
    for user in ("admin", "green"):
        c = TestClient(app, base_url=ORIGIN, follow_redirects=False, raise_server_exceptions=False)
        assert c.post("/ui/login", data={"token": corpus.tokens[user]}).status_code == 303
        clients[user] = c
    clients["nobody"] = TestClient(
        app, base_url=ORIGIN, follow_redirects=False, raise_server_exceptions=False
    )
    try:
        yield corpus, app, clients
    finally:
        corpus.store.close()


def values(corpus: Corpus) -> st.SearchStrategy[str]:
    codec = CursorCodec(corpus.store.cursor_key())
    good_cursors = [
        codec.encode(Cursor(n), scope=f"ui:search:{corpus.orgs['admin'].id}") for n in (0, 1, 2**40)
    ]
    return st.one_of(
        st.text(max_size=30),
        st.text(alphabet="0123456789-:TZ.", max_size=26),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from([*SAMPLES, MISSING, sid("indicator", "ind-green-bravo"), *good_cursors]),
    )


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_random_requests_never_answer_500(
    world: tuple[Corpus, Any, dict[str, TestClient]], data: Any
) -> None:
    corpus, app, clients = world
    routes: list[Route] = ui_routes(app)
    route = data.draw(st.sampled_from(routes), label="route")
    method = data.draw(st.sampled_from(sorted(route.methods or {"GET"}) if route.methods else ["GET"]))
    if method == "HEAD":
        method = "GET"
    vals = values(corpus)
    path = route.path
    for name in re.findall(r"{(\w+)}", path):
        choice = data.draw(
            st.one_of(
                st.sampled_from(
                    [
                        MISSING,
                        sid("indicator", "ind-green-bravo"),
                        sid("kizuna-conjunction", "conj-a"),
                        sid("x-kizuna-minerals-assessment", "minerals-a-alfa"),
                        corpus.collections["main"].id,
                        "kizuna.css",
                        "dmFsdWU6MTk4LjE4LjAuMg",
                    ]
                ),
                st.text(
                    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/?#%"),
                    min_size=1,
                    max_size=40,
                ),
            ),
            label=name,
        )
        path = path.replace("{" + name + "}", choice)
    params = data.draw(st.lists(st.tuples(st.sampled_from(PARAMS), vals), max_size=6), label="params")
    who = data.draw(st.sampled_from(sorted(clients)), label="who")
    client = clients[who]
    if who != "nobody" and client.get("/ui/upload").status_code != 200:  # a random post signed it out
        assert client.post("/ui/login", data={"token": corpus.tokens[who]}).status_code == 303
    if method == "GET":
        r = client.get("/ui" + path, params=params)
    else:
        body = list(params)
        if client is not clients["nobody"] and data.draw(st.booleans(), label="csrf"):
            body.append(("csrf", csrf_of(client)))
        headers = {"Origin": ORIGIN} if data.draw(st.booleans(), label="origin") else {}
        if data.draw(st.booleans(), label="multipart") and path == "/upload":
            files = {"file": ("b.json", data.draw(st.binary(max_size=200), label="file"), "application/json")}
            r = client.post("/ui" + path, data=dict(body), files=files, headers=headers)
        else:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            r = client.post("/ui" + path, content=urlencode(body), headers=headers)
    assert r.status_code != 500, (method, path, params, r.text[:300])
    if r.status_code == 400 and "Bad parameter" in r.text:
        named = re.search(r"Bad parameter: (\w+)", r.text)
        assert named is not None and named.group(1) in PARAMS


def test_a_bad_parameter_is_a_400_naming_it(world: tuple[Corpus, Any, dict[str, TestClient]]) -> None:
    _, _, clients = world
    c = clients["admin"]
    for path, params, name in (
        ("/ui/search", {"size": "7"}, "size"),
        ("/ui/search", {"added_after": "yesterday"}, "added_after"),
        ("/ui/search", {"tlp": "purple"}, "tlp"),
        ("/ui/search", {"page": "forged"}, "page"),
        ("/ui/sightings/", {"window": "2"}, "window"),
        ("/ui/space/conjunctions/", {"min_pc": "2"}, "min_pc"),
        ("/ui/space/conjunctions/", {"norad": "x"}, "norad"),
        ("/ui/disagreements/", {"kind": "nonsense"}, "kind"),
        ("/ui/admin/audit/", {"since": "2026-13-01"}, "since"),
    ):
        r = c.get(path, params=params)
        assert r.status_code == 400 and f"Bad parameter: {name}" in r.text, (path, params)
