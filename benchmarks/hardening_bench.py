"""What the hardening of issue 14 costs a hub, per object and per request (single core, in process).

* per-object limits (``kizuna.stix.ijson.limit_error``, the fast path the intake runs on every object) beside
  the plain walk it falls back to, and beside the whole of ``intake.check`` (validation included);
* reading an envelope exactly (``ijson.loads``) beside ``orjson.loads`` on the same 1,000-object body;
* one authenticated TAXII request through the whole app (middleware, token check, the failure counters'
  read) on Starlette's in-process client: ``GET /api/`` and a 1,000-object ``POST``.

CPU time (``time.process_time``) beside wall time; the median of ``--repeat`` runs.

Usage: python benchmarks/hardening_bench.py [--objects 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _corpus import corpus
from _measure import machine

from kizuna.hub import intake
from kizuna.stix import ijson


def _time(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    objs = corpus(args.objects)
    raws = [orjson.dumps(o) for o in objs]
    n = len(objs)
    print(machine())
    print(
        f"{n} objects of the hub benchmarks' corpus; median of {args.repeat} runs; us per object (wall / CPU)"
    )

    rows = {
        "limit_error (fast path)": lambda: [ijson.limit_error(o, r) for o, r in zip(objs, raws, strict=True)],
        "walk_limit_error (plain reference)": lambda: [ijson.walk_limit_error(o) for o in objs],
        "intake.check (validation + limits)": lambda: [intake.check(i, o) for i, o in enumerate(objs)],
    }
    for name, fn in rows.items():
        wall, cpu = _time(fn, args.repeat)
        print(f"  {name:40s} {wall / n * 1e6:7.2f} / {cpu / n * 1e6:7.2f}")

    body = orjson.dumps({"objects": objs[:1000]})
    w1, c1 = _time(lambda: [orjson.loads(body) for _ in range(20)], args.repeat)
    w2, c2 = _time(lambda: [ijson.loads(body) for _ in range(20)], args.repeat)
    print(f"1,000-object envelope ({len(body):,} bytes), ms per read (wall / CPU):")
    print(f"  orjson.loads {w1 / 20 * 1e3:.2f} / {c1 / 20 * 1e3:.2f}; ijson.loads {w2 / 20 * 1e3:.2f} / "
          f"{c2 / 20 * 1e3:.2f} (ratio {w2 / w1:.2f})")  # fmt: skip

    from starlette.testclient import TestClient

    from kizuna.hub.app import create_app
    from kizuna.hub.auth import hash_token, new_token
    from kizuna.hub.settings import HubSettings
    from kizuna.hub.store.sqlite import SQLiteStore
    from kizuna.stix.markings import TLP

    with tempfile.TemporaryDirectory() as tmp, SQLiteStore.create(Path(tmp) / "b.db", durable=False) as store:
        store.add_org("o", ceiling=TLP.RED)
        token = new_token()
        store.add_token("o", hash_token(token))
        c = store.add_collection("c", readers=["o"], writers=["o"])
        client = TestClient(create_app(HubSettings(), store))
        taxii = "application/taxii+json;version=2.1"
        h = {"Authorization": f"Bearer {token}", "Accept": taxii, "Content-Type": taxii}
        w, cpu = _time(lambda: [client.get("/api/", headers=h) for _ in range(200)], args.repeat)
        print(
            f"GET /api/ in process: {w / 200 * 1e3:.3f} / {cpu / 200 * 1e3:.3f} ms per request (wall / CPU)"
        )
        batches = [orjson.dumps({"objects": objs[i : i + 1000]}) for i in range(0, min(n, 5000), 1000)]

        def post() -> None:
            for b in batches:
                r = client.post(f"/api/collections/{c.id}/objects/", content=b, headers=h)
                assert r.status_code == 202

        w, cpu = _time(post, 1)
        print(
            f"POST 1,000 objects in process: {w / len(batches) * 1e3:.1f} / {cpu / len(batches) * 1e3:.1f} ms"
            " per request (wall / CPU, first write of each object)"
        )


if __name__ == "__main__":
    main()
