"""The policy crawl: three users (ceilings RED and administrator, AMBER, GREEN) walk every page of the UI.

It runs on both store backends (SQLite and PostgreSQL). The route list comes from the UI's own router
(``WebUI.page_routes``), so a new page cannot be missed: each GET route is opened with every corpus id
(collections, objects, sameness keys) in its path, and every link each page shows is followed, downloads
(JSON, CSV, CDM) included. On every answer:

* no forbidden object's id, name, pattern value or producer name occurs anywhere in the HTML, SVG or CSV;
* every ``data-stix-id`` on a page is one the user may read, and a collection's pages (and the search's)
  list exactly what the plain read rule (``policy.may_read``) allows;
* a direct URL to an object the user may not read answers exactly as one to an id that does not exist;
* nothing answers 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.index import encode_key, entries
from kizuna.hub.middleware import HubMiddleware
from kizuna.hub.settings import HubSettings
from tests.web.conftest import BACKENDS, ORIGIN, follow_ids
from tests.web.corpus import USERS, Corpus, build

MISSING = "indicator--00000000-0000-4000-8000-000000000000"
MAX_PAGES = 1500


@pytest.fixture(scope="module", params=BACKENDS)
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    """The corpus on each backend (a SQLite file; a PostgreSQL schema of the session's cluster)."""
    dsn = None
    if request.param == "postgres":
        cluster = request.getfixturevalue("pg_cluster")
        dsn = cluster.schema_dsn(request.getfixturevalue("pg_database"))
    c = build(tmp_path_factory.mktemp("crawl") / "hub.db", dsn)
    try:
        yield c
    finally:
        c.store.close()


@pytest.fixture(scope="module")
def app(corpus: Corpus) -> Any:
    return create_app(HubSettings(title="crawl hub"), corpus.store, clock=corpus.clock)


def ui_routes(app: Any) -> list[Route]:
    """The UI's routes, read from the hub app's router (inside the hub's middleware)."""
    router = app.app if isinstance(app, HubMiddleware) else app
    for r in router.routes:
        if isinstance(r, Mount) and r.path == "/ui":
            return [x for x in r.routes if isinstance(x, Route)]
    raise AssertionError("the UI is not mounted")


@pytest.fixture
def login(app: Any, corpus: Corpus) -> Iterator[Callable[[str], TestClient]]:
    """Sign a user in: a client entered for the test (one event loop and worker threads for all its
    requests, as under a server: the PostgreSQL store keeps a reader connection per thread)."""
    with ExitStack() as stack:

        def sign_in(user: str) -> TestClient:
            c = stack.enter_context(TestClient(app, base_url=ORIGIN, follow_redirects=False))
            assert c.post("/ui/login", data={"token": corpus.tokens[user]}).status_code == 303
            return c

        yield sign_in


def seeds(app: Any, corpus: Corpus) -> list[str]:
    """Every GET route with every value its path parameters can take in the corpus."""
    keys: set[str] = set()
    for s in corpus.stored:
        e = entries(s.obj)
        keys.update(e.keys)
        if e.conjunction is not None:  # a conjunction event's key carries the TCA of its first report
            keys.update(f"{k}@{e.conjunction.tca_us}" for k in e.keys)
    values = {
        "collection_id": [*(c.id for c in corpus.collections.values()), "main", "no-such-collection"],
        "object_id": [*sorted({s.obj["id"] for s in corpus.stored}), MISSING],
        "key": [*sorted(encode_key(k) for k in keys), "bm9uZQ"],
        "name": ["kizuna.css", "copy.js", "favicon.svg"],
    }
    out: list[str] = []
    for route in ui_routes(app):
        if "GET" not in (route.methods or set()):
            continue
        params = re.findall(r"{(\w+)}", route.path)
        paths = ["/ui" + route.path]
        for p in params:
            paths = [x.replace("{" + p + "}", v) for x in paths for v in values[p]]
        out.extend(paths)
    return out


def crawl(client: TestClient, start: list[str]) -> Iterator[tuple[str, Any]]:
    seen: set[str] = set()
    queue = list(start)
    while queue:
        url = queue.pop(0)
        if url in seen or "/logout" in url:
            continue
        seen.add(url)
        assert len(seen) < MAX_PAGES, "the crawl did not end"
        r = client.get(url)
        yield url, r
        if r.headers.get("content-type", "").startswith("text/html"):
            for href in re.findall(r'href="(/ui/[^"#]*)', r.text):
                queue.append(href.replace("&amp;", "&"))


@pytest.mark.parametrize("user", USERS)
def test_every_page_shows_only_what_the_user_may_read(
    app: Any, corpus: Corpus, login: Callable[[str], TestClient], user: str
) -> None:
    client = login(user)
    forbidden = corpus.forbidden(user)
    readable = set(corpus.readable(user))
    assert len(forbidden) > 10 or user == "admin"
    pages = 0
    for url, r in crawl(client, seeds(app, corpus)):
        pages += 1
        assert r.status_code != 500, url
        text = r.text
        if r.status_code in (301, 302, 303, 307):
            continue
        leaked = [w for w in forbidden if w in text and w not in url]  # a 404 may echo the id asked for
        if url.startswith("/ui/admin/") and user == "admin":
            # the audit log names the hub's organisations (as 'kizuna hub audit list' does), never an object
            # the administrator may not read
            leaked = [w for w in leaked if w != "secret-producer-org"]
        assert leaked == [], (url, leaked)
        listed = set(re.findall(r'data-stix-id="([^"]+)"', text))
        assert listed <= readable, (url, listed - readable)
    assert pages > 100
    # a list shows exactly what the rule allows
    for alias, c in corpus.collections.items():
        if (user, alias) in corpus.grants:
            listed = follow_ids(client, f"/ui/collections/{c.id}", size="50")
            assert len(listed) == len(set(listed))
            assert sorted(listed) == sorted(corpus.readable(user, alias)), alias
    found = follow_ids(client, "/ui/search")
    assert sorted(found) == sorted(corpus.readable(user))


@pytest.mark.parametrize("user", ["amber", "green"])
def test_a_forbidden_id_answers_as_a_missing_one(
    app: Any, corpus: Corpus, login: Callable[[str], TestClient], user: str
) -> None:
    client = login(user)
    readable = set(corpus.readable(user))
    hidden = sorted({s.obj["id"] for s in corpus.stored} - readable)
    assert len(hidden) > 5
    routes = [r.path for r in ui_routes(app) if "{object_id}" in r.path and "GET" in (r.methods or set())]
    main = corpus.collections["main"].id

    def get(path: str, oid: str) -> Any:
        url = "/ui" + path.replace("{object_id}", oid).replace("{collection_id}", main)
        return client.get(url + ("?a=1&b=2" if url.endswith("/diff") else ""))

    for path in routes:
        for oid in hidden:
            forbidden, missing = get(path, oid), get(path, MISSING)
            assert forbidden.status_code == missing.status_code, (path, oid)
            assert forbidden.text.replace(oid, "X") == missing.text.replace(MISSING, "X"), (path, oid)
    for oid in hidden[:3]:  # acting on one is refused as for a missing id, before anything is stored
        for action in ("note", "opinion", "sighting", "revoke"):
            data = {"content": "x", "opinion": "agree", "collection": main}
            from tests.web.conftest import post_form

            a = post_form(client, f"/ui/objects/{oid}/{action}", data)
            b = post_form(client, f"/ui/objects/{MISSING}/{action}", data)
            assert (a.status_code, a.text.replace(oid, "X")) == (b.status_code, b.text.replace(MISSING, "X"))
            assert a.status_code == 404


def test_the_sightings_dashboard_counts_only_readable_sightings(
    corpus: Corpus, login: Callable[[str], TestClient]
) -> None:
    target = "ind-green-bravo"
    for user, expected in (("admin", "10"), ("amber", "10"), ("green", "2")):
        # admin and amber: partner-a's 2, partner-b's 3 (AMBER) and 5 (in 'sightings'); never secret's 7
        r = login(user).get("/ui/sightings/", params={"window": "30"})
        row = re.search(r'<tr data-stix-id="[^"]+">.*?</tr>', r.text, re.S)
        assert row is not None and target in row.group(0), user
        counts = re.findall(r'<td class="num">(\d+)</td>', row.group(0))
        assert counts[1] == expected, (user, counts)
