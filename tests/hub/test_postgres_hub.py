"""A hub on PostgreSQL as its operators run it: ``kizuna hub`` commands with a DSN, and two ``serve``
processes on different ports over one database, as two hosts behind a load balancer would run."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import free_port, kizuna_cli

MEDIA = "application/taxii+json;version=2.1"


def _serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kizuna",
                "hub",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "debug",
            ],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited: {log.read_text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/taxii2/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("hub did not start within 30 s")


def test_hub_commands_and_two_servers_over_one_database(
    new_pg_dsn: Callable[[], str], tmp_path: Path
) -> None:
    # a DSN carrying a password (the test cluster trusts its socket, so it is sent and ignored): it is
    # accepted from KIZUNA_DB and never shown in an output, a log line or a file
    password = f"dsn-pw-{uuid.uuid4().hex}"
    dsn = new_pg_dsn() + f"&password={password}"
    env = {"KIZUNA_DB": dsn, "KIZUNA_KEY_FILE": str(tmp_path / "hub.key")}
    made = kizuna_cli("hub", "init", "--title", "pg hub", env=env)
    assert "hub.key" in made.stderr + made.stdout and (tmp_path / "hub.key").exists()
    again = kizuna_cli("hub", "init", env={**env, "KIZUNA_KEY_FILE": str(tmp_path / "b.key")}, check=False)
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    assert "up to date" in kizuna_cli("hub", "migrate", env=env).stderr
    kizuna_cli("hub", "org", "add", "producer", "--country", "GB", "--ceiling", "red", env=env)
    kizuna_cli("hub", "org", "add", "reader", "--country", "JP", "--ceiling", "amber", env=env)
    token = kizuna_cli("hub", "token", "create", "--org", "producer", env=env).stdout.strip()
    reader = kizuna_cli("hub", "token", "create", "--org", "reader", env=env).stdout.strip()
    cid = kizuna_cli(
        "hub",
        "collection",
        "add",
        "--title",
        "shared",
        "--read",
        "producer,reader",
        "--write",
        "producer",
        env=env,
    ).stdout.strip()
    ports = [free_port(), free_port()]
    procs = [_serve(env, p, tmp_path / f"serve{i}.log") for i, p in enumerate(ports)]
    try:
        ids = [f"indicator--{uuid.uuid4()}" for _ in range(30)]
        for i, port in enumerate(ports):  # each host takes half of the writes
            objects = [
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": oid,
                    "created": "2026-01-01T00:00:00.000Z",
                    "modified": "2026-01-01T00:00:00.000Z",
                    "pattern": f"[ipv4-addr:value = '198.51.100.{n}']",
                    "pattern_type": "stix",
                    "valid_from": "2026-01-01T00:00:00.000Z",
                    "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
                }
                for n, oid in enumerate(ids[i * 15 : (i + 1) * 15])
            ]
            r = httpx.post(
                f"http://127.0.0.1:{port}/api/collections/{cid}/objects/",
                content=orjson.dumps({"objects": objects}),
                headers={"Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA},
                timeout=30,
            )
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "complete" and r.json()["success_count"] == 15
        for port in ports:  # either host serves everything, paged, in date_added order, once
            seen: list[str] = []
            added: list[str] = []
            params: dict[str, str] = {"limit": "7"}
            for _ in range(10):
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/collections/{cid}/objects/",
                    params=params,
                    headers={"Authorization": f"Bearer {reader}", "Accept": MEDIA},
                    timeout=30,
                )
                assert r.status_code == 200, r.text
                body = r.json()
                seen += [o["id"] for o in body.get("objects", [])]
                added.append(r.headers["X-TAXII-Date-Added-Last"])
                if not body.get("more"):
                    break
                params = {"limit": "7", "next": body["next"]}
            assert seen == ids and added == sorted(added)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    verified = kizuna_cli("hub", "audit", "verify", env=env)
    assert verified.returncode == 0
    audit = kizuna_cli("hub", "audit", "list", "--json", "--limit", "1000", env=env)
    shown = [made.stdout, made.stderr, again.stderr, verified.stderr, audit.stdout]
    assert all(password not in text for text in shown)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".log" and p.stat().st_size for p in files)
    assert all(password.encode() not in p.read_bytes() for p in files)


def test_a_password_on_the_command_line_is_refused(tmp_path: Path) -> None:
    dsn = "postgresql://kizuna:s3cret@127.0.0.1:1/kizuna"
    proc = kizuna_cli("hub", "org", "list", "--db", dsn, check=False, env={"KIZUNA_KEY_FILE": "x"})
    assert proc.returncode == 2 and "KIZUNA_DB" in proc.stderr and "s3cret" not in proc.stderr


def test_without_kizuna_key_file_the_key_lies_in_the_accounts_state_directory(
    new_pg_dsn: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no KIZUNA_KEY_FILE, ``hub init`` keeps the key in this account's state directory (0700, the key
    0600), the commands that follow find it there, and a database it does not hold a key for is refused
    with a line naming KIZUNA_KEY_FILE."""
    monkeypatch.delenv("KIZUNA_KEY_FILE", raising=False)
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    dsn = new_pg_dsn()
    made = kizuna_cli("hub", "init", "--db", dsn, "--title", "pg hub", env=env)
    home = state / "kizuna"
    (key,) = home.glob("*.key")
    assert str(key) in made.stderr + made.stdout
    assert stat.S_IMODE(home.stat().st_mode) == 0o700 and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.with_suffix(".audit").exists()
    secret = key.read_bytes()
    kizuna_cli("hub", "org", "add", "acme", "--db", dsn, "--country", "GB", env=env)
    assert kizuna_cli("hub", "audit", "verify", "--db", dsn, env=env).returncode == 0
    again = kizuna_cli("hub", "init", "--db", dsn, env=env, check=False)
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert key.read_bytes() == secret  # a key file is never overwritten
    other = kizuna_cli("hub", "org", "list", "--db", new_pg_dsn(), env=env, check=False)
    assert other.returncode == 2 and "KIZUNA_KEY_FILE" in other.stderr and "Traceback" not in other.stderr
    elsewhere = kizuna_cli(
        "hub", "org", "list", "--db", dsn, env={"XDG_STATE_HOME": str(tmp_path / "x")}, check=False
    )
    assert elsewhere.returncode == 2 and "KIZUNA_KEY_FILE" in elsewhere.stderr
