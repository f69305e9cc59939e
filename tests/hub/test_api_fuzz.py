"""The OpenAPI description against the router, and bounded API fuzzing with Schemathesis (see fuzz.py).

CI runs a small fuzz (in process, and once against a real ``kizuna hub serve``); the larger run (200
examples per operation, 5 minutes at most, in process and against a real server) is
``KIZUNA_FUZZ=1 python -m pytest tests/hub/test_api_fuzz.py -m fuzz`` (docs/threat-model.md).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson
import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.auth import AuthLimits
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.taxii.routes import TaxiiApi
from tests.conftest import free_port, start_hub_process
from tests.hub import fuzz
from tests.hub.conftest import BACKENDS, Place, new_place

SPEC = Path(fuzz.__file__).resolve().parents[2] / "kizuna" / "hub" / "taxii" / "openapi.json"
LARGE = pytest.mark.skipif(not os.environ.get("KIZUNA_FUZZ"), reason="the larger fuzz run: set KIZUNA_FUZZ=1")


def _router_routes() -> set[tuple[str, str]]:
    from kizuna.hub.paging import CursorCodec

    api = TaxiiApi(HubSettings(), None, clock=None, new_id=None, cursors=CursorCodec(b"k" * 32), auth=None)  # type: ignore[arg-type]
    out = set()
    for r in api.routes():
        assert isinstance(r, Route)
        for m in r.methods or ():
            if m != "HEAD":
                out.add((m.lower(), r.path))
    return out


def test_every_route_is_described_and_every_described_route_exists() -> None:
    spec = orjson.loads(SPEC.read_bytes())
    described = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert described == _router_routes()
    assert spec["openapi"].startswith("3.1")
    for p, ops in spec["paths"].items():
        for m, op in ops.items():
            for code, resp in op["responses"].items():
                if code[0] in "45":
                    schema = resp["content"]["application/taxii+json;version=2.1"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/error"}, (m, p, code)
    params = {v["name"] for v in spec["components"]["parameters"].values()}
    assert {"added_after", "limit", "next", "match[id]", "match[type]", "match[version]"} <= params
    assert set(spec["components"]["securitySchemes"]) == {"basicAuth", "bearerAuth"}


def test_the_description_is_served_under_the_api_root(tmp_path: Path) -> None:
    with SQLiteStore.create(tmp_path / "h.db", durable=False) as store:
        client = TestClient(create_app(HubSettings(api_root="taxii/v1"), store))
        r = client.get("/openapi/taxii.json")
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        paths = set(r.json()["paths"])
        assert "/taxii/v1/collections/" in paths and not any(re.match(r"^/api/", p) for p in paths)


def _in_process(tmp_path: Path, examples: int, budget_s: float, place: Place | None = None) -> dict[str, int]:
    hub = fuzz.make_hub(tmp_path, place)
    with hub.place.open() as store:
        # bad credentials are among those tried: let them fail as often as they like, or every later
        # request from the test client's address would be answered 429 (the limit has its own tests)
        app = create_app(HubSettings(auth_limits=AuthLimits(failures=10**9, global_failures=10**9)), store)
        schema = fuzz.asgi_schema(app)
        return fuzz.fuzz(
            schema, hub, examples=examples, budget_s=budget_s, call=lambda c, h: c.call(headers=h)
        )


def _real_server(
    tmp_path: Path, examples: int, budget_s: float, place: Place | None = None
) -> dict[str, int]:
    hub = fuzz.make_hub(tmp_path, place)
    port = free_port()
    proc = start_hub_process(
        hub.place.db, port, "--auth-failures", "1000000000", env=hub.place.env, log_path=tmp_path / "hub.log"
    )
    base = f"http://127.0.0.1:{port}"
    try:
        schema = fuzz.url_schema(base)
        return fuzz.fuzz(
            schema,
            hub,
            examples=examples,
            budget_s=budget_s,
            call=lambda c, h: c.call(base_url=base, headers=h),
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fuzz_in_process_small(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    made = _in_process(tmp_path, examples=25, budget_s=60, place=new_place(request, backend, tmp_path))
    ops = {k: v for k, v in made.items() if not k.startswith("status")}
    assert len(ops) >= 11 and all(n > 0 for n in ops.values()), made
    assert made.get("status 200", 0) > 50 and "status 429" not in made, made


@pytest.mark.parametrize("backend", BACKENDS)
def test_fuzz_a_real_server_small(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    made = _real_server(tmp_path, examples=8, budget_s=60, place=new_place(request, backend, tmp_path))
    ops = {k: v for k, v in made.items() if not k.startswith("status")}
    assert len(ops) >= 11 and all(n > 0 for n in ops.values()), made
    assert made.get("status 200", 0) > 5 and "status 429" not in made, made


@pytest.mark.fuzz
@LARGE
def test_fuzz_in_process_large(tmp_path: Path) -> None:
    made = _in_process(tmp_path, examples=200, budget_s=150)
    requests = sum(v for k, v in made.items() if not k.startswith("status"))
    print(f"seed {fuzz.SEED}: {requests} requests", {k: v for k, v in made.items() if k.startswith("status")})


@pytest.mark.fuzz
@LARGE
def test_fuzz_a_real_server_large(tmp_path: Path) -> None:
    made = _real_server(tmp_path, examples=200, budget_s=150)
    requests = sum(v for k, v in made.items() if not k.startswith("status"))
    print(f"seed {fuzz.SEED}: {requests} requests", {k: v for k, v in made.items() if k.startswith("status")})


def test_the_checks_fail_on_a_leak_a_500_and_an_html_error(tmp_path: Path) -> None:
    """The custom checks can fail: a RED object in a GREEN reader's page, a 500, a non-TAXII error body."""
    from types import SimpleNamespace

    hub = fuzz.make_hub(tmp_path)
    red = {"id": "indicator--00000005-0000-4000-8000-000000000000", "modified": "2026-01-01T00:00:00.000Z"}
    case = SimpleNamespace(
        method="GET",
        formatted_path="/api/collections/shared/objects/",
        query={},
        path_parameters={"collection_id": "shared"},
    )

    def response(status: int, body: bytes, ctype: str = "application/taxii+json;version=2.1") -> object:
        return SimpleNamespace(status_code=status, content=body, headers={"content-type": [ctype]})

    leak = response(200, orjson.dumps({"objects": [red]}))
    fuzz.kizuna_checks(hub, "uk-ncsc", case, leak)  # the producer may read it
    for org, resp in (
        ("water-op", leak),
        ("uk-ncsc", response(500, b'{"title":"x","http_status":"500"}')),
        ("uk-ncsc", response(404, b"<html>not found</html>", "text/html")),
        (
            "uk-ncsc",
            response(400, b'{"title":"x","http_status":"400","description":"SELECT * FROM objects"}'),
        ),
    ):
        with pytest.raises(AssertionError):
            fuzz.kizuna_checks(hub, org, case, resp)
