"""TAXII 2.1 hub benchmark: kizuna against medallion 3.0.0 through the same taxii2-client code.

Both servers run as separate processes on 127.0.0.1 and are driven by the same client functions
(``taxii2client.v21.Collection.add_objects`` with ``wait_for_completion``, ``get_objects`` through
``as_pages``) over one generated, seeded corpus (``benchmarks/_corpus.py``):

* kizuna: ``kizuna hub serve`` on a fresh durable SQLite file (the default settings: validation on,
  ``synchronous=FULL``), ``--objects`` objects (default 100,000);
* medallion 3.0.0: the OASIS reference TAXII 2.1 server, memory backend, one API root and one collection,
  HTTP Basic user/password, ``--medallion-objects`` objects (default 10,000).

Each phase (ingest, reads) is bounded by ``--phase-limit-s`` and every request gets only the time left to
its phase: an ingest that runs out of time reports the rate of what it stored, a read that cannot finish
reports an upper bound ("< x objects/s").

Figures: ingest objects/s in bundles of 100 and of 1,000 (every block of the store alternates the two, so
the growth table shows both as the store grows); full paged read (objects/s, ``as_pages(per_request=1000)``);
page latency p50/p99 over every page of the read passes; peak server RSS (psutil on the server pid); server
and client CPU per 1,000 objects (the figures that depend least on other load on the machine).

    python benchmarks/taxii_bench.py            # the full run; writes the "## Hub (TAXII)" section
    python benchmarks/taxii_bench.py --quick    # a small run (< 1 minute), writes nothing
    python benchmarks/taxii_bench.py --runs 3   # kizuna three times, each on a fresh hub: medians
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from taxii2client.v21 import Collection, as_pages

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _corpus import corpus
from _measure import RssSampler, free_port, machine, py_spy

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Hub (TAXII)"
ANALYSIS = "### Analysis"  # a hand-written subsection that a re-run keeps
PAGE_SIZE = 1000
BARS = {  # kizuna's acceptance bars (issue 2)
    "ingest_1000": 20_000.0,
    "read": 50_000.0,
    "p99_ms": 50.0,
    "rss_mb": 300.0,
}


# -- servers ------------------------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    collection_url: str
    user: str
    password: str
    process: subprocess.Popen[bytes]
    log_path: Path
    note: str = ""


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}): {log_path.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)  # any HTTP answer (401 included) means it is up
            return
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server at {url} did not answer within {limit_s:.0f} s")


def _loopback(port: int) -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port)]


def _kizuna_cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    if proc.returncode != 0:
        raise SystemExit(f"kizuna {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def start_kizuna(workdir: Path, serve_args: list[str] | None = None) -> Server:
    """A fresh hub database (durable, the default) with one org that may read and write one collection."""
    db = workdir / "hub.db"
    _kizuna_cli("hub", "init", "--db", str(db), "--title", "benchmark hub")
    _kizuna_cli("hub", "org", "add", "bench", "--db", str(db), "--country", "GB", "--ceiling", "red")
    token = _kizuna_cli("hub", "token", "create", "--db", str(db), "--org", "bench")
    cid = _kizuna_cli(
        "hub", "collection", "add", "--db", str(db), "--title", "feed", "--read", "bench", "--write", "bench"
    )
    port = free_port()
    log_path = workdir / "kizuna.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kizuna",
                "hub",
                "serve",
                "--db",
                str(db),
                *_loopback(port),
                *(serve_args or []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd=ROOT,
        )
    _wait_ready(proc, f"http://127.0.0.1:{port}/taxii2/", log_path)
    url = f"http://127.0.0.1:{port}/api/collections/{cid}/"
    return Server(
        "kizuna", url, "bench", token, proc, log_path, "SQLite file, synchronous=FULL, validation on"
    )


MEDALLION_API_ROOT = "bench"
MEDALLION_COLLECTION = "9a0e4b5c-6a54-4d2b-9c89-2f5d7f0b1a11"


def start_medallion(workdir: Path) -> Server:
    """medallion 3.0.0, memory backend: one API root, one collection, one HTTP Basic user."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    data = {
        "/discovery": {
            "title": "medallion benchmark",
            "description": "reference TAXII 2.1 server",
            "default": f"{base}{MEDALLION_API_ROOT}/",
            "api_roots": [f"{base}{MEDALLION_API_ROOT}/"],
        },
        MEDALLION_API_ROOT: {
            "information": {
                "title": "benchmark API root",
                "description": "one collection",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 64 * 1024 * 1024,
            },
            "status": [],
            "collections": [
                {
                    "id": MEDALLION_COLLECTION,
                    "title": "feed",
                    "description": "benchmark collection",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    password = "bench-password"
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(workdir / "medallion-data.json"),
            # Its paging sessions ('next') expire after 30 s by default; a 10,000-object read takes longer.
            "session_timeout": 3600,
        },
        "users": {"bench": password},
        "taxii": {"max_page_size": PAGE_SIZE},
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data))
    config_path = workdir / "medallion-config.json"
    config_path.write_text(json.dumps(config))
    log_path = workdir / "medallion.log"
    launcher = "import sys; from medallion.scripts.run import main; sys.argv[0] = 'medallion'; main()"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", launcher, *_loopback(port), "--log-level", "ERROR", str(config_path)],
            stdout=log,
            stderr=log,
            cwd=workdir,
        )
    _wait_ready(proc, f"{base}taxii2/", log_path)
    url = f"{base}{MEDALLION_API_ROOT}/collections/{MEDALLION_COLLECTION}/"
    return Server("medallion", url, "bench", password, proc, log_path, "memory backend, Flask server")


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# -- the measurements (the same code for both servers) -----------------------------------------------
class DeadlineAdapter(HTTPAdapter):
    """Gives every request the time left to the current phase, so no single call outlives the phase limit."""

    def __init__(self) -> None:
        super().__init__()
        self.deadline = float("inf")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        left = self.deadline - time.monotonic()
        kwargs["timeout"] = max(1.0, left) if left != float("inf") else None
        return super().send(request, **kwargs)


@dataclass
class Block:
    stored: int  # objects stored at the end of the block
    rate_100: float | None
    rate_1000: float | None
    rss_mb: float


@dataclass
class Result:
    name: str
    note: str
    target: int
    stored: int = 0
    failures: int = 0
    ingest_s: dict[int, float] = field(default_factory=lambda: {100: 0.0, 1000: 0.0})
    ingest_n: dict[int, int] = field(default_factory=lambda: {100: 0, 1000: 0})
    ingest_cpu_s: dict[int, float] = field(default_factory=lambda: {100: 0.0, 1000: 0.0})  # server CPU
    read_cpu_s: float = 0.0  # server CPU during the completed read passes
    read_client_cpu_s: float = 0.0  # this process's CPU during them (taxii2-client, requests, JSON)
    read_objects: int = 0  # objects returned by the completed read passes
    blocks: list[Block] = field(default_factory=list)
    read_rates: list[float] = field(default_factory=list)
    read_counts: list[int] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)
    read_bound: float | None = None  # set when no full read finished in time: the rate is below this
    peak_rss_mb: float = 0.0
    stopped: list[str] = field(default_factory=list)

    def cpu_ms_per_1000(self, what: str) -> float | None:
        if what == "read":
            cpu, n = self.read_cpu_s, self.read_objects
        elif what == "client":
            cpu, n = self.read_client_cpu_s, self.read_objects
        else:
            cpu, n = self.ingest_cpu_s[int(what)], self.ingest_n[int(what)]
        return 1e6 * cpu / n if n else None

    def ingest_rate(self, bundle: int) -> float | None:
        s, n = self.ingest_s[bundle], self.ingest_n[bundle]
        return n / s if s > 0 else None

    @property
    def read_rate(self) -> float | None:
        return sorted(self.read_rates)[len(self.read_rates) // 2] if self.read_rates else None

    def read_text(self) -> str:
        if self.read_rates or self.read_bound is None:
            return _fmt(self.read_rate)
        return f"< {self.read_bound:,.0f}"

    def page_quantile(self, q: float) -> float | None:
        if not self.page_ms:
            return None
        ordered = sorted(self.page_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Runs:
    """Several measurements of one server, each on a fresh store: a figure is the median of the runs'."""

    results: list[Result]

    @property
    def name(self) -> str:
        return self.results[0].name

    def median_run(self) -> Result:
        """The run whose ingest rate in bundles of 1,000 is the median (its growth table is shown)."""
        ranked = sorted(self.results, key=lambda r: r.ingest_rate(1000) or 0.0)
        return ranked[len(ranked) // 2]


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    if not known:
        return None
    mid = len(known) // 2
    return known[mid] if len(known) % 2 else (known[mid - 1] + known[mid]) / 2


def envelopes(objects: list[dict[str, Any]], size: int) -> list[tuple[int, bytes]]:
    """Pre-serialised envelopes (the same bytes go to both servers)."""
    return [
        (len(objects[i : i + size]), json.dumps({"objects": objects[i : i + size]}).encode())
        for i in range(0, len(objects), size)
    ]


def block_size(n: int) -> int:
    """Blocks of ~n/10, a multiple of 2,000 (half in bundles of 100, half in bundles of 1,000)."""
    return max(2000, round(n / 10 / 2000) * 2000)


def ingest(
    col: Collection, objects: list[dict[str, Any]], res: Result, rss: RssSampler, limit_s: float
) -> None:
    started = time.perf_counter()
    step = block_size(len(objects))
    for start in range(0, len(objects), step):
        block = objects[start : start + step]
        half = (len(block) // 2) // 100 * 100
        rates: dict[int, float | None] = {100: None, 1000: None}
        for size, part in ((100, block[:half]), (1000, block[half:])):
            took = 0.0
            sent = 0
            bodies = envelopes(part, size)
            cpu0 = rss.cpu_s()
            for count, body in bodies:
                t0 = time.perf_counter()
                try:
                    status = col.add_objects(body, wait_for_completion=True, timeout=120)
                except requests.Timeout:
                    res.stopped.append(
                        f"ingest stopped at {res.stored:,} objects: a request ran past {limit_s:.0f} s"
                    )
                    return
                took += time.perf_counter() - t0
                sent += count
                res.stored += status.success_count
                res.failures += status.failure_count
                if status.status != "complete" or status.success_count != count:
                    failures = [f.get("message") for f in status.failures[:3]]
                    print(
                        f"  {res.name}: bundle not fully stored: {status.status} {failures}", file=sys.stderr
                    )
                if time.perf_counter() - started > limit_s:
                    break
            res.ingest_s[size] += took
            res.ingest_n[size] += sent
            res.ingest_cpu_s[size] += rss.cpu_s() - cpu0
            rates[size] = sent / took if took > 0 else None
            if time.perf_counter() - started > limit_s:
                break
        res.blocks.append(Block(res.stored, rates[100], rates[1000], rss.now() / 1e6))
        print(
            f"  {res.name}: {res.stored:>7,} stored  bundles of 100: {_fmt(rates[100])} obj/s"
            f"  of 1,000: {_fmt(rates[1000])} obj/s  RSS {rss.now() / 1e6:.0f} MB",
            file=sys.stderr,
        )
        if time.perf_counter() - started > limit_s:
            res.stopped.append(f"ingest stopped at {res.stored:,} objects after {limit_s:.0f} s")
            return


def read(col: Collection, res: Result, rss: RssSampler, passes: int, limit_s: float) -> None:
    """Full paged reads; each page timed. A pass cut short by the limit gives an upper bound instead."""
    started = time.perf_counter()
    for n in range(passes):
        if n and time.perf_counter() - started > limit_s / 2:
            break
        ids: set[str] = set()
        cpu0, client0 = rss.cpu_s(), time.process_time()
        t_pass = time.perf_counter()
        pages = as_pages(col.get_objects, per_request=PAGE_SIZE)
        while True:
            t0 = time.perf_counter()
            try:
                envelope = next(pages)
            except StopIteration:
                break
            except requests.Timeout:
                res.page_ms.append((time.perf_counter() - t0) * 1000)  # a lower bound of that page's time
                res.stopped.append(f"read stopped at {len(ids):,} objects: a page took over {limit_s:.0f} s")
                break
            res.page_ms.append((time.perf_counter() - t0) * 1000)
            ids.update(o["id"] for o in envelope.get("objects", ()))
            if time.perf_counter() - started > limit_s:
                res.stopped.append(f"read stopped at {len(ids):,} objects after {limit_s:.0f} s")
                break
        took = time.perf_counter() - t_pass
        res.read_counts.append(len(ids))
        print(f"  {res.name}: read pass {n + 1}: {len(ids):,} objects in {took:.2f} s", file=sys.stderr)
        if res.stopped:
            # The whole store could not be read within the limit: its rate is below stored / elapsed.
            res.read_bound = res.stored / took
            break
        res.read_rates.append(len(ids) / took)
        res.read_cpu_s += rss.cpu_s() - cpu0
        res.read_client_cpu_s += time.process_time() - client0
        res.read_objects += len(ids)


def measure(
    server: Server, objects: list[dict[str, Any]], args: argparse.Namespace, profile: Path | None
) -> Result:
    res = Result(server.name, server.note, len(objects))
    col = Collection(server.collection_url, user=server.user, password=server.password)
    adapter = DeadlineAdapter()
    col._conn.session.mount("http://", adapter)  # taxii2-client's requests.Session
    with RssSampler(server.process.pid, interval_s=0.05) as rss:
        with py_spy(server.process.pid, profile, f"{server.name}-ingest"):
            adapter.deadline = time.monotonic() + args.phase_limit_s
            ingest(col, objects, res, rss, args.phase_limit_s)
        with py_spy(server.process.pid, profile, f"{server.name}-read"):
            adapter.deadline = time.monotonic() + args.phase_limit_s
            read(col, res, rss, args.read_passes, args.phase_limit_s)
    res.peak_rss_mb = rss.peak / 1e6
    return res


# -- report -------------------------------------------------------------------------------------------
def _fmt(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:,.1f}x" if r >= 0.95 else f"{r:.2g}x"


def _met(value: float | None, bar: float, higher_is_better: bool) -> str:
    if value is None:
        return "-"
    ok = value >= bar if higher_is_better else value <= bar
    return "yes" if ok else "**no**"


def tables(k: Result | Runs | None, m: Result | None) -> str:
    """The summary table (kizuna, medallion, ratio, bar) and the growth table, in Markdown. With several
    runs of kizuna every figure of its column is the median of the runs'."""

    def head(r: Result | Runs | None, name: str) -> str:
        if isinstance(r, Runs):
            stored = _median([float(x.stored) for x in r.results]) or 0
            return f"{name} ({stored:,.0f} objects, median of {len(r.results)} runs)"
        return f"{name} ({r.stored:,} objects)" if r else f"{name} (not run)"

    def get(r: Result | Runs | None, f: str) -> float | None:
        if isinstance(r, Runs):
            return _median([get(x, f) for x in r.results])
        if r is None:
            return None
        if f == "read":
            return r.read_rate
        if f == "rss":
            return r.peak_rss_mb
        if f.startswith("p"):
            return r.page_quantile(int(f[1:]) / 100)
        if f.startswith("cpu:"):
            return r.cpu_ms_per_1000(f[4:])
        return r.ingest_rate(int(f))

    def text(r: Result | Runs | None, f: str, digits: int) -> str:
        if isinstance(r, Runs):
            if f == "read" and not all(x.read_rates for x in r.results):
                return " / ".join(x.read_text() for x in r.results)  # some run cut short: each run's
            return _fmt(get(r, f), digits)
        if r is not None and f == "read":
            return r.read_text()
        value = _fmt(get(r, f), digits)
        # A page request cut off at the time limit: the quantile is a lower bound.
        timed_out = r is not None and f.startswith("p") and r.read_bound is not None and not r.read_rates
        return f"> {value}" if timed_out and value != "-" else value

    rows = (
        ("ingest, bundles of 100 (objects/s)", "100", 0, "", None),
        ("ingest, bundles of 1,000 (objects/s)", "1000", 0, ">= 20,000", ("ingest_1000", True)),
        ("full paged read, per_request=1000 (objects/s)", "read", 0, ">= 50,000", ("read", True)),
        ("page latency p50, limit 1000 (ms)", "p50", 1, "", None),
        ("page latency p99, limit 1000 (ms)", "p99", 1, "<= 50", ("p99_ms", False)),
        ("server peak RSS (MB)", "rss", 0, "<= 300", ("rss_mb", False)),
        ("server CPU per 1,000 objects, ingest in bundles of 100 (ms)", "cpu:100", 0, "", None),
        ("server CPU per 1,000 objects, ingest in bundles of 1,000 (ms)", "cpu:1000", 0, "", None),
        ("server CPU per 1,000 objects, paged read (ms)", "cpu:read", 1, "", None),
        ("client CPU per 1,000 objects, paged read (ms)", "cpu:client", 1, "", None),
    )
    lines = [
        f"| figure | {head(k, 'kizuna')} | {head(m, 'medallion 3.0.0')}"
        " | kizuna / medallion | kizuna bar | met |",
        "|---|---:|---:|---:|---:|:-:|",
    ]
    for label, f, digits, bar, check in rows:
        kv, mv = get(k, f), get(m, f)
        reads = f == "read" or f.startswith("p") or f == "cpu:read"
        ratio = _ratio(kv, mv) if m is None or not reads or m.read_rates else "-"
        if f == "read" and m is not None and not m.read_rates and m.read_bound and kv:
            ratio = f"> {kv / m.read_bound:,.0f}x"
        met = "" if check is None else _met(kv, BARS[check[0]], check[1])
        lines.append(f"| {label} | {text(k, f, digits)} | {text(m, f, digits)} | {ratio} | {bar} | {met} |")
    out = ["\n".join(lines), ""]
    several = k.results if isinstance(k, Runs) else []
    measured = [*(several or [k]), m]
    for n, r in enumerate(x for x in measured if x is not None):
        read_note = ", ".join(f"{c:,}" for c in r.read_counts) or "none"
        stopped = f" Time limit: {'; '.join(r.stopped)}." if r.stopped else ""
        if any(r is x for x in several):  # one of several runs of kizuna
            out.append(
                f"- {r.name} run {n + 1} ({r.note}): stored {r.stored:,} of {r.target:,}, {r.failures}"
                f" failures; ingest {_fmt(r.ingest_rate(100))} / {_fmt(r.ingest_rate(1000))} objects/s in"
                f" bundles of 100 / 1,000 (server CPU {_fmt(r.cpu_ms_per_1000('100'))} /"
                f" {_fmt(r.cpu_ms_per_1000('1000'))} ms per 1,000); read {r.read_text()} objects/s (objects"
                f" per pass: {read_note}), p99 {_fmt(r.page_quantile(0.99), 1)} ms; peak RSS"
                f" {r.peak_rss_mb:.0f} MB.{stopped}"
            )
            continue
        out.append(
            f"- {r.name} ({r.note}): stored {r.stored:,} of {r.target:,}, {r.failures} failures; objects read"
            f" back per pass: {read_note}; {len(r.page_ms)} pages timed.{stopped}"
        )
    out += [
        "",
        "Ingest as the store grows (each block: first half in bundles of 100, second half of 1,000;"
        " with several runs of kizuna, the run with the median rate in bundles of 1,000):",
        "",
        "| server | stored at end of block | bundles of 100 (objects/s) | bundles of 1,000 (objects/s)"
        " | RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in (k.median_run() if isinstance(k, Runs) else k, m):
        if r is None:
            continue
        for b in r.blocks:
            out.append(
                f"| {r.name} | {b.stored:,} | {_fmt(b.rate_100)} | {_fmt(b.rate_1000)} | {b.rss_mb:.0f} |"
            )
    return "\n".join(out)


def write_section(body: str) -> None:
    """Add or replace this benchmark's section of docs/benchmarks.md, leaving the others as they are.

    A hand-written ``### Analysis`` subsection at the end of the old section is kept (findings, profiles).
    """
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    body_lines = body.rstrip("\n").splitlines()
    if start is None:
        new_lines = [*lines, "", *body_lines] if lines else body_lines
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        kept = next((i for i in range(start, end) if lines[i].startswith(ANALYSIS)), end)
        analysis = lines[kept:end]
        while analysis and not analysis[-1].strip():
            analysis.pop()
        if analysis:
            body_lines += ["", *analysis]
        new_lines = lines[:start] + body_lines + ([""] if end < len(lines) else []) + lines[end:]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text("\n".join(new_lines).rstrip("\n") + "\n")


def section(command: str, k: Result | Runs | None, m: Result | None, wall_s: float, load: str) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    return f"""{SECTION}

Command: `{command}` (wall time {wall_s:.0f} s). Date: {date}.
Machine: {machine()}; client and servers share it; {load}.

kizuna and medallion 3.0.0 (the OASIS reference TAXII 2.1 server, memory backend, Flask) run as separate
processes on 127.0.0.1 and are driven by the same `taxii2-client` code over one seeded corpus
(`benchmarks/_corpus.py`: indicators with simple and compound patterns, observables, relationships,
sightings, malware, attack patterns, threat actors, identities, reports; TLP 2.0 markings). kizuna runs
with its default settings: every object validated, a durable SQLite file (WAL, `synchronous=FULL`).
medallion holds fewer objects because it is slow, and each of its phases is time-limited; the ratios
therefore compare kizuna at its larger store with medallion at its smaller one. With `--runs N` kizuna is
measured N times, each on a fresh hub, and each figure of its column is the median of the N runs'
(medallion runs once).

{tables(k, m)}

What each figure means:
- ingest (objects/s): objects stored / seconds spent in `Collection.add_objects(envelope,
  wait_for_completion=True)` with bundles of 100 or of 1,000 pre-serialised objects, over the whole run.
- full paged read (objects/s): distinct objects returned / seconds for one complete
  `as_pages(get_objects, per_request=1000)` walk of the collection (median of the passes; "< x" when no
  walk finished within the time limit).
- page latency p50/p99 (ms): the time of each `get_objects(limit=1000[, next=...])` call in those walks as
  the client sees it (HTTP and JSON decoding included).
- server peak RSS (MB = 10^6 bytes): the server process's resident set size, sampled every 50 ms with
  psutil during ingest and reads.
- server / client CPU per 1,000 objects (ms): CPU time (user + system, psutil) the server process, or the
  benchmark's client process, spent per 1,000 objects ingested or read. Unlike the rates it hardly depends
  on what else the machine is running, so it is the figure to compare between runs.
"""


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f}/{five:.1f}"


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--objects", type=int, default=100_000, help="objects stored in kizuna (default 100,000)")
    p.add_argument(
        "--medallion-objects", type=int, default=10_000, help="objects stored in medallion (10,000)"
    )
    p.add_argument("--quick", action="store_true", help="a small run (< 1 minute): 4,000 and 1,000 objects")
    p.add_argument("--only", choices=("kizuna", "medallion"), help="measure one server only")
    p.add_argument("--phase-limit-s", type=float, default=600.0, help="time limit of each phase (600 s)")
    p.add_argument("--read-passes", type=int, default=3, help="full paged reads per server (3)")
    p.add_argument(
        "--runs",
        type=int,
        default=1,
        help="kizuna runs, each on a fresh hub: its figures are the medians (default 1; medallion runs once)",
    )
    p.add_argument("--seed", type=int, default=20260105)
    p.add_argument("--profile-dir", type=Path, help="record py-spy profiles of the servers here")
    p.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    p.add_argument(
        "--check-processes",
        type=int,
        help="kizuna hub serve --check-processes N (default: the server's own default)",
    )
    args = p.parse_args()
    if args.quick:
        args.objects, args.medallion_objects = min(args.objects, 4000), min(args.medallion_objects, 1000)
        args.phase_limit_s = min(args.phase_limit_s, 10.0)
        args.no_docs = True
    if args.objects < 1 or args.medallion_objects < 1 or args.read_passes < 1 or args.runs < 1:
        p.error("--objects, --medallion-objects, --read-passes and --runs must be positive")
    t0 = time.perf_counter()
    load_before = _load()
    objects = corpus(max(args.objects, args.medallion_objects), seed=args.seed)
    # The corpus is millions of live Python objects in this (client) process; without this, the client's
    # own full garbage collections (100+ ms each) land inside some timed page requests and read as server
    # latency. Freezing moves them out of the collector's reach; the servers are separate processes.
    gc.collect()
    gc.freeze()
    print(f"corpus: {len(objects):,} objects (seed {args.seed})", file=sys.stderr)
    k: Result | Runs | None = None
    m: Result | None = None
    with tempfile.TemporaryDirectory(prefix="kizuna-taxii-bench-") as tmp:
        work = Path(tmp)
        if args.only != "medallion":
            extra = [] if args.check_processes is None else ["--check-processes", str(args.check_processes)]
            runs: list[Result] = []
            for n in range(args.runs):
                place = work / f"kizuna-{n + 1}"
                place.mkdir()
                server = start_kizuna(place, extra)
                try:
                    runs.append(measure(server, objects[: args.objects], args, args.profile_dir))
                finally:
                    stop(server)
                shutil.rmtree(place, ignore_errors=True)  # a run's disk is not the next one's
            k = runs[0] if len(runs) == 1 else Runs(runs)
        if args.only != "kizuna":
            (work / "medallion").mkdir()
            server = start_medallion(work / "medallion")
            try:
                m = measure(server, objects[: args.medallion_objects], args, args.profile_dir)
            finally:
                stop(server)
    wall_s = time.perf_counter() - t0
    print(tables(k, m))
    busy = max(os.getloadavg()[0], float(load_before.split("/")[0]))
    if busy > (os.cpu_count() or 1):
        print(
            f"note: load average {busy:.1f} on {os.cpu_count()} cores during the run; the rates and latencies"
            " include that contention, the CPU-per-1,000 rows much less so",
            file=sys.stderr,
        )
    if not args.no_docs:
        command = ("python benchmarks/taxii_bench.py " + " ".join(sys.argv[1:])).strip()
        load = f"load average (1/5 min) {load_before} at the start, {_load()} at the end"
        write_section(section(command, k, m, wall_s, load))
        print(f"wrote the '{SECTION}' section of {DOCS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
