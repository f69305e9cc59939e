"""A private PostgreSQL cluster for the benchmarks: the tests' throw-away cluster (``tests/postgres.py``:
``initdb`` in a temporary directory, as the ``postgres`` user when run as root, a Unix socket only, no TCP),
started with settings for a database of millions of rows instead of the tests' small ones, and able to be
kept after the run and started again (``--keep`` / ``--reuse`` of the benchmarks that use it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres import Cluster, server_bin

__all__ = ["SETTINGS", "BenchCluster", "server_bin"]

#: Server settings (``-c``): durable (fsync on, synchronous commit), buffers for a hub of a few GB on a
#: machine shared with other work, checkpoints spaced for bulk loading.
SETTINGS = {
    "listen_addresses": "''",
    "fsync": "on",
    "max_connections": "100",
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
}


class BenchCluster(Cluster):
    """A running cluster: new (``directory`` None) or the one kept in ``directory``, started again."""

    def __init__(
        self, bin_dir: Path, directory: Path | None = None, *, settings: dict[str, str] | None = None
    ) -> None:
        self.settings = {**SETTINGS, **(settings or {})}  # a benchmark's own, over the defaults
        if directory is None:
            super().__init__(bin_dir)
            return
        self.bin = bin_dir
        self.dir = Path(directory)
        self.data = self.dir / "data"
        self._as = ["runuser", "-u", "postgres", "--"] if self.dir.owner() == "postgres" else []
        self.start()

    def start(self) -> None:
        options = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-t",
            "120",
            "-o",
            f"-k {self.dir} {options}",
            "start",
        )

    def stop(self, *, keep: bool = False) -> None:
        """Stop the server (a clean shutdown); remove its directory unless ``keep``."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "120", "stop")
        except subprocess.CalledProcessError:
            pass
        finally:
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)
