"""Shared fixtures. Servers in tests bind 127.0.0.1 only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent

# In CI the property tests explore a fixed sequence of examples, so a run is repeatable and a red CI
# names a reproducible counterexample; locally each run explores new ones (and finds new bugs).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kizuna_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kizuna ARGS`` in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kizuna {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class RunningHub:
    """A real ``kizuna hub serve`` process on 127.0.0.1."""

    api_root_url: str
    discovery_url: str
    token: str  # the producer organisation's token
    org: str  # the producer organisation
    reader_token: str  # another organisation that may read the collection
    reader_org: str
    collection_id: str  # producer may write, both may read
    db_path: Path
    process: subprocess.Popen[bytes]
    port: int
    db: str = ""  # the --db value: db_path, or a PostgreSQL DSN (db_path is then unused)
    env: dict[str, str] = field(default_factory=dict)  # the environment its commands and server need
    log_path: Path | None = None

    def restart(self) -> subprocess.Popen[bytes]:
        """Start the server again on the same port (after the test stopped it)."""
        return start_hub_process(self.db or self.db_path, self.port, env=self.env, log_path=self.log_path)


def start_hub_process(
    db_path: Path | str,
    port: int,
    *extra: str,
    env: dict[str, str] | None = None,
    log_path: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``kizuna hub serve`` and wait until it answers; its stderr goes to ``<db>.log`` (or
    ``log_path``: a PostgreSQL hub's ``--db`` is a DSN)."""
    log_path = log_path or Path(db_path).with_suffix(".log")
    cmd = [sys.executable, "-m", "kizuna", "hub", "serve", "--db", str(db_path), "--host", "127.0.0.1"]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [*cmd, "--port", str(port), *extra],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"hub exited: {log_path.read_text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/taxii2/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError("hub did not start within 30 s")


@pytest.fixture
def kizuna_hub(tmp_path: Path) -> Iterator[RunningHub]:
    """A real hub: org ``producer`` (ceiling red) writes and reads, org ``reader`` (ceiling amber) reads."""
    yield from running_hub(tmp_path)


def running_hub(tmp_path: Path, dsn: str | None = None) -> Iterator[RunningHub]:
    """:func:`kizuna_hub`'s hub on a SQLite file, or (given ``dsn``, an empty place) on PostgreSQL; its
    commands and server run with ``RunningHub.env`` (the database, and PostgreSQL's key file)."""
    db: Path | str = tmp_path / "hub.db"
    env: dict[str, str] = {}
    if dsn is not None:
        db, env = dsn, {"KIZUNA_KEY_FILE": str(tmp_path / "hub.key")}
    d = ("--db", str(db))
    kizuna_cli("hub", "init", *d, "--title", "test hub", env=env)
    kizuna_cli("hub", "org", "add", "producer", *d, "--country", "GB", "--ceiling", "red", env=env)
    kizuna_cli("hub", "org", "add", "reader", *d, "--country", "JP", "--ceiling", "amber", env=env)
    token = kizuna_cli("hub", "token", "create", *d, "--org", "producer", env=env).stdout.strip()
    reader_token = kizuna_cli("hub", "token", "create", *d, "--org", "reader", env=env).stdout.strip()
    cid = kizuna_cli(
        "hub",
        "collection",
        "add",
        *d,
        "--title",
        "shared",
        "--read",
        "producer,reader",
        "--write",
        "producer",
        env=env,
    ).stdout.strip()
    port = free_port()
    log_path = tmp_path / "hub.log"
    proc = start_hub_process(db, port, env=env, log_path=log_path)
    hub = RunningHub(
        api_root_url=f"http://127.0.0.1:{port}/api/",
        discovery_url=f"http://127.0.0.1:{port}/taxii2/",
        token=token,
        org="producer",
        reader_token=reader_token,
        reader_org="reader",
        collection_id=cid,
        db_path=Path(db) if dsn is None else tmp_path / "hub.db",
        process=proc,
        port=port,
        db=str(db),
        env=env,
        log_path=log_path,
    )
    try:
        yield hub
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- PostgreSQL: one throw-away cluster per test session, a fresh database per test module --------------
@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """The session's PostgreSQL cluster (see ``tests/postgres.py``). Missing server binaries skip the
    PostgreSQL cases locally and fail them in CI (``CI=true``)."""
    from tests.postgres import Cluster, server_bin

    bin_dir = server_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries not found (Debian: apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    cluster = Cluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def pg_database(pg_cluster: object) -> str:
    """A fresh database for this test module, made from the cluster's template."""
    from tests.postgres import Cluster

    assert isinstance(pg_cluster, Cluster)
    return pg_cluster.database()


@pytest.fixture
def new_pg_dsn(pg_cluster: object, pg_database: str) -> object:
    """A factory of DSNs, each naming a fresh, empty place for a hub (a schema of the module's database)."""
    from tests.postgres import Cluster

    assert isinstance(pg_cluster, Cluster)
    return lambda: pg_cluster.schema_dsn(pg_database)
