"""The hub's command-line contract, run as a user runs it (subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kizuna.hub.auth import hash_token

from ..conftest import kizuna_cli
from .conftest import BACKENDS, Place, new_place


def one_line_error(proc) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """A hub made by ``kizuna hub init``, on each backend."""
    place = new_place(request, request.param, tmp_path)
    kizuna_cli("hub", "init", "--db", place.db, "--title", "UK hub", env=place.env)
    return place


def test_init_refuses_to_overwrite(db: Place, tmp_path: Path):
    before = db.dump()
    line = one_line_error(kizuna_cli("hub", "init", "--db", db.db, check=False, env=db.env))
    assert "refusing to overwrite" in line
    assert str(db.db if db.key_file is None else db.key_file) in line
    if db.key_file is not None:  # another key file, the same database: the database is not empty
        elsewhere = {"KIZUNA_KEY_FILE": str(tmp_path / "other.key")}
        line = one_line_error(kizuna_cli("hub", "init", "--db", db.db, check=False, env=elsewhere))
        assert "the database is not empty; refusing to create a hub in it" in line
        assert not (tmp_path / "other.key").exists()
    assert db.dump() == before


def test_org_token_collection_flow_and_env_db(db: Place):
    env = {**db.env, "KIZUNA_DB": db.db}
    kizuna_cli(
        "hub",
        "org",
        "add",
        "uk-ncsc",
        "--country",
        "gb",
        "--sector",
        "government",
        "--ceiling",
        "amber+strict",
        env=env,
    )
    kizuna_cli(
        "hub", "org", "add", "uk-water", "--country", "GB", "--sector", "water", "--sector", "energy", env=env
    )
    proc = kizuna_cli("hub", "token", "create", "--org", "uk-ncsc", env=env)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kzn_") and len(lines[0]) > 40
    token = lines[0]
    proc = kizuna_cli(
        "hub",
        "collection",
        "add",
        "--title",
        "CNI",
        "--alias",
        "cni",
        "--read",
        "uk-ncsc,uk-water",
        "--write",
        "uk-ncsc",
        "--default-tlp",
        "green",
        env=env,
    )
    [cid] = proc.stdout.splitlines()
    with db.open() as store:
        org = store.get_org("uk-ncsc")
        assert org.country == "GB" and org.ceiling.label == "amber+strict"
        assert store.get_org("uk-water").sectors == ("water", "energy")
        assert store.org_for_token(hash_token(token)) == org
        c = store.get_collection(cid)
        assert c is not None and c.alias == "cni" and c.default_tlp.label == "green"
        assert store.grant(c, org).can_write
        assert not store.grant(c, store.get_org("uk-water")).can_write
    # only the hash is stored
    raw = db.rows("SELECT key_id, secret_hash FROM tokens")
    key = hash_token(token)
    assert raw == [(key.key_id, key.secret_hash)] and token.startswith(f"kzn_{key.key_id}_")
    assert token.encode() not in db.dump()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["hub", "org", "add", "x", "--ceiling", "purple"], "purple"),
        (["hub", "org", "add", "x", "--country", "GBR"], "GBR"),
        (["hub", "token", "create", "--org", "nobody"], "nobody"),
        (["hub", "collection", "add", "--title", "t", "--read", "nobody"], "nobody"),
        (["hub", "collection", "add", "--title", "t", "--default-tlp", "pink"], "pink"),
    ],
)
def test_bad_input_is_one_line(db: Place, args: list[str], needle: str):
    before = db.rows("SELECT COUNT(*) FROM audit")
    line = one_line_error(kizuna_cli(*args, "--db", db.db, check=False, env=db.env))
    assert needle in line
    assert db.rows("SELECT COUNT(*) FROM audit") == before


def test_duplicate_org_is_one_line(db: Place):
    kizuna_cli("hub", "org", "add", "jp-nisc", "--db", db.db, env=db.env)
    assert "already exists" in one_line_error(
        kizuna_cli("hub", "org", "add", "jp-nisc", "--db", db.db, check=False, env=db.env)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_database_is_one_line(tmp_path: Path, backend: str, request: pytest.FixtureRequest):
    missing = tmp_path / "nope.db"
    db, env = str(missing), {}
    if backend == "postgres":  # a database the cluster does not have
        db = request.getfixturevalue("pg_cluster").dsn("kz_nope")
        env = {"KIZUNA_KEY_FILE": str(tmp_path / "nope.key")}
    for args in (["hub", "org", "add", "a"], ["hub", "serve"], ["hub", "audit", "verify"]):
        line = one_line_error(kizuna_cli(*args, "--db", db, check=False, env=env))
        assert (str(missing) if backend == "sqlite" else "kz_nope") in line
    assert not missing.exists() and not (tmp_path / "nope.key").exists()


def test_serve_refuses_without_tokens(db: Place):
    kizuna_cli("hub", "org", "add", "lonely", "--db", db.db, env=db.env)
    line = one_line_error(kizuna_cli("hub", "serve", "--db", db.db, "--port", "1", check=False, env=db.env))
    assert "token" in line


def test_audit_verify_detects_tampering(db: Place):
    kizuna_cli("hub", "org", "add", "a", "--db", db.db, env=db.env)
    kizuna_cli("hub", "org", "add", "b", "--db", db.db, env=db.env)
    ok = kizuna_cli("hub", "audit", "verify", "--db", db.db, env=db.env)
    assert "intact: 3 records" in ok.stdout
    db.damage("UPDATE audit SET detail = replace(detail, '\"a\"', '\"evil\"') WHERE seq = 2")
    bad = kizuna_cli("hub", "audit", "verify", "--db", db.db, check=False, env=db.env)
    assert bad.returncode == 1 and "record 2" in bad.stderr
    db.damage("DELETE FROM audit WHERE seq = 2")
    bad = kizuna_cli("hub", "audit", "verify", "--db", db.db, check=False, env=db.env)
    assert bad.returncode == 1 and "record" in bad.stderr


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)", "truncated"),
        ("DELETE FROM audit WHERE seq = 2", "record 2 is deleted"),
        ("UPDATE audit SET actor = 'someone else' WHERE seq = 3", "record 3: its content was modified"),
        ("UPDATE audit SET actor = 'x' WHERE seq = 2; UPDATE audit SET seq = seq", "modified"),
    ],
)
def test_audit_verify_names_each_kind_of_damage(db: Place, damage: str, words: str):
    for name in ("a", "b", "c"):
        kizuna_cli("hub", "org", "add", name, "--db", db.db, env=db.env)
    assert "intact: 4 records" in kizuna_cli("hub", "audit", "verify", "--db", db.db, env=db.env).stdout
    db.damage(damage)
    bad = kizuna_cli("hub", "audit", "verify", "--db", db.db, check=False, env=db.env)
    line = one_line_error(bad)
    assert bad.returncode == 1 and words in line, line
    kinds = {"truncated": "truncated", "record 2 is deleted": "deleted"}
    assert f"audit chain {kinds.get(words, 'modified')}" in line


def test_grant_on_an_existing_collection_and_audit_list(db: Place):
    env = {**db.env, "KIZUNA_DB": db.db}
    kizuna_cli("hub", "org", "add", "uk-ncsc", env=env)
    kizuna_cli("hub", "org", "add", "jp-hub", "--peer-hub", "--ceiling", "amber", env=env)
    cid = kizuna_cli(
        "hub", "collection", "add", "--title", "CNI", "--alias", "cni", "--write", "uk-ncsc", env=env
    ).stdout.strip()
    kizuna_cli("hub", "collection", "grant", "cni", "--read", "jp-hub", env=env)
    kizuna_cli("hub", "collection", "grant", cid, "--write", "jp-hub", env=env)
    with db.open() as store:
        c = store.get_collection(cid)
        assert c is not None
        g = store.grant(c, store.get_org("jp-hub"))
        assert g is not None and g.can_read and g.can_write  # grants only widen
    line = one_line_error(
        kizuna_cli("hub", "collection", "grant", "nope", "--read", "uk-ncsc", env=env, check=False)
    )
    assert "nope" in line
    import json

    records = [
        json.loads(x)
        for x in kizuna_cli(
            "hub", "audit", "list", "--json", "--action", "collection.grant", env=env
        ).stdout.splitlines()
    ]
    assert [r["detail"]["read"] for r in records] == [["jp-hub"], []]


def test_token_revoke_locks_the_organisation_out(db: Place):
    env = {**db.env, "KIZUNA_DB": db.db}
    kizuna_cli("hub", "org", "add", "uk-ncsc", env=env)
    token = kizuna_cli("hub", "token", "create", "--org", "uk-ncsc", env=env).stdout.strip()
    with db.open() as store:
        assert store.org_for_token(hash_token(token)) is not None
    assert "revoked 1 token" in kizuna_cli("hub", "token", "revoke", "--org", "uk-ncsc", env=env).stderr
    with db.open() as store:
        assert store.org_for_token(hash_token(token)) is None


def test_org_admin_flag_on_add_and_update(db: Place):
    env = {**db.env, "KIZUNA_DB": db.db}
    kizuna_cli("hub", "org", "add", "uk-ncsc", "--admin", env=env)
    kizuna_cli("hub", "org", "add", "jp-nisc", env=env)
    with db.open() as store:
        assert store.get_org("uk-ncsc").admin and not store.get_org("jp-nisc").admin
    assert (
        "administrator no -> yes" in kizuna_cli("hub", "org", "update", "jp-nisc", "--admin", env=env).stderr
    )
    assert (
        "administrator yes -> no"
        in kizuna_cli("hub", "org", "update", "uk-ncsc", "--no-admin", env=env).stderr
    )
    with db.open() as store:
        assert store.get_org("jp-nisc").admin and not store.get_org("uk-ncsc").admin
        assert [r.action for r in store.audit_records()].count("org.update") == 2
    line = one_line_error(kizuna_cli("hub", "org", "update", "nobody", "--admin", env=env, check=False))
    assert "nobody" in line
