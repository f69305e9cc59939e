"""Ingest benchmark (issue 15, item 9; docs/benchmarks.md, section Ingest).

End to end as a user runs it, each a fresh ``python -m kizuna`` process writing a durable SQLite hub:

* MISP: 100 generated events of 1,000 attributes each (ip-dst, domain, sha256, url; half ``to_ids``; TLP and
  ATT&CK galaxy tags; plus 25 ``file`` and 25 ``domain-ip`` objects per event) with ``kizuna ingest misp``;
  beside it misp-stix 2026.10.12 converting the same events in memory only (a subset: it is ~10x slower).
* CSV: a 1,000,000-row file with ``kizuna ingest csv --batch-rows 10000``.
* Feed: 1,000 events of 100 attributes pulled from a feed served on 127.0.0.1 (``kizuna ingest misp-feed``).

CPU time and peak RSS of the ingest process come from ``os.wait4``; the figure reported is the median of
``--runs`` runs. Usage: ``python benchmarks/ingest_bench.py [--runs 3] [--quick]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._measure import machine  # noqa: E402
from kizuna.hub.store.sqlite import SQLiteStore  # noqa: E402
from kizuna.stix.markings import TLP  # noqa: E402

NS = uuid.UUID("b3f1c2d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
TYPES = ("ip-dst", "domain", "sha256", "url")
ATTACK = ("Phishing - T1566", "Command and Scripting Interpreter - T1059", "Ingress Tool Transfer - T1105")


def _u(*parts: object) -> str:
    return str(uuid.uuid5(NS, "/".join(map(str, parts))))


def _value(t: str, n: int, i: int) -> str:
    if t == "ip-dst":
        return f"{10 + n % 200}.{i // 256 % 256}.{i % 256}.{n % 250 + 1}"
    if t == "domain":
        return f"host-{n}-{i}.example.com"
    if t == "sha256":
        return hashlib.sha256(f"{n}/{i}".encode()).hexdigest()
    return f"https://c2-{n}.example.net/{i}/gate.php"


def misp_event(n: int, attributes: int, objects: int) -> dict[str, Any]:
    ts = 1769904000 + n
    attrs = []
    for i in range(attributes):
        t = TYPES[i % 4]
        a: dict[str, Any] = {
            "uuid": _u(n, "a", i),
            "type": t,
            "category": "Network activity" if t != "sha256" else "Payload delivery",
            "value": _value(t, n, i),
            "to_ids": i % 2 == 0,
            "timestamp": str(ts),
            "distribution": "5",
        }
        if i % 10 == 0:
            a["Tag"] = [
                {"name": "tlp:amber"},
                {"name": f'misp-galaxy:mitre-attack-pattern="{ATTACK[i % 3]}"'},
            ]
        attrs.append(a)
    objs = []
    for j in range(objects):
        if j % 2 == 0:
            objs.append(
                {
                    "uuid": _u(n, "o", j),
                    "name": "file",
                    "timestamp": str(ts),
                    "Attribute": [
                        {
                            "uuid": _u(n, "o", j, 0),
                            "type": "filename",
                            "object_relation": "filename",
                            "value": f"f{j}.exe",
                            "to_ids": True,
                        },
                        {
                            "uuid": _u(n, "o", j, 1),
                            "type": "sha256",
                            "object_relation": "sha256",
                            "value": hashlib.sha256(f"o{n}/{j}".encode()).hexdigest(),
                            "to_ids": True,
                        },
                        {
                            "uuid": _u(n, "o", j, 2),
                            "type": "size-in-bytes",
                            "object_relation": "size-in-bytes",
                            "value": str(1000 + j),
                            "to_ids": False,
                        },
                    ],
                }
            )
        else:
            objs.append(
                {
                    "uuid": _u(n, "o", j),
                    "name": "domain-ip",
                    "timestamp": str(ts),
                    "Attribute": [
                        {
                            "uuid": _u(n, "o", j, 0),
                            "type": "domain",
                            "object_relation": "domain",
                            "value": f"d{j}.n{n}.example.org",
                            "to_ids": False,
                        },
                        {
                            "uuid": _u(n, "o", j, 1),
                            "type": "ip-dst",
                            "object_relation": "ip",
                            "value": f"192.0.2.{j % 250 + 1}",
                            "to_ids": False,
                        },
                    ],
                }
            )
    return {
        "uuid": _u(n, "event"),
        "info": f"benchmark event {n}",
        "date": "2026-02-01",
        "timestamp": str(ts),
        "published": True,
        "publish_timestamp": str(ts),
        "distribution": "3",
        "threat_level_id": "2",
        "analysis": "2",
        "Orgc": {"name": "Bench CERT", "uuid": _u("org")},
        "Tag": [
            {"name": "tlp:green"},
            {"name": 'misp-galaxy:mitre-attack-pattern="Initial Access - Phishing [T1566]"'},
        ],
        "Attribute": attrs,
        "Object": objs,
    }


def new_hub(path: Path) -> None:
    with SQLiteStore.create(path, title="bench") as store:
        store.add_org("uk", ceiling=TLP.RED)
        store.add_collection("bench", alias="bench", readers=["uk"], writers=["uk"])


def run(args: list[str]) -> dict[str, Any]:
    """One ``kizuna ARGS`` process (through ``_intake_split.py``: ``python -m kizuna`` with a timer around
    the intake): wall s, CPU s, peak RSS, the CPU s inside ``intake.accept``, the summary line, the load."""
    load = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "_intake_split.py"), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"kizuna {' '.join(args)} failed: {err}")
    lines = err.strip().splitlines()
    words = lines[-1].split()
    intake_wall, intake_cpu = float(words[1]), float(words[2])
    own_kb, child_kb = int(words[3]), int(words[4])
    own_cpu, child_cpu = float(words[5]), float(words[6])
    summary = next(line for line in reversed(lines) if line.startswith("read "))
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        # the ingest process and its largest child (the converter process, or a check helper) together
        "rss_mb": (own_kb + child_kb) * 1024 / 1e6,
        "own_rss_mb": own_kb * 1024 / 1e6,
        "writer_cpu_s": own_cpu,  # the ingest process itself
        "children_cpu_s": child_cpu,  # the converter process and check helpers
        "child_rss_mb": child_kb * 1024 / 1e6,
        "intake_cpu_s": intake_cpu,
        "intake_wall_s": intake_wall,
        "ingest_cpu_s": cpu - intake_cpu,
        "load": (load + os.getloadavg()[0]) / 2,
        "summary": summary,  # type: ignore[dict-item]
    }


#: Options given to every ``kizuna ingest`` run (``--pipeline``, ``--check-helpers``).
EXTRA: list[str] = []


def _line(what: str, i: int, r: dict[str, Any]) -> None:
    print(
        f"  {what} run {i}: {r['summary']}; wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s"
        f" (intake {r['intake_cpu_s']:.1f} s, the rest {r['ingest_cpu_s']:.1f} s), RSS {r['rss_mb']:.0f} MB"
        f" ({r['own_rss_mb']:.0f} + child {r['child_rss_mb']:.0f}); CPU writer {r['writer_cpu_s']:.1f} s,"
        f" children {r['children_cpu_s']:.1f} s;"
        f" load {r['load']:.1f}",
        flush=True,
    )


def median_of(runs: int, make: Any) -> dict[str, float]:
    results = [make(i) for i in range(runs)]
    return {
        k: statistics.median(r[k] for r in results)
        for k in results[0]
        if isinstance(results[0][k], int | float)
    }


def bench_misp(tmp: Path, events: int, attributes: int, objects: int, runs: int) -> dict[str, float]:
    files = []
    for n in range(events):
        p = tmp / f"event-{n}.json"
        p.write_bytes(orjson.dumps({"Event": misp_event(n, attributes, objects)}))
        files.append(str(p))

    def one(i: int) -> dict[str, float]:
        db = tmp / f"misp-{i}.db"
        new_hub(db)
        r = run(["ingest", "misp", *files, "--db", str(db), "--collection", "bench", "--org", "uk", *EXTRA])
        _line("misp", i, r)
        r["stored"] = int(r["summary"].split("stored new ")[1].split(",")[0])
        r["attributes"] = events * (attributes + objects * 5 // 2)
        return r

    return median_of(runs, one)


def bench_misp_stix(events: int, attributes: int, objects: int) -> dict[str, float]:
    from misp_stix_converter import MISPtoSTIX21Parser

    docs = [{"Event": misp_event(n, attributes, objects)} for n in range(events)]
    started = time.process_time()
    wall0 = time.monotonic()
    count = 0
    for doc in docs:
        parser = MISPtoSTIX21Parser()
        parser.parse_misp_event(doc)
        count += len(parser.bundle.objects)
    cpu = time.process_time() - started
    return {
        "cpu_s": cpu,
        "wall_s": time.monotonic() - wall0,
        "objects": count,
        "attributes": events * (attributes + objects * 5 // 2),
    }


def bench_convert(events: int, attributes: int, objects: int, runs: int) -> dict[str, float]:
    """The ingest side alone, in this process and in memory (no validation, no store), like misp-stix
    below: kizuna's MISP to STIX conversion of the same events; the median of ``runs`` passes."""
    from kizuna.ingest.misp import Options, iter_units

    docs = [{"Event": misp_event(n, attributes, objects)} for n in range(events)]
    opts = Options(attack={})
    times, count = [], 0
    for _ in range(runs):
        started = time.process_time()
        count = sum(len(u.records) for d in docs for u in iter_units(d, "bench.json", opts))
        times.append(time.process_time() - started)
    return {
        "cpu_s": statistics.median(times),
        "objects": count,
        "attributes": events * (attributes + objects * 5 // 2),
    }


def bench_csv_convert(tmp: Path, rows: int, runs: int) -> dict[str, float]:
    """Reading and converting the CSV file alone (no validation, no store); the median of ``runs``."""
    from kizuna.ingest.csvfile import CsvReader, load_mapping

    csv, mapping = _csv_files(tmp, rows)
    m = load_mapping(mapping)
    times = []
    for _ in range(runs):
        started = time.process_time()
        n = sum(len(u.records) for u in CsvReader(csv, m, producer_org="uk", batch_rows=10000).units())
        times.append(time.process_time() - started)
        assert n == rows
    return {"cpu_s": statistics.median(times), "rows": rows}


def _csv_files(tmp: Path, rows: int) -> tuple[Path, Path]:
    csv = tmp / "rows.csv"
    mapping = tmp / "m.toml"
    if csv.exists():
        return csv, mapping
    with csv.open("w") as f:
        f.write("indicator,first seen,note\n")
        for i in range(rows):
            f.write(f"{10 + i // 65536 % 200}.{i // 256 % 256}.{i % 256}.{i % 7 + 1},2026-02-01,row {i}\n")
    mapping.write_text(
        '[fields]\nvalue = "indicator"\ntype = { constant = "ipv4-addr" }\n'
        'valid_from = "first seen"\ndescription = "note"\n'
    )
    return csv, mapping


def bench_csv(tmp: Path, rows: int, runs: int) -> dict[str, float]:
    csv, mapping = _csv_files(tmp, rows)

    def one(i: int) -> dict[str, float]:
        db = tmp / f"csv-{i}.db"
        new_hub(db)
        args = ["ingest", "csv", str(csv), "--mapping", str(mapping), "--batch-rows", "10000"]
        r = run([*args, "--db", str(db), "--collection", "bench", "--org", "uk", *EXTRA])
        _line("csv", i, r)
        r["rows"] = rows
        return r

    return median_of(runs, one)


def bench_feed(tmp: Path, events: int, attributes: int, runs: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from tests.ingest.feeds import feed_event, serve, write_feed

    root = write_feed(tmp / "feed", [feed_event(n, attributes=attributes) for n in range(events)])

    def one(i: int) -> dict[str, float]:
        db = tmp / f"feed-{i}.db"
        new_hub(db)
        with serve(root) as url:
            r = run(
                ["ingest", "misp-feed", url, "--db", str(db), "--collection", "bench", "--org", "uk", *EXTRA]
            )
        _line("feed", i, r)
        return r

    return median_of(runs, one)


def _split(r: dict[str, float], n: float, per: str) -> None:
    print(
        f"  CPU in the intake (intake.accept) {r['intake_cpu_s']:.1f} s ="
        f" {r['intake_cpu_s'] / n * 1e6:.0f} us a {per};"
        f" the rest (start-up, reading, converting) {r['ingest_cpu_s']:.1f} s ="
        f" {r['ingest_cpu_s'] / n * 1e6:.0f} us a {per}; intake wall {r['intake_wall_s']:.1f} s;"
        f" load average {r['load']:.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--quick", action="store_true", help="a tenth of every size (a smoke test, not the figures)"
    )
    ap.add_argument(
        "--only", choices=("misp", "misp-stix", "convert", "csv", "csv-convert", "feed"), action="append"
    )
    ap.add_argument("--misp-stix-events", type=int, default=5, help="events misp-stix converts (it is slow)")
    ap.add_argument(
        "--pipeline",
        choices=("auto", "on", "off"),
        default="auto",
        help="convert in a converter process (on), in the writer (off), or as kizuna decides (auto)",
    )
    ap.add_argument("--check-helpers", type=int, help="the converter's check helpers (default 0)")
    a = ap.parse_args()
    if a.pipeline != "auto":
        EXTRA.append("--pipeline" if a.pipeline == "on" else "--no-pipeline")
    if a.check_helpers is not None:
        EXTRA.extend(["--check-helpers", str(a.check_helpers)])
    scale = 10 if a.quick else 1
    only = set(a.only or ("misp", "misp-stix", "convert", "csv", "csv-convert", "feed"))
    print(
        f"machine: {machine()}; load average {os.getloadavg()}; {time.strftime('%Y-%m-%d %H:%M')};"
        f" options {' '.join(EXTRA) or '(none)'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "misp" in only:
            r = bench_misp(tmp, 100 // scale, 1000, 50, a.runs)
            n, objs = r["attributes"], r["stored"]
            print(f"MISP: {n:,.0f} attributes, {objs:,.0f} stored objects; peak RSS {r['rss_mb']:.0f} MB")
            print(
                f"  wall {r['wall_s']:.1f} s = {n / r['wall_s']:,.0f} attributes/s,"
                f" {objs / r['wall_s']:,.0f} objects/s"
            )
            print(
                f"  CPU {r['cpu_s']:.1f} s = {n / r['cpu_s']:,.0f} attributes/s,"
                f" {objs / r['cpu_s']:,.0f} objects/s"
            )
            _split(r, n, "attribute")
        if "misp-stix" in only:
            r = bench_misp_stix(max(1, a.misp_stix_events // (scale if a.quick else 1)), 1000, 50)
            n, objs = r["attributes"], r["objects"]
            print(f"misp-stix 2026.10.12 (in memory, {n:,.0f} attributes): CPU {r['cpu_s']:.1f} s")
            print(f"  = {n / r['cpu_s']:,.0f} attributes/s, {objs / r['cpu_s']:,.0f} objects/s")
        if "convert" in only:
            r = bench_convert(100 // scale, 1000, 50, a.runs)
            n, objs = r["attributes"], r["objects"]
            print(
                f"kizuna MISP -> STIX conversion alone (in memory, {n:,.0f} attributes):"
                f" CPU {r['cpu_s']:.2f} s"
            )
            print(
                f"  = {n / r['cpu_s']:,.0f} attributes/s, {objs / r['cpu_s']:,.0f} objects/s,"
                f" {r['cpu_s'] / n * 1e6:.1f} us an attribute"
            )
        if "csv-convert" in only:
            r = bench_csv_convert(tmp, 1_000_000 // scale, a.runs)
            print(
                f"CSV reading and converting alone ({r['rows']:,.0f} rows): CPU {r['cpu_s']:.2f} s ="
                f" {r['rows'] / r['cpu_s']:,.0f} rows/s, {r['cpu_s'] / r['rows'] * 1e6:.1f} us a row"
            )
        if "csv" in only:
            r = bench_csv(tmp, 1_000_000 // scale, a.runs)
            rows = r["rows"]
            print(f"CSV: {rows:,.0f} rows; peak RSS {r['rss_mb']:.0f} MB")
            print(f"  wall {r['wall_s']:.1f} s = {rows / r['wall_s']:,.0f} rows/s")
            print(f"  CPU {r['cpu_s']:.1f} s = {rows / r['cpu_s']:,.0f} rows/s")
            _split(r, rows, "row")
        if "feed" in only:
            r = bench_feed(tmp, 1000 // scale, 100, a.runs)
            print(f"feed: {1000 // scale} events x 100 attributes; peak RSS {r['rss_mb']:.0f} MB")
            print(f"  wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s")
            _split(r, 100_000 // scale, "attribute")


if __name__ == "__main__":
    main()
