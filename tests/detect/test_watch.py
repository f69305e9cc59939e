"""``kizuna match export --watch`` with real processes: a ``kizuna hub serve`` on 127.0.0.1 and the watcher as
a user runs it. The files are read as a sensor reads them, while they are being rewritten."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from kizuna.detect.exports import write_atomically
from kizuna.detect.warninglists import WarningLists
from kizuna.detect.watch import ExportSet
from kizuna.hub.client import HubClient
from kizuna.stix.ids import format_timestamp, utc_now

from ..conftest import RunningHub, kizuna_cli, start_hub_process
from .conftest import indicator

pytestmark = pytest.mark.timeout(120)

HEADER = b"#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"


def ip(i: int) -> str:
    return f"185.225.17.{i}"


def post(hub: RunningHub, *objects: dict[str, object]) -> None:
    with HubClient(hub.api_root_url, hub.token) as client:
        status = client.add_objects(hub.collection_id, list(objects), poll_interval_s=0.02)
    assert status["failure_count"] == 0, status


class Watcher:
    """``kizuna match export --watch`` against the test hub's collection."""

    def __init__(self, hub: RunningHub, tmp: Path, fmt: str, *extra: str) -> None:
        self.token_file = tmp / "token"
        self.token_file.write_text(hub.token + "\n")
        self.token_file.chmod(0o600)
        self.out = tmp / "out"
        self.stderr = tmp / "watch.err"
        self.stderr.write_bytes(b"")
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kizuna", "match", "export", "--watch", "--format", fmt,
                 "--out", str(self.out), "--hub", hub.api_root_url, "--token-file", str(self.token_file),
                 "--collection", hub.collection_id, *extra],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )  # fmt: skip
        self.wait_for(lambda: b"watching collection" in self.stderr.read_bytes(), "the watcher to start")

    def rewrites(self) -> int:
        return self.stderr.read_text().count("kizuna: wrote ")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = 20) -> float:
        """Seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout_s:
            if condition():
                return time.monotonic() - start
            if self.proc.poll() is not None:
                raise AssertionError(f"the watcher exited: {self.stderr.read_text()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}\n{self.stderr.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def intel_values(path: Path) -> set[str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    return {line.split(b"\t")[0].decode() for line in data.splitlines()[1:]}


class Reader(threading.Thread):
    """Reads a Zeek intel file in a loop, as Zeek's REREAD does; counts reads and partial files."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.reads = 0
        self.partial: list[bytes] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                continue
            self.reads += 1
            rows = data.split(b"\n")
            complete = data.startswith(HEADER) and data.endswith(b"\n")
            if not complete or not all(len(r.split(b"\t")) == 5 for r in rows[1:-1]):
                self.partial.append(data)


@pytest.fixture
def watched(kizuna_hub: RunningHub, tmp_path: Path) -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    try:
        yield started
    finally:
        for w in started:
            w.stop()


def test_zeek_file_follows_new_revoked_expired_and_deleted_indicators(
    kizuna_hub: RunningHub, tmp_path: Path, watched: list[Watcher]
) -> None:
    a = indicator(f"[ipv4-addr:value = '{ip(1)}']", n=1)
    post(kizuna_hub, a)
    w = Watcher(kizuna_hub, tmp_path, "zeek-intel", "--min-interval-s", "0.1", "--resync-s", "1")
    watched.append(w)
    intel = w.out / "kizuna.intel"
    w.wait_for(lambda: intel_values(intel) == {ip(1)}, "A in the file")
    assert intel.stat().st_mode & 0o777 == 0o644  # sensors run as another user
    intel.chmod(0o640)  # the operator's choice is kept across rewrites
    reader = Reader(intel)
    reader.start()
    # new indicators appear, one after another, while the reader reads
    for i in range(2, 12):
        post(kizuna_hub, indicator(f"[ipv4-addr:value = '{ip(i)}']", n=i))
    took = w.wait_for(lambda: intel_values(intel) == {ip(i) for i in range(1, 12)}, "B.. in the file")
    assert took < 2.5
    # revoked at the hub: gone
    post(kizuna_hub, {**a, "modified": "2026-01-16T00:00:00.000Z", "revoked": True})
    took = w.wait_for(lambda: ip(1) not in intel_values(intel), "A to go")
    assert took < 2.0
    # past valid_until: gone when the time comes, with no event from the hub
    until = utc_now() + timedelta(seconds=1.5)
    post(kizuna_hub, indicator(f"[ipv4-addr:value = '{ip(40)}']", n=40, valid_until=format_timestamp(until)))
    w.wait_for(lambda: ip(40) in intel_values(intel), "the expiring one to appear")
    w.wait_for(lambda: ip(40) not in intel_values(intel), "the expiring one to go", timeout_s=5)
    assert utc_now() >= until
    # deleted at the hub (no event): gone at the next listing
    b_id = indicator("", n=2)["id"]
    response = httpx.delete(
        f"{kizuna_hub.api_root_url}collections/{kizuna_hub.collection_id}/objects/{b_id}/",
        headers={
            "Authorization": f"Bearer {kizuna_hub.token}",
            "Accept": "application/taxii+json;version=2.1",
        },
    )
    assert response.status_code == 200, response.text
    took = w.wait_for(lambda: ip(2) not in intel_values(intel), "the deleted one to go")
    assert took < 3.0
    # content unchanged (an indicator Zeek cannot express): no rewrite. First let the writes of the steps
    # above settle (under load the last of them can land after the file already showed its change).
    before, settle_until = w.rewrites(), time.monotonic() + 10
    while time.monotonic() < settle_until:
        time.sleep(1.0)
        if w.rewrites() == before:
            break
        before = w.rewrites()
    inode = intel.stat().st_ino
    post(kizuna_hub, indicator("[ipv4-addr:value LIKE '185.%']", n=50))
    time.sleep(1.5)
    assert w.rewrites() == before and intel.stat().st_ino == inode
    reader.stop.set()
    reader.join()
    assert reader.reads > 100 and not reader.partial, reader.partial[:1]
    assert intel.stat().st_mode & 0o777 == 0o640
    assert not [p for p in w.out.iterdir() if p.name.startswith(".")]  # no temporary file left
    # SIGTERM: a clean end, the file stays as last written
    last = intel.read_bytes()
    assert w.stop() == 0
    assert "stopped:" in w.stderr.read_text() and "Traceback" not in w.stderr.read_text()
    assert intel.read_bytes() == last
    # bad input, with a hub: a token it refuses is one line, exit 2, and the file is untouched
    bad = tmp_path / "bad.token"
    bad.write_text("not-a-token\n")
    bad.chmod(0o600)
    proc = kizuna_cli("match", "export", "--watch", "--format", "zeek-intel", "--out", str(w.out), "--hub",
                      kizuna_hub.api_root_url, "--token-file", str(bad), "--collection",
                      kizuna_hub.collection_id, check=False)  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert intel.read_bytes() == last


def test_suricata_rate_limit_and_an_unreachable_hub(
    kizuna_hub: RunningHub, tmp_path: Path, watched: list[Watcher]
) -> None:
    interval = 1.0
    w = Watcher(kizuna_hub, tmp_path, "suricata-dataset", "--min-interval-s", str(interval))
    watched.append(w)
    lst = w.out / "kizuna-ipv4.lst"
    changes: list[float] = []  # when the file was replaced (a new inode), seen by polling
    done = threading.Event()

    def watch_inode() -> None:
        last = None
        while not done.is_set():
            try:
                ino = lst.stat().st_ino
            except FileNotFoundError:
                ino = None
            if ino != last and ino is not None:
                changes.append(time.monotonic())
            last = ino
            time.sleep(0.005)

    poller = threading.Thread(target=watch_inode, daemon=True)
    poller.start()
    start = time.monotonic()
    for i in range(1, 16):  # 15 indicators over about 2 s
        post(kizuna_hub, indicator(f"[ipv4-addr:value = '{ip(i)}']", n=i))
        time.sleep(0.1)
    want = "".join(f"{ip(i)}\n" for i in range(1, 16))
    w.wait_for(lambda: lst.exists() and lst.read_text() == want, "all 15 in the dataset")
    time.sleep(interval + 0.3)
    done.set()
    poller.join()
    elapsed = time.monotonic() - start
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    assert len(changes) >= 2 and all(g >= interval * 0.95 for g in gaps), gaps
    # every rewrite of the run replaced the dataset (the first one wrote the empty rules file only)
    assert w.rewrites() == len(changes) + 1 and len(changes) <= elapsed / interval + 1
    assert "dataset:isset,kizuna-ipv4,type ipv4,load kizuna-ipv4.lst;" in (w.out / "kizuna.rules").read_text()
    # the hub goes away: the files stay as they were; it comes back: the watcher follows it again
    kizuna_hub.process.terminate()
    kizuna_hub.process.wait(timeout=20)
    w.wait_for(lambda: b"keeping the files" in w.stderr.read_bytes(), "the watcher to notice")
    assert lst.read_text() == want
    back = start_hub_process(kizuna_hub.db_path, kizuna_hub.port)
    try:
        w.wait_for(lambda: b"connected again" in w.stderr.read_bytes(), "the stream to reconnect")
        post(kizuna_hub, indicator(f"[ipv4-addr:value = '{ip(99)}']", n=99))
        w.wait_for(lambda: ip(99) in lst.read_text(), "the new one after the hub came back")
    finally:
        w.stop()
        back.terminate()
        back.wait(timeout=20)


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0o600)
    hub = ["--hub", "http://127.0.0.1:9/api/", "--token-file", str(token), "--collection", "c"]
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    base = ["match", "export", "--format", "zeek-intel"]
    for args, words in (
        ([*base, "--out", str(tmp_path), "--watch"], "--watch needs --hub"),
        ([*base, "--out", str(tmp_path), "--watch", *hub, "--min-interval-s", "0"], "--min-interval-s"),
        ([*base, "--out", str(tmp_path), "--watch", *hub, "--resync-s", "-1"], "--resync-s"),
        ([*base, "--out", str(tmp_path), "--watch", *hub, "--bundle", "b.json"], "--bundle"),
        ([*base, "--out", str(tmp_path), "--watch", *hub, "--now", "2026-01-01T00:00:00Z"], "--now"),
        ([*base, "--out", str(a_file), "--watch", *hub], str(a_file)),
        ([*base, "--out", str(tmp_path), "--bundle", "b.json", "--min-interval-s", "1"], "--watch"),
    ):
        proc = kizuna_cli(*args, check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


# -- in process ------------------------------------------------------------------------------------------
def test_write_atomically_readers_see_old_or_new_never_a_part(tmp_path: Path) -> None:
    path = tmp_path / "big.lst"
    versions = [bytes([65 + k]) * (3 << 20) for k in range(3)]  # 3 MiB each
    write_atomically(path, versions[0])
    seen: set[bytes] = set()
    partial = 0
    stop = threading.Event()

    def read() -> None:
        nonlocal partial
        while not stop.is_set():
            data = path.read_bytes()
            if data in versions:
                seen.add(data[:1])
            else:
                partial += 1

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    for k in range(12):
        write_atomically(path, versions[k % 3])
    stop.set()
    reader.join()
    assert partial == 0 and len(seen) >= 2
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    write_atomically(path, b"x\n")
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == b"x\n"
    assert [p.name for p in tmp_path.iterdir()] == ["big.lst"]


def test_export_set_agrees_with_a_one_shot_selection_on_random_versions(warninglists: WarningLists) -> None:
    rng = random.Random(int(os.environ.get("KIZUNA_WATCH_SEED", "16")))
    live = ExportSet(warninglists)
    base = utc_now()
    seen: list[dict[str, object]] = []
    for step in range(400):
        n = rng.randrange(1, 30)
        version = indicator(
            rng.choice([f"[ipv4-addr:value = '{ip(n)}']", "[domain-name:value = 'bad.example']", "[x:y = '"]),
            n=n,
            modified=f"2026-01-{rng.randrange(15, 28)}T00:00:00.000Z",
        )
        if rng.random() < 0.2:
            version["revoked"] = True
        if rng.random() < 0.3:
            version["valid_until"] = format_timestamp(base + timedelta(seconds=rng.randrange(-5, 60)))
        seen.append(version)
        when = base + timedelta(seconds=step / 10)
        live.apply([version], when)
        if step % 20 == 19:
            ref = live.reference(when)
            assert [i.id for i in live.current(when)] == sorted(i.id for i in ref.active)
    later = base + timedelta(seconds=30)
    assert [i.id for i in live.current(later)] == sorted(i.id for i in live.reference(later).active)
    fresh = ExportSet(warninglists)
    fresh.apply(seen[:100], later)
    live.replace(seen[:100], later)  # a full listing: what it lacks is gone
    want = sorted(i.id for i in fresh.reference(later).active)
    assert [i.id for i in live.current(later)] == [i.id for i in fresh.current(later)] == want
