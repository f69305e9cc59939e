"""A bounded fuzz of the web UI's forms and query parameters (issue 14): no 500, no stack trace, no
redirect out of the UI, no token echoed back, and every object a page shows readable by who is logged in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.auth import AuthLimits
from kizuna.hub.settings import HubSettings
from tests.hub import fuzz

SEED = fuzz.SEED
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
_LEAK = re.compile(r"Traceback|File \"|sqlite|SELECT |/tmp/|site-packages")

paths = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["/ui/", "/ui/../../evil", "/ui/%2e%2e/x", "//evil/", "/ui//x", "/ui/\\evil", "/ui/./x"]),
    st.builds(lambda a, b: f"/ui/{a}/{b}", st.text(max_size=10), st.text(max_size=10)),
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[fuzz.FuzzHub, TestClient]]:
    hub = fuzz.make_hub(tmp_path_factory.mktemp("webfuzz"))
    store = hub.place.open()
    limits = AuthLimits(failures=10**9, global_failures=10**9)
    client = TestClient(create_app(HubSettings(auth_limits=limits), store), base_url="http://127.0.0.1")
    try:
        yield hub, client
    finally:
        client.close()
        store.close()


def _safe_location(location: str) -> bool:
    route = unquote(location.split("?", 1)[0])
    return (
        location.startswith("/ui/")
        and "//" not in route
        and "\\" not in route
        and not any(part in (".", "..") for part in route.split("/"))
    )


@seed(SEED)
@FUZZ
@given(
    token=st.one_of(st.text(max_size=60), st.sampled_from(["", "kzn_", "real"])),
    next_path=paths,
    ctype=st.sampled_from(["application/x-www-form-urlencoded", "text/plain", "multipart/form-data", ""]),
    site=st.sampled_from([None, "same-origin", "cross-site", "none"]),
)
def test_login_form(
    web: tuple[fuzz.FuzzHub, TestClient], token: str, next_path: str, ctype: str, site: str | None
) -> None:
    hub, client = web
    if token == "real":
        token = hub.tokens["jp-nisc"]
    from urllib.parse import urlencode

    headers = {"Content-Type": ctype} if ctype else {}
    if site:
        headers["Sec-Fetch-Site"] = site
    client.cookies.clear()
    r = client.post(
        "/ui/login",
        content=urlencode({"token": token, "next": next_path}),
        headers=headers,
        follow_redirects=False,
    )
    assert r.status_code in (303, 400, 401, 403, 413, 415), (r.status_code, r.text[:200])
    assert not _LEAK.search(r.text)
    if len(token) > 8:
        assert token not in r.text  # a submitted token is never echoed back
    if r.status_code == 303:
        assert _safe_location(r.headers["location"]), r.headers["location"]
        assert token == hub.tokens["jp-nisc"]


@seed(SEED)
@FUZZ
@given(
    collection=st.sampled_from(["shared", "private", "nope", "%00", "../api"]),
    types=st.lists(st.text(max_size=20), max_size=3),
    after=st.one_of(st.none(), st.text(max_size=60), st.just("A" * 100)),
    object_id=st.one_of(
        st.text(min_size=1, max_size=40), st.sampled_from(["indicator--00000005-0000-4000-8000-000000000000"])
    ),
)
def test_pages_and_their_parameters(
    web: tuple[fuzz.FuzzHub, TestClient], collection: str, types: list[str], after: str | None, object_id: str
) -> None:
    hub, client = web
    client.cookies.clear()
    r = client.post("/ui/login", data={"token": hub.tokens["water-op"]}, follow_redirects=False)
    assert r.status_code == 303
    params: dict[str, object] = {"type": types}
    if after is not None:
        params["after"] = after
    for url, kwargs in (
        (f"/ui/collections/{quote(collection, safe='')}", {"params": params}),
        (f"/ui/collections/{quote(collection, safe='')}/objects/{quote(object_id, safe='')}", {}),
    ):
        page = client.get(url, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
        assert page.status_code in (200, 400, 403, 404, 405), (url, page.status_code)
        assert not _LEAK.search(page.text)
        shown = set(re.findall(r"indicator--[0-9a-f-]{36}", page.text))
        if page.status_code != 200:
            shown.discard(object_id)  # a refusal may name what was asked for
        for oid in shown:
            assert fuzz._may_read(hub.place, "water-op", collection, oid, None), (url, oid)


def test_the_login_check_fails_on_an_unsafe_redirect() -> None:
    assert not _safe_location("/ui/../../evil") and not _safe_location("//evil") and _safe_location("/ui/x")
