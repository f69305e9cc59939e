"""Tokens (``kzn_<key-id>_<secret>``), the commands that manage them, the limit on failed authentication."""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from kizuna.hub.app import create_app
from kizuna.hub.auth import Authenticator, TokenKey, hash_token, new_token, secret_matches
from kizuna.hub.keys import HubKeys, key_path
from kizuna.hub.models import Org, TokenRecord
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore, schema
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP
from tests.conftest import kizuna_cli
from tests.hub.conftest import BACKENDS, FrozenClock, Hub, hub_on


@pytest.fixture(params=BACKENDS)
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Hub]:
    """The tests on the in-process hub run on both store backends."""
    yield from hub_on(request, tmp_path)


def test_a_token_is_a_key_id_and_a_256_bit_secret() -> None:
    token = new_token()
    prefix, key_id, secret = token.split("_", 2)
    assert prefix == "kzn" and len(key_id) == 16 and int(key_id, 16) >= 0
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    key = hash_token(token)
    assert key.key_id == key_id and secret not in key.secret_hash and len(key.secret_hash) == 64


def test_an_unknown_key_id_does_the_same_compare_as_a_wrong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths call hmac.compare_digest once, on inputs of the same length."""
    import kizuna.hub.auth as auth

    calls: list[tuple[int, int]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    key = hash_token(new_token())
    record = TokenRecord(key.key_id, Org(1, "o", TLP.RED), hash_token(new_token()).secret_hash, False, None)
    assert not secret_matches(None, key) and not secret_matches(record, key)
    assert calls == [(64, 64), (64, 64)]
    assert secret_matches(TokenRecord(key.key_id, Org(1, "o", TLP.RED), key.secret_hash, False, None), key)


def test_token_create_list_and_revoke_one_by_key_id(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    env = {"KIZUNA_DB": str(db)}
    kizuna_cli("hub", "init", env=env)
    kizuna_cli("hub", "org", "add", "uk-ncsc-operations", env=env)
    made = kizuna_cli(
        "hub", "token", "create", "--org", "uk-ncsc-operations",
        "--name", "sensor feed east", "--expires-days", "30", env=env,
    )  # fmt: skip
    first = made.stdout.strip()
    second = kizuna_cli("hub", "token", "create", "--org", "uk-ncsc-operations", env=env).stdout.strip()
    listing = orjson.loads(kizuna_cli("hub", "token", "list", "--json", env=env).stdout)
    assert {t["key_id"] for t in listing} == {hash_token(first).key_id, hash_token(second).key_id}
    by_id = {t["key_id"]: t for t in listing}
    one = by_id[hash_token(first).key_id]
    assert one["name"] == "sensor feed east" and one["org"] == "uk-ncsc-operations" and one["expires"]
    assert one["last_used"] is None
    table = kizuna_cli("hub", "token", "list", env=env).stdout
    assert all(len(line) <= 80 for line in table.splitlines()) and hash_token(first).key_id in table
    for text in (table, orjson.dumps(listing).decode(), made.stderr):
        for t in (first, second):
            assert t.split("_", 2)[2] not in text and hash_token(t).secret_hash not in text
    revoked = kizuna_cli("hub", "token", "revoke", hash_token(first).key_id, env=env)
    assert hash_token(first).key_id in revoked.stderr
    with SQLiteStore.open(db) as store:
        assert store.org_for_token(hash_token(first)) is None
        assert store.org_for_token(hash_token(second)) is not None
    gone = kizuna_cli("hub", "token", "revoke", "0000000000000000", env=env, check=False)
    assert gone.returncode == 2 and len(gone.stderr.strip().splitlines()) == 1
    audit = kizuna_cli("hub", "audit", "list", "--json", "--action", "token.revoke", env=env).stdout
    assert hash_token(first).key_id in audit and first not in audit


def test_an_expired_token_stops_working(hub: Hub) -> None:
    token = new_token()
    expires = int(hub.clock().timestamp() * 1_000_000) + 60_000_000
    hub.store.add_token("reader", hash_token(token), name="short", expires_us=expires)
    headers = {"Authorization": f"Bearer {token}", "Accept": TAXII_MEDIA_TYPE}
    assert hub.client.get("/api/collections/", headers=headers).status_code == 200
    hub.clock.advance(61)
    assert hub.client.get("/api/collections/", headers=headers).status_code == 401


def test_a_first_format_token_keeps_working_after_migration_until_revoked(tmp_path: Path) -> None:
    """A database of schema 2 with a token ``kzn_`` + 43 characters stored as its SHA-256."""
    db = tmp_path / "hub.db"
    HubKeys.create(key_path(db))  # 'hub init' writes the key file beside the database
    legacy = "kzn_" + "A" * 43
    conn = sqlite3.connect(db, isolation_level=None)
    schema.migrate(conn, target=2)
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        [
            ("title", "v2"),
            ("created", "2026-01-01T00:00:00.000000Z"),
            ("hub_id", "h"),
            ("last_date_added", "0"),
        ],
    )
    conn.execute(
        "INSERT INTO orgs (name, ceiling, identity_id, created) VALUES ('old', 3, 'identity--x', 'x')"
    )
    conn.execute(
        "INSERT INTO tokens VALUES (?, 1, '2026-01-01T00:00:00Z')", (hash_token(legacy).secret_hash,)
    )
    conn.close()
    assert [m.version for m in SQLiteStore.migrate(db)] == [m.version for m in schema.MIGRATIONS[2:]]
    with SQLiteStore.open(db) as store:
        [info] = store.list_tokens()
        assert info.legacy and len(info.key_id) == 16 and info.org_name == "old"
        client = TestClient(create_app(HubSettings(), store))
        ok = client.get("/api/collections/", headers={"Authorization": f"Bearer {legacy}"})
        assert ok.status_code == 200
        basic = base64.b64encode(f"old:{legacy}".encode()).decode()
        assert client.get("/api/collections/", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        store.revoke_token(info.key_id)
        assert (
            client.get("/api/collections/", headers={"Authorization": f"Bearer {legacy}"}).status_code == 401
        )


# -- failed authentication --------------------------------------------------------------------------------
def _bad(n: int = 1) -> dict[str, str]:
    return {"Authorization": f"Bearer {new_token()}", "Accept": TAXII_MEDIA_TYPE}


def test_the_11th_failure_is_429_and_a_good_token_elsewhere_is_unaffected(hub: Hub) -> None:
    attacker = TestClient(hub.client.app, base_url="http://127.0.0.1", client=("203.0.113.9", 5000))
    statuses = [attacker.get("/api/collections/", headers=_bad()).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]
    r = attacker.get("/api/collections/", headers=_bad())
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.headers["content-type"] == TAXII_MEDIA_TYPE and r.json()["http_status"] == "429"
    # the web login from the same address is refused the same way, with a page
    page = attacker.post("/ui/login", data={"token": "kzn_wrong"})
    assert page.status_code == 429 and "Too many failed sign-ins" in page.text and page.headers["retry-after"]
    # a correct token from another address is unaffected
    assert hub.client.get("/api/collections/", headers=hub.headers("reader")).status_code == 200
    # every failure is audited with its source and key id
    fails = [orjson.loads(r.detail) for r in hub.store.audit_records() if r.action == "auth.fail"]
    assert len(fails) == 10 and all(f["source"] == "203.0.113.9" and len(f["key_id"]) == 16 for f in fails)
    # after the window the source may try again
    hub.clock.advance(301)
    assert attacker.get("/api/collections/", headers=_bad()).status_code == 401


def test_web_login_failures_count_like_api_failures(hub: Hub) -> None:
    browser = TestClient(hub.client.app, base_url="http://127.0.0.1", client=("198.51.100.7", 5000))
    codes = [browser.post("/ui/login", data={"token": f"kzn_guess{i}"}).status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    assert browser.get("/api/collections/", headers=hub.headers("reader")).status_code == 429


def test_failures_on_one_key_id_from_many_addresses_are_429_but_its_owner_gets_in(hub: Hub) -> None:
    token = new_token()
    hub.store.add_token("reader", hash_token(token))
    key_id = hash_token(token).key_id
    wrong = f"kzn_{key_id}_{'x' * 43}"
    codes = []
    for i in range(11):
        c = TestClient(hub.client.app, base_url="http://127.0.0.1", client=(f"192.0.2.{i}", 5000))
        codes.append(c.get("/api/", headers={"Authorization": f"Bearer {wrong}"}).status_code)
    assert codes == [401] * 10 + [429]
    assert hub.client.get("/api/", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_counter_is_shared_between_two_workers(tmp_path: Path) -> None:
    """Two apps (two workers) over one database file: failures at either count at both."""
    db = tmp_path / "hub.db"
    clock = FrozenClock(datetime(2026, 2, 1, tzinfo=UTC))
    SQLiteStore.create(db, durable=False, clock=clock).close()
    one, two = SQLiteStore.open(db, clock=clock), SQLiteStore.open(db, clock=clock)
    try:
        a = TestClient(create_app(HubSettings(), one, clock=clock), client=("203.0.113.1", 1))
        b = TestClient(create_app(HubSettings(), two, clock=clock), client=("203.0.113.1", 2))
        codes = [(a if i % 2 else b).get("/taxii2/", headers=_bad()).status_code for i in range(11)]
        assert codes == [401] * 10 + [429]
        assert (
            Authenticator(one, clock).store.count_auth_failures(["addr:203.0.113.1"], 0)["addr:203.0.113.1"][
                0
            ]
            == 10
        )
    finally:
        one.close()
        two.close()


def test_a_spray_across_many_names_meets_the_hub_wide_ceiling(hub: Hub) -> None:
    from dataclasses import replace

    from kizuna.hub.auth import AuthLimits

    app = create_app(
        replace(hub.settings, auth_limits=AuthLimits(global_failures=5)), hub.store, clock=hub.clock
    )
    codes = []
    for i in range(7):
        c = TestClient(app, base_url="http://127.0.0.1", client=(f"192.0.2.{i}", 5000))
        codes.append(c.get("/api/", headers=_bad()).status_code)
    assert codes == [401] * 5 + [429] * 2
    assert hub.client.get("/api/", headers=hub.headers("reader")).status_code == 200
    # past the ceiling nothing more is written
    assert sum(1 for r in hub.store.audit_records() if r.action == "auth.fail") == 5


def test_store_keys_round_trip(hub: Hub) -> None:
    key = TokenKey("fedcba9876543210", "a" * 64)
    info = hub.store.add_token("reader", key, name="n")
    assert info.key_id == key.key_id and not info.legacy
    record = hub.store.token_record(key)
    assert record is not None and record.org.name == "reader"
