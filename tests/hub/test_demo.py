"""``kizuna demo``: a real process serving real sample intelligence."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kizuna.hub.demo import SCANNER_INDICATOR, SCANNER_IP, attack_ics_objects, build_demo
from kizuna.hub.models import Query
from kizuna.hub.reads import Search
from kizuna.stix.ids import to_us, utc_now

from ..conftest import free_port


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_demo_hub_contents(tmp_path: Path, backend: str, request: pytest.FixtureRequest):
    """The demo has data for every page of the web UI: a UK/Japan disagreement, live sightings, conjunctions,
    a minerals assessment, a note and an opinion, and an administrator (on either backend: ``kizuna demo
    --db DSN``)."""
    dsn = request.getfixturevalue("new_pg_dsn")() if backend == "postgres" else None
    hub = build_demo(tmp_path, dsn=dsn)
    try:
        store = hub.store
        attack = store.get_collection("attack-ics")
        assert attack is not None
        operator = store.get_org("uk-water-op")
        page = store.query(attack, operator, Query(limit=100_000))
        assert len(page.rows) == len(attack_ics_objects()) > 1000  # every ATT&CK for ICS object validated
        cni = store.get_collection("uk-jp-cni")
        assert cni is not None
        names = {r.id for r in store.query(cni, operator, Query(limit=100, types=("indicator",))).rows}
        nisc = store.get_org("jp-nisc")
        jp = {r.id for r in store.query(cni, nisc, Query(limit=100, types=("indicator",))).rows}
        assert len(jp) == len(names) + 1  # the RED indicator is for NISC only
        assert store.get_org("uk-ncsc").admin and not nisc.admin
        ncsc = store.get_org("uk-ncsc")
        groups, _ = store.same_groups(ncsc)
        assert {g.key for g in groups} >= {
            f"value:{SCANNER_IP}",
            "name:threat-actor:reservoir spider",
            "conjunction:22675-24946",
        }
        live, _ = store.sighting_tallies(
            ncsc, since_us=to_us(utc_now()) - 30 * 86_400_000_000, until_us=to_us(utc_now())
        )
        assert [t.ref for t in live] == [SCANNER_INDICATOR] and live[0].reporters == 2
        about = store.linked(operator, SCANNER_INDICATOR, "about").hits
        assert sorted(h.row.type for h in about) == ["note", "opinion"]
        assert store.search(operator, Search(types=("x-kizuna-minerals-assessment",))).hits
        assert len(store.search(ncsc, Search(types=("kizuna-conjunction",))).hits) == 2
    finally:
        hub.cleanup()
    assert not tmp_path.joinpath("demo-hub.db").exists()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_until_stopped_and_cleans_up(stop_signal):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "demo", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = proc.stdout.readline()
            assert line, "demo exited early"
            lines.append(line.strip())
        text = "\n".join(lines)
        token = re.search(r"token uk-water-op: (\S+)", text).group(1)
        db_path = Path(re.search(r"temporary database (\S+),", text).group(1))
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/collections/",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=2,
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        titles = {c["title"] for c in r.json()["collections"]}
        assert "MITRE ATT&CK for ICS" in titles and "UK-Japan CNI threats" in titles
    finally:
        proc.send_signal(stop_signal)
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()
    assert not db_path.exists()
