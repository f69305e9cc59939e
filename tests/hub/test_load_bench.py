"""``benchmarks/load_bench.py --quick`` (issue 18, item 5) runs and its checks pass: 5,000 objects pre-loaded
through the intake, ``kizuna hub serve --workers 2`` over PostgreSQL, four readers (both client paths) and
a writer for a few seconds, then the writer alone; no 5xx, every reader's sequence exact, every status adds
up, ``kizuna hub audit verify`` exits 0."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT


def test_load_bench_quick(new_pg_dsn: Callable[[], str], tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_bench.py"),
            "--quick",
            "--objects",
            "5000",
            "--dsn",
            new_pg_dsn(),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["audit_verify_exit"] == 0
    (run,) = report["columns"].values()
    assert run["problems"] == [] and run["fivexx"] == 0
    assert run["stored_before"] == 5000 and run["pages"] > 0 and run["read_objects"] > 0
    assert run["write_objects"] > 0 and run["ingest_alone_objects"] > 0
    assert 0 < run["worker_rss_mb"] < 1000
