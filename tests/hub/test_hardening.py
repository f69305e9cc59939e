"""Issue 14's findings, one test each: no 500, no poison pill, numbers kept or refused, limits, files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.federation.sync import Syncer
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix import ijson
from kizuna.stix.markings import TLP
from tests.conftest import kizuna_cli
from tests.hub.conftest import BACKENDS, Hub, Place, hub_on, indicator, new_place

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


@pytest.fixture(params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """The in-process hub, on each backend."""
    yield from hub_on(request, tmp_path)


def custom(oid_tail: str = "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", **props: Any) -> dict[str, Any]:
    base = {
        "type": "x-test",
        "spec_version": "2.1",
        "id": f"x-test--{oid_tail}",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "object_marking_refs": [GREEN],
    }
    return {**base, **props}


def with_deep(obj: dict[str, Any], levels: int) -> bytes:
    """``obj`` with a property nested ``levels`` arrays deep, as JSON text (orjson cannot write it)."""
    return orjson.dumps(obj)[:-1] + b',"x_deep":' + b"[" * levels + b"]" * levels + b"}"


def envelope_with(bad: bytes, good: dict[str, Any]) -> bytes:
    return b'{"objects":[' + orjson.dumps(good) + b"," + bad + b"]}"


def post_raw(hub: Hub, body: bytes) -> Any:
    return hub.client.post(
        hub.url("objects/"),
        content=body,
        headers=hub.headers("producer", **{"Content-Type": TAXII_MEDIA_TYPE}),
    )


def stored_ids(hub: Hub) -> set[str]:
    r = hub.client.get(hub.url("objects/"), headers=hub.headers("producer"))
    return {o["id"] for o in r.json().get("objects", [])}


BAD_OBJECTS = {
    "nested 300 deep": with_deep(custom("1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), 300),
    "nested 1000 deep": with_deep(custom("2e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"), 1000),
    "year 0": orjson.dumps(
        custom(
            "3e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            created="0000-01-01T00:00:00.000Z",
            modified="0000-01-01T00:00:00.000Z",
        )
    ),
    "2**64+1": orjson.dumps(custom("4e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"))[:-1]
    + b',"x_n":18446744073709551617}',
    "2**53": orjson.dumps(custom("5e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", x_n=2**53)),
    "-(2**63)-1": orjson.dumps(custom("6e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"))[:-1]
    + b',"x_n":-9223372036854775809}',
    "long string": orjson.dumps(custom("7e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", x_s="a" * 2000)),
}


@pytest.mark.parametrize("name", sorted(BAD_OBJECTS))
def test_a_bad_object_is_refused_alone_and_its_sibling_stored(hub: Hub, name: str) -> None:
    from dataclasses import replace

    from kizuna.stix.ijson import ObjectLimits

    if name == "long string":  # the string limit is a setting: a small one here keeps the test lean
        from kizuna.hub.app import create_app

        settings_ = replace(hub.settings, object_limits=ObjectLimits(max_string_chars=1000))
        from starlette.testclient import TestClient

        hub.client = TestClient(
            create_app(settings_, hub.store, clock=hub.clock), base_url="http://127.0.0.1"
        )
    good = indicator(tlp_ref=GREEN)
    r = post_raw(hub, envelope_with(BAD_OBJECTS[name], good))
    assert r.status_code == 202, r.text
    status = r.json()
    assert status["success_count"] == 1 and status["failure_count"] == 1
    [failure] = status["failures"]
    assert failure["message"], failure
    assert stored_ids(hub) == {good["id"]}
    assert "Recursion" not in failure["message"]  # a reason a person can act on


def test_big_integers_are_never_rounded(hub: Hub) -> None:
    """Integers within I-JSON's range are stored exactly; beyond it they are refused, never rounded."""
    edge = custom(x_max=2**53 - 1, x_min=-(2**53 - 1))
    r = post_raw(hub, b'{"objects":[' + orjson.dumps(edge) + b"]}")
    assert r.json()["success_count"] == 1
    [obj] = hub.client.get(hub.url("objects/"), headers=hub.headers("producer")).json()["objects"]
    assert obj["x_max"] == 2**53 - 1 and obj["x_min"] == -(2**53 - 1)
    raw = hub.client.get(hub.url("objects/"), headers=hub.headers("producer")).content
    assert b"e+" not in raw and b"1.8446744073709552" not in raw


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=40,
    ),
    st.integers(min_value=2, max_value=12),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=1, max_value=60),
)
def test_the_fast_limit_check_agrees_with_the_plain_walk(
    value: Any, depth: int, members: int, chars: int
) -> None:
    limits = ijson.ObjectLimits(max_depth=depth, max_members=members, max_string_chars=chars)
    try:
        raw = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raw = None
    assert (ijson.limit_error(value, raw, limits) is None) == (ijson.walk_limit_error(value, limits) is None)


def test_exact_reader_keeps_integers_of_any_size() -> None:
    assert ijson.loads(b'{"a": 18446744073709551617, "b": 1.5}') == {"a": 2**64 + 1, "b": 1.5}
    assert ijson.loads(b'{"a": "18446744073709551617"}') == {"a": "18446744073709551617"}
    with pytest.raises(ValueError):
        ijson.loads(b'{"a": NaN, "b": 12345678901234567890123}')


_DIGIT_RUNS = st.text(alphabet="0123456789abcdef- ", max_size=70)  # hashes, ids, numbers inside strings


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(10**18, 10**40).map(lambda n: n * -1)
        | _DIGIT_RUNS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_DIGIT_RUNS, inner, max_size=4),
        max_leaves=30,
    ),
    st.sampled_from([None, 0, 2]),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
)
def test_the_exact_reader_keeps_every_integer_whatever_the_text_around_it(
    value: Any, indent: int | None, separators: tuple[str, str]
) -> None:
    """Long runs of digits inside strings (hashes) take the fast path; a number of any size, after any
    separator or white space, or standing alone, comes back exact."""
    import json

    text = json.dumps(value, indent=indent, separators=separators)
    for data in (text, "  " + text):
        parsed = ijson.loads(data.encode())
        assert parsed == value
        assert json.dumps(parsed) == json.dumps(value)  # no int turned float


# -- request limits -----------------------------------------------------------------------------------
def test_an_envelope_with_too_many_objects_is_413_and_stores_nothing(hub: Hub) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from kizuna.hub.app import create_app

    app = create_app(replace(hub.settings, max_objects_per_envelope=3), hub.store, clock=hub.clock)
    client = TestClient(app, base_url="http://127.0.0.1")
    before = hub.store.table_counts()
    objs = [indicator(tlp_ref=GREEN) for _ in range(4)]
    r = client.post(
        hub.url("objects/"),
        content=orjson.dumps({"objects": objs}),
        headers=hub.headers("producer", **{"Content-Type": TAXII_MEDIA_TYPE}),
    )
    assert r.status_code == 413 and r.headers["content-type"] == TAXII_MEDIA_TYPE
    assert r.json()["http_status"] == "413" and r.json()["error_id"] == r.headers["x-request-id"]
    assert hub.store.table_counts() == before


def test_a_body_beyond_max_content_length_is_413_before_it_is_read(hub: Hub) -> None:
    body = b'{"objects":[' + b" " * (hub.settings.max_content_length + 10) + b"]}"
    r = post_raw(hub, body)
    assert r.status_code == 413 and r.json()["title"] == "request too large"


# -- cursors beyond 64 bits ------------------------------------------------------------------------------
def test_a_next_cursor_beyond_64_bits_is_400_on_taxii_and_the_web_ui(hub: Hub) -> None:
    import base64

    forged = base64.urlsafe_b64encode((2**70).to_bytes(9, "big") + b"\0" * 40).decode().rstrip("=")
    for path in ("objects/", "manifest/"):
        r = hub.client.get(hub.url(path) + f"?next={forged}", headers=hub.headers("producer"))
        assert r.status_code == 400 and r.headers["content-type"] == TAXII_MEDIA_TYPE
    r = hub.client.post("/ui/login", data={"token": hub.tokens["producer"]}, follow_redirects=False)
    assert r.status_code == 303
    r = hub.client.get(f"/ui/collections/{hub.collection_id}?page={forged}")
    assert r.status_code == 400 and "page link is not one the hub made" in r.text


# -- the login redirect ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    ["/ui/../../evil", "/ui/%2e%2e/%2e%2e/evil", "/ui/./../x", "//evil.example/ui/", "https://evil/ui/"],
)
def test_login_never_redirects_out_of_the_ui(hub: Hub, target: str) -> None:
    r = hub.client.post(
        "/ui/login", data={"token": hub.tokens["reader"], "next": target}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


def test_login_keeps_a_safe_destination(hub: Hub) -> None:
    target = f"/ui/collections/{hub.collection_id}?type=indicator"
    r = hub.client.post(
        "/ui/login", data={"token": hub.tokens["reader"], "next": target}, follow_redirects=False
    )
    assert r.headers["location"] == target


# -- credentials in URLs, request ids, health, metrics ------------------------------------------------------
@pytest.mark.parametrize("query", ["token=abc", "api_key=x", "x=kzn_0123456789abcdef_aaaa", "next=kzn_zz"])
def test_credentials_in_a_query_string_are_refused(hub: Hub, query: str) -> None:
    for path in ("/taxii2/", hub.url("objects/"), "/ui/"):
        r = hub.client.get(f"{path}?{query}", headers=hub.headers("producer"))
        assert r.status_code == 400 and r.json()["title"] == "credentials in the URL"
        assert "kzn_" not in r.text


def test_every_error_body_carries_the_request_id(hub: Hub) -> None:
    r = hub.client.get(hub.url("objects/"), headers={"Accept": TAXII_MEDIA_TYPE})
    assert r.status_code == 401 and r.json()["error_id"] == r.headers["x-request-id"]
    r = hub.client.get("/api/nowhere/", headers=hub.headers("producer"))
    assert r.status_code == 404 and r.json()["error_id"] == r.headers["x-request-id"]


def test_healthz_needs_no_credentials_and_says_only_ok(hub: Hub) -> None:
    r = hub.client.get("/healthz")
    assert r.status_code == 200 and r.text == "ok\n"


def test_healthz_is_503_when_the_store_does_not_answer(hub: Hub) -> None:
    from starlette.testclient import TestClient

    from kizuna.hub.app import create_app

    class Down:
        def __getattr__(self, name: str) -> Any:
            return getattr(hub.store, name)

        def hub_id(self) -> str:
            raise OSError("disk gone")

    client = TestClient(create_app(hub.settings, Down(), clock=hub.clock))  # type: ignore[arg-type]
    r = client.get("/healthz")
    assert r.status_code == 503 and "disk" not in r.text


def test_metrics_are_off_by_default_and_need_their_token(hub: Hub) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from kizuna.hub.app import create_app

    assert hub.client.get("/metrics").status_code == 404
    app = create_app(replace(hub.settings, metrics_token="m" * 40), hub.store, clock=hub.clock)
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/metrics").status_code == 401
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer " + hub.tokens["producer"]}).status_code
        == 401
    )
    client.post(
        hub.url("objects/"),
        content=envelope_with(BAD_OBJECTS["year 0"], indicator(tlp_ref=GREEN)),
        headers=hub.headers("producer", **{"Content-Type": TAXII_MEDIA_TYPE}),
    )
    peer = hub.store.add_peer("p", url="http://127.0.0.1:9/api/", user=None, secret=b"x", max_tlp=TLP.GREEN)
    hub.store.record_sync(peer.id, None, None)
    hub.clock.advance(90)
    r = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 40})
    assert 'kizuna_sync_lag_seconds{peer="p"} 90.0' in r.text
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'kizuna_http_requests_total{method="POST",route="objects",status="202"} 1.0' in text
    assert "kizuna_objects_stored_total 1.0" in text
    assert 'kizuna_objects_refused_total{kind="invalid"} 1.0' in text
    assert "kizuna_http_request_seconds_bucket" in text and "kzn_" not in text


def test_hsts_only_with_tls(hub: Hub) -> None:
    from dataclasses import replace

    from starlette.testclient import TestClient

    from kizuna.hub.app import create_app

    assert "strict-transport-security" not in hub.client.get("/healthz").headers
    client = TestClient(create_app(replace(hub.settings, hsts=True), hub.store, clock=hub.clock))
    assert client.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


# -- files -------------------------------------------------------------------------------------------------
def _umask_022_init(tmp_path: Path, place: Place | None = None) -> Path | str:
    """``kizuna hub init`` under umask 022: a SQLite file in ``tmp_path``, or the hub at ``place`` (on
    PostgreSQL its key and audit checkpoint files land in ``tmp_path``); returns the ``--db`` value."""
    db: Path | str = tmp_path / "hub.db" if place is None else place.db
    code = (
        "import os, sys; os.umask(0o022); from kizuna.cli import main; "
        f"sys.argv = ['kizuna', 'hub', 'init', '--db', {str(db)!r}]; main()"
    )
    env = {**os.environ, **(place.env if place is not None else {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    return db


@pytest.mark.parametrize("backend", BACKENDS)
def test_hub_init_files_are_private_under_umask_022(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """The SQLite file and what lies beside it; on PostgreSQL the key and audit checkpoint files."""
    place = new_place(request, backend, tmp_path / "hub")
    (tmp_path / "hub").mkdir()
    db = _umask_022_init(tmp_path / "hub", place)
    made = sorted(p for p in (tmp_path / "hub").iterdir())
    assert made, "nothing created"
    if place.postgres:
        assert {p.name for p in made} >= {"hub.key", "hub.audit"}
    for p in made:
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, f"{p.name} is {oct(p.stat().st_mode)}"
    out = tmp_path / "t.token"
    old = os.umask(0o022)
    try:
        kizuna_cli("hub", "org", "add", "a", "--db", str(db), env=place.env)
        kizuna_cli("hub", "token", "create", "--db", str(db), "--org", "a", "--out", str(out), env=place.env)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.read_text().startswith("kzn_")


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    db = _umask_022_init(tmp_path)
    token_file = tmp_path / "peer.token"
    token_file.write_text("secret\n")
    token_file.chmod(0o644)
    proc = kizuna_cli(
        "hub", "peer", "add", "p", "--db", str(db), "--url", "http://127.0.0.1:9/api/",
        "--token-file", str(token_file), check=False,
    )  # fmt: skip
    assert proc.returncode == 2 and "chmod 600" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# -- a poisoned page from a partner -------------------------------------------------------------------------
@pytest.fixture
def poison_partner() -> Iterator[tuple[str, list[str]]]:
    """A fake partner on 127.0.0.1 whose collection holds one good object and three it cannot be sent."""
    good = indicator(tlp_ref=GREEN)
    page = envelope_with(
        BAD_OBJECTS["nested 300 deep"] + b"," + BAD_OBJECTS["year 0"] + b"," + BAD_OBJECTS["2**64+1"], good
    )
    page = page[:-1] + b',"more":false}'
    asked: list[str] = []

    class Partner(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", TAXII_MEDIA_TYPE)
            if "added_after" in self.path:  # nothing after the page's objects
                self.end_headers()
                self.wfile.write(b'{"more":false}')
                return
            self.send_header("X-TAXII-Date-Added-First", "2026-02-01T00:00:00.000001Z")
            self.send_header("X-TAXII-Date-Added-Last", "2026-02-01T00:00:00.000004Z")
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Partner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/", [good["id"], *asked]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_poisoned_pull_page_stores_the_rest_and_moves_on(
    tmp_path: Path, poison_partner: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    url, info = poison_partner
    good_id = info[0]
    place = new_place(request, backend, tmp_path)
    db = place.db
    with place.create() as s:
        s.add_org("analyst", ceiling=TLP.GREEN)
        s.add_token("analyst", hash_token(new_token()))
        c = s.add_collection("in", readers=["analyst"], default_tlp=TLP.GREEN)
        s.add_peer(
            "partner", url=url, user=None, secret=s.keys.seal("x"), max_tlp=TLP.GREEN, pulls=[("r", c.id)]
        )
        for _ in range(2):  # the second pass starts after the page: the bad objects stop nothing
            [result] = Syncer(s, s.keys, retries=1, backoff_s=0.01).run_once()
            assert result.ok, result.summary()
        [flow] = s.get_peer("partner").flows
        assert flow.cursor is not None and flow.cursor.complete and flow.refused == 3
        assert {i for i, _ in flow.last_refusals} == {
            "x-test--1e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "x-test--3e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "x-test--4e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        }
        audited = [r for r in s.audit_records() if r.action == "objects.receive"]
        detail = orjson.loads(audited[0].detail)
        assert audited[0].actor == "peer:partner" and len(detail["refused"]) == 3
        assert all(x["reason"] for x in detail["refused"])
        assert [a[1] for a in detail["added"]] == ["2026-01-01T00:00:00.000Z"] and detail["added"][0][
            0
        ] == good_id
    listing = orjson.loads(kizuna_cli("hub", "peer", "list", "--db", db, "--json", env=place.env).stdout)
    refusals = listing[0]["flows"][0]["last_refusals"]
    assert len(refusals) == 3 and all(r["reason"] for r in refusals)
    table = kizuna_cli("hub", "peer", "list", "--db", db, env=place.env).stdout
    assert "3" in table


# -- logs ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer kzn_0123456789abcdef_" + "s" * 43, "s" * 43),
        ("token kzn_" + "L" * 43 + " used", "L" * 43),
        ("headers {'authorization': 'Basic dXNlcjpwYXNz'}", "dXNlcjpwYXNz"),
        ("cookie kizuna_session=abcDEF123456789_-xyz; path=/ui", "abcDEF123456789_-xyz"),
        ("postgresql://kizuna:hunter2-long@db.example:5432/hub", "hunter2-long"),
        ("GET http://admin:Pa55word@127.0.0.1:9/api/ failed", "Pa55word"),
        ("password=opensesame&x=1", "opensesame"),
    ],
)
def test_the_redaction_filter_removes_each_secret_shape(line: str, secret: str) -> None:
    from kizuna.hub.logs import redact

    assert secret not in redact(line)


def test_json_log_lines_carry_the_request_id_and_no_secret(hub: Hub) -> None:
    import io
    import logging

    from kizuna.hub import logs

    stream = io.StringIO()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    handler = logs.configure("json", "debug", stream)
    try:
        r = hub.client.get(
            "/api/collections/", headers={"Authorization": "Bearer " + hub.tokens["reader"][:-1]}
        )
        assert r.status_code == 401
        logging.getLogger("kizuna.test").info("echo %s", hub.tokens["reader"])
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        for h in handlers:
            root.addHandler(h)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    http = [line for line in lines if line["logger"] == "kizuna.http"]
    assert http and http[0]["request_id"] == r.headers["x-request-id"] == r.json()["error_id"]
    assert any(line["logger"] == "kizuna.auth" for line in lines)
    assert hub.tokens["reader"].split("_", 2)[2][:-1] not in stream.getvalue()


# -- serve: TLS and proxies -------------------------------------------------------------------------------
LOOPBACK = "127.0.0.1"


def _cert(tmp_path: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.mark.parametrize(
    "extra",
    [
        ["--host", "0.0.0.0"],
        ["--host", "192.0.2.10", "--behind-proxy"],
        ["--host", "127.0.0.1", "--tls-cert", "/nonexistent/c.pem"],
        ["--metrics"],
        ["--log-format", "xml"],
    ],
)
def test_serve_refuses_unsafe_or_incomplete_options(tmp_path: Path, extra: list[str]) -> None:
    db = _umask_022_init(tmp_path)
    proc = kizuna_cli("hub", "serve", "--db", str(db), *extra, check=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_serve_with_tls_sends_hsts(tmp_path: Path) -> None:
    import httpx

    from tests.conftest import free_port

    db = _umask_022_init(tmp_path)
    kizuna_cli("hub", "org", "add", "a", "--db", str(db))
    kizuna_cli("hub", "token", "create", "--db", str(db), "--org", "a")
    cert, key = _cert(tmp_path)
    port = free_port()
    cmd = [sys.executable, "-m", "kizuna", "hub", "serve", "--db", str(db), "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--tls-cert", str(cert), "--tls-key", str(key)], stderr=subprocess.DEVNULL)
    try:
        import ssl
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                ctx = ssl.create_default_context(cafile=str(cert))
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=ctx, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in r.headers
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_behind_a_trusted_proxy_the_clients_address_and_scheme_count(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """X-Forwarded-For/-Proto from the trusted proxy: the client's address is rate-limited (the failure
    counters live in the database), HSTS for HTTPS; from anyone else the same headers are ignored."""
    import httpx

    from tests.conftest import free_port, start_hub_process

    place = new_place(request, backend, tmp_path)
    db = _umask_022_init(tmp_path, place)
    kizuna_cli("hub", "org", "add", "a", "--db", str(db), env=place.env)
    good = kizuna_cli("hub", "token", "create", "--db", str(db), "--org", "a", env=place.env).stdout.strip()
    port = free_port()
    proc = start_hub_process(
        db, port, "--behind-proxy", "--trusted-proxy", LOOPBACK, env=place.env, log_path=tmp_path / "hub.log"
    )
    try:
        url = f"http://{LOOPBACK}:{port}/taxii2/"
        bad = {"Authorization": f"Bearer {new_token()}", "X-Forwarded-For": "203.0.113.5"}
        codes = [httpx.get(url, headers=bad, timeout=10).status_code for _ in range(11)]
        assert codes == [401] * 10 + [429]
        other = {
            "Authorization": f"Bearer {good}",
            "X-Forwarded-For": "203.0.113.6",
            "X-Forwarded-Proto": "https",
        }
        r = httpx.get(url, headers=other, timeout=10)
        assert r.status_code == 200 and r.headers["strict-transport-security"].startswith("max-age=")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    with place.open() as store:
        fails = [orjson.loads(r.detail) for r in store.audit_records() if r.action == "auth.fail"]
    assert {f["source"] for f in fails} == {"203.0.113.5"}


def test_forwarded_headers_from_an_untrusted_address_are_ignored(hub: Hub) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    r = hub.client.get("/api/", headers={**hub.headers("reader"), **headers})
    assert r.status_code == 200 and "strict-transport-security" not in r.headers
    hub.client.get("/api/", headers={"Authorization": f"Bearer {new_token()}", **headers})
    [fail] = [orjson.loads(r.detail) for r in hub.store.audit_records() if r.action == "auth.fail"]
    assert fail["source"] != "203.0.113.7"
