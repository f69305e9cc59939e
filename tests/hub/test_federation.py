"""Federation between real ``kizuna hub serve`` processes on 127.0.0.1 (and medallion, a hub no one here
wrote). Which objects arrive where is computed by :func:`reference_arrivals` from the rules, not by hand.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.federation.sync import Syncer
from kizuna.hub.models import Query, VersionFilter
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.markings import TLP

from ..conftest import free_port, kizuna_cli, start_hub_process

# Every TLP marking id the partners use, with the rank the reference gives it (written out here).
MARKINGS: dict[str, tuple[str | None, int | None]] = {
    "clear-1.0": ("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9", 0),
    "clear-2.0": ("marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487", 0),
    "green-1.0": ("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da", 1),
    "green-2.0": ("marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb", 1),
    "amber-1.0": ("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82", 2),
    "amber-2.0": ("marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421", 2),
    "strict-2.0": ("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", 3),
    "strict-opencti": ("marking-definition--826578e1-40ad-459f-bc73-ede076f81f37", 3),
    "red-1.0": ("marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed", 4),
    "red-2.0": ("marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1", 4),
    "unmarked": (None, None),
}
LEVEL = {"clear": 0, "green": 1, "amber": 2}


def make_objects(tag: str, *, created: str = "2026-02-01T00:00:00.000Z") -> list[dict[str, Any]]:
    """One indicator and one malware at every marking."""
    out = []
    for key, (ref, _rank) in MARKINGS.items():
        for stix_type in ("indicator", "malware"):
            obj: dict[str, Any] = {
                "type": stix_type,
                "spec_version": "2.1",
                "id": f"{stix_type}--{uuid.uuid4()}",
                "created": created,
                "modified": created,
                "name": f"{tag} {key}",
            }
            if stix_type == "indicator":
                obj.update(
                    pattern=f"[domain-name:value = '{tag}-{key}.example']",
                    pattern_type="stix",
                    valid_from=created,
                )
            else:
                obj["is_family"] = False
            if ref:
                obj["object_marking_refs"] = [ref]
            if ref and _rank == 4:
                obj["x_kizuna_recipients"] = ["analyst"]
            out.append(obj)
    return out


def rank(obj: dict[str, Any]) -> int | None:
    ranks = [r for ref, r in MARKINGS.values() if ref in obj.get("object_marking_refs", [])]
    return max(ranks) if ranks else None  # type: ignore[type-var]


@dataclass(frozen=True)
class Terms:
    max_tlp: str = "green"
    types: tuple[str, ...] = ()


def reference_arrivals(
    objects: list[dict[str, Any]],
    source_default: int,
    egress: Terms,
    ingress: Terms,
    came_from_target: set[str] = frozenset(),
    target_default: int = 2,
) -> set[tuple[str, str]]:
    """(id, modified) of the objects that may flow from one hub to another, from DESIGN.md's rules."""
    out = set()
    for o in objects:
        marked = rank(o)
        effective = source_default if marked is None else marked
        if effective >= 3:  # RED and AMBER+STRICT never leave
            continue
        if effective > LEVEL[egress.max_tlp] or (egress.types and o["type"] not in egress.types):
            continue
        if o["id"] in came_from_target:  # never back to the peer it came from
            continue
        if marked is not None and marked > LEVEL[ingress.max_tlp]:
            continue
        # an unmarked object counts as the most restrictive of the TLP the sender enforced, the agreement and
        # the receiving collection's default: refused when that is above the agreement (never lowered)
        if marked is None and max(effective, LEVEL[ingress.max_tlp], target_default) > LEVEL[ingress.max_tlp]:
            continue
        if ingress.types and o["type"] not in ingress.types:
            continue
        out.add((o["id"], o["modified"]))
    return out


@dataclass
class HubUnderTest:
    name: str
    db: Path
    port: int
    collection_id: str
    analyst_token: str
    proc: subprocess.Popen[bytes] | None = None
    peer_tokens: dict[str, str] = field(default_factory=dict)  # tokens other hubs use to reach this one
    granted: set[str] = field(default_factory=set)
    key_file: Path | None = None  # a hub on PostgreSQL: ``db`` is its DSN, its key file lies here

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def env(self) -> dict[str, str]:
        return {} if self.key_file is None else {"KIZUNA_KEY_FILE": str(self.key_file)}

    def store(self) -> Any:
        if self.key_file is not None:
            from kizuna.hub.store.postgres import PostgresStore

            return PostgresStore.open(str(self.db), key_file=self.key_file)
        return SQLiteStore.open(self.db)

    def start(self) -> None:
        log = None if self.key_file is None else self.key_file.with_suffix(".log")
        self.proc = start_hub_process(self.db, self.port, env=self.env, log_path=log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None

    def post(self, objects: list[dict[str, Any]]) -> None:
        from kizuna.hub.client import HubClient

        with HubClient(self.api, self.analyst_token) as client:
            for i in range(0, len(objects), 1000):
                status = client.add_objects(self.collection_id, objects[i : i + 1000])
                assert status["failure_count"] == 0, status["failures"][:3]

    def held(self) -> set[tuple[str, str]]:
        """Every (id, version) stored in the hub's collection (all versions, read as the local analyst)."""
        with self.store() as s:
            c = s.get_collection(self.collection_id)
            rows = s.query(
                c, s.get_org("analyst"), Query(limit=1_000_000, versions=VersionFilter(all=True))
            ).rows
            assert len(rows) == len({(r.id, r.version) for r in rows}), "a version is stored twice"
            return {(r.id, r.version) for r in rows}


def new_hub(tmp_path: Path, name: str, default_tlp: TLP = TLP.AMBER, dsn: str | None = None) -> HubUnderTest:
    """A hub in a SQLite file, or (given ``dsn``, a fresh place) on PostgreSQL."""
    db: Any = tmp_path / f"{name}.db"
    key_file = None
    made: Any
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        db, key_file = dsn, tmp_path / f"{name}.key"
        made = PostgresStore.create(dsn, title=name, key_file=key_file)
    else:
        made = SQLiteStore.create(db, title=name, durable=False)
    with made as s:
        s.add_org("analyst", ceiling=TLP.RED)
        s.add_org("green-reader", ceiling=TLP.GREEN)
        token = new_token()
        s.add_token("analyst", hash_token(token))
        c = s.add_collection(
            "shared", readers=["analyst", "green-reader"], writers=["analyst"], default_tlp=default_tlp
        )
    return HubUnderTest(name, db, free_port(), c.id, token, key_file=key_file)


def link(
    src: HubUnderTest,
    dst: HubUnderTest,
    tmp_path: Path,
    *,
    direction: str,
    terms_at_src: Terms,
    terms_at_dst: Terms,
    reshare_at_dst: tuple[str, ...] = (),
    reshare_max: str = "green",
) -> None:
    """Make ``src`` push to (or pull from) ``dst``: each hub gets an account for the other and a peer
    record of the same name holding its side of the agreement; ``reshare_at_dst`` lets ``dst`` pass the
    objects it receives from ``src`` on to those peers."""
    for here, there in ((src, dst), (dst, src)):
        account = f"{there.name}-hub"
        with here.store() as s:
            try:
                s.get_org(account)
            except Exception:
                s.add_org(account, ceiling=TLP.RED, peer_hub=True)
                token = new_token()
                s.add_token(account, hash_token(token))
                here.peer_tokens[there.name] = token
        if account not in here.granted:
            kizuna_cli(
                "hub",
                "collection",
                "grant",
                here.collection_id,
                "--db",
                str(here.db),
                "--read",
                account,
                "--write",
                account,
                env=here.env,
            )
            here.granted.add(account)
    # the peer record lives on src (src runs the sync); dst keeps a peer record too, for its ingress/egress
    for here, there, terms, flows in (
        (src, dst, terms_at_src, direction),
        (dst, src, terms_at_dst, None),
    ):
        token_file = tmp_path / f"{here.name}-to-{there.name}.token"
        token_file.write_text(there.peer_tokens[here.name] + "\n")
        token_file.chmod(0o600)
        args = [
            "hub",
            "peer",
            "add",
            f"{there.name}-hub",
            "--db",
            str(here.db),
            "--url",
            there.api,
            "--token-file",
            str(token_file),
            "--max-tlp",
            terms.max_tlp,
        ]
        if terms.types:
            args += ["--types", ",".join(terms.types)]
        if here is dst and reshare_at_dst:
            args += ["--reshare", ",".join(reshare_at_dst), "--reshare-max-tlp", reshare_max]
        if flows == "push":
            args += ["--push", f"{here.collection_id}:{there.collection_id}"]
        elif flows == "pull":
            args += ["--pull", f"{there.collection_id}:{here.collection_id}"]
        kizuna_cli(*args, env=here.env)


def sync(hub: HubUnderTest, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return kizuna_cli("hub", "sync", "--db", str(hub.db), "--once", *extra, check=check, env=hub.env)


def moved(proc: subprocess.CompletedProcess[str]) -> int:
    """Objects a ``hub sync --once`` moved, summed over its peers (one 'ok (N objects moved' line each)."""
    counts = [int(n) for n in re.findall(r"ok \((\d+) objects moved", proc.stderr)]
    assert counts, proc.stderr
    return sum(counts)


# -- two hubs: every TLP level, both directions, each agreement level, types --------------------------
CASES = [
    ("push", Terms("clear"), Terms("clear")),
    ("push", Terms("green"), Terms("amber")),
    ("push", Terms("amber"), Terms("amber")),
    ("push", Terms("amber"), Terms("green")),  # the receiver's agreement is stricter: it refuses
    ("pull", Terms("green"), Terms("green")),
    ("pull", Terms("amber"), Terms("amber", ("indicator",))),
    ("push", Terms("amber", ("malware",)), Terms("amber")),
]


@pytest.mark.parametrize(("direction", "at_uk", "at_jp"), CASES)
def test_two_hubs_exchange_exactly_what_the_rules_allow(tmp_path, hubs, direction, at_uk, at_jp):
    uk, jp = hubs["uk"], hubs["jp"] = new_hub(tmp_path, "uk"), new_hub(tmp_path, "jp")
    for h in (uk, jp):
        h.start()
    uk_objects, jp_objects = make_objects("uk"), make_objects("jp")
    uk.post(uk_objects)
    jp.post(jp_objects)
    link(uk, jp, tmp_path, direction=direction, terms_at_src=at_uk, terms_at_dst=at_jp)
    first = sync(uk, "--json")
    own_uk = {(o["id"], o["modified"]) for o in uk_objects}
    own_jp = {(o["id"], o["modified"]) for o in jp_objects}
    if direction == "push":  # what the UK hub lets out under its terms, as the Japanese hub lets it in
        arrived = reference_arrivals(uk_objects, 2, egress=at_uk, ingress=at_jp)
        assert jp.held() == own_jp | arrived
        assert uk.held() == own_uk
    else:  # the Japanese hub serves its peer account under its terms; the UK hub admits under its own
        arrived = reference_arrivals(jp_objects, 2, egress=at_jp, ingress=at_uk)
        assert uk.held() == own_uk | arrived
        assert jp.held() == own_jp
    # the pass reports per flow what it moved and refused (reasons counted), as peer list --json records it
    [report] = json.loads(first.stdout)
    [flow] = report["flows"]
    assert (flow["direction"], flow["transferred"], flow["error"]) == (direction, len(arrived), None)
    assert sum(flow["reasons"].values()) == flow["refused"]
    if flow["refused"]:
        assert all(reason and "--" not in reason.split(":")[0] for reason in flow["reasons"])  # no ids
    [listed] = json.loads(kizuna_cli("hub", "peer", "list", "--db", str(uk.db), "--json").stdout)
    [recorded] = listed["flows"]
    assert (recorded["transferred"], recorded["refused"]) == (flow["transferred"], flow["refused"])
    assert f"  {direction} " in first.stderr and f"{flow['transferred']} objects," in first.stderr
    # a second pass moves nothing
    assert moved(sync(uk)) == 0


@pytest.mark.parametrize(("direction", "at_uk", "at_jp"), [CASES[1], CASES[5]])
def test_two_hubs_on_postgres_exchange_exactly_what_the_rules_allow(
    tmp_path, hubs, new_pg_dsn, direction, at_uk, at_jp
):
    uk = hubs["uk"] = new_hub(tmp_path, "uk", dsn=new_pg_dsn())
    jp = hubs["jp"] = new_hub(tmp_path, "jp", dsn=new_pg_dsn())
    for h in (uk, jp):
        h.start()
    uk_objects, jp_objects = make_objects("uk"), make_objects("jp")
    uk.post(uk_objects)
    jp.post(jp_objects)
    link(uk, jp, tmp_path, direction=direction, terms_at_src=at_uk, terms_at_dst=at_jp)
    sync(uk)
    own_uk = {(o["id"], o["modified"]) for o in uk_objects}
    own_jp = {(o["id"], o["modified"]) for o in jp_objects}
    if direction == "push":
        assert jp.held() == own_jp | reference_arrivals(uk_objects, 2, egress=at_uk, ingress=at_jp)
        assert uk.held() == own_uk
    else:
        assert uk.held() == own_uk | reference_arrivals(jp_objects, 2, egress=at_jp, ingress=at_uk)
        assert jp.held() == own_jp
    assert moved(sync(uk)) == 0
    for h in (uk, jp):
        assert kizuna_cli("hub", "audit", "verify", "--db", str(h.db), env=h.env).returncode == 0


def test_unmarked_object_from_an_amber_peer_is_amber_here(tmp_path, hubs):
    uk, jp = hubs["uk"], hubs["jp"] = new_hub(tmp_path, "uk"), new_hub(tmp_path, "jp", default_tlp=TLP.CLEAR)
    for h in (uk, jp):
        h.start()
    unmarked = [o for o in make_objects("jp") if "object_marking_refs" not in o]
    jp.post(unmarked)
    # the JP collection's own default is CLEAR, the agreement is AMBER: locally at UK the objects are AMBER
    link(uk, jp, tmp_path, direction="pull", terms_at_src=Terms("amber"), terms_at_dst=Terms("amber"))
    sync(uk)
    with uk.store() as s:
        c = s.get_collection(uk.collection_id)
        everything = s.query(c, s.get_org("analyst"), Query(limit=100)).rows
        green = s.query(c, s.get_org("green-reader"), Query(limit=100)).rows
    assert len(everything) == len(unmarked) == 2 and green == []
    # and the UK hub's collection default (AMBER) was not what decided it: the agreement was
    raw = json.loads(everything[0].raw)
    assert "object_marking_refs" not in raw  # kept as received


def test_new_versions_flow_and_the_same_object_from_two_peers_is_stored_once(tmp_path, hubs):
    a, b, c = (hubs.setdefault(n, new_hub(tmp_path, n)) for n in ("a", "b", "c"))
    for h in (a, b, c):
        h.start()
    shared = make_objects("both")[2:4]  # green, clear... any level that may flow
    a.post(shared)
    c.post(shared)
    link(a, b, tmp_path, direction="push", terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    link(c, b, tmp_path, direction="push", terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    sync(a)
    sync(c)
    assert b.held() == {(o["id"], o["modified"]) for o in shared}
    newer = [{**o, "modified": "2026-03-01T00:00:00.000Z", "name": "revised"} for o in shared]
    a.post(newer)
    sync(a)
    assert b.held() == {(o["id"], o["modified"]) for o in shared + newer}


def _ring(
    tmp_path: Path, hubs: dict[str, Any], reshare: bool, dsns: dict[str, str] | None = None
) -> tuple[list[HubUnderTest], dict[str, Any]]:
    dsns = dsns or {}
    ring = [hubs.setdefault(n, new_hub(tmp_path, n, dsn=dsns.get(n))) for n in ("a", "b", "c")]
    for h in ring:
        h.start()
    posted: dict[str, list[dict[str, Any]]] = {h.name: make_objects(h.name) for h in ring}
    for h in ring:
        h.post(posted[h.name])
    for src, dst, after in zip(ring, ring[1:] + ring[:1], ring[2:] + ring[:2], strict=True):
        link(
            src,
            dst,
            tmp_path,
            direction="push",
            terms_at_src=Terms("amber"),
            terms_at_dst=Terms("amber"),
            reshare_at_dst=(f"{after.name}-hub",) if reshare else (),
            reshare_max="amber",
        )
    for _ in range(3):
        for h in ring:
            sync(h)
    return ring, posted


def test_three_hubs_in_a_ring_share_only_with_their_neighbour_by_default(tmp_path, hubs):
    ring, posted = _ring(tmp_path, hubs, reshare=False)
    for h, before in zip(ring, ring[-1:] + ring[:-1], strict=True):
        own = {(o["id"], o["modified"]) for o in posted[h.name]}
        # a partner's objects are not passed on to a third partner unless its producer's hub allows it
        arrived = reference_arrivals(posted[before.name], 2, egress=Terms("amber"), ingress=Terms("amber"))
        assert h.held() == own | arrived
    for h in ring:
        assert moved(sync(h)) == 0
    listing = kizuna_cli(
        "hub", "audit", "list", "--db", str(ring[0].db), "--json", "--action", "objects.share"
    )
    assert "objects.share" in listing.stdout  # every object that left was audited


@pytest.mark.parametrize("on_postgres", [(), ("a", "b")], ids=["sqlite", "mixed"])
def test_three_hubs_in_a_ring_converge_when_resharing_is_allowed(tmp_path, hubs, request, on_postgres):
    dsns = {n: request.getfixturevalue("new_pg_dsn")() for n in on_postgres}
    ring, posted = _ring(tmp_path, hubs, reshare=True, dsns=dsns)
    everything = set().union(
        *(reference_arrivals(posted[h.name], 2, egress=Terms("amber"), ingress=Terms("amber")) for h in ring)
    )
    for h in ring:
        own = {(o["id"], o["modified"]) for o in posted[h.name]}
        assert h.held() == own | everything
    for h in ring:
        assert moved(sync(h)) == 0
        assert kizuna_cli("hub", "audit", "verify", "--db", str(h.db), env=h.env).returncode == 0


def test_a_peer_that_is_down_is_reported_and_does_not_block_others(tmp_path, hubs):
    uk, jp, fr = (hubs.setdefault(n, new_hub(tmp_path, n)) for n in ("uk", "jp", "fr"))
    uk.start()
    jp.start()
    jp.post(make_objects("jp")[2:4])
    link(uk, jp, tmp_path, direction="pull", terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    fr.start()
    link(uk, fr, tmp_path, direction="pull", terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    fr.stop()  # now down
    proc = sync(uk, check=False)
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if "failed" in line]
    assert len(failed) == 1 and "fr-hub" in failed[0]
    assert len(uk.held()) == 2  # the Japanese objects arrived anyway
    listing = json.loads(kizuna_cli("hub", "peer", "list", "--db", str(uk.db), "--json").stdout)
    by_name = {p["name"]: p for p in listing}
    assert by_name["fr-hub"]["last_error"] and by_name["jp-hub"]["last_error"] is None
    assert by_name["jp-hub"]["flows"][0]["transferred"] == 2
    assert "kzn_" not in json.dumps(listing)


def test_garbage_and_5xx_are_retried_then_reported(tmp_path, hubs):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits = {"n": 0}

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits["n"] += 1
            if hits["n"] % 2:
                self.send_response(503)
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Type", "application/taxii+json;version=2.1")
                self.end_headers()
                self.wfile.write(b"<html>not json</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uk = hubs["uk"] = new_hub(tmp_path, "uk")
    try:
        with uk.store() as s:
            s.add_peer(
                "broken",
                url=f"http://127.0.0.1:{server.server_address[1]}/api/",
                user=None,
                secret=s.keys.seal("x"),
                max_tlp=TLP.GREEN,
                pulls=[("c", uk.collection_id)],
            )
            [result] = Syncer(s, s.keys, retries=2, backoff_s=0.01).run_once()
        assert not result.ok and hits["n"] == 3
    finally:
        server.shutdown()
        server.server_close()


# -- crashes ------------------------------------------------------------------------------------------
def bulk(tag: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid4()}",
            "created": "2026-02-01T00:00:00.000Z",
            "modified": "2026-02-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '198.51.{i // 250 % 250}.{i % 250}']",
            "pattern_type": "stix",
            "valid_from": "2026-02-01T00:00:00.000Z",
            "name": f"{tag} {i}",
            "object_marking_refs": [MARKINGS["green-2.0"][0]],
        }
        for i in range(n)
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("direction", "victim"), [("push", "syncer"), ("pull", "syncer"), ("push", "peer"), ("pull", "peer")]
)
def test_kill_9_during_sync_then_restart_loses_and_repeats_nothing(tmp_path, hubs, direction, victim):
    uk, jp = hubs["uk"], hubs["jp"] = new_hub(tmp_path, "uk"), new_hub(tmp_path, "jp")
    for h in (uk, jp):
        h.start()
    source, target = (uk, jp) if direction == "push" else (jp, uk)
    objects = bulk(source.name, 6000)
    source.post(objects)
    link(uk, jp, tmp_path, direction=direction, terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "hub", "sync", "--db", str(uk.db), "--once", "--page-size", "50"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(target.held()) < 500:
        assert time.monotonic() < deadline and proc.poll() is None, "sync finished before it could be killed"
        time.sleep(0.05)
    if victim == "syncer":
        proc.kill()  # kill -9 of the hub that runs the sync
        proc.wait()
    else:
        jp.stop(signal.SIGKILL)  # kill -9 of the peer's server
        proc.wait(timeout=120)
        jp.start()
    assert len(target.held()) < len(objects)
    sync(uk)
    assert target.held() == {(o["id"], o["modified"]) for o in objects}
    assert moved(sync(uk)) == 0
    assert kizuna_cli("hub", "audit", "verify", "--db", str(target.db)).returncode == 0


# -- a hub no one here wrote ----------------------------------------------------------------------------
def start_medallion(
    workdir: Path, collection_id: str, user: str, password: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    data = {
        "/discovery": {"title": "medallion", "default": f"{base}api1/", "api_roots": [f"{base}api1/"]},
        "api1": {
            "information": {
                "title": "api1",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 10_000_000,
            },
            "status": [],
            "collections": [
                {
                    "id": collection_id,
                    "title": "partner",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": [],
                    "manifest": [],
                }
            ],
        },
    }
    (workdir / "medallion-data.json").write_text(json.dumps(data))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(workdir / "medallion-data.json"),
        },
        "users": {user: password},
        "taxii": {"max_page_size": 100},
    }
    (workdir / "medallion.json").write_text(json.dumps(config))
    launcher = "import sys; from medallion.scripts.run import main; sys.argv[0] = 'medallion'; main()"
    log = open(workdir / "medallion.log", "wb")  # noqa: SIM115 - closed with the process below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            launcher,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            str(workdir / "medallion.json"),
        ],
        stdout=log,
        stderr=log,
        cwd=workdir,
    )
    log.close()
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}taxii2/", timeout=1)
            break
        except httpx.HTTPError:
            assert time.monotonic() < deadline and proc.poll() is None, (
                workdir / "medallion.log"
            ).read_text()
            time.sleep(0.1)
    return proc, f"{base}api1/"


def test_medallion_round_trip_pull_and_push(tmp_path, hubs):
    remote_collection = str(uuid.uuid4())
    medallion, api = start_medallion(tmp_path, remote_collection, "partner", "s3cret-medallion")
    try:
        uk = hubs["uk"] = new_hub(tmp_path, "uk")
        uk.start()
        ours = bulk("uk", 150)
        uk.post(ours)
        token_file = tmp_path / "medallion.password"
        token_file.write_text("s3cret-medallion\n")
        token_file.chmod(0o600)

        def add_partner(hub: HubUnderTest, name: str, *flows: str) -> None:
            """medallion as a peer: HTTP Basic (user 'partner', the password in a file)."""
            kizuna_cli("hub", "peer", "add", name, "--db", str(hub.db), "--url", api, "--user", "partner",
                       "--token-file", str(token_file), *flows)  # fmt: skip

        add_partner(uk, "partner", "--push", f"{uk.collection_id}:{remote_collection}", "--max-tlp", "green")
        sync(uk)
        # the partner serves our objects back with its own key order: the same objects, not conflicts
        add_partner(uk, "partner-back", "--pull", f"{remote_collection}:{uk.collection_id}")
        back = sync(uk, "--peer", "partner-back")
        assert "0 objects moved, 0 refused" in back.stderr
        from taxii2client.v21 import Collection, as_pages

        remote = Collection(
            f"{api}collections/{remote_collection}/", user="partner", password="s3cret-medallion"
        )
        got = [o for page in as_pages(remote.get_objects, per_request=100) for o in page.get("objects", [])]
        assert {(o["id"], o["modified"]) for o in got} == {(o["id"], o["modified"]) for o in ours}
        # now pull what the partner adds, through a second local collection
        theirs = bulk("partner", 120)
        remote.add_objects({"objects": theirs}, wait_for_completion=True)
        jp_side = new_hub(tmp_path, "jp")
        hubs["jp"] = jp_side
        add_partner(jp_side, "partner", "--pull", f"{remote_collection}:{jp_side.collection_id}")
        sync(jp_side)
        assert jp_side.held() == {(o["id"], o["modified"]) for o in ours + theirs}
        assert moved(sync(jp_side)) == 0
    finally:
        medallion.terminate()
        medallion.wait(timeout=10)


def test_peer_credentials_are_encrypted_and_never_printed(tmp_path):
    hub = new_hub(tmp_path, "uk")
    token_file = tmp_path / "t"
    token_file.write_text("super-secret-credential\n")
    token_file.chmod(0o600)
    kizuna_cli(
        "hub",
        "peer",
        "add",
        "jp",
        "--db",
        str(hub.db),
        "--url",
        "http://127.0.0.1:9/api/",
        "--token-file",
        str(token_file),
        "--pull",
        f"x:{hub.collection_id}",
    )
    assert b"super-secret-credential" not in hub.db.read_bytes()
    assert os.stat(f"{hub.db}.key").st_mode & 0o777 == 0o600
    for args in (["hub", "peer", "list"], ["hub", "peer", "list", "--json"]):
        out = kizuna_cli(*args, "--db", str(hub.db))
        assert "super-secret" not in out.stdout + out.stderr
    bad = kizuna_cli(
        "hub",
        "peer",
        "add",
        "fr",
        "--db",
        str(hub.db),
        "--url",
        "http://127.0.0.1:9/api/",
        "--token-file",
        str(token_file),
        "--max-tlp",
        "red",
        check=False,
    )
    assert bad.returncode == 2 and "never leaves" in bad.stderr
    kizuna_cli("hub", "peer", "remove", "jp", "--db", str(hub.db))
    assert json.loads(kizuna_cli("hub", "peer", "list", "--db", str(hub.db), "--json").stdout) == []


def test_serve_with_sync_every_keeps_the_hub_current(tmp_path, hubs):
    uk, jp = hubs["uk"], hubs["jp"] = new_hub(tmp_path, "uk"), new_hub(tmp_path, "jp")
    jp.start()
    link(uk, jp, tmp_path, direction="pull", terms_at_src=Terms("green"), terms_at_dst=Terms("green"))
    uk.proc = start_hub_process(uk.db, uk.port, "--sync-every", "0.5")  # the sync loop runs beside the API
    first = make_objects("jp")[2:4]
    jp.post(first)
    later = make_objects("jp-later")[2:4]
    deadline = time.monotonic() + 30

    def wait_until_uk_holds(objects: list[dict[str, Any]]) -> None:
        expected = {(o["id"], o["modified"]) for o in objects}
        while uk.held() != expected:
            assert time.monotonic() < deadline, uk.held()
            time.sleep(0.2)

    wait_until_uk_holds(first)
    jp.post(later)
    wait_until_uk_holds(first + later)
