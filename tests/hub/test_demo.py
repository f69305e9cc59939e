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

from kizuna.hub.demo import attack_ics_objects, build_demo
from kizuna.hub.models import Query

from ..conftest import free_port


def test_demo_hub_contents(tmp_path: Path):
    hub = build_demo(tmp_path)
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
        jp = {
            r.id
            for r in store.query(cni, store.get_org("jp-nisc"), Query(limit=100, types=("indicator",))).rows
        }
        assert len(names) == 2 and len(jp) == 3  # the RED indicator is for NISC only
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
