"""Live response across federation (issue 16), on real ``kizuna hub serve`` processes on 127.0.0.1:

* sightings come home: a sighting of a UK indicator posted at JP reaches the UK collection the indicator
  came from, named as the JP hub, and never when the agreement excludes sightings or the sighting's TLP is
  above it; without a write grant at the UK the sightings wait, ``peer list`` says why, and they go once
  granted;
* ``serve --follow-peers`` keeps a pull flow current over the peer's stream and sends sightings home at
  once; two servers on one database run one follower between them; kill -9 loses and repeats nothing;
* ``sync --follow`` polls a partner without a stream (medallion).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.client import HubClient
from kizuna.stix.markings import TLP, TLP2_IDS

from ..conftest import free_port, kizuna_cli, start_hub_process
from .conftest import BACKENDS, Place, indicator, new_place


@dataclass
class Side:
    name: str
    title: str
    place: Place  # a SQLite file or a PostgreSQL schema
    port: int
    exchange: str  # the collection shared with the partner
    ops: str = ""  # a collection of local operators only
    tokens: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self, *extra: str, port: int | None = None) -> subprocess.Popen[bytes]:
        log = Path(self.place.db).with_suffix(".log") if not self.place.postgres else self.log
        proc = start_hub_process(self.place.db, port or self.port, *extra, env=self.place.env, log_path=log)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()

    def post(self, org: str, objects: list[dict[str, Any]], collection: str | None = None) -> None:
        with HubClient(self.api, self.tokens[org]) as client:
            status = client.add_objects(collection or self.exchange, objects)
        assert status["failure_count"] == 0, status["failures"]

    def read(self, org: str, collection: str | None = None) -> list[dict[str, Any]]:
        with HubClient(self.api, self.tokens[org]) as client:
            return list(client.iter_objects(collection or self.exchange, match={"version": "all"}))

    @property
    def log(self) -> Path:
        """Where its servers' stderr goes on PostgreSQL (beside the key file)."""
        key_file = self.place.key_file
        assert key_file is not None
        return key_file.with_suffix(".log")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``kizuna hub ARGS --db`` this side."""
        return kizuna_cli("hub", *args, "--db", self.place.db, env=self.place.env)

    def peer_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.cli("peer", "list", "--json").stdout))


class Pairs(list[Side]):
    """The sides a test made (each stopped at the end), and where new ones go: the backend's places."""

    def __init__(self, request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
        super().__init__()
        self.request, self.backend, self.tmp_path = request, backend, tmp_path

    def place(self, name: str) -> Place:
        return new_place(self.request, self.backend, self.tmp_path, name)


def make_pair(
    tmp_path: Path,
    pairs: Pairs,
    *,
    jp_max_tlp: str = "green",
    jp_types: str | None = None,
    uk_grants_write: bool = True,
    sighter: str = "hub",
    push: bool = False,
) -> tuple[Side, Side]:
    """UK and JP hubs: the UK's analyst posts to the UK exchange collection, which JP pulls into its own; a
    JP grid operator reads it there and posts sightings in its operations collection."""
    uk = Side("uk", "UK national hub", pairs.place("uk"), free_port(), "")
    jp = Side("jp", "Japan national hub", pairs.place("jp"), free_port(), "")
    pairs.extend([uk, jp])  # stopped at the end of the test
    with uk.place.create(title=uk.title) as s:
        for org, ceiling, peer in (("ncsc", TLP.RED, False), ("jp-hub", TLP.AMBER, True)):
            s.add_org(org, ceiling=ceiling, peer_hub=peer)
            uk.tokens[org] = new_token()
            s.add_token(org, hash_token(uk.tokens[org]))
        writers = ["ncsc", "jp-hub"] if uk_grants_write else ["ncsc"]
        uk.exchange = s.add_collection("uk-jp", readers=["ncsc", "jp-hub"], writers=writers).id
        # the UK's side of the agreement: what jp-hub may read here and send here
        s.add_peer("jp-hub", url=jp.api, user=None, secret=s.keys.seal("unused"), max_tlp=TLP.AMBER)
    with jp.place.create(title=jp.title) as s:
        s.add_org("grid-op", ceiling=TLP.AMBER, sectors=["energy"])
        jp.tokens["grid-op"] = new_token()
        s.add_token("grid-op", hash_token(jp.tokens["grid-op"]))
        jp.exchange = s.add_collection("jp-uk", readers=["grid-op"], writers=["grid-op"]).id
        jp.ops = s.add_collection("ops", readers=["grid-op"], writers=["grid-op"]).id
    token_file = tmp_path / "jp-to-uk.token"
    token_file.write_text(uk.tokens["jp-hub"] + "\n")
    token_file.chmod(0o600)  # a token file holds a secret; peer add refuses a readable one
    args = ["peer", "add", "uk-hub", "--url", uk.api, "--token-file",
            str(token_file), "--pull", f"{uk.exchange}:{jp.exchange}", "--max-tlp", jp_max_tlp,
            "--sighter", sighter]  # fmt: skip
    if jp_types:
        args += ["--types", jp_types]
    if push:
        args += ["--push", f"{jp.exchange}:{uk.exchange}"]
    jp.cli(*args)
    return uk, jp


@pytest.fixture(params=BACKENDS)
def pairs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pairs]:
    """Each test's hubs, on each backend."""
    sides = Pairs(request, request.param, tmp_path)
    yield sides
    for side in sides:
        side.stop()


def sighting(of: dict[str, Any], tlp: TLP | None, count: int = 3, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": f"sighting--{uuid.uuid4()}",
        "created": "2026-02-01T00:00:00.000Z",
        "modified": "2026-02-01T00:00:00.000Z",
        "sighting_of_ref": of["id"],
        "count": count,
        "description": "seen on the substation gateway (content of the operator's choosing)",
        **extra,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_IDS[tlp]]
    return obj


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def sync_once(side: Side) -> str:
    return side.cli("sync", "--once").stderr


def test_a_sighting_comes_home_named_as_the_hub_within_the_agreement(tmp_path: Path, pairs: Pairs) -> None:
    uk, jp = make_pair(tmp_path, pairs, jp_max_tlp="green", uk_grants_write=False)
    uk.start()
    jp.start()
    ind = indicator("203.0.113.7", tlp_ref=TLP2_IDS[TLP.GREEN])
    uk.post("ncsc", [ind])
    sync_once(jp)
    assert [o["id"] for o in jp.read("grid-op")] == [ind["id"]]
    green = sighting(ind, TLP.GREEN, count=3)
    amber = sighting(ind, TLP.AMBER, count=5)  # above JP's GREEN agreement: never leaves
    jp.post("grid-op", [green, amber], collection=jp.ops)
    # the UK has not given JP's account write access to its collection: the sightings wait, and say why
    out = sync_once(jp)
    assert "waiting" in out
    [peer] = jp.peer_list()
    assert peer["sightings_home"]["waiting"].startswith("waiting: uk-hub has not given this hub's account")
    assert "(403)" in peer["sightings_home"]["waiting"] and peer["sightings_home"]["sent"] == 0
    assert not any(o["type"] == "sighting" for o in uk.read("ncsc"))
    uk.cli("collection", "grant", uk.exchange, "--write", "jp-hub")
    out = sync_once(jp)
    assert "sightings home: 1 sent, 1 held back" in out
    at_uk = uk.read("ncsc")
    sightings = [o for o in at_uk if o["type"] == "sighting"]
    assert len(sightings) == 1
    home = sightings[0]
    assert home["sighting_of_ref"] == ind["id"] and home["count"] == 3
    assert home["object_marking_refs"] == [TLP2_IDS[TLP.GREEN]]  # the sighting's own TLP
    assert "description" not in home  # nothing of the operator's choosing travels
    [named] = home["where_sighted_refs"]
    identities = {o["id"]: o for o in at_uk if o["type"] == "identity"}
    assert identities[named]["name"] == "Japan national hub"  # named as the JP hub, not the operator
    assert "grid-op" not in json.dumps(at_uk)
    [peer] = jp.peer_list()
    assert peer["sightings_home"] == {**peer["sightings_home"], "sent": 1, "held_back": 1, "waiting": None}
    # at the UK it entered through the intake as the peer's, and it never goes back
    origins = {
        r[0] for r in uk.place.rows("SELECT origin FROM objects WHERE type IN ('sighting','identity')")
    }
    assert origins == {"peer:jp-hub"}
    # a new version of the operator's sighting goes as a new version; sending again moves nothing
    jp.post("grid-op", [{**green, "modified": "2026-02-02T00:00:00.000Z", "count": 9}], collection=jp.ops)
    assert "sightings home: 1 sent" in sync_once(jp)
    counts = sorted(o["count"] for o in uk.read("ncsc") if o["type"] == "sighting")
    assert counts == [3, 9]
    assert "sightings home" not in sync_once(jp)
    shares = jp.cli("audit", "list", "--json", "--action", "objects.share")
    assert '"by":"sightings-home"' in shares.stdout.replace(" ", "")
    for side in (uk, jp):
        assert side.cli("audit", "verify").returncode == 0


def test_an_agreement_without_sightings_holds_them_back(tmp_path: Path, pairs: Pairs) -> None:
    uk, jp = make_pair(tmp_path, pairs, jp_max_tlp="amber", jp_types="indicator,identity", sighter="org")
    uk.start()
    jp.start()
    ind = indicator("203.0.113.8", tlp_ref=TLP2_IDS[TLP.GREEN])
    uk.post("ncsc", [ind])
    sync_once(jp)
    jp.post("grid-op", [sighting(ind, TLP.GREEN)], collection=jp.ops)
    assert "sightings home: 0 sent, 1 held back" in sync_once(jp)
    assert not any(o["type"] == "sighting" for o in uk.read("ncsc"))


def _receives(place: Place) -> list[dict[str, Any]]:
    rows = place.rows("SELECT detail FROM audit WHERE action='objects.receive' ORDER BY seq")
    return [orjson.loads(r[0]) for r in rows]


def _held(side: Side, org: str, kind: str = "indicator") -> set[str]:
    """The ids of ``kind`` that ``org`` reads in the side's exchange collection (from its database: the
    server that the test reads through may be the one it killed)."""
    from kizuna.hub.models import Query, VersionFilter

    with side.place.open() as s:
        c = s.get_collection(side.exchange)
        assert c is not None
        rows = s.query(c, s.get_org(org), Query(limit=10_000, versions=VersionFilter(all=True))).rows
    return {r.id for r in rows if r.type == kind}


@pytest.mark.slow
def test_follow_peers_keeps_current_with_one_follower_and_survives_kill_9(
    tmp_path: Path, pairs: Pairs
) -> None:
    uk, jp = make_pair(tmp_path, pairs, jp_max_tlp="green", sighter="org", push=True)
    uk.start()
    first = jp.start("--follow-peers", "--follow-lease-s", "3")
    second = jp.start("--follow-peers", "--follow-lease-s", "3", port=free_port())  # a second worker
    batch = [indicator(f"198.51.100.{i}", tlp_ref=TLP2_IDS[TLP.GREEN]) for i in range(5)]
    t0 = time.monotonic()
    uk.post("ncsc", batch)
    wait_for("JP to hold the UK's indicators", lambda: _held(jp, "grid-op") == {o["id"] for o in batch})
    assert time.monotonic() - t0 < 10
    # a sighting at JP is home at the UK at once, named as the organisation (--sighter org)
    jp.post("grid-op", [sighting(batch[0], TLP.GREEN)], collection=jp.ops)
    home = wait_for("the sighting at the UK", lambda: _held(uk, "ncsc", "sighting"))
    assert len(home) == 1
    names = {o["name"] for o in uk.read("ncsc") if o["type"] == "identity"}
    assert names == {"grid-op"}
    # one follower between the two servers: every page was received once, none as a duplicate
    assert all(r.get("duplicates", 0) == 0 for r in _receives(jp.place))
    # a push flow goes as soon as the local collection moves; the UK's own indicators never go back
    ours = indicator("192.0.2.200", tlp_ref=TLP2_IDS[TLP.GREEN])
    jp.post("grid-op", [ours])
    wait_for("JP's indicator at the UK", lambda: ours["id"] in _held(uk, "ncsc"))
    assert _held(uk, "ncsc") == {ours["id"]} | {o["id"] for o in batch}
    # kill -9 whichever leads; the other takes over within the lease; nothing lost, nothing twice
    first.kill()
    first.wait()
    more = [indicator(f"198.51.100.{i}", tlp_ref=TLP2_IDS[TLP.GREEN]) for i in range(10, 16)]
    uk.post("ncsc", more)
    want = {o["id"] for o in batch + more} | {ours["id"]}
    wait_for("JP to hold the new indicators", lambda: _held(jp, "grid-op") == want, timeout_s=60)
    second.kill()
    second.wait()
    last = [indicator(f"198.51.100.{i}", tlp_ref=TLP2_IDS[TLP.GREEN]) for i in range(20, 23)]
    uk.post("ncsc", last)
    jp.start("--follow-peers", "--follow-lease-s", "3")
    want |= {o["id"] for o in last}
    wait_for("JP after a restart", lambda: _held(jp, "grid-op") == want, timeout_s=60)
    rows = jp.place.rows("SELECT id, version FROM objects WHERE type='indicator'")
    assert len(rows) == len(set(rows)) == len(want)
    # the UK holds JP's indicator once, and the sighting once
    assert _held(uk, "ncsc") == {ours["id"]} | {o["id"] for o in batch + more + last}
    for side in (uk, jp):
        side.stop()
        assert side.cli("audit", "verify").returncode == 0


def test_sync_follow_polls_a_partner_without_a_stream(tmp_path: Path, pairs: Pairs) -> None:
    from .test_federation import bulk, new_hub, start_medallion

    remote = str(uuid.uuid4())
    medallion, api = start_medallion(tmp_path, remote, "partner", "s3cret-medallion")
    follower: subprocess.Popen[bytes] | None = None
    try:
        jp = new_hub(tmp_path, "jp", dsn=pairs.place("jp").db if pairs.backend == "postgres" else None)
        token_file = tmp_path / "medallion.password"
        token_file.write_text("s3cret-medallion\n")
        token_file.chmod(0o600)
        kizuna_cli("hub", "peer", "add", "partner", "--db", str(jp.db), "--url", api, "--user", "partner",
                   "--token-file", str(token_file), "--pull", f"{remote}:{jp.collection_id}",
                   env=jp.env)  # fmt: skip
        log = open(tmp_path / "follow.log", "wb")  # noqa: SIM115 - closed below
        follower = subprocess.Popen(
            [sys.executable, "-m", "kizuna", "hub", "sync", "--db", str(jp.db), "--follow",
             "--poll-every", "0.3"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, **jp.env},
        )  # fmt: skip
        log.close()
        from taxii2client.v21 import Collection

        collection = Collection(f"{api}collections/{remote}/", user="partner", password="s3cret-medallion")
        theirs = bulk("partner", 30)
        collection.add_objects({"objects": theirs}, wait_for_completion=True)
        want = {(o["id"], o["modified"]) for o in theirs}
        wait_for("the partner's objects", lambda: jp.held() == want)
        later = bulk("partner-later", 5)
        collection.add_objects({"objects": later}, wait_for_completion=True)
        want |= {(o["id"], o["modified"]) for o in later}
        wait_for("the partner's later objects", lambda: jp.held() == want)
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
        text = (tmp_path / "follow.log").read_text()
        assert "no change stream; polling every 0.3 s" in text
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
            follower.wait()
        medallion.terminate()
        medallion.wait(timeout=10)


def test_sync_follow_beside_the_server_wakes_its_streams_and_theirs(tmp_path: Path, pairs: Pairs) -> None:
    """``sync --follow`` in its own process: what it stores wakes the JP server's streams, and what the
    server stores (a sighting) wakes the follower, each through the watcher on the database file."""
    from kizuna.hub.stream_client import ObjectStream

    uk, jp = make_pair(tmp_path, pairs, jp_max_tlp="green")
    uk.start()
    jp.start()  # no --follow-peers
    log = open(tmp_path / "follow.log", "wb")  # noqa: SIM115 - closed below
    follower = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "hub", "sync", "--db", jp.place.db, "--follow"],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={**os.environ, **jp.place.env},
    )
    log.close()
    try:
        import threading

        stop = threading.Event()
        with HubClient(jp.api, jp.tokens["grid-op"]) as hub:
            batches = ObjectStream(hub, jp.exchange, types=("indicator",)).batches(stop)
            ind = indicator("203.0.113.77", tlp_ref=TLP2_IDS[TLP.GREEN])

            def connected() -> bool:
                rows = jp.place.rows("SELECT last_success FROM flows")
                return bool(rows) and rows[0][0] is not None

            wait_for("the follower to connect to the UK's stream", connected)
            t0 = time.monotonic()
            uk.post("ncsc", [ind])
            got: list[str] = []
            while not got:
                b = next(batches)  # a heartbeat every 15 s at most: a missed wake would show as a delay
                got = [e.object["id"] for e in b.events] if b else []
            assert got == [ind["id"]]
            assert time.monotonic() - t0 < 10  # woken by the commit, not by a reconnection (45 s)
            stop.set()
        jp.post("grid-op", [sighting(ind, TLP.GREEN)], collection=jp.ops)
        wait_for("the sighting at the UK", lambda: _held(uk, "ncsc", "sighting"), timeout_s=10)
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0
        assert jp.place.rows("SELECT COUNT(*) FROM leases")[0][0] == 0  # let go on a clean stop
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
