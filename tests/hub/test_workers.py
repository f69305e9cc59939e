"""``kizuna hub serve --workers 2`` over PostgreSQL (issue 18): one socket, two worker processes, either of
which answers any request (status resources live in the database); ``--sync-every`` runs in exactly one
worker, through the lease, and another takes over when that one is killed; the supervisor replaces a dead
worker; SIGTERM lets an in-flight request finish before the workers exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import psycopg

from tests.conftest import free_port, kizuna_cli

MEDIA = "application/taxii+json;version=2.1"
SERVE = [sys.executable, "-m", "kizuna", "hub", "serve"]
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def _indicators(n: int) -> list[dict[str, object]]:
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-01-01T00:00:00.000Z",
            "modified": "2026-01-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '198.51.100.{i % 250}']",
            "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00.000Z",
            "object_marking_refs": [GREEN],
        }
        for i in range(n)
    ]


def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.add(int(entry))
    return out


def _wait(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def _sync_holder(dsn: str) -> int | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT holder FROM leases WHERE name = 'federation-sync'").fetchone()
    return None if row is None else int(str(row[0]).rsplit(":", 1)[1])


def hub_with_producer(env: dict[str, str]) -> tuple[str, str]:
    """A new hub in ``env``'s database with one organisation, ``producer``, that reads and writes one
    collection: (its token, the collection's id)."""
    kizuna_cli("hub", "init", env=env)
    kizuna_cli("hub", "org", "add", "producer", "--country", "GB", "--ceiling", "red", env=env)
    token = kizuna_cli("hub", "token", "create", "--org", "producer", env=env).stdout.strip()
    cid = kizuna_cli(
        "hub", "collection", "add", "--title", "shared", "--read", "producer", "--write", "producer", env=env
    ).stdout.strip()
    return token, cid


def test_two_workers_over_postgresql(new_pg_dsn: Callable[[], str], tmp_path: Path) -> None:
    dsn = new_pg_dsn()
    env = {"KIZUNA_DB": dsn, "KIZUNA_KEY_FILE": str(tmp_path / "hub.key")}
    token, cid = hub_with_producer(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA}
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        sup = subprocess.Popen(
            [*SERVE, "--workers", "2", "--port", str(port), "--sync-every", "0.5", "--follow-lease-s", "2"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/", headers=headers, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert _wait(answers, 30), log.read_text()
        assert _wait(lambda: len(_children(sup.pid)) == 2, 10)
        workers = _children(sup.pid)
        assert "--db" not in Path(f"/proc/{min(workers)}/cmdline").read_text()  # the DSN is not in ps

        def post(objects: list[dict[str, object]]) -> dict[str, object]:
            r = httpx.post(
                f"{base}/collections/{cid}/objects/",
                content=orjson.dumps({"objects": objects}),
                headers=headers,
                timeout=60,
            )
            assert r.status_code == 202, r.text
            body: dict[str, object] = r.json()
            return body

        results: list[dict[str, object]] = []
        threads = [threading.Thread(target=lambda: results.append(post(_indicators(25)))) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 8 and all(r["status"] == "complete" for r in results)
        for r in results:  # any worker serves any status resource (each request on a new connection)
            for _ in range(3):
                s = httpx.get(f"{base}/status/{r['id']}/", headers=headers, timeout=10)
                assert s.status_code == 200 and s.json()["success_count"] == 25

        # --sync-every: exactly one worker holds the lease; kill -9 it: another takes over, and the
        # supervisor starts a new worker
        assert _wait(lambda: _sync_holder(dsn) in workers, 10)
        holder = _sync_holder(dsn)
        assert holder is not None
        os.kill(holder, signal.SIGKILL)
        assert _wait(lambda: _sync_holder(dsn) not in (None, holder), 15), log.read_text()
        assert _wait(lambda: len(_children(sup.pid)) == 2 and holder not in _children(sup.pid), 15)
        assert answers()

        # SIGTERM drains: a request in flight when it arrives is answered in full
        big: list[dict[str, object]] = []
        in_flight = threading.Thread(target=lambda: big.append(post(_indicators(3000))))
        in_flight.start()
        time.sleep(0.3)
        sup.send_signal(signal.SIGTERM)
        in_flight.join(timeout=60)
        assert big and big[0]["status"] == "complete" and big[0]["success_count"] == 3000
        assert sup.wait(timeout=30) == 0
        assert not _children(sup.pid)
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        for pid in _children(sup.pid):
            os.kill(pid, signal.SIGKILL)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT COUNT(*) FROM objects").fetchone()
    assert row is not None and row[0] == 8 * 25 + 3000
    assert kizuna_cli("hub", "audit", "verify", env=env).returncode == 0


def test_two_workers_over_sqlite(tmp_path: Path) -> None:
    """SQLite keeps working with several workers on one host: both serve one file (its writers serialise on
    it), any worker answers any status resource, exactly one holds the sync lease."""
    import sqlite3

    db = tmp_path / "hub.db"
    env = {"KIZUNA_DB": str(db)}
    token, cid = hub_with_producer(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    headers = {"Authorization": f"Bearer {token}", "Accept": MEDIA, "Content-Type": MEDIA}
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        sup = subprocess.Popen(
            [*SERVE, "--workers", "2", "--port", str(port), "--sync-every", "0.5", "--follow-lease-s", "2"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )

    def holder() -> int | None:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT holder FROM leases WHERE name = 'federation-sync'").fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            conn.close()
        return None if row is None else int(str(row[0]).rsplit(":", 1)[1])

    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/", headers=headers, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert _wait(answers, 30), log.read_text()
        assert _wait(lambda: len(_children(sup.pid)) == 2, 10)
        workers = _children(sup.pid)
        results: list[dict[str, object]] = []

        def post() -> None:
            r = httpx.post(
                f"{base}/collections/{cid}/objects/",
                content=orjson.dumps({"objects": _indicators(40)}),
                headers=headers,
                timeout=60,
            )
            assert r.status_code == 202, r.text
            results.append(r.json())

        threads = [threading.Thread(target=post) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 6 and all(r["status"] == "complete" for r in results)
        for r in results:  # each request on a new connection: either worker answers
            for _ in range(3):
                s = httpx.get(f"{base}/status/{r['id']}/", headers=headers, timeout=10)
                assert s.status_code == 200 and s.json()["success_count"] == 40
        assert _wait(lambda: holder() in workers, 10), log.read_text()
        seen: list[str] = []
        params: dict[str, str] = {"limit": "50"}
        for _ in range(10):
            page = httpx.get(f"{base}/collections/{cid}/objects/", params=params, headers=headers, timeout=10)
            body = page.json()
            seen += [o["id"] for o in body.get("objects", [])]
            if not body.get("more"):
                break
            params = {"limit": "50", "next": body["next"]}
        assert len(seen) == len(set(seen)) == 240
        sup.send_signal(signal.SIGTERM)
        assert sup.wait(timeout=30) == 0
    finally:
        if sup.poll() is None:
            sup.kill()
            sup.wait()
        for pid in _children(sup.pid):
            os.kill(pid, signal.SIGKILL)
    assert kizuna_cli("hub", "audit", "verify", env=env).returncode == 0
