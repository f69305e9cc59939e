"""Web UI benchmark (issue 17): server time of the analysts' pages over a large SQLite hub, the largest HTML
page, and the collection page's ``load`` time in Chromium.

The hub: ``--objects`` objects (default 100,000: the seeded corpus of ``benchmarks/_corpus.py``, with
``--pairs`` indicators reported by both partners with different facts, so there are disagreements),
``--sightings`` sightings (default 100,000, over the last 90 days) and ``--audit`` audit records (default
1,000,000), on SQLite. Objects and sightings enter through the intake (``kizuna.hub.intake.accept``), so every
index is built as it is in production; the audit records beyond those the writes made are appended in bulk
to the chain by the store's own record function (``SQLiteStore._audit``), keyed and linked like any other.

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
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _corpus import corpus
from _measure import machine

from kizuna.hub import intake
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import format_timestamp
from kizuna.stix.markings import TLP, TLP2_IDS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Web"
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


class Timer:
    """ASGI middleware: server time and process CPU of each request, from its first byte in to its last
    byte out (one request at a time, so the process CPU is that request's)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.current: Timing | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.current is None:
            await self.app(scope, receive, send)
            return
        t0, c0 = time.perf_counter(), time.process_time()
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
def build(
    path: Path, n_objects: int, n_pairs: int, n_sightings: int, n_audit: int, now: datetime
) -> dict[str, Any]:
    store = SQLiteStore.create(path, title="web bench hub")
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
    for i in range(0, len(objs), 1000):
        org = orgs["uk" if (i // 1000) % 2 == 0 else "jp"]
        result = intake.accept(store, cni, intake.Sender.local(org), objs[i : i + 1000], clock=lambda: now)
        assert len(result.refused) < 50, result.refused[:3]
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
    log(f"stored {n_objects:,} objects in {time.perf_counter() - t0:.0f} s")
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
        n = min(50_000, left)
        with store._db.write() as conn:  # the store's own record function, in bulk
            for _ in range(n):
                action = rng.choice(actions)
                detail = {"collection": cni.id, "added": [[rng.choice(indicators), stamp, "00" * 16]]}
                store._audit(conn, "org:" + rng.choice(("uk", "jp", "water")), action, detail)
        left -= n
    head = store.audit_head()
    log(f"audit chain at {head.records if head else 0:,} records ({time.perf_counter() - t0:.0f} s)")
    store.close()
    return {"tokens": tokens, "collection": cni.id, "values": values, "sighted": sighted}


# -- requests ---------------------------------------------------------------------------------------------
def measure(db: Path, info: dict[str, Any], requests: int, now: datetime) -> dict[str, Timing]:
    from starlette.testclient import TestClient

    store = SQLiteStore.open(db, clock=lambda: now)
    timer = Timer(create_app(HubSettings(title="web bench"), store, clock=lambda: now))
    out = {name: Timing() for name in PAGES}
    rng = random.Random(5)

    def client(org: str) -> TestClient:
        c = TestClient(timer, base_url="http://127.0.0.1", follow_redirects=False)  # type: ignore[arg-type]
        assert c.post("/ui/login", data={"token": info["tokens"][org]}).status_code == 303
        return c

    def run(name: str, c: TestClient, urls: Callable[[int, str], str]) -> None:
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
    run(PAGES[0], reader, following(f"/ui/collections/{info['collection']}?size=100"))
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
    store.close()
    return out


def chromium_load(db: Path, token: str, collection: str, loads: int) -> list[float]:
    """Seconds to the ``load`` event of the collection page (100 rows) in Chromium, served by a real
    ``kizuna hub serve`` process."""
    import socket

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "hub", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
def report(
    args: argparse.Namespace,
    out: dict[str, Timing],
    loads: list[float],
    started: str,
    load0: str,
    wall: float,
) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `python benchmarks/web_bench.py` (wall time {wall:.0f} s, building the hub included)."
        f" Date: {time.strftime('%Y-%m-%d')}.",
        f"Machine: {machine()}; the benchmark, the app it drives in process and later Chromium and the server"
        f" share it; load average (1/5 min) {load0} at the start, {load_now()} at the end.",
        "",
        f"Hub: SQLite, {args.objects:,} objects (the seeded corpus of `benchmarks/_corpus.py` and"
        f" {args.pairs:,} indicators reported by both partners with different facts), {args.sightings:,}"
        f" sightings over 90 days, {args.audit:,} audit records. Reader: an AMBER-ceiling organisation that"
        " produced none of it; the audit page as the administrator. "
        f"{args.requests} requests per page, one at a time, through the ASGI app in process.",
        "",
        "| page | server p50 (ms) | server p95 (ms) | server p99 (ms) | CPU mean (ms) | largest page (KB)"
        " | bar p95 / p99 | met |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for name in PAGES:
        t = out[name]
        p95, p99 = pct(t.wall_ms, 95), pct(t.wall_ms, 99)
        met = (
            "yes"
            if p95 <= BARS["p95_ms"] and p99 <= BARS["p99_ms"] and t.largest / 1000 <= BARS["page_kb"]
            else "no"
        )
        lines.append(
            f"| {name} | {pct(t.wall_ms, 50):.1f} | {p95:.1f} | {p99:.1f} | {statistics.mean(t.cpu_ms):.1f} |"
            f" {t.largest / 1000:.0f} | <= 100 / <= 200 | {met} |"
        )
    largest = max(t.largest for t in out.values())
    lines += [
        "",
        f"- Largest HTML page of all: {largest / 1000:.0f} KB (bar 500 KB).",
        f"- Chromium (Debian's, headless), collection page of 100 rows, time to the `load` event over"
        f" {len(loads)} loads: median {statistics.median(loads):.2f} s, slowest {max(loads):.2f} s (bar 1 s)."
        if loads
        else "- Chromium: not measured.",
        "- server p50/p95/p99: the time from the request's first byte into the app to the answer's last"
        " byte out, measured by an ASGI middleware around the hub's app; CPU: the process's CPU time over the"
        " same span (requests run one at a time, so it is the request's), the figure that depends least on"
        " what else the machine runs.",
    ]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = DOCS.read_text(encoding="utf-8")
    start = doc.find(SECTION + "\n")
    if start == -1:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        nxt = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + ("" if nxt == -1 else doc[nxt:])
    DOCS.write_text(doc, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=100_000)
    p.add_argument("--pairs", type=int, default=2_000)
    p.add_argument("--sightings", type=int, default=100_000)
    p.add_argument("--audit", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--loads", type=int, default=9)
    p.add_argument(
        "--quick", action="store_true", help="10,000 objects and sightings, 50,000 records, 50 requests"
    )
    args = p.parse_args()
    if args.quick:
        args.objects, args.pairs, args.sightings, args.audit, args.requests, args.loads = (
            10_000,
            500,
            10_000,
            50_000,
            50,
            3,
        )
    load0 = load_now()
    started = time.time()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="kizuna-web-bench-") as tmp:
        db = Path(tmp) / "hub.db"
        info = build(db, args.objects, args.pairs, args.sightings, args.audit, now)
        out = measure(db, info, args.requests, now)
        for name in PAGES:
            t = out[name]
            p50, p95, p99 = (pct(t.wall_ms, q) for q in (50, 95, 99))
            cpu = statistics.mean(t.cpu_ms)
            log(f"{name}: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f} ms, CPU {cpu:.1f} ms, {t.statuses}")
        loads = (
            chromium_load(db, info["tokens"]["water"], info["collection"], args.loads) if args.loads else []
        )
        log(f"Chromium load: {loads}")
    text = report(args, out, loads, "", load0, time.time() - started)
    print(text)
    if not args.quick:
        write_section(text)


if __name__ == "__main__":
    main()
