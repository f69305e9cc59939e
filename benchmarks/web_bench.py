"""Web UI benchmark (issue 17): server time of the analysts' pages over a large hub (SQLite, or PostgreSQL
with ``--backend postgres``), the largest HTML page, and the collection page's ``load`` time in Chromium.

The hub: ``--objects`` objects (default 100,000: the seeded corpus of ``benchmarks/_corpus.py``, with
``--pairs`` indicators reported by both partners with different facts, so there are disagreements),
``--sightings`` sightings (default 100,000, over the last 90 days) and ``--audit`` audit records (default
1,000,000), on SQLite, or on PostgreSQL in a private cluster the benchmark starts in a temporary directory
(``benchmarks/_postgres.py``: as the ``postgres`` user when run as root, a Unix socket only). Objects and
sightings enter through the intake (``kizuna.hub.intake.accept``) in envelopes of 1,000, so every index is
built as it is in production; the audit records beyond those the writes made are appended in bulk to the
chain by the store's own record function (``_audit``), keyed and linked like any other. On PostgreSQL the
database is then vacuumed and analysed (``VACUUM ANALYZE``), as autovacuum leaves a hub that has run a while.

Each page is requested ``--requests`` times (default 200) in process through the real ASGI app; a timing
middleware records the server time of each request (from the first byte of the request to the last of the
answer) and the process CPU time it used. Pages, as an AMBER-ceiling reader that produced none of it (the
audit page as the administrator): a collection page of 100 rows (following 'Next'), search (100 exact
observable values and 100 words), object pages (200 sighted indicators), the sightings dashboard, the
disagreements list (following 'Next') and the audit page (following 'Older records').

Then ``kizuna hub serve`` serves the same file and Debian's Chromium (Playwright) loads the collection page
``--loads`` times: the time to the ``load`` event (Navigation Timing), median.

    python benchmarks/web_bench.py          # the full run; writes the "## Web" section of docs/benchmarks.md
    python benchmarks/web_bench.py --quick  # a small run (about a minute), writes nothing
    python benchmarks/web_bench.py --backend postgres --objects 1000000
                                            # writes the "### PostgreSQL" subsection of "## Web"
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# the code measured: this checkout, or (for the before/after comparison) another one's source tree
sys.path.insert(0, os.environ.get("KIZUNA_BENCH_SRC") or str(Path(__file__).resolve().parent.parent))
from _corpus import corpus
from _measure import machine

from kizuna.hub import intake
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import format_timestamp
from kizuna.stix.markings import TLP, TLP2_IDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Web"
PG_SECTION = "### PostgreSQL"
BARS = {"p95_ms": 100.0, "p99_ms": 200.0, "page_kb": 500.0, "load_s": 1.0}
PAGES = (
    "collection page (100 rows)",
    "search",
    "object page",
    "sightings dashboard",
    "disagreements list",
    "audit page",
)


@dataclass
class Timing:
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    largest: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    statements: list[int] = field(default_factory=list)


class CountingReader:
    """The store's reader connection, counting the statements it runs (``Counter.n``)."""

    def __init__(self, conn: Any, counter: Counter) -> None:
        self._conn, self._counter = conn, counter

    def execute(self, sql: str, params: Any = ()) -> Any:
        self._counter.n += 1
        return self._conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


@dataclass
class Counter:
    n: int = 0

    def watch(self, store: Any) -> None:
        """Count the statements of ``store``'s reads (every read goes through ``_db.reader()``)."""
        connections = store._db
        reader = connections.reader
        connections.reader = lambda: CountingReader(reader(), self)


class Timer:
    """ASGI middleware: server time and process CPU of each request, from its first byte in to its last
    byte out (one request at a time, so the process CPU is that request's)."""

    def __init__(self, app: Any, counter: Counter | None = None) -> None:
        self.app = app
        self.current: Timing | None = None
        self.counter = counter or Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.current is None:
            await self.app(scope, receive, send)
            return
        t0, c0, n0 = time.perf_counter(), time.process_time(), self.counter.n
        size = 0
        status = 0

        async def counting(message: Any) -> None:
            nonlocal size, status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, counting)
        timing = self.current
        timing.wall_ms.append((time.perf_counter() - t0) * 1000)
        timing.cpu_ms.append((time.process_time() - c0) * 1000)
        timing.statements.append(self.counter.n - n0)
        timing.largest = max(timing.largest, size)
        timing.statuses[status] = timing.statuses.get(status, 0) + 1


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def load_now() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg()[:2])


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- the hub ----------------------------------------------------------------------------------------------
@dataclass
class Place:
    """Where the hub lives: a SQLite file in ``work``, or a PostgreSQL database (``dsn``) of a private
    cluster with the hub's key file in ``work``."""

    work: Path
    dsn: str | None = None
    cluster: Any = None

    @property
    def db(self) -> str:
        return self.dsn or str(self.work / "hub.db")

    @property
    def key_file(self) -> Path:
        return self.work / "hub.key"

    @property
    def env(self) -> dict[str, str]:
        """What ``kizuna hub serve --db DB`` needs besides (a PostgreSQL hub's key file)."""
        return {"KIZUNA_KEY_FILE": str(self.key_file)} if self.dsn else {}

    def create(self) -> Store:
        if self.dsn is None:
            return SQLiteStore.create(self.work / "hub.db", title="web bench hub")
        from kizuna.hub.store.postgres import PostgresStore

        return PostgresStore.create(self.dsn, key_file=self.key_file, title="web bench hub")

    def open(self, clock: Callable[[], datetime]) -> Store:
        if self.dsn is None:
            return SQLiteStore.open(self.work / "hub.db", clock=clock)
        from kizuna.hub.store.postgres import PostgresStore

        return PostgresStore.open(self.dsn, key_file=self.key_file, clock=clock)

    def settle(self) -> None:
        """PostgreSQL: ``VACUUM ANALYZE`` (visibility map, planner statistics: as autovacuum keeps them)."""
        if self.dsn is None:
            return
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def size(self) -> str:
        if self.dsn is None:
            return f"{(self.work / 'hub.db').stat().st_size / 1e9:.1f} GB"
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return f"{(row[0] if row else 0) / 1e9:.1f} GB"


def build(
    place: Place, n_objects: int, n_pairs: int, n_sightings: int, n_audit: int, now: datetime
) -> dict[str, Any]:
    store = place.create()
    tokens = {}
    for name, ceiling, admin in (("uk", TLP.RED, True), ("jp", TLP.RED, False), ("water", TLP.AMBER, False)):
        store.add_org(name, ceiling=ceiling, admin=admin, country="GB" if name != "jp" else "JP")
        tokens[name] = new_token()
        store.add_token(name, hash_token(tokens[name]))
    cni = store.add_collection(
        "CNI", alias="cni", readers=["uk", "jp", "water"], writers=["uk", "jp", "water"]
    )
    orgs = {n: store.get_org(n) for n in tokens}
    rng = random.Random(17)
    t0 = time.perf_counter()
    objs = corpus(n_objects - 2 * n_pairs)
    wide = {TLP2_IDS[level] for level in (TLP.CLEAR, TLP.GREEN, TLP.AMBER)}
    # the indicators an AMBER reader may read (sighted, and opened as object pages)
    indicators = [
        o["id"]
        for o in objs
        if o["type"] == "indicator" and set(o.get("object_marking_refs") or [TLP2_IDS[TLP.AMBER]]) <= wide
    ]
    cpu0 = time.process_time()
    for i in range(0, len(objs), 1000):
        org = orgs["uk" if (i // 1000) % 2 == 0 else "jp"]
        result = intake.accept(store, cni, intake.Sender.local(org), objs[i : i + 1000], clock=lambda: now)
        assert len(result.refused) < 50, result.refused[:3]
    ingest_cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, len(objs)) * 1000
    stamp = format_timestamp(now - timedelta(days=100))
    green, amber = TLP2_IDS[TLP.GREEN], TLP2_IDS[TLP.AMBER]
    values = []
    for side, org in (("uk", orgs["uk"]), ("jp", orgs["jp"])):
        batch = []
        for k in range(n_pairs):
            value = f"203.{k // 65536 % 256}.{k // 256 % 256}.{k % 256}"
            if side == "uk":
                values.append(value)
            batch.append(
                {
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": f"indicator--{uuid.uuid4()}",
                    "created": stamp,
                    "modified": stamp,
                    "name": f"{side} report of scanner {value}",
                    "pattern": f"[ipv4-addr:value = '{value}']",
                    "pattern_type": "stix",
                    "valid_from": stamp,
                    "confidence": 80 if side == "uk" else 30,
                    "object_marking_refs": [green if k % 3 else amber],
                }
            )
        for i in range(0, len(batch), 1000):
            intake.accept(store, cni, intake.Sender.local(org), batch[i : i + 1000], clock=lambda: now)
        indicators += [o["id"] for o in batch]
    load_s = time.perf_counter() - t0
    log(f"stored {n_objects:,} objects in {load_s:.0f} s")
    t0 = time.perf_counter()
    sighted = rng.sample(indicators, min(len(indicators), 5000))
    reporters = [orgs["water"], orgs["jp"], orgs["uk"]]
    for i in range(0, n_sightings, 1000):
        batch = []
        for _ in range(min(1000, n_sightings - i)):
            seen = format_timestamp(now - timedelta(seconds=rng.uniform(0, 90 * 86400)))
            batch.append(
                {
                    "type": "sighting",
                    "spec_version": "2.1",
                    "id": f"sighting--{uuid.uuid4()}",
                    "created": seen,
                    "modified": seen,
                    "sighting_of_ref": rng.choice(sighted),
                    "count": rng.randint(1, 20),
                    "first_seen": seen,
                    "last_seen": seen,
                    "object_marking_refs": [green if rng.random() < 0.7 else amber],
                }
            )
        org = reporters[(i // 1000) % 3]
        intake.accept(store, cni, intake.Sender.local(org), batch, clock=lambda: now)
    log(f"stored {n_sightings:,} sightings in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    have = store.audit_head().records if store.audit_head() else 0  # type: ignore[union-attr]
    left = max(0, n_audit - have)
    actions = ("objects.add", "ui.sign-in", "ui.download", "objects.share")
    while left:
        n = min(5_000, left)
        append_audit(
            store,
            [
                (
                    "org:" + rng.choice(("uk", "jp", "water")),
                    rng.choice(actions),
                    {"collection": cni.id, "added": [[rng.choice(indicators), stamp, "00" * 16]]},
                )
                for _ in range(n)
            ],
        )
        left -= n
    head = store.audit_head()
    log(f"audit chain at {head.records if head else 0:,} records ({time.perf_counter() - t0:.0f} s)")
    store.close()
    t0 = time.perf_counter()
    place.settle()
    log(f"database {place.size()} (settled in {time.perf_counter() - t0:.0f} s)")
    return {
        "tokens": tokens,
        "collection": cni.id,
        "values": values,
        "sighted": sighted,
        "ingest_cpu_ms": ingest_cpu_ms,
        "load_s": load_s,
        "size": place.size(),
    }


def append_audit(store: Any, records: list[tuple[str, str, object]]) -> None:
    """Append records to the audit chain in one write: what the store's own ``_audit`` does for each record
    (the same hash, key, head and checkpoint functions), with one multi-row ``INSERT`` for all of them (a
    head updated once per record costs PostgreSQL a new row version each time within one transaction)."""
    from kizuna.hub.audit import GENESIS_HASH, AuditHead, canonical_detail, checkpoint_line, record_hash

    with store._db.write() as conn:
        head = conn.execute("SELECT records, last_seq, hash FROM audit_head WHERE id = 1").fetchone()
        count, seq, prev = (0, 0, GENESIS_HASH) if head is None else (int(head[0]), int(head[1]), head[2])
        rows = []
        at = store._now_text()
        for actor, action, detail in records:
            seq += 1
            count += 1
            text = canonical_detail(detail)
            digest = record_hash(prev, seq, at, actor, action, text, store._audit_key)
            rows.append((seq, at, actor, action, text, prev, digest))
            prev = digest
        conn.executemany(
            "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?)", rows
        )
        conn.execute(
            "INSERT INTO audit_head (id, records, last_seq, hash) VALUES (1, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET records = excluded.records, last_seq = excluded.last_seq,"
            " hash = excluded.hash",
            (count, seq, prev),
        )
        line = checkpoint_line(store._audit_key, AuditHead(count, seq, prev), at)
        store._db.after_commit["checkpoint"] = lambda: store._append_checkpoint(line)


# -- requests ---------------------------------------------------------------------------------------------
def measure(
    place: Place,
    info: dict[str, Any],
    requests: int,
    now: datetime,
    *,
    only: tuple[str, ...] = PAGES,
    size: int = 100,
) -> dict[str, Timing]:
    from starlette.testclient import TestClient

    store = place.open(lambda: now)
    counter = Counter()
    counter.watch(store)
    timer = Timer(create_app(HubSettings(title="web bench"), store, clock=lambda: now), counter)
    out = {name: Timing() for name in PAGES}
    rng = random.Random(5)

    def client(org: str) -> TestClient:
        # entered: one event loop and its worker threads for every request, as under a server (the
        # PostgreSQL store keeps a reader connection per thread)
        c = TestClient(timer, base_url="http://127.0.0.1", follow_redirects=False).__enter__()  # type: ignore[arg-type]
        assert c.post("/ui/login", data={"token": info["tokens"][org]}).status_code == 303
        return c

    def run(name: str, c: TestClient, urls: Callable[[int, str], str]) -> None:
        if name not in only:
            return
        timer.current = out[name]
        previous = ""
        for i in range(requests):
            r = c.get(urls(i, previous))
            assert r.status_code == 200, (name, r.status_code, r.text[:300])
            previous = r.text
        timer.current = None

    def following(first: str) -> Callable[[int, str], str]:
        def url(i: int, previous: str) -> str:
            found = re.search(r'<a rel="next" href="([^"]+)"', previous)
            return first if i == 0 or found is None else found.group(1).replace("&amp;", "&")

        return url

    reader, admin = client("water"), client("uk")
    if not info["values"]:
        info = {**info, "values": ["198.51.100.1"], "sighted": info["sighted"] or ["indicator--x"]}
    words = [
        "scanner",
        "persistence",
        "beacon",
        "loader",
        "phishing",
        "exfiltration",
        "report",
        "key",
        "c2",
        "uk",
    ]
    values = info["values"]
    run(PAGES[0], reader, following(f"/ui/collections/{info['collection']}?size={size}"))
    run(
        PAGES[1],
        reader,
        lambda i, _: (
            f"/ui/search?q={values[i * 7 % len(values)]}"
            if i % 2 == 0
            else f"/ui/search?q={words[i % len(words)]}+{i}"
        ),
    )
    sighted = info["sighted"]
    run(PAGES[2], reader, lambda i, _: f"/ui/objects/{sighted[rng.randrange(len(sighted))]}/")
    run(PAGES[3], reader, lambda i, _: "/ui/sightings/" if i % 2 == 0 else "/ui/sightings/?window=30&size=50")
    run(PAGES[4], reader, following("/ui/disagreements/?size=50"))
    run(PAGES[5], admin, following("/ui/admin/audit/?size=100"))
    first = reader.get(f"/ui/collections/{info['collection']}?size={size}").text
    total = re.search(r'<span class="sub" id="total">([^<]*)</span>', first)
    log(f"collection page total: {total.group(1) if total else '?'}")  # "10,000+" past 10,000: bounded
    for c in (reader, admin):
        c.__exit__(None, None, None)
    store.close()
    return {name: t for name, t in out.items() if name in only}


def median_of(runs: list[dict[str, Timing]], name: str, figure: Callable[[Timing], float]) -> float:
    return statistics.median(figure(r[name]) for r in runs)


def compare(src: Path, objects: int, requests: int) -> dict[str, dict[str, float]]:
    """The collection page (50 rows) at ``objects`` objects, with the UI of another source tree (the one
    before this work) and with this one, each in its own process."""
    out = {}
    for label, tree in (("before", str(src)), ("after", "")):
        env = {**os.environ, "KIZUNA_BENCH_SRC": tree}
        cmd = [sys.executable, __file__, "--collection-only", "--objects", str(objects)]
        proc = subprocess.run([*cmd, "--requests", str(requests)], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{label}: {proc.stderr[-2000:]}")
        out[label] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def chromium_load(place: Place, token: str, collection: str, loads: int) -> list[float]:
    """Seconds to the ``load`` event of the collection page (100 rows) in Chromium, served by a real
    ``kizuna hub serve`` process."""
    import socket

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "hub", "serve", "--db", place.db, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **place.env},
    )
    try:
        import httpx

        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}/taxii2/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        times = []
        with sync_playwright() as pw:
            b = pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = b.new_page()
            page.goto(base + "/ui/login")
            page.fill("#token", token)
            page.click("main button[type=submit]")
            page.wait_for_selector("header .org")
            url = f"{base}/ui/collections/{collection}?size=100"
            page.goto(url)  # the first view counts once per write; time the ones after
            for _ in range(loads):
                page.goto(url, wait_until="load")
                ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
                times.append(float(ms) / 1000)
            b.close()
        return times
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# -- the report ----------------------------------------------------------------------------------------
COMPARED = (
    ("p50", "collection page, server p50 (ms)"),
    ("p95", "collection page, server p95 (ms)"),
    ("p99", "collection page, server p99 (ms)"),
    ("cpu", "collection page, CPU mean (ms)"),
    ("ingest", "intake CPU per 1,000 objects stored in bundles of 1,000 (ms)"),
)


def compared(args: argparse.Namespace) -> str:
    return f" --compare-with {args.compare_with}" if args.compare_with else ""


def report(
    args: argparse.Namespace,
    runs: list[dict[str, Timing]],
    loads: list[float],
    before_after: dict[str, dict[str, float]] | None,
    load0: str,
    wall: float,
    info: dict[str, Any],
) -> str:
    postgres = args.backend == "postgres"
    if postgres:
        from _postgres import SETTINGS

        command = f"python benchmarks/web_bench.py --backend postgres --objects {args.objects}"
        if args.reuse:  # built once and kept, then measured (as many times as wanted)
            command = (
                f"{command} --keep DIR --runs 0` (building the hub: {info.get('built_s', 0):.0f} s), then"
                " `python benchmarks/web_bench.py --backend postgres --reuse DIR"
            )
        server = " and the PostgreSQL server"
        import psycopg

        backend = (
            f"PostgreSQL {pg_version()} through psycopg {psycopg.__version__} (its `{psycopg.pq.__impl__}`"
            " implementation)"
            " in a private cluster on the same machine (Unix socket; "
            + ", ".join(f"`{k}={v}`" for k, v in SETTINGS.items() if k != "listen_addresses")
            + f"; `VACUUM ANALYZE` after loading), database {info.get('size', '?')}"
        )
    else:
        command = f"python benchmarks/web_bench.py{compared(args)}"
        server, backend = "", "SQLite"
    lines = [
        PG_SECTION if postgres else SECTION,
        "",
        f"Command: `{command}`"
        f" (wall time {wall:.0f} s, {'measuring only' if args.reuse else 'building the hub included'})."
        f" Date: {time.strftime('%Y-%m-%d')}.",
        f"Machine: {machine()}; the benchmark, the app it drives in process{server} and later Chromium"
        f" and the server share it; load average (1/5 min) {load0} at the start, {load_now()} at the end.",
        "",
        f"Hub: {backend}, {args.objects:,} objects (the seeded corpus of `benchmarks/_corpus.py` and"
        f" {args.pairs:,} indicators reported by both partners with different facts), {args.sightings:,}"
        f" sightings over 90 days, {args.audit:,} audit records. Reader: an AMBER-ceiling organisation that"
        " produced none of it; the audit page as the administrator. "
        f"{args.requests} requests per page, one at a time, through the ASGI app in process; {len(runs)} runs"
        " (each with a fresh app, so its caches start cold), the median of each figure over the runs.",
        "",
        "| page | server p50 (ms) | server p95 (ms) (runs: min-max) | server p99 (ms) | CPU mean (ms)"
        " | statements a request (max) | largest page (KB) | bar p95 / p99 | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for name in PAGES:
        if name not in runs[0]:
            continue
        p50 = median_of(runs, name, lambda t: pct(t.wall_ms, 50))
        p95 = median_of(runs, name, lambda t: pct(t.wall_ms, 95))
        p99 = median_of(runs, name, lambda t: pct(t.wall_ms, 99))
        cpu = median_of(runs, name, lambda t: statistics.mean(t.cpu_ms))
        spread = [pct(r[name].wall_ms, 95) for r in runs]
        largest = max(r[name].largest for r in runs) / 1000
        statements = [n for r in runs for n in r[name].statements]
        met = (
            "yes" if p95 <= BARS["p95_ms"] and p99 <= BARS["p99_ms"] and largest <= BARS["page_kb"] else "no"
        )
        lines.append(
            f"| {name} | {p50:.1f} | {p95:.1f} ({min(spread):.1f}-{max(spread):.1f}) | {p99:.1f} |"
            f" {cpu:.1f} | {statistics.mean(statements):.1f} ({max(statements)}) | {largest:.0f}"
            f" | <= 100 / <= 200 | {met} |"
        )
    largest_all = max(t.largest for r in runs for t in r.values())
    lines += [
        "",
        f"- Largest HTML page of all: {largest_all / 1000:.0f} KB (bar 500 KB).",
        f"- Chromium (Debian's, headless), collection page of 100 rows served by `kizuna hub serve`, time to"
        f" the `load` event over {len(loads)} loads: median {statistics.median(loads):.2f} s, slowest"
        f" {max(loads):.2f} s (bar 1 s)."
        if loads
        else "- Chromium: not measured.",
        "- server p50/p95/p99: the time from the request's first byte into the app to the answer's last"
        " byte out, measured by an ASGI middleware around the hub's app; CPU: the process's CPU time over the"
        " same span (requests run one at a time, so it is the request's), the figure that depends least on"
        " what else the machine runs"
        + (" (the hub's process only: the PostgreSQL server's own CPU is not in it)." if postgres else ".")
        + " Statements: those the store's reads ran for the request (mean, and the most of one request).",
    ]
    if postgres and "load_s" in info:
        lines.append(
            f"- Loading: {args.objects:,} objects through the intake in envelopes of 1,000 took"
            f" {info['load_s']:.0f} s ({args.objects / max(info['load_s'], 1e-9):,.0f} objects/s),"
            f" the intake's CPU {info['ingest_cpu_ms']:.0f} ms per 1,000 objects (this process only)."
        )
    if before_after:
        b, a = before_after["before"], before_after["after"]
        lines += [
            "",
            "Before and after: the collection page (50 rows, following 'Next') at"
            f" {int(a['objects']):,} objects, {int(a['requests'])} requests, the UI before this work"
            f" (`{args.compare_with}`, which recounted the collection for its charts on every request) and"
            " this one, each in its own process:",
            "",
            "| figure | before | after | after / before |",
            "|---|---:|---:|---:|",
        ]
        for key, label in COMPARED:
            lines.append(f"| {label} | {b[key]:.1f} | {a[key]:.1f} | {a[key] / b[key]:.2f}x |")
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    """Replace this benchmark's section up to its first subsection; its subsections ("### Analysis",
    "### PostgreSQL") are kept."""
    doc = DOCS.read_text(encoding="utf-8")
    start = doc.find(SECTION + "\n")
    if start == -1:
        DOCS.write_text(doc.rstrip("\n") + "\n\n" + text, encoding="utf-8")
        return
    nxt = doc.find("\n## ", start + len(SECTION))
    end = len(doc) if nxt == -1 else nxt + 1
    sub = doc.find("\n### ", start, end)
    kept = doc[sub + 1 : end].rstrip("\n") + "\n" if sub != -1 else ""
    rest = doc[end:]
    DOCS.write_text(
        doc[:start] + text + ("\n" + kept if kept else "") + ("\n" + rest if rest else ""), encoding="utf-8"
    )


def write_subsection(text: str) -> None:
    """Replace (or add at the end of the section) the "### PostgreSQL" subsection of this benchmark's
    section; the rest of the section is kept."""
    doc = DOCS.read_text(encoding="utf-8")
    start = doc.find(SECTION + "\n")
    if start == -1:
        raise SystemExit(f"{DOCS}: no {SECTION!r} section (run the SQLite benchmark first)")
    nxt = doc.find("\n## ", start + len(SECTION))
    end = len(doc) if nxt == -1 else nxt + 1
    sub = doc.find("\n" + PG_SECTION + "\n", start, end)
    if sub == -1:
        head, tail = doc[:end].rstrip("\n") + "\n\n", doc[end:]
    else:
        after = doc.find("\n### ", sub + 1, end)
        head = doc[: sub + 1]
        tail = doc[(end if after == -1 else after + 1) :]
    DOCS.write_text(head + text + ("\n" + tail if tail else ""), encoding="utf-8")


def pg_version() -> str:
    from _postgres import server_bin

    bin_dir = server_bin()
    return bin_dir.parent.name if bin_dir is not None else "?"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--pairs", type=int, default=2_000)
    p.add_argument("--sightings", type=int, default=100_000)
    p.add_argument("--audit", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--runs", type=int, default=3, help="measurements over the same hub (median reported)")
    p.add_argument("--loads", type=int, default=9)
    p.add_argument("--compare-with", type=Path, help="another source tree's kizuna/ parent: before/after")
    p.add_argument("--collection-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--only", help=argparse.SUPPRESS)  # pages by number (0-5), comma-separated: a dev aid
    p.add_argument("--keep", type=Path, help="build the hub in DIR and keep it (and its cluster) there")
    p.add_argument("--reuse", type=Path, help="measure the hub kept with --keep in DIR (writes nothing)")
    p.add_argument(
        "--quick", action="store_true", help="10,000 objects and sightings, 50,000 records, 50 requests"
    )
    args = p.parse_args()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    if args.collection_only:  # one side of the before/after comparison: JSON on the last line
        with tempfile.TemporaryDirectory(prefix="kizuna-web-bench-") as tmp:
            place = Place(Path(tmp))
            info = build(place, args.objects, 0, 0, 0, now)
            t = measure(place, info, args.requests, now, only=(PAGES[0],), size=50)[PAGES[0]]
        figures = {q: pct(t.wall_ms, int(q[1:])) for q in ("p50", "p95", "p99")}
        print(
            json.dumps(
                {
                    **figures,
                    "cpu": statistics.mean(t.cpu_ms),
                    "ingest": info["ingest_cpu_ms"],
                    "objects": args.objects,
                    "requests": args.requests,
                }
            )
        )
        return
    if args.quick:
        args.objects, args.pairs, args.sightings, args.audit = 10_000, 500, 10_000, 50_000
        args.requests, args.loads, args.runs = 50, 3, 1
    load0 = load_now()
    started = time.time()
    with hub_place(args) as (place, kept):
        if kept is not None:
            info = json.loads(kept.read_text())
            args.objects, args.pairs, args.sightings, args.audit = info["sizes"]
            log(f"measuring the hub kept in {place.work} ({info['size']})")
        else:
            info = build(place, args.objects, args.pairs, args.sightings, args.audit, now)
            info["sizes"] = [args.objects, args.pairs, args.sightings, args.audit]
            info["built_s"] = time.time() - started
            if args.keep:
                (place.work / "info.json").write_text(json.dumps(info))
        if not args.runs:
            log(f"built; kept in {place.work}")
            return
        runs = []
        only = tuple(PAGES[int(i)] for i in args.only.split(",")) if args.only else PAGES
        for n in range(args.runs):
            runs.append(measure(place, info, args.requests, now, only=only))
            for name, t in runs[-1].items():
                p50, p95, p99 = (pct(t.wall_ms, q) for q in (50, 95, 99))
                cpu = statistics.mean(t.cpu_ms)
                figures = f"p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f} ms, CPU {cpu:.1f} ms"
                figures += f", {statistics.mean(t.statements):.1f} statements (max {max(t.statements)})"
                log(f"run {n + 1} {name}: {figures}, {t.statuses}")
        loads = (
            chromium_load(place, info["tokens"]["water"], info["collection"], args.loads)
            if args.loads
            else []
        )
        log(f"Chromium load: {loads}")
    before_after = compare(args.compare_with, 10_000, args.requests) if args.compare_with else None
    if before_after:
        log(f"before/after: {before_after}")
    text = report(args, runs, loads, before_after, load0, time.time() - started, info)
    print(text)
    if not args.quick and not args.only:
        if args.backend == "postgres":
            write_subsection(text)
        else:
            write_section(text)


@contextmanager
def hub_place(args: argparse.Namespace) -> Iterator[tuple[Place, Path | None]]:
    """The place of the hub: new in a temporary directory (kept with ``--keep DIR``), or the one kept in
    ``--reuse DIR`` (then also the path of its ``info.json``); PostgreSQL's cluster runs meanwhile."""
    work = args.reuse or args.keep
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="kizuna-web-bench-")
        work = Path(tmp.name)
    else:
        tmp = None
        work.mkdir(parents=True, exist_ok=True)
    kept = work / "info.json" if args.reuse else None
    cluster = None
    try:
        if args.backend == "sqlite":
            yield Place(work), kept
            return
        from _postgres import BenchCluster, server_bin

        bin_dir = server_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
        marker = work / "cluster"
        if args.reuse:
            cluster = BenchCluster(bin_dir, Path(marker.read_text()))
            database = (work / "database").read_text()
        else:
            cluster = BenchCluster(bin_dir)
            database = cluster.database()
            marker.write_text(str(cluster.dir))
            (work / "database").write_text(database)
        log(f"PostgreSQL cluster in {cluster.dir}")
        yield Place(work, cluster.dsn(database), cluster), kept
    finally:
        if cluster is not None:
            cluster.stop(keep=bool(args.keep or args.reuse))
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
