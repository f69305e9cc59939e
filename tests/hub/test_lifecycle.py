"""Running a hub day to day (issue 19): change and remove organisations and collections, take back one
grant, every change audited, nothing orphaned; lists with --json and tables that fit 80 columns.

The commands run through ``kizuna.cli.main`` (the same code as the console script), the widths in a
subprocess with ``COLUMNS`` set, as a terminal or a pipe gives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from kizuna.cli import main
from kizuna.hub import intake
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token
from kizuna.hub.models import Query
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.backends import open_store
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import TLP, TLP2_IDS

from .conftest import indicator


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    status = main(list(args))
    out, err = capsys.readouterr()
    assert status == code, f"exit {status}: {err}"
    return out, err


@pytest.fixture(params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A hub: uk-ncsc (red) and uk-water-op (amber), jp-hub (another hub's account, with a peer record),
    collection cni (alias cni) read by all three and written by uk-ncsc and jp-hub, an empty collection.
    On each backend: a SQLite file, or a PostgreSQL DSN (its key file named by KIZUNA_KEY_FILE)."""
    path: str = str(tmp_path / "hub.db")
    if request.param == "postgres":
        path = request.getfixturevalue("new_pg_dsn")()
        monkeypatch.setenv("KIZUNA_KEY_FILE", str(tmp_path / "hub.key"))
    token = tmp_path / "jp.token"
    token.write_text("a-credential\n")
    token.chmod(0o600)
    d = ("--db", str(path))
    run(capsys, "hub", "init", *d)
    run(capsys, "hub", "org", "add", "uk-ncsc", *d, "--ceiling", "red", "--country", "GB")
    run(capsys, "hub", "org", "add", "uk-water-op", *d, "--ceiling", "amber", "--sector", "water")
    run(capsys, "hub", "org", "add", "jp-hub", *d, "--ceiling", "amber", "--peer-hub")
    for org in ("uk-ncsc", "uk-water-op", "jp-hub"):
        run(capsys, "hub", "token", "create", "--org", org, *d)
    run(capsys, "hub", "collection", "add", *d, "--title", "CNI threats", "--alias", "cni")
    run(capsys, "hub", "collection", "grant", "cni", *d, "--read", "uk-ncsc,uk-water-op,jp-hub")
    run(capsys, "hub", "collection", "grant", "cni", *d, "--write", "uk-ncsc,jp-hub")
    run(capsys, "hub", "collection", "add", *d, "--title", "Empty", "--alias", "empty")
    run(
        capsys,
        "hub",
        "peer",
        "add",
        "jp-hub",
        *d,
        "--url",
        "http://127.0.0.1:9/api/",
        "--token-file",
        str(token),
    )
    return path


def audit(path: str, action: str) -> list[dict[str, Any]]:
    with open_store(path) as store:
        records = [r for r in store.audit_records() if r.action == action]
        assert store.verify_audit().ok
    return [orjson.loads(r.detail) for r in records]


def post(path: str, org: str, objects: list[dict[str, Any]]) -> None:
    with open_store(path) as store:
        c = store.get_collection("cni")
        assert c is not None
        result = intake.accept(store, c, intake.Sender.local(store.get_org(org)), objects, clock=utc_now)
        assert not result.refused, result.refused


# -- organisations ---------------------------------------------------------------------------------------
def test_org_update_changes_what_it_says_and_is_audited(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = run(
        capsys,
        "hub",
        "org",
        "update",
        "uk-water-op",
        "--db",
        str(db),
        "--ceiling",
        "green",
        "--country",
        "gb",
    )
    assert "ceiling amber -> green" in err and "country - -> GB" in err
    run(
        capsys,
        "hub",
        "org",
        "update",
        "uk-water-op",
        "--db",
        str(db),
        "--sector",
        "water",
        "--sector",
        "Energy",
    )
    with open_store(db) as store:
        org = store.get_org("uk-water-op")
    assert (org.ceiling, org.country, org.sectors) == (TLP.GREEN, "GB", ("water", "energy"))
    first, second = audit(db, "org.update")
    assert first["changes"] == {"ceiling": ["amber", "green"], "country": [None, "GB"]}
    assert second["changes"] == {"sectors": [["water"], ["water", "energy"]]}
    _, err = run(capsys, "hub", "org", "update", "uk-water-op", "--db", str(db), code=2)
    assert err.startswith("kizuna: error: nothing to change")


def test_a_peer_account_stays_bound_by_its_agreement(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = run(capsys, "hub", "org", "update", "jp-hub", "--db", str(db), "--no-peer-hub", code=2)
    assert "peer 'jp-hub'" in err and "remove the peer first" in err
    _, err = run(capsys, "hub", "org", "remove", "jp-hub", "--db", str(db), "--force", code=2)
    assert "peer 'jp-hub'" in err
    with open_store(db) as store:
        assert store.get_org("jp-hub").peer_hub
    assert audit(db, "org.update") == [] and audit(db, "org.remove") == []
    run(capsys, "hub", "peer", "remove", "jp-hub", "--db", str(db))
    run(capsys, "hub", "org", "remove", "jp-hub", "--db", str(db))
    (removed,) = audit(db, "org.remove")
    assert removed["name"] == "jp-hub" and removed["tokens"] == 1 and removed["grants"] == 1


def test_org_remove_refuses_to_orphan_its_objects_unless_forced(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    red = indicator("198.51.100.7", tlp_ref=TLP2_IDS[TLP.RED], x_kizuna_recipients=["uk-ncsc"])
    green = indicator("198.51.100.8", tlp_ref=TLP2_IDS[TLP.GREEN])
    post(db, "uk-water-op", [red, green])
    before = audit(db, "org.remove")
    _, err = run(capsys, "hub", "org", "remove", "uk-water-op", "--db", str(db), code=2)
    assert "produced 2 object version(s)" in err and "--force" in err
    with open_store(db) as store:
        store.get_org("uk-water-op")  # still there
    assert audit(db, "org.remove") == before
    _, err = run(capsys, "hub", "org", "remove", "uk-water-op", "--db", str(db), "--force")
    assert "2 object version(s) kept without a producer" in err
    (detail,) = audit(db, "org.remove")
    assert detail["objects_left_without_producer"] == 2 and detail["force"] is True
    with open_store(db) as store:
        assert [o.name for o in store.list_orgs()] == ["jp-hub", "uk-ncsc"]
        c = store.get_collection("cni")
        assert c is not None
        ncsc_sees = {r.id for r in store.query(c, store.get_org("uk-ncsc"), Query()).rows}
        peer_sees = {r.id for r in store.query(c, store.get_org("jp-hub"), Query()).rows}
    assert ncsc_sees == {red["id"], green["id"]}  # the named recipient still reads the RED one
    assert peer_sees == {green["id"]}  # nobody else does


def test_removed_organisation_is_locked_out_at_once(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = "kzn_a-token-of-the-water-operator"
    with open_store(db) as store:
        store.add_token("uk-water-op", hash_token(token))
        assert store.org_for_token(hash_token(token)) is not None
    run(capsys, "hub", "org", "remove", "uk-water-op", "--db", str(db))
    with open_store(db) as store:
        assert store.org_for_token(hash_token(token)) is None
    (detail,) = audit(db, "org.remove")
    assert detail["tokens"] == 2 and detail["grants"] == 1


# -- collections -----------------------------------------------------------------------------------------
def test_collection_revoke_takes_back_one_grant(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "hub", "collection", "revoke", "cni", "--db", str(db), "--write", "jp-hub")
    with open_store(db) as store:
        c = store.get_collection("cni")
        assert c is not None
        g = store.grant(c, store.get_org("jp-hub"))
        assert g is not None and g.can_read and not g.can_write
    _, err = run(capsys, "hub", "collection", "revoke", "cni", "--db", str(db), "--read", "jp-hub")
    assert "note: jp-hub is another hub's account" in err
    _, err = run(
        capsys, "hub", "collection", "revoke", "cni", "--db", str(db), "--read", "jp-hub,uk-ncsc", code=2
    )
    assert "jp-hub hold(s) no such grant" in err
    with open_store(db) as store:
        c = store.get_collection("cni")
        assert c is not None
        assert store.grant(c, store.get_org("jp-hub")) is None
        assert store.grant(c, store.get_org("uk-ncsc")) is not None  # the refused call changed nothing
    assert [d["read"] for d in audit(db, "collection.revoke")] == [[], ["jp-hub"]]


def test_revoked_reader_no_longer_reads_over_taxii(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    post(db, "uk-ncsc", [indicator(tlp_ref=TLP2_IDS[TLP.GREEN])])
    token = "kzn_test-token-for-the-water-operator"
    with open_store(db) as store:
        store.add_token("uk-water-op", hash_token(token))
        app = create_app(HubSettings(title="t"), store)
        headers = {"Authorization": f"Bearer {token}", "Accept": TAXII_MEDIA_TYPE}
        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert client.get("/api/collections/cni/objects/", headers=headers).status_code == 200
            store.revoke_access("cni", readers=["uk-water-op"])
            assert client.get("/api/collections/cni/objects/", headers=headers).status_code == 404


def test_collection_update(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--db", str(db))
    # jp-hub (another hub) holds a grant: its URLs may use the alias
    _, err = run(capsys, "hub", "collection", "update", "cni", *d, "--alias", "cni-uk", code=2)
    assert "jp-hub" in err and "--force" in err
    _, err = run(capsys, "hub", "collection", "update", "cni", *d, "--alias", "empty", "--force", code=2)
    assert "already has the alias 'empty'" in err
    run(
        capsys,
        "hub",
        "collection",
        "update",
        "cni",
        *d,
        "--alias",
        "cni-uk",
        "--force",
        "--title",
        "CNI (UK)",
    )
    run(capsys, "hub", "collection", "update", "cni-uk", *d, "--default-tlp", "green")
    with open_store(db) as store:
        c = store.get_collection("cni-uk")
        assert c is not None and c.title == "CNI (UK)" and c.default_tlp is TLP.GREEN
        assert store.get_collection("cni") is None
    changes = [d["changes"] for d in audit(db, "collection.update")]
    assert changes == [
        {"alias": ["cni", "cni-uk"], "title": ["CNI threats", "CNI (UK)"]},
        {"default_tlp": ["amber", "green"]},
    ]
    run(capsys, "hub", "collection", "update", "empty", *d, "--no-alias")
    with open_store(db) as store:
        assert [c.alias for c in store.list_collections()] == ["cni-uk", None]


def test_new_default_tlp_applies_to_objects_stored_from_now_on(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = indicator("198.51.100.1")  # unmarked: the collection's default (amber) when stored
    post(db, "uk-ncsc", [before])
    run(capsys, "hub", "collection", "update", "cni", "--db", str(db), "--default-tlp", "green")
    after = indicator("198.51.100.2")
    post(db, "uk-ncsc", [after])
    with open_store(db) as store:
        c = store.get_collection("cni")
        assert c is not None
        tlps = {r.id: r.tlp for r in store.query(c, store.get_org("uk-ncsc"), Query()).rows}
    assert tlps == {before["id"]: TLP.AMBER, after["id"]: TLP.GREEN}


def test_collection_remove(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--db", str(db))
    token = tmp_path / "t"
    token.write_text("x\n")
    token.chmod(0o600)
    peer = ("--url", "http://127.0.0.1:9/api/", "--token-file", str(token), "--pull", "remote-id:cni")
    run(capsys, "hub", "peer", "add", "kr-hub", *d, *peer)
    _, err = run(capsys, "hub", "collection", "remove", "cni", *d, "--force", code=2)
    assert "peer flows use collection cni: kr-hub (pull)" in err
    run(capsys, "hub", "peer", "remove", "kr-hub", *d)
    post(db, "uk-ncsc", [indicator(), indicator("198.51.100.9")])
    _, err = run(capsys, "hub", "collection", "remove", "cni", *d, code=2)
    assert "holds 2 object version(s)" in err
    with open_store(db) as store:
        assert store.get_collection("cni") is not None and store.count_objects() == 2
    _, err = run(capsys, "hub", "collection", "remove", "cni", *d, "--force")
    assert "2 object version(s), 3 grant(s)" in err
    run(capsys, "hub", "collection", "remove", "empty", *d)
    with open_store(db) as store:
        assert store.list_collections() == [] and store.count_objects() == 0
    removed = audit(db, "collection.remove")
    assert [(r["alias"], r["objects"], r["force"]) for r in removed] == [
        ("cni", 2, True),
        ("empty", 0, False),
    ]


# -- lists -------------------------------------------------------------------------------------------------
def test_every_list_takes_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    d = ("--db", str(db))
    orgs = orjson.loads(run(capsys, "hub", "org", "list", *d, "--json")[0])
    assert [o["name"] for o in orgs] == ["jp-hub", "uk-ncsc", "uk-water-op"]
    assert orgs[0]["peer_hub"] is True and orgs[1]["identity_id"].startswith("identity--")
    collections = orjson.loads(run(capsys, "hub", "collection", "list", *d, "--json")[0])
    cni = next(c for c in collections if c["alias"] == "cni")
    assert cni["read"] == ["jp-hub", "uk-ncsc", "uk-water-op"] and cni["write"] == ["jp-hub", "uk-ncsc"]
    assert cni["default_tlp"] == "amber"
    (peer,) = orjson.loads(run(capsys, "hub", "peer", "list", *d, "--json")[0])
    assert peer["name"] == "jp-hub" and peer["flows"] == []
    lines = run(capsys, "hub", "audit", "list", *d, "--json", "--limit", "3")[0].splitlines()
    assert [orjson.loads(x)["action"] for x in lines] == ["collection.grant", "collection.add", "peer.add"]


def _listing(db: str, columns: int, *args: str) -> str:
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("KIZUNA_DB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", "hub", *args, "--db", str(db)],
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    return proc.stdout


@pytest.mark.parametrize("columns", [80, 200])
def test_tables_fit_the_terminal_and_never_cut_an_id(db: str, tmp_path: Path, columns: int) -> None:
    token = tmp_path / "t"
    token.write_text("x\n")
    token.chmod(0o600)
    with open_store(db) as store:
        remote = "8c6f2a1e-5b3d-4e9f-a7c2-1d0e9f8a7b6c"
        store.add_peer(
            "kr-hub-with-a-long-name",
            url="https://kizuna.partner-hub.example.go.kr:8443/taxii2/api/",
            user=None,
            secret=store.keys.seal("x"),
            max_tlp=TLP.AMBER,
            types=("indicator", "malware", "relationship", "sighting", "report", "identity"),
            pulls=[(remote, "cni")],
            pushes=[("empty", remote)],
        )
        ids = [c.id for c in store.list_collections()]
    listings = {
        "org": _listing(db, columns, "org", "list"),
        "collection": _listing(db, columns, "collection", "list"),
        "peer": _listing(db, columns, "peer", "list"),
        "audit": _listing(db, columns, "audit", "list"),
    }
    for what, text in listings.items():
        too_wide = [line for line in text.splitlines() if len(line) > columns]
        assert not too_wide, f"{what} list wider than {columns}: {too_wide}"
    for cid in ids:
        assert cid in listings["collection"] and cid in listings["peer"]
    assert (
        remote in listings["peer"]
        and "https://kizuna.partner-hub.example.go.kr:8443/taxii2/api/" in listings["peer"]
    )
    for name in ("jp-hub", "uk-ncsc", "uk-water-op"):
        assert name in listings["org"]
