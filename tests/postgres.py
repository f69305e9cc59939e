"""A throw-away PostgreSQL cluster for the tests: ``initdb`` in a temporary directory (as the ``postgres``
user when the tests run as root: PostgreSQL refuses root), ``postgres`` listening only on a Unix socket in
that directory (no TCP), ``fsync`` on. Never a system cluster."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg


def server_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class Cluster:
    """One running cluster; :meth:`database` and :meth:`schema_dsn` hand out fresh, empty places."""

    TEMPLATE = "kizuna_template"

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="kizuna-pg-"))
        self.data = self.dir / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.start()
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.TEMPLATE}")

    def start(self) -> None:
        """Start the server (again, after :meth:`postmaster_pid` was killed: it recovers from its WAL)."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses='' -k {self.dir} -c fsync=on -c max_connections=300 -c shared_buffers=64MB",
            "start",
        )

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120)

    def dsn(self, database: str, **params: str) -> str:
        extra = "".join(f"&{k}={v}" for k, v in params.items())
        return f"postgresql:///{database}?host={self.dir}&user=postgres{extra}"

    def database(self) -> str:
        """A fresh database made from the template; returns its name."""
        name = f"kz_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {self.TEMPLATE}")
        return name

    def schema_dsn(self, database: str) -> str:
        """A DSN for a fresh, empty schema in ``database`` (a new hub costs a schema, not a database)."""
        schema = f"hub_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.dsn(database, options=f"-csearch_path%3D{schema}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:  # not running (a test killed it)
            pass
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
