"""The check pool gives exactly what checking in one thread gives, whatever the objects, and survives its
workers dying; a hub serving with it stores exactly what one without it stores."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kizuna.hub import intake
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.checkpool import CheckPool, pack, unpack
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.hub.taxii.errors import TAXII_MEDIA_TYPE
from kizuna.stix.ids import parse_timestamp
from kizuna.stix.ijson import DEFAULT_LIMITS, ObjectLimits
from kizuna.stix.markings import TLP, TLP2_IDS

from .conftest import FrozenClock, indicator

T = "2026-01-01T00:00:00.000Z"
AMBER = TLP2_IDS[TLP.AMBER]


def _id(kind: str, n: int) -> str:
    return f"{kind}--{uuid.UUID(int=n, version=4)}"


def samples() -> list[Any]:
    """Objects of every kind the check treats differently, valid and not."""
    base = {"spec_version": "2.1", "created": T, "modified": T}
    return [
        indicator("198.51.100.7", tlp_ref=AMBER, oid=_id("indicator", 1)),
        indicator("203.0.113.9", oid=_id("indicator", 2), valid_until="2026-06-01T00:00:00Z", revoked=True),
        {
            **base,
            "type": "indicator",
            "id": _id("indicator", 3),
            "pattern": "[file:hashes.'SHA-256' = 'aa'] AND [domain-name:value IN ('a.example', 'b.example')]",
            "pattern_type": "stix",
            "valid_from": T,
            "name": "Ελληνικά 日本語のテキスト",
        },
        {
            **base,
            "type": "sighting",
            "id": _id("sighting", 4),
            "sighting_of_ref": _id("indicator", 1),
            "count": 3,
            "first_seen": T,
            "last_seen": "2026-01-02T00:00:00.5Z",
        },
        {
            **base,
            "type": "relationship",
            "id": _id("relationship", 5),
            "relationship_type": "indicates",
            "source_ref": _id("indicator", 1),
            "target_ref": _id("malware", 6),
        },
        {
            **base,
            "type": "malware",
            "id": _id("malware", 6),
            "name": "Shade",
            "is_family": True,
            "aliases": ["X"],
        },
        {"type": "ipv4-addr", "spec_version": "2.1", "id": _id("ipv4-addr", 7), "value": "192.0.2.1"},
        {
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": _id("marking-definition", 8),
            "created": T,
            "definition_type": "statement",
            "definition": {"statement": "Copyright partner"},
        },
        {**base, "type": "note", "id": _id("note", 9), "content": "seen", "object_refs": [_id("malware", 6)]},
        {
            **base,
            "type": "x-custom-thing",
            "id": _id("x-custom-thing", 10),
            "x_size": 2**70,
        },  # beyond 64 bits
        {
            **base,
            "type": "malware",
            "id": _id("malware", 11),
            "name": "m",
            "is_family": False,
            "object_marking_refs": [_id("marking-definition", 99)],
        },
        {**base, "type": "indicator", "id": _id("indicator", 12)},  # missing properties
        {"type": "malware", "id": "malware--not-a-uuid"},
        "not an object",
        {**base, "type": "note", "id": _id("note", 13), "content": "x" * 3000},
        {
            **base,
            "type": "report",
            "id": _id("report", 14),
            "name": "r",
            "published": T,
            "object_refs": [_id("note", n) for n in range(50)],
            "x_kizuna_recipients": "nobody",
        },
    ]


@pytest.fixture(scope="module")
def pool() -> Iterator[CheckPool]:
    p = CheckPool(2, min_items=2)
    yield p
    p.close()


def test_pack_round_trips_every_kind() -> None:
    for c in intake.check_all(samples()):
        assert unpack(pack(c)) == c


def test_the_pool_agrees_with_one_thread(pool: CheckPool) -> None:
    items = samples() * 7
    assert pool(items, DEFAULT_LIMITS) == intake.check_all(items)
    small = ObjectLimits(max_string_chars=1000, max_members=40)
    assert pool(items, small) == intake.check_all(items, small)
    assert len(pool._helpers) == 2  # the helpers were used, not the fallback


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 3000), helpers=st.integers(0, 3), share=st.floats(0.2, 0.8))
def test_the_parts_cover_every_object_once_in_order(n: int, helpers: int, share: float) -> None:
    p = CheckPool(helpers)
    p.share = share
    bounds = p._bounds(n, helpers)
    assert bounds[0][0] == 0 and bounds[-1][1] == n and len(bounds) <= helpers + 1
    assert all(a[1] == b[0] and b[0] < b[1] for a, b in itertools.pairwise(bounds))
    assert bounds[0][1] >= 1  # the calling thread always checks a part of its own


def test_the_split_follows_what_each_part_took() -> None:
    p = CheckPool(1)
    assert p.share == 0.5  # untimed: equal parts
    for _ in range(20):  # the helper's part takes twice as long an object (pipe, pickling)
        bounds = p._bounds(1000, 1)
        own, helped = bounds[0][1], bounds[1][1] - bounds[1][0]
        p._learn(bounds, own * 1e-5, helped * 2e-5)
    assert abs(p.share - 1 / 3) < 0.01 and p._bounds(1000, 1) == [(0, 667), (667, 1000)]
    for _ in range(20):  # a helper with a core to itself beside a busy calling thread: never all of it
        bounds = p._bounds(1000, 1)
        p._learn(bounds, (bounds[0][1]) * 1e-4, (bounds[1][1] - bounds[1][0]) * 1e-6)
    assert p.share == 0.8


_MUTATIONS = st.sampled_from(["drop", "null", "number", "string", "list"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(picks=st.lists(st.tuples(st.integers(0, 15), _MUTATIONS, st.integers(0, 30)), min_size=2, max_size=40))
def test_the_pool_agrees_on_damaged_objects(pool: CheckPool, picks: list[tuple[int, str, int]]) -> None:
    base = samples()
    items: list[Any] = []
    for n, how, which in picks:
        obj = json.loads(json.dumps(base[n]))
        if isinstance(obj, dict) and obj:
            key = sorted(obj)[which % len(obj)]
            if how == "drop":
                del obj[key]
            else:
                obj[key] = {"null": None, "number": -1.5, "string": "", "list": []}[how]
        items.append(obj)
    assert pool(items, DEFAULT_LIMITS) == intake.check_all(items)


def test_the_helpers_are_the_only_processes_the_pool_starts_and_they_end_with_it() -> None:
    """No process beside the helpers (``multiprocessing``'s spawn started a resource tracker too), each
    helper running this module; closed, the pool leaves none; a helper whose parent's pipe closes exits."""
    before = _children()
    p = CheckPool(2, min_items=2)
    try:
        items = samples() * 3
        assert p(items, DEFAULT_LIMITS) == intake.check_all(items)
        started = {pid: cmd for pid, cmd in _children().items() if pid not in before}
        assert sorted(started) == sorted(h.proc.pid for h in p._helpers)
        assert all(cmd[-2:] == ["-m", "kizuna.hub.checkpool"] for cmd in started.values())
        orphan = p._helpers[0]
        orphan._to.close()  # as when the parent dies: the helper reads the end of its input
        assert orphan.proc.wait(timeout=10) == 0
    finally:
        p.close()
    assert set(_children()) - set(before) == set()


def _children() -> dict[int, list[str]]:
    """This process's child processes and their command lines (from Linux's /proc)."""
    found: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except (OSError, ValueError, IndexError):  # gone meanwhile
            continue
        if parent == os.getpid():
            found[int(entry.name)] = command
    return found


def test_a_killed_worker_is_replaced_and_nothing_is_lost() -> None:
    p = CheckPool(1, min_items=2)
    try:
        items = samples() * 3
        expected = intake.check_all(items)
        assert p(items, DEFAULT_LIMITS) == expected
        [helper] = p._helpers
        os.kill(helper.proc.pid, signal.SIGKILL)  # what an OOM killer or an operator would do
        helper.proc.wait(timeout=10)
        assert p(items, DEFAULT_LIMITS) == expected  # its part checked here, the helper replaced
        assert p(items, DEFAULT_LIMITS) == expected
        assert len(p._helpers) == 1 and p._helpers[0] is not helper
    finally:
        p.close()
    assert p(samples(), DEFAULT_LIMITS) == intake.check_all(samples())  # closed: in the calling thread


def _serve(tmp: Path, processes: int) -> tuple[TestClient, SQLiteStore, str, str]:
    clock = FrozenClock(parse_timestamp("2026-02-01T09:00:00.000Z"))
    store = SQLiteStore.create(tmp / "hub.db", clock=clock)
    store.add_org("producer", ceiling=TLP.RED)
    token = new_token()
    store.add_token("producer", hash_token(token))
    c = store.add_collection("shared", readers=["producer"], writers=["producer"], default_tlp=TLP.AMBER)
    ids = iter(range(1, 1_000_000))
    app = create_app(
        HubSettings(check_processes=processes), store, clock=clock, new_id=lambda: uuid.UUID(int=next(ids))
    )
    return TestClient(app, base_url="http://127.0.0.1"), store, token, c.id


def test_a_hub_with_the_pool_stores_what_one_without_it_stores(tmp_path: Path) -> None:
    objects = [indicator(f"198.51.100.{n % 250}", oid=_id("indicator", 1000 + n)) for n in range(400)]
    objects += samples()
    body = json.dumps({"objects": objects}).encode()  # one integer is beyond what orjson writes
    seen = []
    for processes in (0, 1):
        where = tmp_path / str(processes)
        where.mkdir()
        client, store, token, cid = _serve(where, processes)
        with client:
            r = client.post(
                f"/api/collections/{cid}/objects/",
                content=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": TAXII_MEDIA_TYPE,
                    "Content-Type": TAXII_MEDIA_TYPE,
                },
            )
            assert r.status_code == 202, r.text
        store.close()
        conn = sqlite3.connect(where / "hub.db")
        rows = conn.execute(
            "SELECT date_added, id, version, tlp, restricted, origin, digest, raw FROM objects"
            " ORDER BY date_added"
        ).fetchall()
        index = conn.execute("SELECT rowid, body FROM search ORDER BY rowid").fetchall()
        conn.close()
        seen.append((r.json(), rows, index))
    assert seen[0] == seen[1]
    assert seen[0][0]["success_count"] >= 400 and seen[0][0]["failure_count"] >= 3
