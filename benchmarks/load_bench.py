"""Load benchmark (issue 18, item 5): a hub of 1,000,000 objects served by ``kizuna hub serve --workers N``
while readers page through it and a writer posts to it.

As a user runs it, on 127.0.0.1:

1. A fresh hub: over PostgreSQL a private cluster in a temporary directory (``tests/postgres.py``: ``initdb``
   as the ``postgres`` user when run as root, a Unix socket only, ``fsync`` on), or a durable SQLite file
   (``--backend sqlite``); one organisation, one collection, made with the ``kizuna hub`` commands.
2. Pre-load ``--objects`` objects in-process, in envelopes of 1,000, through exactly the TAXII POST's path
   (the envelope's bytes parsed by ``kizuna.stix.ijson``, then ``intake.accept`` with the organisation's
   sender, the envelope's claims and the default object limits): the rows are what the API would store.
3. ``kizuna hub serve --workers N`` (each of ``--workers 4,1`` in turn, on the same database). For
   ``--seconds`` (and at most ``--budget`` requests per client) R readers page from the start to the end
   with ``limit=1000`` (even-numbered readers follow ``next``, odd ones restart from
   ``X-TAXII-Date-Added-Last`` with ``added_after``) while W writers post envelopes of 1,000 at
   ``--write-rate`` objects/s in all. Then, alone, the writers post as fast as they can (ingest alone).
   Every client is its own process (``httpx``, ``orjson``), so the server gets the CPU the Python clients
   leave it.
4. Checks after each run: no 5xx; every reader's sequence of ids is exactly the collection's rows in
   ``date_added`` order up to the last ``date_added`` it was served (so it saw every object committed
   before its first request, none twice, and ``date_added`` never decreased); a reader that reached the end
   saw every object committed before its first request; every POST's status adds up (total = success +
   failure + pending, success = the envelope's size) and reads back the same from the status resource;
   the collection holds exactly what was pre-loaded plus every success; at the end ``kizuna hub audit
   verify`` exits 0.

Reported per run: aggregate read objects/s, ingest objects/s during the reads and alone, page latency
p50/p95/p99, the writers' POST latency during the reads (median and slowest) and the most a POST was sent
after its time in their schedule, each worker's peak RSS, the database's peak memory (sum of PSS over its
processes), server and database CPU; the median of ``--runs`` runs per worker count.
``--medallion-objects N`` runs the same phases against medallion 3.0.0 (memory backend, as
``benchmarks/taxii_bench.py`` runs it) holding N objects, time-limited.

    python benchmarks/load_bench.py                 # 1,000,000 objects, PostgreSQL, 4 then 1 workers
    python benchmarks/load_bench.py --backend sqlite --workers 4
    python benchmarks/load_bench.py --quick         # 20,000 objects, a few seconds (the test runs it)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._measure import free_port, machine  # noqa: E402

MEDIA = "application/taxii+json;version=2.1"
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
ENVELOPE = 1000
PAGE = 1000
BARS = {  # issue 18's bars on a 2-core machine
    "read": 25_000.0,  # aggregate paged read with 4 readers and a writer at >= 2,000 objects/s
    "p99_ms": 200.0,
    "ingest_alone": 15_000.0,
    "scale_4_over_1": 1.3,
    "worker_rss_mb": 300.0,
}


# -- objects --------------------------------------------------------------------------------------------
def make_objects(n: int, tag: int) -> list[dict[str, Any]]:
    """``n`` new indicators (TLP:GREEN, distinct random ids; ``tag`` shows in their patterns)."""
    out = []
    for i in range(n):
        oid = uuid.uuid4()
        out.append(
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": f"indicator--{oid}",
                "created": "2026-01-01T00:00:00.000Z",
                "modified": "2026-01-01T00:00:00.000Z",
                "name": f"load {tag}/{i}",
                "pattern": f"[ipv4-addr:value = '10.{tag % 250}.{i // 250 % 250}.{i % 250}']",
                "pattern_type": "stix",
                "valid_from": "2026-01-01T00:00:00.000Z",
                "object_marking_refs": [GREEN],
            }
        )
    return out


# -- the hub ------------------------------------------------------------------------------------------
@dataclass
class Hub:
    backend: str
    db: str  # a SQLite path or a DSN
    env: dict[str, str]  # what every kizuna command of this hub is run with
    token: str
    org: str
    collection_id: str
    postmaster: int | None = None  # the PostgreSQL server's pid (for its memory and CPU)


def kizuna(hub_env: dict[str, str], *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **hub_env},
    )
    if proc.returncode != 0:
        raise SystemExit(f"kizuna {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


@contextmanager
def make_hub(backend: str, work: Path, dsn: str | None) -> Iterator[Hub]:
    """A fresh hub with organisation ``bench`` (reads and writes collection ``feed``)."""
    cluster = None
    if backend == "postgres":
        if dsn is None:
            from benchmarks._postgres import BenchCluster, server_bin

            bin_dir = server_bin()
            if bin_dir is None:
                raise SystemExit("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
            # 4 workers, each with its pool: more connections, and buffers for a machine shared with them
            cluster = BenchCluster(bin_dir, settings={"max_connections": "300", "shared_buffers": "256MB"})
            dsn = cluster.dsn(cluster.database())
        env = {"KIZUNA_DB": dsn, "KIZUNA_KEY_FILE": str(work / "hub.key")}
        db = dsn
    else:
        db = str(work / "hub.db")
        env = {"KIZUNA_DB": db}
    try:
        kizuna(env, "hub", "init", "--title", "load benchmark hub")
        kizuna(env, "hub", "org", "add", "bench", "--country", "GB", "--ceiling", "red")
        token = kizuna(env, "hub", "token", "create", "--org", "bench")
        cid = kizuna(
            env, "hub", "collection", "add", "--title", "feed", "--read", "bench", "--write", "bench"
        )
        yield Hub(backend, db, env, token, "bench", cid, cluster.postmaster_pid() if cluster else None)
    finally:
        if cluster is not None:
            cluster.stop()


def preload(hub: Hub, n: int) -> float:
    """Store ``n`` objects as the TAXII POST would, in envelopes of 1,000, in this process; returns s."""
    from kizuna.hub import intake
    from kizuna.hub.settings import HubSettings
    from kizuna.hub.store.backends import open_store
    from kizuna.stix import ijson
    from kizuna.stix.ids import utc_now

    saved = dict(os.environ)
    os.environ.update(hub.env)
    try:
        store = open_store(hub.db)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    limits = HubSettings().object_limits
    started = time.perf_counter()
    try:
        org = store.get_org(hub.org)
        c = store.get_collection(hub.collection_id)
        assert c is not None
        sender = intake.sender_for(store, org)
        done = 0
        while done < n:
            size = min(ENVELOPE, n - done)
            body = orjson.dumps({"objects": make_objects(size, done // ENVELOPE)})
            envelope = ijson.loads(body)
            result = intake.accept(
                store,
                c,
                sender,
                envelope["objects"],
                clock=utc_now,
                claims=intake.claims_from(envelope),
                limits=limits,
            )
            stored = sum(1 for o in result.objects if o.outcome.value == "stored")
            if stored != size:
                raise SystemExit(f"pre-load: {size - stored} of an envelope not stored: {result.objects[:1]}")
            done += size
            if done % 100_000 == 0:
                took = time.perf_counter() - started
                print(f"  pre-loaded {done:,} ({done / took:,.0f} objects/s)", file=sys.stderr)
    finally:
        store.close()
    return time.perf_counter() - started


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    workers: int

    def worker_pids(self) -> list[int]:
        if self.workers == 1:
            return [self.process.pid]
        try:
            return [p.pid for p in psutil.Process(self.process.pid).children()]
        except psutil.Error:
            return []


def start_server(hub: Hub, workers: int, log: Path) -> Server:
    port = free_port()
    cmd = [sys.executable, "-m", "kizuna", "hub", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=out, cwd=ROOT, env={**os.environ, **hub.env}
        )
    server = Server(proc, port, workers)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kizuna hub serve exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/taxii2/", timeout=1)
            if len(server.worker_pids()) == workers:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        stop_server(server)
        raise SystemExit("kizuna hub serve did not start within 90 s")
    settle(server.worker_pids())
    return server


def settle(pids: list[int], limit_s: float = 30) -> None:
    """Wait until the processes have finished starting (their CPU use stops growing)."""
    procs = [psutil.Process(p) for p in pids]

    def cpu() -> float:
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    deadline = time.monotonic() + limit_s
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu()
        if now - last < 0.05:
            return
        last = now


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# -- clients (each its own process) -----------------------------------------------------------------------
@dataclass
class Target:
    objects_url: str
    status_url: str  # ends with '/': the status id follows
    headers: dict[str, str]


def _sleep_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 0.5))


def _added_us(text: str | None) -> int | None:
    if not text:
        return None
    from kizuna.stix.ids import parse_timestamp, to_us

    return to_us(parse_timestamp(text))


def reader_main(
    i: int, target: Target, start_at: float, deadline: float, budget: int, out: str, follow: bool
) -> None:
    """Page from the start to the end (or the deadline, or ``budget`` requests); write what was seen."""
    ids: list[str] = []
    pages: list[tuple[float, float, int, int, int | None, int | None]] = []  # t, ms, code, n, first, last
    params: dict[str, str] = {"limit": str(PAGE)}
    first_request: float | None = None
    reached_end = False
    errors: list[str] = []
    cpu0 = time.process_time()
    with httpx.Client(headers=target.headers, timeout=120) as client:
        _sleep_until(start_at)
        while time.time() < deadline and len(pages) < budget:
            wall = time.time()
            t0 = time.perf_counter()
            try:
                r = client.get(target.objects_url, params=params)
            except httpx.HTTPError as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                break
            ms = (time.perf_counter() - t0) * 1000
            if first_request is None:
                first_request = wall
            if r.status_code != 200:
                pages.append((wall, ms, r.status_code, 0, None, None))
                errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                if r.status_code >= 500:
                    time.sleep(0.1)
                    continue
                break
            body = orjson.loads(r.content)
            objs = body.get("objects", [])
            ids += [o["id"] for o in objs]
            first = _added_us(r.headers.get("X-TAXII-Date-Added-First"))
            last = _added_us(r.headers.get("X-TAXII-Date-Added-Last"))
            pages.append((wall, ms, 200, len(objs), first, last))
            if not body.get("more"):
                reached_end = True
                break
            if follow:
                params = {"limit": str(PAGE), "next": body["next"]}
            elif r.headers.get("X-TAXII-Date-Added-Last"):
                params = {"limit": str(PAGE), "added_after": r.headers["X-TAXII-Date-Added-Last"]}
    Path(out + ".ids").write_bytes("\n".join(ids).encode())
    Path(out + ".json").write_bytes(
        orjson.dumps(
            {
                "reader": i,
                "path": "next" if follow else "added_after",
                "first_request": first_request,
                "ended": time.time(),
                "reached_end": reached_end,
                "pages": pages,
                "errors": errors[:20],
                "cpu_s": time.process_time() - cpu0,
            }
        )
    )


def writer_main(
    w: int,
    target: Target,
    start_at: float,
    deadline: float,
    budget: int,
    out: str,
    interval_s: float | None,
    tag: int,
) -> None:
    """Post envelopes of 1,000 (every ``interval_s``, or back to back when None); write what was posted."""
    posts: list[dict[str, Any]] = []
    ids: list[str] = []
    headers = {**target.headers, "Content-Type": MEDIA}
    with httpx.Client(headers=headers, timeout=120) as client:
        bodies = []
        for k in range(2):  # the first envelopes are ready before the start
            objs = make_objects(ENVELOPE, tag * 100_000 + k)
            bodies.append((objs, orjson.dumps({"objects": objs})))
        _sleep_until(start_at)
        k = 0
        while time.time() < deadline and k < budget:
            if interval_s is not None:
                _sleep_until(start_at + k * interval_s)
                if time.time() >= deadline:
                    break
            objs, body = bodies.pop(0) if bodies else (None, b"")
            if objs is None:
                objs = make_objects(ENVELOPE, tag * 100_000 + k)
                body = orjson.dumps({"objects": objs})
            sent = time.time()
            t0 = time.perf_counter()
            try:
                r = client.post(target.objects_url, content=body)
            except httpx.HTTPError as exc:
                posts.append({"sent": sent, "ms": None, "code": 0, "error": str(exc)})
                break
            ms = (time.perf_counter() - t0) * 1000
            post: dict[str, Any] = {"sent": sent, "done": time.time(), "ms": ms, "code": r.status_code}
            if r.status_code == 202:
                s = r.json()
                post.update({k2: s.get(k2) for k2 in ("id", "status", "total_count", "success_count")})
                post.update({k2: s.get(k2) for k2 in ("failure_count", "pending_count")})
                post["first"], post["n"] = len(ids), len(objs)
                ids += [o["id"] for o in objs]
            else:
                post["error"] = r.text[:200]
            posts.append(post)
            k += 1
    Path(out + ".ids").write_bytes("\n".join(ids).encode())
    Path(out + ".json").write_bytes(orjson.dumps({"writer": w, "posts": posts, "ended": time.time()}))


# -- sampling the servers ----------------------------------------------------------------------------------
class Sampler:
    """Peak RSS of each worker, peak memory of the database (sum of PSS of its processes), and the CPU
    seconds both used, sampled in a background thread."""

    def __init__(self, worker_pids: list[int], postmaster: int | None, interval_s: float = 0.5) -> None:
        self.worker_pids, self.postmaster = worker_pids, postmaster
        self.interval_s = interval_s
        self.worker_peak: dict[int, int] = {}
        self.db_peak = 0
        self._cpu0: dict[int, float] = {}
        self._cpu: dict[int, float] = {}
        self._db_cpu0: dict[int, float] = {}
        self._db_cpu: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def _db_procs(self) -> list[psutil.Process]:
        if self.postmaster is None:
            return []
        try:
            top = psutil.Process(self.postmaster)
            return [top, *top.children(recursive=True)]
        except psutil.Error:
            return []

    def sample(self) -> None:
        for pid in self.worker_pids:
            try:
                p = psutil.Process(pid)
                self.worker_peak[pid] = max(self.worker_peak.get(pid, 0), p.memory_info().rss)
                cpu = sum(p.cpu_times()[:2])
            except psutil.Error:
                continue
            self._cpu0.setdefault(pid, cpu)
            self._cpu[pid] = cpu
        self._n += 1
        procs = self._db_procs()
        total = 0
        for p in procs:
            try:
                cpu = sum(p.cpu_times()[:2])
                if self._n % 4 == 1:  # PSS reads every mapping: less often
                    total += p.memory_full_info().pss
            except psutil.Error:
                continue
            self._db_cpu0.setdefault(p.pid, cpu)
            self._db_cpu[p.pid] = cpu
        self.db_peak = max(self.db_peak, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> Sampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def server_cpu_s(self) -> float:
        return sum(self._cpu[p] - self._cpu0[p] for p in self._cpu)

    def db_cpu_s(self) -> float:
        return sum(self._db_cpu[p] - self._db_cpu0.get(p, 0.0) for p in self._db_cpu)


# -- one phase ---------------------------------------------------------------------------------------------
@dataclass
class Run:
    label: str
    workers: int
    stored_before: int
    seconds: float
    read_objects: int = 0
    read_rate: float = 0.0
    write_rate: float = 0.0
    write_objects: int = 0
    post_p50_ms: float = 0.0  # one writer's POST of 1,000 during the reads, as the client saw it
    post_max_ms: float = 0.0
    writer_late_s: float = 0.0  # the most a POST was sent after its time in the writers' schedule
    ingest_alone_rate: float = 0.0
    ingest_alone_objects: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    pages: int = 0
    fivexx: int = 0
    worker_rss_mb: list[float] = field(default_factory=list)
    db_mb: float = 0.0
    server_cpu_ms_per_1000_read: float = 0.0
    db_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    readers_at_end: int = 0
    problems: list[str] = field(default_factory=list)


def _spawn(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    p = multiprocessing.get_context("spawn").Process(target=target, args=args, daemon=True)
    p.start()
    return p


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    hub: Hub,
    server: Server,
    target: Target,
    args: argparse.Namespace,
    work: Path,
    label: str,
    stored_before: int,
    tag: int,
    verify: bool = True,
) -> Run:
    """R readers and W writers for ``--seconds``, then the writers alone; then the checks (``verify``)."""
    run = Run(label, server.workers, stored_before, args.seconds)
    out = work / label
    out.mkdir()
    interval = ENVELOPE * args.writers / args.write_rate
    start_at = time.time() + 4  # the client processes start (spawn) before it
    deadline = start_at + args.seconds
    procs = [
        _spawn(reader_main, r, target, start_at, deadline, args.budget, str(out / f"r{r}"), r % 2 == 0)
        for r in range(args.readers)
    ]
    procs += [
        _spawn(
            writer_main,
            w,
            target,
            start_at + w * interval / args.writers,
            deadline,
            args.budget,
            str(out / f"w{w}"),
            interval,
            tag * 10 + w,
        )
        for w in range(args.writers)
    ]
    with Sampler(server.worker_pids(), hub.postmaster) as sampler:
        for p in procs:
            p.join(timeout=args.seconds + 300)
        cpu_read = sampler.server_cpu_s()
    readers = [orjson.loads((out / f"r{r}.json").read_bytes()) for r in range(args.readers)]
    writers = [orjson.loads((out / f"w{w}.json").read_bytes()) for w in range(args.writers)]
    ended = max(r["ended"] for r in readers)
    pages = [pg for r in readers for pg in r["pages"]]
    run.pages = len(pages)
    run.read_objects = sum(pg[3] for pg in pages)
    run.read_rate = run.read_objects / max(1e-9, ended - start_at)
    ms = [pg[1] for pg in pages if pg[2] == 200]
    run.p50_ms, run.p95_ms, run.p99_ms = (_quantile(ms, q) for q in (0.5, 0.95, 0.99))
    run.fivexx = sum(1 for pg in pages if pg[2] >= 500)
    posts = [p for w in writers for p in w["posts"]]
    run.fivexx += sum(1 for p in posts if p["code"] >= 500)
    run.write_objects = sum(p.get("success_count") or 0 for p in posts)
    write_end = max([w["ended"] for w in writers] + [start_at + 1e-9])
    run.write_rate = run.write_objects / max(1e-9, min(write_end, deadline) - start_at)
    post_ms = [p["ms"] for p in posts if p.get("ms") is not None]
    if post_ms:
        run.post_p50_ms, run.post_max_ms = statistics.median(post_ms), max(post_ms)
    run.writer_late_s = max(
        (
            p["sent"] - (start_at + w * interval / args.writers + k * interval)
            for w, wr in enumerate(writers)
            for k, p in enumerate(wr["posts"])
        ),
        default=0.0,
    )
    run.client_cpu_s = sum(r["cpu_s"] for r in readers)
    run.readers_at_end = sum(1 for r in readers if r["reached_end"])
    run.server_cpu_ms_per_1000_read = 1e6 * cpu_read / max(1, run.read_objects)
    for r in readers:
        for e in r["errors"]:
            run.problems.append(f"reader {r['reader']}: {e}")
    for p in posts:
        if p["code"] != 202:
            run.problems.append(f"POST answered {p['code']}: {p.get('error', '')}")

    # ingest alone: the writers back to back
    alone = work / f"{label}-alone"
    alone.mkdir()
    start2 = time.time() + 3
    deadline2 = start2 + args.ingest_seconds
    with Sampler(server.worker_pids(), hub.postmaster) as sampler2:
        wprocs = [
            _spawn(
                writer_main,
                w,
                target,
                start2,
                deadline2,
                args.ingest_budget,
                str(alone / f"w{w}"),
                None,
                tag * 10 + 5 + w,
            )
            for w in range(args.writers)
        ]
        for p in wprocs:
            p.join(timeout=args.ingest_seconds + 300)
    alone_posts = [
        p for w in range(args.writers) for p in orjson.loads((alone / f"w{w}.json").read_bytes())["posts"]
    ]
    alone_ended = max(orjson.loads((alone / f"w{w}.json").read_bytes())["ended"] for w in range(args.writers))
    run.ingest_alone_objects = sum(p.get("success_count") or 0 for p in alone_posts)
    run.ingest_alone_rate = run.ingest_alone_objects / max(1e-9, alone_ended - start2)
    run.fivexx += sum(1 for p in alone_posts if p["code"] >= 500)
    run.worker_rss_mb = [
        round(max(a, b) / 1e6, 1)
        for a, b in zip(
            [sampler.worker_peak.get(p, 0) for p in server.worker_pids()],
            [sampler2.worker_peak.get(p, 0) for p in server.worker_pids()],
            strict=True,
        )
    ]
    run.db_mb = round(max(sampler.db_peak, sampler2.db_peak) / 1e6, 1)
    run.db_cpu_s = sampler.db_cpu_s()

    if verify:
        run.problems += check(hub, target, out, readers, writers, alone, alone_posts, stored_before, args)
    return run


def collection_rows(hub: Hub) -> tuple[list[str], list[int]]:
    """The collection's ids and date_added values, in date_added order, read from the database."""
    sql = (
        "SELECT o.id, o.date_added FROM objects o JOIN collections c ON c.key = o.collection_key"
        " WHERE c.id = {} ORDER BY o.date_added"
    )
    if hub.backend == "postgres":
        import psycopg

        with psycopg.connect(hub.db, autocommit=True) as conn:
            rows = conn.execute(sql.format("%s"), (hub.collection_id,)).fetchall()
    else:
        conn2 = sqlite3.connect(f"file:{hub.db}?mode=ro", uri=True)
        try:
            rows = conn2.execute(sql.format("?"), (hub.collection_id,)).fetchall()
        finally:
            conn2.close()
    return [str(r[0]) for r in rows], [int(r[1]) for r in rows]


def check(
    hub: Hub,
    target: Target,
    out: Path,
    readers: list[dict[str, Any]],
    writers: list[dict[str, Any]],
    alone: Path,
    alone_posts: list[dict[str, Any]],
    stored_before: int,
    args: argparse.Namespace,
) -> list[str]:
    import bisect

    problems: list[str] = []
    ids, added = collection_rows(hub)
    posted = [p for w in writers for p in w["posts"]] + alone_posts
    successes = sum(p.get("success_count") or 0 for p in posted)
    if len(ids) != stored_before + successes:
        problems.append(
            f"the collection holds {len(ids):,} objects, not {stored_before:,} + {successes:,} posted"
        )
    if len(set(ids)) != len(ids):
        problems.append("the collection holds an id twice")
    # each POST's status adds up, and reads back the same from the status resource
    with httpx.Client(headers=target.headers, timeout=60) as client:
        for p in posted:
            if p["code"] != 202:
                continue
            counts = [p.get(k) for k in ("total_count", "success_count", "failure_count", "pending_count")]
            if p.get("status") != "complete" or counts != [p["n"], p["n"], 0, 0]:
                problems.append(f"status {p.get('id')}: {p.get('status')} {counts} for {p['n']} objects")
            s = client.get(target.status_url + f"{p['id']}/")
            if s.status_code != 200:
                problems.append(f"status {p['id']}: GET answered {s.status_code}")
                continue
            body = s.json()
            again = [body.get(k) for k in ("total_count", "success_count", "failure_count", "pending_count")]
            if again != counts:
                problems.append(f"status {p['id']}: reads back {again}, answered {counts}")
    # what each writer's envelopes hold, and when each was complete
    committed: list[tuple[float, list[str]]] = []
    for w in range(len(writers)):
        wids = (out / f"w{w}.ids").read_bytes().decode().split("\n")
        for p in writers[w]["posts"]:
            if p["code"] == 202:
                committed.append((p["done"], wids[p["first"] : p["first"] + p["n"]]))
    preloaded_ids = set(ids[:stored_before])
    for r in readers:
        name = f"reader {r['reader']} ({r['path']})"
        seen_text = (out / f"r{r['reader']}.ids").read_bytes()
        seen = seen_text.decode().split("\n") if seen_text else []
        pages = [pg for pg in r["pages"] if pg[2] == 200 and pg[3]]
        if not pages:
            problems.append(f"{name}: was served nothing")
            continue
        last_us = 0
        for pg in pages:
            first, last = pg[4], pg[5]
            if first is None or last is None or first > last or first <= last_us:
                problems.append(f"{name}: date_added went back or repeated ({last_us} then {first}..{last})")
                break
            last_us = last
        upto = bisect.bisect_right(added, last_us)
        if seen != ids[:upto]:
            missing = len(set(ids[:upto]) - set(seen))
            twice = len(seen) - len(set(seen))
            extra = len(set(seen) - set(ids[:upto]))
            problems.append(
                f"{name}: not the collection's rows up to its last date_added: {missing} missed, {twice}"
                f" seen twice, {extra} not expected"
            )
        before = set(preloaded_ids)
        for done, envelope in committed:
            if done < r["first_request"]:
                before.update(envelope)
        lacking = before - set(seen)
        if r["reached_end"] and lacking:
            problems.append(f"{name}: {len(lacking)} objects committed before its first request not seen")
        if not r["reached_end"]:  # only what it paged through counts
            within = set(ids[:upto])
            if lacking & within:
                problems.append(f"{name}: missed objects committed before its first request")
    return problems


# -- medallion -----------------------------------------------------------------------------------------------
def medallion_run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The same phases against medallion 3.0.0 (memory backend) holding ``--medallion-objects``."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from taxii_bench import start_medallion, stop

    mwork = work / "medallion"
    mwork.mkdir()
    server = start_medallion(mwork)
    import base64

    auth = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Accept": MEDIA}
    base = server.collection_url
    target = Target(base + "objects/", base.split("collections/")[0] + "status/", headers)
    result: dict[str, Any] = {"objects": 0, "stopped": ""}
    try:
        started = time.perf_counter()
        with httpx.Client(headers={**headers, "Content-Type": MEDIA}, timeout=args.medallion_limit_s) as c:
            while result["objects"] < args.medallion_objects:
                if time.perf_counter() - started > args.medallion_limit_s:
                    result["stopped"] = f"pre-load stopped after {args.medallion_limit_s:.0f} s"
                    break
                n = min(ENVELOPE, args.medallion_objects - result["objects"])
                r = c.post(target.objects_url, content=orjson.dumps({"objects": make_objects(n, 7)}))
                if r.status_code != 202:
                    raise SystemExit(f"medallion pre-load: {r.status_code} {r.text[:200]}")
                result["objects"] += n
        result["preload_rate"] = result["objects"] / (time.perf_counter() - started)
        fake_hub = Hub("medallion", "", {}, "", "", "")
        fake_server = Server(server.process, 0, 1)
        run = run_phase(fake_hub, fake_server, target, args, mwork, "run", result["objects"], 9, verify=False)
        result["run"] = asdict(run)
    finally:
        stop(server)
    return result


# -- report -----------------------------------------------------------------------------------------------
def median_run(runs: list[Run]) -> dict[str, Any]:
    """Each figure's median over the runs (problems: all of them)."""
    out: dict[str, Any] = asdict(runs[0])
    for key, value in out.items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            out[key] = statistics.median(getattr(r, key) for r in runs)
    out["worker_rss_mb"] = max(max(r.worker_rss_mb or [0.0]) for r in runs)
    out["problems"] = [p for r in runs for p in r.problems]
    out["runs"] = len(runs)
    return out


#: Figures that exist only where some object was read.
_PER_READ = ("p50_ms", "p95_ms", "p99_ms", "server_cpu_ms_per_1000_read")


def table(columns: dict[str, dict[str, Any]]) -> str:
    rows = (
        ("objects in the collection at the start", "stored_before", 0),
        ("aggregate paged read, limit 1,000 (objects/s)", "read_rate", 0),
        ("ingest during the reads (objects/s)", "write_rate", 0),
        ("POST of 1,000 during the reads, p50 (ms)", "post_p50_ms", 0),
        ("POST of 1,000 during the reads, slowest (ms)", "post_max_ms", 0),
        ("writers' largest lag behind their schedule (s)", "writer_late_s", 2),
        ("ingest alone, envelopes of 1,000 (objects/s)", "ingest_alone_rate", 0),
        ("page latency p50 (ms)", "p50_ms", 1),
        ("page latency p95 (ms)", "p95_ms", 1),
        ("page latency p99 (ms)", "p99_ms", 1),
        ("pages served", "pages", 0),
        ("readers that reached the end", "readers_at_end", 0),
        ("largest worker peak RSS (MB)", "worker_rss_mb", 0),
        ("database memory, peak sum of PSS (MB)", "db_mb", 0),
        (
            "server CPU in the read phase (writes included) per 1,000 objects read (ms)",
            "server_cpu_ms_per_1000_read",
            1,
        ),
        ("5xx answers", "fivexx", 0),
        ("checks failed", "problems", 0),
    )
    names = list(columns)
    lines = ["| figure | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for title, key, digits in rows:
        cells = []
        for n in names:
            v = columns[n].get(key)
            if key == "problems":
                v = len(v or [])
            if key in _PER_READ and not columns[n].get("read_objects"):
                v = None  # no page came back: no latency, no CPU per object read
            cells.append("-" if v is None else f"{v:,.{digits}f}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=1_000_000, help="objects pre-loaded (1,000,000)")
    p.add_argument("--seconds", type=float, default=60.0, help="length of the read+write phase (60)")
    p.add_argument("--workers", default="4,1", help="worker counts, run in turn (4,1)")
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--writers", type=int, default=1)
    p.add_argument("--write-rate", type=float, default=2000.0, help="objects/s the writers post in all")
    p.add_argument("--budget", type=int, default=100_000, help="most requests per client per phase")
    p.add_argument("--ingest-seconds", type=float, default=15.0, help="length of the ingest-alone phase")
    p.add_argument("--ingest-budget", type=int, default=100, help="most envelopes per writer, ingest alone")
    p.add_argument("--runs", type=int, default=1, help="runs per worker count (the median is reported)")
    p.add_argument("--medallion-objects", type=int, default=0, help="also run medallion holding N")
    p.add_argument("--medallion-limit-s", type=float, default=120.0, help="medallion's pre-load limit")
    p.add_argument("--dsn", help="an empty PostgreSQL database to use instead of a private cluster")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--quick", action="store_true", help="20,000 objects, 3 s phases, 2 workers")
    args = p.parse_args(argv)
    if args.quick:
        args.objects = min(args.objects, 20_000)
        args.seconds, args.ingest_seconds, args.workers = 3.0, 2.0, "2"
    worker_counts = [int(x) for x in str(args.workers).split(",")]
    if (
        args.objects < 0
        or args.seconds <= 0
        or args.readers < 1
        or args.writers < 1
        or min(worker_counts) < 1
    ):
        p.error("--objects, --seconds, --readers, --writers and --workers must be positive")
    print(f"{machine()}; {load_average()}", file=sys.stderr)
    report: dict[str, Any] = {
        "backend": args.backend,
        "objects": args.objects,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "load_before": os.getloadavg(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    failed = False
    with tempfile.TemporaryDirectory(prefix="kizuna-load-") as tmp:
        work = Path(tmp)
        with make_hub(args.backend, work, args.dsn) as hub:
            took = preload(hub, args.objects)
            report["preload_rate"] = args.objects / took if took else 0.0
            print(f"  pre-loaded {args.objects:,} objects in {took:.1f} s", file=sys.stderr)
            stored = args.objects
            columns: dict[str, dict[str, Any]] = {}
            for workers in worker_counts:
                runs: list[Run] = []
                for n in range(args.runs):
                    server = start_server(hub, workers, work / "serve.log")
                    try:
                        base = f"http://127.0.0.1:{server.port}/api/"
                        target = Target(
                            f"{base}collections/{hub.collection_id}/objects/",
                            f"{base}status/",
                            {"Authorization": f"Bearer {hub.token}", "Accept": MEDIA},
                        )
                        label = f"w{workers}-{n}"
                        run = run_phase(hub, server, target, args, work, label, stored, len(columns) * 10 + n)
                    finally:
                        stop_server(server)
                    stored += run.write_objects + run.ingest_alone_objects
                    runs.append(run)
                    print(
                        f"  {args.backend} --workers {workers} run {n + 1}: read {run.read_rate:,.0f}/s"
                        f" (p99 {run.p99_ms:.0f} ms), ingest {run.write_rate:,.0f}/s, alone"
                        f" {run.ingest_alone_rate:,.0f}/s, RSS {run.worker_rss_mb} MB,"
                        f" {len(run.problems)} problems; {load_average()}",
                        file=sys.stderr,
                    )
                    for problem in run.problems[:10]:
                        print(f"    {problem}", file=sys.stderr)
                    failed = failed or bool(run.problems) or run.fivexx > 0
                columns[f"{args.backend}, --workers {workers}"] = median_run(runs)
            audit = subprocess.run(
                [sys.executable, "-m", "kizuna", "hub", "audit", "verify"],
                capture_output=True,
                text=True,
                timeout=1800,
                cwd=ROOT,
                env={**os.environ, **hub.env},
            )
            report["audit_verify_exit"] = audit.returncode
            if audit.returncode != 0:
                failed = True
                print(f"  audit verify failed: {audit.stderr.strip()[-500:]}", file=sys.stderr)
        if args.medallion_objects:
            m = medallion_run(args, work)
            columns[f"medallion 3.0.0 ({m['objects']:,} objects)"] = median_run([Run(**m["run"])])
            report["medallion"] = {k: v for k, v in m.items() if k != "run"}
    report["columns"] = columns
    report["load_after"] = os.getloadavg()
    print(table(columns))
    print(f"\naudit verify exit {report['audit_verify_exit']}; {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
