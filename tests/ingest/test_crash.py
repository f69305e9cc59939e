"""Crash safety (issue 15, acceptance): ``kizuna ingest`` killed with SIGKILL at random moments and rerun
leaves each unit entirely stored or entirely absent, and ends with the same objects and versions as a clean
single run; each stored unit has exactly one audit record; ``kizuna hub audit verify`` exits 0.

CI runs a few kill points on a small feed and CSV; the full acceptance run (a feed of 200 events, 10 kill
points; a 1,000,000-row CSV with --batch-rows 10000, 10 kill points) runs with ``KIZUNA_CRASH_FULL=1``.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP
from tests.conftest import kizuna_cli
from tests.ingest.feeds import feed_event, serve, write_feed

FULL = bool(os.environ.get("KIZUNA_CRASH_FULL"))


def _hub(path: Path) -> str:
    with SQLiteStore.create(path, title="crash") as store:
        store.add_org("uk", ceiling=TLP.RED)
        return store.add_collection("c", alias="c", readers=["uk"], writers=["uk"]).id


def _cmd(args: list[str], db: Path) -> list[str]:
    return [sys.executable, "-m", "kizuna", *args, "--db", str(db), "--collection", "c", "--org", "uk"]


def _state(db: Path) -> dict[str, object]:
    conn = sqlite3.connect(db)
    try:
        objects = set(conn.execute("SELECT id, version FROM objects"))
        units = conn.execute("SELECT unit, write_id FROM ingest_units").fetchall()
        per_unit = dict(
            conn.execute(
                "SELECT u.unit, COUNT(*) FROM provenance p JOIN ingest_units u ON u.id = p.unit_id"
                " GROUP BY u.unit"
            ).fetchall()
        )
        audit = [
            orjson.loads(d) for (d,) in conn.execute("SELECT detail FROM audit WHERE action='objects.add'")
        ]
        orphans = conn.execute(
            "SELECT COUNT(*) FROM objects o LEFT JOIN provenance p ON p.object_added = o.date_added"
            " WHERE p.object_added IS NULL"
        ).fetchone()[0]
    finally:
        conn.close()
    return {"objects": objects, "units": units, "per_unit": per_unit, "audit": audit, "orphans": orphans}


def _check_units(state: dict[str, object], clean: dict[str, object]) -> None:
    """Each unit stored is whole (what the clean run stored for it), with exactly one audit record; nothing
    is stored outside a unit."""
    assert state["orphans"] == 0
    per_unit = state["per_unit"]
    assert isinstance(per_unit, dict)
    clean_per_unit = clean["per_unit"]
    assert isinstance(clean_per_unit, dict)
    units = state["units"]
    assert isinstance(units, list)
    for unit, _write in units:
        assert per_unit.get(unit, 0) == clean_per_unit.get(unit, 0), unit
    writes = [a["write"] for a in state["audit"] if "ingest" in a]  # type: ignore[attr-defined]
    assert sorted(writes) == sorted(w for _, w in units)  # one audit record per stored unit


def _crash_loop(args: list[str], db: Path, clean_db: Path, kills: int, seed: int) -> None:
    started = time.monotonic()
    subprocess.run(_cmd(args, clean_db), check=True, capture_output=True, timeout=600)
    clean_s = time.monotonic() - started
    clean = _state(clean_db)
    rng = random.Random(seed)
    for _ in range(kills):
        proc = subprocess.Popen(_cmd(args, db), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, clean_s * 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        _check_units(_state(db), clean)
    done = subprocess.run(_cmd(args, db), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    final = _state(db)
    _check_units(final, clean)
    assert final["objects"] == clean["objects"]
    assert kizuna_cli("hub", "audit", "verify", "--db", str(db)).returncode == 0
    # the read indexes hold every version, those of killed runs included (indexed from their bytes)
    assert _indexed(db) == _indexed(clean_db)


def _indexed(db: Path) -> tuple[object, ...]:
    conn = sqlite3.connect(db)
    try:
        meta = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('indexed_to', 'last_date_added')")
        )
        assert meta["indexed_to"] == meta["last_date_added"]
        return tuple(
            conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("search", "observables", "same_keys", "links", "sightings", "flags")
        )
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("events", "kills"), [pytest.param(200, 10, id="full") if FULL else pytest.param(40, 3, id="ci")]
)
def test_a_feed_killed_at_random_moments(tmp_path: Path, events: int, kills: int) -> None:
    root = write_feed(tmp_path / "feed", [feed_event(n) for n in range(events)])
    db, clean = tmp_path / "hub.db", tmp_path / "clean.db"
    _hub(db)
    _hub(clean)
    with serve(root) as url:
        _crash_loop(["ingest", "misp-feed", url], db, clean, kills, seed=15)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rows", "batch", "kills"),
    [pytest.param(1_000_000, 10_000, 10, id="full") if FULL else pytest.param(20_000, 1_000, 2, id="ci")],
)
def test_a_csv_in_batches_killed_at_random_moments(tmp_path: Path, rows: int, batch: int, kills: int) -> None:
    csv = tmp_path / "big.csv"
    with csv.open("w") as f:
        f.write("indicator\n")
        for i in range(rows):
            f.write(f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{i % 7 + 1}\n")
    mapping = tmp_path / "m.toml"
    mapping.write_text('[fields]\nvalue = "indicator"\ntype = { constant = "ipv4-addr" }\n')
    db, clean = tmp_path / "hub.db", tmp_path / "clean.db"
    _hub(db)
    _hub(clean)
    args = ["ingest", "csv", str(csv), "--mapping", str(mapping), "--batch-rows", str(batch)]
    _crash_loop(args, db, clean, kills, seed=16)
