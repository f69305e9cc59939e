"""Live response benchmark (issue 16): how fast a UK indicator is live at JP, and its sighting home at the UK.

Two real ``kizuna hub serve`` processes on 127.0.0.1, UK and JP, each on its own durable SQLite file. JP
pulls the UK's exchange collection (``--max-tlp green``); the UK gives JP's account write access to it, so
sightings come home. The UK posts ``--indicators`` indicators at random moments over ``--spread-s``
seconds; for each one the script records, on this machine's clock:

* **JP stores it**: the ``date_added`` the JP hub gave it (its commit);
* **matched**: when the matcher at JP first had it;
* **JP stores the sighting**: the ``date_added`` of the operator's sighting at JP;
* **the UK producer can read the sighting**: the ``date_added`` of the sighting sent home, at the UK.

Modes (each a fresh pair of hubs):

* ``live``: ``serve --follow-peers`` at JP (the UK's stream; sightings home at once), and at the sensor a
  real ``kizuna match --follow LOG --flush-s 1`` (:func:`matcher_follow`) over a log that a writer appends
  ECS JSON events to at 20,000 events/s, one in ten carrying the value of one of the indicators (shared or
  not yet). "Counted twice" compares the sightings' summed ``count`` at JP and at the UK with the hits the
  follower printed.
* ``live-stand-in``: as ``live``, but the sensor side is a stream follower that posts one sighting per new
  indicator at once (no log): the first session's stand-in, kept for comparison.
* ``poll-1`` and ``poll-60``: today's polling path, ``serve --sync-every 1`` (or 60) at JP, and a sensor
  side that polls JP's ``objects/`` with ``added_after`` every 1 s (or 60 s).

After the modes, :func:`follow_throughput` appends ``--follow-rate`` events/s (50,000) for ``--follow-s``
seconds to a log that ``kizuna match --follow`` follows, the hub's collection holding
``--follow-indicators`` live indicators (100,000, the size of ``match_bench.py``'s set), and reports how
soon after the writer stops it has read everything, and its CPU time.

``--idle`` measures the UK hub's CPU while nothing changes: 50 stream followers connected vs 50 clients
polling ``objects/`` every second, over ``--idle-s`` seconds each.

    python benchmarks/live_bench.py                  # every mode and the idle comparison; prints a table
    python benchmarks/live_bench.py --quick          # 20 indicators, live and poll-1 only, short idle
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import free_port, machine

from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.client import HubClient
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.stream_client import ObjectStream
from kizuna.stix.markings import TLP, TLP2_IDS

ROOT = Path(__file__).resolve().parent.parent
GREEN = TLP2_IDS[TLP.GREEN]


def kizuna(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", *args], capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"kizuna {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@dataclass
class Hub:
    name: str
    db: Path
    port: int
    collection: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self, *extra: str) -> None:
        log = open(self.db.with_suffix(".log"), "ab")  # noqa: SIM115 - closed below, the child keeps it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kizuna", "hub", "serve", "--db", str(self.db), "--port", str(self.port),
             *extra],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/taxii2/", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(
                        f"{self.name} did not start: {self.db.with_suffix('.log').read_text()}"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_pair(workdir: Path) -> tuple[Hub, Hub]:
    uk = Hub("uk", workdir / "uk.db", free_port())
    jp = Hub("jp", workdir / "jp.db", free_port())
    with SQLiteStore.create(uk.db, title="UK national hub") as s:
        for org, ceiling, peer in (("ncsc", TLP.RED, False), ("jp-hub", TLP.AMBER, True)):
            s.add_org(org, ceiling=ceiling, peer_hub=peer)
            uk.tokens[org] = new_token()
            s.add_token(org, hash_token(uk.tokens[org]))
        uk.collection = s.add_collection("uk-jp", readers=["ncsc", "jp-hub"], writers=["ncsc", "jp-hub"]).id
        s.add_peer("jp-hub", url=jp.api, user=None, secret=s.keys.seal("unused"), max_tlp=TLP.GREEN)
    with SQLiteStore.create(jp.db, title="Japan national hub") as s:
        s.add_org("grid-op", ceiling=TLP.AMBER, sectors=["energy"])
        jp.tokens["grid-op"] = new_token()
        s.add_token("grid-op", hash_token(jp.tokens["grid-op"]))
        jp.collection = s.add_collection("jp-uk", readers=["grid-op"], writers=["grid-op"]).id
    token_file = workdir / "jp-to-uk.token"
    token_file.write_text(uk.tokens["jp-hub"] + "\n")
    token_file.chmod(0o600)
    kizuna("hub", "peer", "add", "uk-hub", "--db", str(jp.db), "--url", uk.api, "--token-file",
           str(token_file), "--pull", f"{uk.collection}:{jp.collection}", "--max-tlp", "green")  # fmt: skip
    return uk, jp


def indicator_address(i: int) -> str:
    """The address of indicator ``i`` (distinct for i < 15,625,000; never one of the log's misses)."""
    return f"100.{64 + i // 62_500}.{i // 250 % 250}.{i % 250}"


def new_indicator(i: int) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "pattern": f"[ipv4-addr:value = '{indicator_address(i)}']",
        "pattern_type": "stix",
        "valid_from": now,
        "object_marking_refs": [GREEN],
    }


def sighting_of(ind: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": now,
        "modified": now,
        "sighting_of_ref": ind["id"],
        "count": 1,
        "first_seen": now,
        "last_seen": now,
        "object_marking_refs": [GREEN],
    }


# -- the matcher leg: a stand-in until `kizuna match --follow` exists ------------------------------------
Matched = dict[str, float]  # indicator id -> when the matcher first had it (time.time())


def stand_in_stream(jp: Hub, matched: Matched, stop: threading.Event) -> None:
    """Follow JP's collection stream; post a sighting of each new indicator at once."""
    with HubClient(jp.api, jp.tokens["grid-op"]) as hub, HubClient(jp.api, jp.tokens["grid-op"]) as poster:
        for batch in ObjectStream(hub, jp.collection, types=("indicator",)).batches(stop):
            if batch is None:
                continue
            now = time.time()
            fresh = [e.object for e in batch.events if e.object["id"] not in matched]
            for o in fresh:
                matched[o["id"]] = now
            if fresh:
                poster.add_objects(jp.collection, [sighting_of(o) for o in fresh])


def stand_in_poll(every_s: float) -> Callable[[Hub, Matched, threading.Event], None]:
    """Poll JP's objects/ with added_after every ``every_s``; post a sighting of each new indicator."""

    def run(jp: Hub, matched: Matched, stop: threading.Event) -> None:
        after: str | None = None
        with HubClient(jp.api, jp.tokens["grid-op"]) as hub:
            while not stop.wait(every_s):
                params = {"match[type]": "indicator", "limit": "1000"}
                if after:
                    params["added_after"] = after
                envelope, headers = hub.get_objects_page(jp.collection, params)
                fresh = [o for o in envelope.get("objects", []) if o["id"] not in matched]
                now = time.time()
                for o in fresh:
                    matched[o["id"]] = now
                if fresh:
                    after = headers.get("X-TAXII-Date-Added-Last") or after
                    hub.add_objects(jp.collection, [sighting_of(o) for o in fresh])

    return run


class LogWriter:
    """Appends ECS JSON events to ``path`` at ``rate`` events/s (in batches every 10 ms) until stopped.
    One event in ``hit_every`` carries the address of one of ``indicators`` indicators (``new_indicator``'s
    values, shared or not yet); the others carry addresses no indicator names."""

    def __init__(self, path: Path, rate: int, indicators: int, hit_every: int = 10) -> None:
        self.path, self.rate, self.indicators, self.hit_every = path, rate, indicators, hit_every
        self.written = 0
        self.carrying: Counter[str] = Counter()  # address -> events written carrying it
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(20)
        start = time.monotonic()
        with self.path.open("ab", buffering=0) as log:
            while not self.stop.is_set():
                due = int((time.monotonic() - start) * self.rate) - self.written
                if due <= 0:
                    time.sleep(0.01)
                    continue
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                lines = []
                for n in range(self.written, self.written + due):
                    if n % self.hit_every == 0:
                        i = rng.randrange(self.indicators)
                        address = indicator_address(i)
                        self.carrying[address] += 1
                    else:
                        address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
                    lines.append(
                        b'{"@timestamp":"%s","source":{"ip":"192.168.1.%d"},"destination":{"ip":"%s"}}\n'
                        % (stamp.encode(), n % 250, address.encode())
                    )
                log.write(b"".join(lines))
                self.written += due


def match_follow_cmd(hub: Hub, collection: str, token_file: Path, state: Path, log: Path) -> list[str]:
    return [sys.executable, "-m", "kizuna", "match", "--follow", str(log), "--hub", hub.api,
            "--token-file", str(token_file), "--collection", collection, "--state", str(state),
            "--flush-s", "1", "--org", "grid-op", "--no-warninglists", "--json"]  # fmt: skip


def matcher_follow(
    jp: Hub, matched: Matched, stop: threading.Event, hits: Counter[str] | None = None, n: int = 200
) -> None:
    """The matcher leg (issue 16 item 3): a real ``kizuna match --follow LOG --flush-s 1`` against JP's
    collection over a log that a writer appends to at 20,000 events/s, the events carrying the values of
    indicators not yet shared; ``matched`` gets when each indicator first matched (the follower's
    ``--json`` line for its first hit), ``hits`` the hits per indicator (what its sightings must sum to)."""
    work = jp.db.parent
    token_file = work / "grid-op.token"
    token_file.write_text(jp.tokens["grid-op"] + "\n")
    token_file.chmod(0o600)
    log = work / "sensor.log"
    log.write_bytes(b"")
    writer = LogWriter(log, 20_000, n)
    writer.thread.start()
    err = (work / "follow.err").open("ab")
    proc = subprocess.Popen(
        match_follow_cmd(jp, jp.collection, token_file, work / "follow.state", log),
        stdout=subprocess.PIPE,
        stderr=err,
    )
    err.close()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            now = time.time()
            key = orjson.loads(line)["indicator_id"]
            matched.setdefault(key, now)
            if hits is not None:
                hits[key] += 1
            if stop.is_set():
                break
    finally:
        writer.stop.set()
        writer.thread.join()
        proc.terminate()  # the follower flushes its last window and posts it
        if hits is not None:
            for line in proc.stdout:  # hits of the last lines it read
                hits[orjson.loads(line)["indicator_id"]] += 1
        proc.wait(timeout=60)
        jp.follow_written = writer.written


def follow_throughput(
    workdir: Path, rate: int, seconds: float, indicators: int, hit_every: int
) -> dict[str, float]:
    """``kizuna match --follow`` over a log appended at ``rate`` events/s for ``seconds``, with
    ``indicators`` live indicators at one hub (one event in ``hit_every`` carries one of their addresses):
    how far behind it is when the writer stops, and its CPU time."""
    uk, jp = make_pair(workdir)
    jp.start()
    try:
        with HubClient(jp.api, jp.tokens["grid-op"]) as client:
            for start in range(0, indicators, 1000):
                stop = min(start + 1000, indicators)
                client.add_objects(jp.collection, [new_indicator(i) for i in range(start, stop)])
        token_file = workdir / "grid-op.token"
        token_file.write_text(jp.tokens["grid-op"] + "\n")
        token_file.chmod(0o600)
        log, state = workdir / "fast.log", workdir / "fast.state"
        log.write_bytes(b"")
        cmd = match_follow_cmd(jp, jp.collection, token_file, state, log)
        cmd.remove("--json")
        err = (workdir / "fast.err").open("ab")
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        deadline = time.monotonic() + 300
        while b"following" not in (workdir / "fast.err").read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        writer = LogWriter(log, rate, indicators, hit_every)
        follower = psutil.Process(proc.pid)
        c0, w0 = _cpu(follower), time.monotonic()
        writer.thread.start()
        time.sleep(seconds)
        writer.stop.set()
        writer.thread.join()
        stopped, size = time.monotonic(), log.stat().st_size
        written_rate = writer.written / (stopped - w0)
        offset = 0
        while time.monotonic() - stopped < 60:
            try:
                offset = orjson.loads(state.read_bytes())["logs"][str(log)]["position"]["offset"]
            except (OSError, KeyError, orjson.JSONDecodeError):
                offset = 0
            if offset >= size:
                break
            time.sleep(0.05)
        caught_up_s = time.monotonic() - stopped
        cpu = _cpu(follower) - c0
        proc.terminate()
        proc.wait(timeout=60)
        return {"rate": written_rate, "events": writer.written, "caught_up_s": caught_up_s,
                "cpu_s": cpu, "wall_s": time.monotonic() - w0, "done": float(offset >= size)}  # fmt: skip
    finally:
        jp.stop()
        uk.stop()


# -- one run ---------------------------------------------------------------------------------------------
def added_at(db: Path, kind: str) -> dict[str, float]:
    """id of the indicator -> date_added (s) of ``kind`` at this hub: indicators by their id, sightings
    by the indicator they are of (the first)."""
    conn = sqlite3.connect(db)
    try:
        out: dict[str, float] = {}
        for oid, added, raw in conn.execute(
            "SELECT id, date_added, raw FROM objects WHERE type=? ORDER BY date_added", (kind,)
        ):
            key = oid if kind == "indicator" else orjson.loads(raw)["sighting_of_ref"]
            out.setdefault(key, added / 1e6)
        return out
    finally:
        conn.close()


def run_mode(mode: str, n: int, spread_s: float, workdir: Path, settle_s: float) -> dict[str, Any]:
    uk, jp = make_pair(workdir)
    uk.start()
    live = mode.startswith("live")
    jp.start(*(["--follow-peers"] if live else ["--sync-every", mode.split("-")[1]]))
    matched: Matched = {}
    hits: Counter[str] = Counter()
    stop = threading.Event()
    thread: threading.Thread
    if mode == "live":
        thread = threading.Thread(target=matcher_follow, args=(jp, matched, stop, hits, n), daemon=True)
    else:
        leg = stand_in_stream if live else stand_in_poll(float(mode.split("-")[1]))
        thread = threading.Thread(target=leg, args=(jp, matched, stop), daemon=True)
    thread.start()
    time.sleep(1.0)
    rng = random.Random(16)
    moments = sorted(rng.uniform(0, spread_s) for _ in range(n))
    posted: dict[str, float] = {}
    start = time.monotonic()
    jp_counts: Counter[str] = Counter()
    uk_counts: Counter[str] = Counter()
    try:
        with HubClient(uk.api, uk.tokens["ncsc"]) as client:
            for i, at in enumerate(moments):
                delay = at - (time.monotonic() - start)
                if delay > 0:
                    time.sleep(delay)
                ind = new_indicator(i)
                posted[ind["id"]] = time.time()
                client.add_objects(uk.collection, [ind], poll_interval_s=0.01)
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline and len(added_at(uk.db, "sighting")) < n:
            time.sleep(0.5)
        stop.set()
        if mode == "live":
            thread.join(timeout=90)  # the follower stops: its last window is posted
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                jp_counts, uk_counts = sighting_counts(jp.db), sighting_counts(uk.db)
                if jp_counts == hits and uk_counts == hits:
                    break
                time.sleep(0.5)
    finally:
        stop.set()
        jp.stop()
        uk.stop()
    jp_ind, jp_sig, uk_sig = (
        added_at(jp.db, "indicator"),
        added_at(jp.db, "sighting"),
        added_at(uk.db, "sighting"),
    )
    legs: dict[str, list[float]] = {"jp_stores": [], "matched": [], "jp_sighting": [], "uk_reads": []}
    for oid, t0 in posted.items():
        for name, table in (("jp_stores", jp_ind), ("matched", matched), ("jp_sighting", jp_sig),
                            ("uk_reads", uk_sig)):  # fmt: skip
            if oid in table:
                legs[name].append(table[oid] - t0)
    result = {"mode": mode, "n": n, "legs": legs, "missing": n - len(legs["uk_reads"])}
    if mode == "live":
        # counted twice: a sighting count beyond the hits the follower printed, at JP or at the UK
        over = sum(max(0, jp_counts[k] - hits[k]) + max(0, uk_counts[k] - hits[k]) for k in posted)
        result.update(
            dup_at_uk=over,
            hits=sum(hits.values()),
            jp_count=sum(jp_counts.values()),
            uk_count=sum(uk_counts.values()),
            events=getattr(jp, "follow_written", 0),
        )
    else:
        result["dup_at_uk"] = _duplicates(uk.db)
    return result


def sighting_counts(db: Path) -> Counter[str]:
    """Sum of the sightings' counts per indicator at this hub."""
    conn = sqlite3.connect(db)
    try:
        out: Counter[str] = Counter()
        for (raw,) in conn.execute("SELECT raw FROM objects WHERE type='sighting'"):
            s = orjson.loads(raw)
            out[s["sighting_of_ref"]] += int(s.get("count", 1))
        return out
    finally:
        conn.close()


def _duplicates(db: Path) -> int:
    """Sightings at the UK of an indicator that has more than one (each indicator is sighted once)."""
    conn = sqlite3.connect(db)
    try:
        refs = [orjson.loads(r[0])["sighting_of_ref"] for r in conn.execute(
            "SELECT raw FROM objects WHERE type='sighting'")]  # fmt: skip
    finally:
        conn.close()
    return len(refs) - len(set(refs))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- idle CPU: 50 followers vs 50 pollers ----------------------------------------------------------------
def idle_cpu(workdir: Path, clients: int, idle_s: float) -> dict[str, float]:
    uk, _jp = make_pair(workdir)
    with SQLiteStore.open(uk.db) as s:
        for i in range(clients):
            s.add_org(f"op{i}", ceiling=TLP.AMBER)
            uk.tokens[f"op{i}"] = new_token()
            s.add_token(f"op{i}", hash_token(uk.tokens[f"op{i}"]))
        s.grant_access(uk.collection, readers=[f"op{i}" for i in range(clients)])
    uk.start()
    with HubClient(uk.api, uk.tokens["ncsc"]) as client:
        client.add_objects(uk.collection, [new_indicator(i) for i in range(100)])
    assert uk.proc is not None
    server = psutil.Process(uk.proc.pid)
    url = f"{uk.api}collections/{uk.collection}/"
    out: dict[str, float] = {}
    try:
        # 50 stream followers, idle after catching up
        stop = threading.Event()

        def follower(token: str) -> None:
            with HubClient(uk.api, token) as hub:
                for _ in ObjectStream(hub, uk.collection).batches(stop):
                    if stop.is_set():
                        return

        threads = [threading.Thread(target=follower, args=(uk.tokens[f"op{i}"],), daemon=True)
                   for i in range(clients)]  # fmt: skip
        for t in threads:
            t.start()
        time.sleep(3.0)  # all connected and caught up
        c0, w0 = _cpu(server), time.monotonic()
        time.sleep(idle_s)
        out["streams_cpu_pct"] = 100 * (_cpu(server) - c0) / (time.monotonic() - w0)
        stop.set()
        # 50 clients polling objects/ every second (added_after: nothing new each time)
        stop2 = threading.Event()
        polls = [0]

        def poller(token: str) -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
                first = http.get(url + "objects/", params={"limit": "1000"})
                last = first.headers.get("X-TAXII-Date-Added-Last", "")
                while not stop2.wait(1.0):
                    http.get(url + "objects/", params={"added_after": last, "limit": "1000"})
                    polls[0] += 1

        pollers = [threading.Thread(target=poller, args=(uk.tokens[f"op{i}"],), daemon=True)
                   for i in range(clients)]  # fmt: skip
        for t in pollers:
            t.start()
        time.sleep(3.0)
        c0, w0, p0 = _cpu(server), time.monotonic(), polls[0]
        time.sleep(idle_s)
        out["polling_cpu_pct"] = 100 * (_cpu(server) - c0) / (time.monotonic() - w0)
        out["polls_per_s"] = (polls[0] - p0) / (time.monotonic() - w0)
        stop2.set()
    finally:
        uk.stop()
    return out


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return float(t.user + t.system)


# -- report ----------------------------------------------------------------------------------------------
def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | indicators | JP stores p50 / p99 | matched p50 / p99 |"
        " JP stores sighting p50 / p99 | UK reads sighting p50 / p99 | missed | counted twice |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [f"{pct(r['legs'][k], 50):.2f} / {pct(r['legs'][k], 99):.2f} s"
                 for k in ("jp_stores", "matched", "jp_sighting", "uk_reads")]  # fmt: skip
        lines.append(f"| {r['mode']} | {r['n']} | {' | '.join(cells)} | {r['missing']} | {r['dup_at_uk']} |")
    for r in results:
        if "hits" in r:
            lines.append(
                f"\n{r['mode']}: kizuna match --follow --flush-s 1 read {r['events']} events appended"
                f" at 20,000/s; {r['hits']} hits, sighting counts summed {r['jp_count']} at JP and"
                f" {r['uk_count']} at the UK"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--indicators", type=int, default=200)
    ap.add_argument("--spread-s", type=float, default=40.0)
    ap.add_argument("--slow-indicators", type=int, default=20, help="indicators for the 60 s baseline")
    ap.add_argument("--modes", default="live,poll-1,poll-60")
    ap.add_argument("--idle-s", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--follow-rate", type=int, default=50_000, help="events/s for the --follow keep-up run")
    ap.add_argument("--follow-s", type=float, default=20.0, help="seconds of the keep-up run (0: none)")
    ap.add_argument(
        "--follow-indicators", type=int, default=100_000, help="live indicators in the keep-up run"
    )
    ap.add_argument(
        "--follow-hit-every",
        type=int,
        default=100,
        help="one event in N carries an indicator's address in the keep-up run (100: 1 %%, as in"
        " match_bench.py's logs; every hit becomes part of a sighting posted to the hub)",
    )
    args = ap.parse_args()
    if args.quick:
        args.indicators, args.spread_s, args.modes, args.idle_s = 20, 10.0, "live,poll-1", 5.0
        args.follow_s, args.follow_indicators = 5.0, 2_000
    load0 = os.getloadavg()
    print(f"machine: {machine()}; load average at start {load0[0]:.1f}", flush=True)
    results = []
    for mode in [m for m in args.modes.split(",") if m]:  # --modes "": only the keep-up run
        n = args.slow_indicators if mode == "poll-60" else args.indicators
        settle = 200.0 if mode == "poll-60" else 30.0
        with tempfile.TemporaryDirectory(prefix=f"live-{mode}-") as tmp:
            t0 = time.monotonic()
            r = run_mode(mode, n, args.spread_s, Path(tmp), settle)
            results.append(r)
            legs = r["legs"]["uk_reads"]
            took = time.monotonic() - t0
            print(
                f"{mode}: {took:.0f} s wall; UK reads the sighting p50 {pct(legs, 50):.2f} s,"
                f" p99 {pct(legs, 99):.2f} s; missed {r['missing']}",
                flush=True,
            )
    idle: dict[str, float] = {}
    if args.idle_s > 0:
        with tempfile.TemporaryDirectory(prefix="live-idle-") as tmp:
            idle = idle_cpu(Path(tmp), args.clients, args.idle_s)
    keep_up: dict[str, float] = {}
    if args.follow_s > 0:
        with tempfile.TemporaryDirectory(prefix="live-keepup-") as tmp:
            keep_up = follow_throughput(
                Path(tmp), args.follow_rate, args.follow_s, args.follow_indicators, args.follow_hit_every
            )
    load1 = os.getloadavg()
    out = table(results)
    if keep_up:
        out += (
            f"\n\nkizuna match --follow keeping up ({args.follow_indicators:,} indicators, one event in"
            f" {args.follow_hit_every} a hit):"
            f" {keep_up['events']:.0f} events appended at"
            f" {keep_up['rate']:,.0f}/s for {args.follow_s:g} s; all read {keep_up['caught_up_s']:.2f} s"
            f" after the writer stopped{'' if keep_up['done'] else ' (NOT caught up)'}; follower CPU"
            f" {keep_up['cpu_s']:.1f} s over {keep_up['wall_s']:.1f} s wall"
            f" ({keep_up['events'] / max(keep_up['cpu_s'], 1e-9):,.0f} events per CPU-second)"
        )
    if idle:
        out += (
            f"\n\nUK hub CPU while nothing changes, {args.clients} clients, {args.idle_s:g} s each:"
            f" {idle['streams_cpu_pct']:.2f} % of a core with {args.clients} idle streams;"
            f" {idle['polling_cpu_pct']:.1f} % with {args.clients} clients polling objects/ every second"
            f" ({idle['polls_per_s']:.0f} requests/s)"
        )
    mean = statistics.fmean([load0[0], load1[0]])
    out += f"\n\nload average {load0[0]:.1f} at start, {load1[0]:.1f} at end ({mean:.1f} mean)"
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
