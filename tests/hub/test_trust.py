"""The sharing contract holds against partners, not only against outsiders (issue 13).

Each test is one finding of the issue, tried on real ``kizuna hub serve`` processes on 127.0.0.1 with the
tokens an ordinary partner organisation holds. Federation findings run two hubs and ``kizuna hub sync``.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.markings import TLP, TLP2_EXTENSION_ID, TLP2_IDS, marking_definition

from ..conftest import free_port, kizuna_cli, start_hub_process
from .conftest import BACKENDS, damage_database, indicator, query_database

ORGS = {
    "producer": TLP.RED,
    "other": TLP.GREEN,  # an ordinary partner with a writer's token and a GREEN ceiling
    "reader": TLP.AMBER,
    "write-only": TLP.RED,
    "admin": TLP.RED,
}


@dataclass
class LiveHub:
    db: Path
    port: int
    tokens: dict[str, str]
    collections: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    dsn: str | None = None  # set when the hub is on PostgreSQL (``db`` is then unused)
    key_file: Path | None = None

    def open(self) -> Any:
        """The hub's store, opened beside its server (as an administrator's command would)."""
        if self.dsn is not None:
            from kizuna.hub.store.postgres import PostgresStore

            assert self.key_file is not None
            return PostgresStore.open(self.dsn, key_file=self.key_file)
        return SQLiteStore.open(self.db)

    @property
    def cli_db(self) -> str:
        """The ``--db`` value of the hub's commands."""
        return self.dsn if self.dsn is not None else str(self.db)

    @property
    def env(self) -> dict[str, str]:
        """The environment of the hub's commands (PostgreSQL: its key file)."""
        return {} if self.key_file is None else {"KIZUNA_KEY_FILE": str(self.key_file)}

    @property
    def checkpoint(self) -> Path:
        """The audit checkpoint file: beside the SQLite file, or beside the key file on PostgreSQL."""
        return Path(f"{self.db}.audit") if self.key_file is None else self.key_file.with_suffix(".audit")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``kizuna hub ARGS --db`` this hub."""
        return kizuna_cli("hub", *args, "--db", self.cli_db, env=self.env, check=check)

    def damage(self, script: str) -> None:
        """Run SQL statements on the database behind the hub, as its owner could."""
        damage_database(self.cli_db, script)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query on the database behind the server."""
        return query_database(self.cli_db, sql)

    def url(self, collection: str, path: str = "objects/") -> str:
        return f"http://127.0.0.1:{self.port}/api/collections/{self.collections[collection]}/{path}"

    def headers(self, org: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.tokens[org]}",
            "Accept": TAXII_MEDIA_TYPE,
            "Content-Type": TAXII_MEDIA_TYPE,
        }

    def post(self, org: str, objects: list[dict[str, Any]], collection: str = "shared") -> dict[str, Any]:
        r = self.http.post(
            self.url(collection), content=orjson.dumps({"objects": objects}), headers=self.headers(org)
        )
        assert r.status_code == 202, r.text
        return dict(r.json())

    def read(self, org: str, collection: str = "shared", **params: str) -> list[dict[str, Any]]:
        r = self.http.get(
            self.url(collection), headers=self.headers(org), params={"limit": "10000", **params}
        )
        assert r.status_code == 200, r.text
        return list(r.json().get("objects", []))

    def versions(self, org: str, oid: str, collection: str = "shared") -> list[dict[str, Any]]:
        return self.read(org, collection, **{"match[id]": oid, "match[version]": "all"})

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
            self.proc = None
        self.http.close()


def make_hub(tmp_path: Path, name: str = "hub", dsn: str | None = None) -> LiveHub:
    """A hub on a SQLite file, or (given ``dsn``, an empty place) on PostgreSQL, and its server."""
    db = tmp_path / f"{name}.db"
    key_file = tmp_path / f"{name}.key"
    tokens: dict[str, str] = {}
    made: Any
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        made = PostgresStore.create(dsn, title=name, key_file=key_file)
    else:
        made = SQLiteStore.create(db, title=name, durable=False)
    with made as s:
        for org, ceiling in ORGS.items():
            s.add_org(org, ceiling=ceiling, admin=org == "admin")
            tokens[org] = new_token()
            s.add_token(org, hash_token(tokens[org]))
        everyone = list(ORGS)
        shared = s.add_collection(
            "shared",
            readers=[o for o in everyone if o != "write-only"],
            writers=["producer", "other", "write-only", "admin"],
        )
        ops = s.add_collection(
            "ops", readers=["reader"], writers=["reader", "write-only"], default_tlp=TLP.AMBER
        )
        green = s.add_collection("green feeds", readers=everyone, writers=["producer"], default_tlp=TLP.GREEN)
    port = free_port()
    hub = LiveHub(db, port, tokens, {"shared": shared.id, "ops": ops.id, "green": green.id})
    if dsn is not None:
        hub.dsn, hub.key_file = dsn, key_file
        env = {"KIZUNA_KEY_FILE": str(key_file)}
        hub.proc = start_hub_process(dsn, port, env=env, log_path=tmp_path / f"{name}.log")
    else:
        hub.proc = start_hub_process(db, port)
    return hub


@pytest.fixture(params=BACKENDS)
def live(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveHub]:
    """One live hub, on each backend (the two-hub findings make theirs with :func:`two_hubs`)."""
    dsn = request.getfixturevalue("new_pg_dsn")() if request.param == "postgres" else None
    hub = make_hub(tmp_path, dsn=dsn)
    yield hub
    hub.stop()


#: STIX 2.1 section 2.9: the namespace of deterministic observable ids.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")


def sco(value: str, tlp: TLP | None = None) -> dict[str, Any]:
    contributing = orjson.dumps({"value": value}).decode()
    obj: dict[str, Any] = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": f"ipv4-addr--{uuid.uuid5(SCO_NAMESPACE, contributing)}",
        "value": value,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_IDS[tlp]]
    return obj


# -- 1. only the owner changes an object --------------------------------------------------------------------
def test_another_writer_cannot_rewrite_or_revoke_an_object_it_can_read(live: LiveHub) -> None:
    original = indicator("198.51.100.10", tlp_ref=TLP2_IDS[TLP.GREEN])
    live.post("producer", [original])
    hijack = {
        **original,
        "modified": "2026-06-01T00:00:00.000Z",
        "revoked": True,
        "created_by_ref": "identity--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
    }
    status = live.post("other", [hijack])
    assert (
        status["failure_count"] == 1 and "belongs to another organisation" in status["failures"][0]["message"]
    )
    for org in ("reader", "other", "producer"):
        assert [o.get("revoked", False) for o in live.versions(org, original["id"])] == [False]


def test_a_new_version_of_a_red_object_by_someone_who_cannot_read_it_is_read_by_nobody_else(
    live: LiveHub,
) -> None:
    red = indicator("192.0.2.66", tlp_ref=TLP2_IDS[TLP.RED])
    live.post("producer", [red])
    clear = {**red, "modified": "2026-06-01T00:00:00.000Z", "object_marking_refs": [TLP2_IDS[TLP.CLEAR]]}
    fresh = indicator("192.0.2.67", tlp_ref=TLP2_IDS[TLP.CLEAR], modified="2026-06-01T00:00:00.000Z")
    collide, new = live.post("other", [clear]), live.post("other", [fresh])
    # the answer is the one a fresh id gets: nothing says the RED id exists
    assert [set(s["successes"][0]) for s in (collide, new)] == [{"id", "version"}] * 2
    assert collide["failure_count"] == new["failure_count"] == 0
    # the producer's RED version is unchanged; nobody but the writer reads anything new under that id
    assert [o["object_marking_refs"] for o in live.versions("producer", red["id"])] == [[TLP2_IDS[TLP.RED]]]
    assert live.versions("reader", red["id"]) == [] and live.versions("admin", red["id"]) == []
    assert [o["modified"] for o in live.versions("other", red["id"])] == ["2026-06-01T00:00:00.000Z"]


def test_only_the_owner_or_an_administrator_deletes(live: LiveHub) -> None:
    obj = indicator("198.51.100.11", tlp_ref=TLP2_IDS[TLP.GREEN])
    live.post("producer", [obj])
    url = live.url("shared", f"objects/{obj['id']}/")
    r = live.http.delete(url, headers=live.headers("other"))
    assert r.status_code == 403 and r.headers["content-type"] == TAXII_MEDIA_TYPE
    assert [o["id"] for o in live.versions("reader", obj["id"])] == [obj["id"]]
    # an object the deleter cannot see answers exactly like one that does not exist
    red = indicator("198.51.100.12", tlp_ref=TLP2_IDS[TLP.RED])
    live.post("producer", [red])
    hidden = live.http.delete(live.url("shared", f"objects/{red['id']}/"), headers=live.headers("other"))
    missing = live.http.delete(
        live.url("shared", f"objects/indicator--{uuid.uuid4()}/"), headers=live.headers("other")
    )
    assert hidden.status_code == missing.status_code == 404
    assert live.http.delete(url, headers=live.headers("admin")).status_code == 200
    assert live.versions("reader", obj["id"]) == []


def test_a_read_only_organisation_cannot_replace_a_sighting_through_routing(live: LiveHub) -> None:
    ind = indicator("198.51.100.13", tlp_ref=TLP2_IDS[TLP.GREEN])
    live.post("producer", [ind], collection="green")
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--5f0cc4f2-7a1d-4b68-9d8e-2a1b3c4d5e61",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "sighting_of_ref": ind["id"],
        "count": 1,
        "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
    }
    live.post("producer", [sighting], collection="green")
    # the reader may read the green collection but not write it; its "newer" sighting under the same id
    forged = {**sighting, "modified": "2026-03-01T00:00:00.000Z", "count": 999}
    live.post("reader", [forged], collection="ops")
    counts = [o["count"] for o in live.read("producer", "green") if o["id"] == sighting["id"]]
    assert counts == [1]


# -- 2. no existence oracle ---------------------------------------------------------------------------------
def test_posting_a_red_observable_reveals_nothing_and_keeps_the_writers_copy(live: LiveHub) -> None:
    secret = sco("203.0.113.200", TLP.RED)
    live.post("producer", [secret])
    unseen = sco("203.0.113.201", TLP.GREEN)
    collide = live.post("write-only", [{**secret, "object_marking_refs": [TLP2_IDS[TLP.GREEN]]}])
    fresh = live.post("write-only", [unseen])
    assert [set(s["successes"][0]) for s in (collide, fresh)] == [{"id"}] * 2
    assert collide["failure_count"] == fresh["failure_count"] == 0
    # the same post again is a duplicate of the writer's own copy, as for any id it posted before
    again = live.post("write-only", [{**secret, "object_marking_refs": [TLP2_IDS[TLP.GREEN]]}])
    assert again["successes"][0].get("message") == "already stored"
    # the writer's copy is shared under its own marking; the producer's RED one stays RED
    seen_by_reader = [o for o in live.read("reader") if o["id"] == secret["id"]]
    assert [o["object_marking_refs"] for o in seen_by_reader] == [[TLP2_IDS[TLP.GREEN]]]
    producer_view = sorted(
        o["object_marking_refs"][0] for o in live.read("producer") if o["id"] == secret["id"]
    )
    assert producer_view == sorted([TLP2_IDS[TLP.RED], TLP2_IDS[TLP.GREEN]])


# -- 3. TLP is never lowered across an asymmetric agreement ------------------------------------------------
def _link(a: LiveHub, b: LiveHub, tmp_path: Path, at_a: str, at_b: str) -> None:
    """``b`` pulls ``a``'s shared collection: each has an account for the other and an agreement record."""
    for here in (a, b):
        account = f"{'b' if here is a else 'a'}-hub"
        token = new_token()
        with here.open() as s:
            s.add_org(account, ceiling=TLP.RED, peer_hub=True)
            s.add_token(account, hash_token(token))
            s.grant_access(here.collections["shared"], readers=[account], writers=[account])
        (tmp_path / f"{account}.token").write_text(token + "\n")
        (tmp_path / f"{account}.token").chmod(0o600)
    a.cli("peer", "add", "b-hub", "--url", "http://127.0.0.1:9/api/",
          "--token-file", str(tmp_path / "a-hub.token"), "--max-tlp", at_a)  # fmt: skip
    b.cli("peer", "add", "a-hub", "--url", f"http://127.0.0.1:{a.port}/api/",
          "--token-file", str(tmp_path / "b-hub.token"), "--max-tlp", at_b,
          "--pull", f"{a.collections['shared']}:{b.collections['shared']}")  # fmt: skip


def two_hubs(tmp_path: Path, request: pytest.FixtureRequest, backend: str) -> tuple[LiveHub, LiveHub]:
    """Hubs ``a`` and ``b`` on ``backend`` (PostgreSQL: a schema each of the module's database)."""
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None
    a = make_hub(tmp_path, "a", dsn=None if new_dsn is None else new_dsn())
    try:
        return a, make_hub(tmp_path, "b", dsn=None if new_dsn is None else new_dsn())
    except BaseException:
        a.stop()
        raise


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unmarked_amber_object_is_refused_by_a_green_agreement(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    a, b = two_hubs(tmp_path, request, backend)
    try:
        unmarked = indicator("192.0.2.90")  # the shared collection's default is AMBER
        marked = indicator("192.0.2.91", tlp_ref=TLP2_IDS[TLP.GREEN])
        a.post("producer", [unmarked, marked])
        _link(a, b, tmp_path, at_a="amber", at_b="green")
        sync = b.cli("sync", "--once")
        assert "1 refused" in sync.stderr
        held = {o["id"] for o in b.read("producer")}
        assert marked["id"] in held and unmarked["id"] not in held
        records = b.cli("audit", "list", "--json", "--action", "objects.receive")
        assert "above the agreement" in records.stdout
    finally:
        a.stop()
        b.stop()


def test_a_peer_account_without_an_agreement_cannot_push(live: LiveHub) -> None:
    token = new_token()
    with live.open() as s:
        s.add_org("stranger-hub", ceiling=TLP.AMBER, peer_hub=True)
        s.add_token("stranger-hub", hash_token(token))
        s.grant_access(live.collections["shared"], writers=["stranger-hub"])
    live.tokens["stranger-hub"] = token
    r = live.http.post(
        live.url("shared"),
        content=orjson.dumps({"objects": [indicator()]}),
        headers=live.headers("stranger-hub"),
    )
    assert r.status_code == 403 and "no agreement" in r.json()["title"]


# -- 4. routed sightings keep their TLP and respect write grants --------------------------------------------
def test_a_routed_sighting_keeps_its_tlp_and_goes_only_to_the_producer(live: LiveHub) -> None:
    ind = indicator("198.51.100.14", tlp_ref=TLP2_IDS[TLP.GREEN])
    live.post("producer", [ind], collection="green")
    sighting = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "sighting--6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a51",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "sighting_of_ref": ind["id"],
        "count": 4,
        "description": "content of the poster's choosing",
    }
    live.post("reader", [sighting], collection="ops")  # unmarked, in an AMBER-default collection
    routed = [o for o in live.read("producer", "green") if o["type"] == "sighting"]
    assert len(routed) == 1 and routed[0]["id"] != sighting["id"]  # composed by the hub
    assert (
        routed[0]["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
        and "choosing" not in routed[0]["description"]
    )
    assert not any(o["type"] == "sighting" for o in live.read("other", "green"))  # GREEN readers: nothing


# -- 6. markings cannot be spoofed or ignored ---------------------------------------------------------------
def test_a_reserved_tlp_id_must_be_its_published_definition(live: LiveHub) -> None:
    spoof = {**marking_definition(TLP.RED), "name": "TLP:CLEAR"}
    status = live.post("producer", [spoof, marking_definition(TLP.RED)])
    assert status["failure_count"] == 1 and "reserved id of TLP:RED" in status["failures"][0]["message"]


def test_custom_and_unknown_markings_are_ranked(live: LiveHub) -> None:
    custom_red = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--4e2c1b0a-9f8e-4d7c-b6a5-000000000001",
        "created": "2026-01-01T00:00:00.000Z",
        "name": "PARTNER:RED",
        "extensions": {TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": "red"}},
    }
    by_custom = indicator("198.51.100.15", tlp_ref=custom_red["id"])
    live.post("producer", [custom_red, by_custom])
    assert by_custom["id"] not in {o["id"] for o in live.read("reader")}
    later = "marking-definition--4e2c1b0a-9f8e-4d7c-b6a5-000000000002"
    waiting = indicator("198.51.100.16", tlp_ref=later)
    status = live.post("producer", [waiting])
    assert "counts as TLP:RED" in status["successes"][0]["message"]
    assert waiting["id"] not in {o["id"] for o in live.read("reader")}
    assert waiting["id"] in {o["id"] for o in live.read("producer")}
    statement = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": later,
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2026, the producer"},
    }
    live.post("producer", [statement])  # the definition arrives: a statement, no TLP of its own
    assert waiting["id"] in {o["id"] for o in live.read("reader")}  # now the collection's AMBER default


# -- 7. cursors reveal nothing --------------------------------------------------------------------------
def test_what_a_reader_sees_of_one_write_is_one_unbroken_run(live: LiveHub) -> None:
    mixed = [
        indicator(f"192.0.2.{i}", tlp_ref=TLP2_IDS[level])
        for i, level in enumerate([TLP.RED, TLP.GREEN, TLP.AMBER, TLP.RED, TLP.GREEN, TLP.CLEAR, TLP.AMBER])
    ]
    live.post("producer", mixed)
    added = {oid: da for oid, da in live.rows("SELECT id, date_added FROM objects")}
    everything = sorted(added.values())
    for org in ("other", "reader"):
        seen = sorted(added[o["id"]] for o in live.read(org))
        first = everything.index(seen[0])
        assert everything[first : first + len(seen)] == seen  # nothing hidden between two visible
    r = live.http.get(live.url("shared"), headers=live.headers("other"), params={"limit": "1"})
    token = r.json()["next"]
    other_scope = live.http.get(live.url("shared"), headers=live.headers("reader"), params={"next": token})
    assert other_scope.status_code == 400


# -- 8. the audit chain holds against the database's owner ---------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);"
         " UPDATE audit_head SET records = records - 1, last_seq = last_seq - 1,"
         " hash = (SELECT hash FROM audit ORDER BY seq DESC LIMIT 1)", "truncated"),
        ("DELETE FROM audit; DELETE FROM audit_head", "truncated"),
        ("UPDATE audit SET actor = 'x' WHERE seq = 2", "modified"),
        ("DELETE FROM objects WHERE date_added = (SELECT MIN(date_added) FROM objects)", "object missing"),
    ],
)  # fmt: skip
def test_audit_verify_catches_the_databases_owner(
    tmp_path: Path, damage: str, words: str, backend: str, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("new_pg_dsn")() if backend == "postgres" else None
    hub = make_hub(tmp_path, dsn=dsn)
    try:
        hub.post("producer", [indicator("198.51.100.20"), indicator("198.51.100.21")])
    finally:
        hub.stop()
    assert hub.cli("audit", "verify").returncode == 0
    hub.damage(damage)
    bad = hub.cli("audit", "verify", check=False)
    assert bad.returncode == 1 and f"audit chain {words}" in bad.stderr, bad.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_recomputed_chain_and_an_edited_checkpoint_are_caught(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    from kizuna.hub.audit import record_hash

    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None
    hub = make_hub(tmp_path, dsn=None if new_dsn is None else new_dsn())
    hub.stop()
    rows = hub.rows("SELECT seq, at, actor, action, detail FROM audit ORDER BY seq")
    prev = "0" * 64
    edits = []
    for seq, at, actor, action, detail in rows:  # edit record 2, then recompute every hash after it
        if seq == 2:
            actor = "someone else"
        h = record_hash(prev, seq, at, actor, action, detail)
        edits.append(f"UPDATE audit SET actor='{actor}', prev_hash='{prev}', hash='{h}' WHERE seq={seq};")
        prev = h
    hub.damage(" ".join([*edits, f"UPDATE audit_head SET hash='{prev}'"]))
    bad = hub.cli("audit", "verify", check=False)
    assert bad.returncode == 1 and "audit chain modified at record 1" in bad.stderr
    # a second hub: its checkpoint file edited
    other = make_hub(tmp_path, "second", dsn=None if new_dsn is None else new_dsn())
    other.stop()
    path = other.checkpoint
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:-1], lines[-1].replace('"records":', '"records":1')]) + "\n")
    bad = other.cli("audit", "verify", check=False)
    assert bad.returncode == 1 and "audit chain checkpoint" in bad.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_partners_pull_is_audited(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    a, b = two_hubs(tmp_path, request, backend)
    try:
        obj = indicator("192.0.2.95", tlp_ref=TLP2_IDS[TLP.GREEN])
        a.post("producer", [obj])
        _link(a, b, tmp_path, at_a="amber", at_b="amber")
        b.cli("sync", "--once")
        shares = a.cli("audit", "list", "--json", "--action", "objects.share")
        assert obj["id"] in shares.stdout and '"by":"pull"' in shares.stdout.replace(" ", "")
    finally:
        a.stop()
        b.stop()
