"""Property test of the sharing contract on writes and across two hubs (issue 13).

Hypothesis builds two hubs (A and B, in process, the real ASGI app and stores) with random organisations
(ceilings, read and write grants), collection defaults and agreements (each hub's own record of the other:
TLP ceiling, types), then runs a random sequence of actions: posts of objects with random markings (TLP 1.0,
TLP 2.0, a custom marking declaring a TLP level, a marking the hub does not know), RED recipients and
versions, by owners and non-owners, under ids that collide; deletes; sightings; and syncs both ways
(``kizuna hub sync``'s Syncer over the other hub's real TAXII API). After every action and at the end:

* no reader on either hub reads a version whose TLP at its producer's hub exceeds the reader's ceiling, or
  exceeds an agreement on its path;
* no object changes except by its owner: what a reader reads under an id is its owner's, or its own copy,
  or (an observable) a copy shared under its own marking;
* every answer to a write is the one the writer would get were the objects it cannot read not there;
* nothing leaves a hub without an audit record (every version that arrived by a sync is listed in a share
  record of the hub it came from).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from kizuna.errors import PermissionDenied
from kizuna.hub import intake, policy
from kizuna.hub.app import create_app
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.federation.sync import Syncer
from kizuna.hub.models import Org, Query, VersionFilter
from kizuna.hub.settings import HubSettings
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import TLP, TLP1_IDS, TLP2_EXTENSION_ID, TLP2_IDS

from .conftest import BACKENDS

EXAMPLES = int(os.environ.get("KIZUNA_TRUST_EXAMPLES", "500"))
#: Fewer on PostgreSQL: the same intake, policy and sync code through the dialect adapter, and each example
#: migrates two fresh schemas (the suite's time).
PG_EXAMPLES = int(os.environ.get("KIZUNA_TRUST_PG_EXAMPLES", str(max(20, EXAMPLES // 25))))

CUSTOM = "marking-definition--7d1e2f3a-4b5c-4d6e-8f70-000000000001"  # declares a level (drawn)
UNKNOWN = "marking-definition--7d1e2f3a-4b5c-4d6e-8f70-000000000002"  # never defined
MARKINGS = [
    *[("tlp2", level) for level in TLP],
    *[("tlp1", level) for level in TLP1_IDS],
    ("custom", None),
    ("unknown", None),
    ("none", None),
]
IDS = [
    "indicator--0a0a0a0a-0000-4000-8000-000000000001",
    "indicator--0a0a0a0a-0000-4000-8000-000000000002",
    "malware--0a0a0a0a-0000-4000-8000-000000000003",
    "ipv4-addr",  # an observable: its id derives from its value
]
STAMPS = ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"]
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")


@dataclass(frozen=True)
class OrgSpec:
    ceiling: TLP
    read: bool
    write: bool


@dataclass(frozen=True)
class HubSpec:
    orgs: tuple[OrgSpec, ...]
    default: TLP
    agreement: TLP  # this hub's record of the other
    types: tuple[str, ...]
    custom_level: TLP  # what the custom marking declares here (posted by the first org)


orgs_st = st.lists(
    st.builds(OrgSpec, st.sampled_from(list(TLP)), st.booleans(), st.booleans()), min_size=1, max_size=3
).map(tuple)
hub_st = st.builds(
    HubSpec,
    orgs_st,
    st.sampled_from(list(TLP)),
    st.sampled_from([TLP.CLEAR, TLP.GREEN, TLP.AMBER]),
    st.sampled_from([(), ("indicator",), ("indicator", "malware", "ipv4-addr", "sighting")]),
    st.sampled_from(list(TLP)),
)
post_st = st.tuples(
    st.just("post"),
    st.sampled_from("AB"),
    st.integers(0, 2),
    st.sampled_from(IDS),
    st.integers(0, 2),  # version (or observable value)
    st.lists(st.sampled_from(MARKINGS), max_size=2).map(tuple),
    st.lists(st.integers(0, 2), max_size=2).map(tuple),  # RED recipients
)
action_st = st.one_of(
    post_st,
    st.tuples(
        st.just("delete"), st.sampled_from("AB"), st.integers(0, 2), st.sampled_from(IDS), st.integers(0, 2)
    ),
    st.tuples(
        st.just("sight"),
        st.sampled_from("AB"),
        st.integers(0, 2),
        st.sampled_from(IDS[:3]),
        st.integers(0, 2),
    ),
    st.tuples(st.just("sync"), st.sampled_from("AB")),
)


def observable_id(value: int) -> str:
    return f"ipv4-addr--{uuid.uuid5(SCO_NAMESPACE, orjson.dumps({'value': f'192.0.2.{value}'}).decode())}"


def build_object(oid: str, v: int, markings: tuple[Any, ...], recipients: list[str]) -> dict[str, Any]:
    refs: list[str] = []
    for kind, level in markings:
        if kind == "tlp2":
            refs.append(TLP2_IDS[level])
        elif kind == "tlp1":
            refs.append(TLP1_IDS[level])
        elif kind == "custom":
            refs.append(CUSTOM)
        elif kind == "unknown":
            refs.append(UNKNOWN)
    refs = list(dict.fromkeys(refs))
    if oid == "ipv4-addr":
        obj: dict[str, Any] = {
            "type": "ipv4-addr",
            "spec_version": "2.1",
            "id": observable_id(v),
            "value": f"192.0.2.{v}",
        }
    else:
        kind = oid.split("--")[0]
        obj = {
            "type": kind,
            "spec_version": "2.1",
            "id": oid,
            "created": STAMPS[0],
            "modified": STAMPS[v],
            "name": "x",
        }
        if kind == "indicator":
            obj.update(pattern="[ipv4-addr:value = '192.0.2.1']", pattern_type="stix", valid_from=STAMPS[0])
        else:
            obj["is_family"] = False
    if refs:
        obj["object_marking_refs"] = refs
    if recipients:
        obj["x_kizuna_recipients"] = recipients
    return obj


@dataclass
class Side:
    name: str
    spec: HubSpec
    store: Any  # SQLiteStore or PostgresStore
    orgs: list[Org]
    tokens: dict[str, str]
    collection: Any
    client: TestClient | None = None
    produced: dict[tuple[str, str], TLP] = field(default_factory=dict)  # (id, digest) -> TLP where produced


def make_side(tmp: Path, name: str, spec: HubSpec, other: str, dsn: str | None = None) -> Side:
    """One hub: a SQLite file, or (given ``dsn``, an empty place) PostgreSQL."""
    place = tmp / f"{name}-{uuid.uuid4().hex[:8]}"
    store: Any
    if dsn is not None:
        from kizuna.hub.store.postgres import PostgresStore

        store = PostgresStore.create(dsn, key_file=place.with_suffix(".key"))
    else:
        store = SQLiteStore.create(place.with_suffix(".db"), durable=False)
    orgs, tokens = [], {}
    for i, o in enumerate(spec.orgs):
        org = store.add_org(f"{name.lower()}{i}", ceiling=o.ceiling)
        orgs.append(org)
    account = store.add_org(f"{other.lower()}-hub", ceiling=TLP.RED, peer_hub=True)
    tokens[account.name] = new_token()
    store.add_token(account.name, hash_token(tokens[account.name]))
    readers = [org.name for org, o in zip(orgs, spec.orgs, strict=True) if o.read] + [account.name]
    writers = [org.name for org, o in zip(orgs, spec.orgs, strict=True) if o.write] + [account.name]
    c = store.add_collection(
        "c", collection_id=str(uuid.uuid4()), default_tlp=spec.default, readers=readers, writers=writers
    )
    definition = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM,
        "created": STAMPS[0],
        "name": "custom",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": spec.custom_level.label}
        },
    }
    intake.accept(store, c, intake.Sender.local(orgs[0]), [definition], clock=utc_now)
    return Side(name, spec, store, orgs, tokens, c)


def link(a: Side, b: Side) -> None:
    """Each side records the other as a peer with its own agreement; flows both ways between the two
    collections. Credentials: the other side's token for this side's account there."""
    for here, there in ((a, b), (b, a)):
        here.store.add_peer(
            f"{there.name.lower()}-hub",
            url="http://peer.test/api/",
            user=None,
            secret=here.store.keys.seal(there.tokens[f"{here.name.lower()}-hub"]),
            max_tlp=here.spec.agreement,
            types=here.spec.types,
            pulls=[(there.collection.id, here.collection.id)],
            pushes=[(here.collection.id, there.collection.id)],
        )
        here.client = TestClient(create_app(HubSettings(), here.store), base_url="http://peer.test")


def readable(side: Side, org: Org) -> list[Any]:
    return side.store.query(side.collection, org, Query(limit=100_000, versions=VersionFilter(all=True))).rows


def visible_answer(side: Side, org: Org, obj: dict[str, Any]) -> str:
    """The answer a write gets in the world where only what ``org`` can read (and what it wrote itself)
    exists: 'stored', 'duplicate', 'refused'. Computed from those alone."""
    mine = policy.org_origin(org)
    own = (
        side.store._db.reader()
        .execute("SELECT version, raw FROM objects WHERE id=? AND origin=?", (obj["id"], mine))
        .fetchall()
    )
    seen = [r for r in readable(side, org) if r.id == obj["id"]]
    seen += [_Own(version, raw, mine) for version, raw in own]
    version = obj.get("modified", "")
    others = [r for r in seen if r.origin != mine]
    same = [r for r in seen if r.version == version]
    if any(orjson.loads(r.raw) == obj for r in same):
        return "duplicate"
    if others and version:  # someone else's object (not an observable), and the writer can see it
        return "refused"
    if any(r.origin == mine for r in same):
        return "refused"  # a different object under the writer's own id and version
    return "stored"


@dataclass(frozen=True)
class _Own:
    version: str
    raw: bytes
    origin: str


def check_reads(sides: dict[str, Side]) -> None:
    agreements = {s.name: s.spec.agreement for s in sides.values()}
    for side in sides.values():
        rows = {org.name: readable(side, org) for org in side.orgs}
        ids = sorted({r.id for found in rows.values() for r in found})
        owners = side.store.write(lambda tx, ids=ids: tx.owners(ids))  # the store's own answer
        for org, spec in zip(side.orgs, side.spec.orgs, strict=True):
            for r in rows[org.name]:
                assert r.tlp <= spec.ceiling
                digest = intake._digest(r.raw).hex()
                crossed = r.origin.startswith(policy.peer_origin(""))
                producers = [
                    s for s in sides.values() if (s is not side) == crossed and (r.id, digest) in s.produced
                ]
                for p in producers:
                    assert p.produced[(r.id, digest)] <= spec.ceiling, "read above the reader's ceiling"
                    if crossed:  # between hubs: never lowered, never above an agreement on the path
                        assert p.produced[(r.id, digest)] <= min(agreements.values())
                        assert r.tlp >= p.produced[(r.id, digest)], "a TLP lowered on the way"
                owner = owners.get(r.id)
                own_copy = r.origin == policy.org_origin(org)
                observable = not r.version
                assert r.origin == owner or own_copy or observable, (
                    "a version by someone who does not own the id"
                )


def check_shares(sides: dict[str, Side]) -> None:
    for side in sides.values():
        for other in sides.values():
            if other is side:
                continue
            account = f"{other.name.lower()}-hub"
            shared: set[tuple[str, str]] = set()
            for rec in other.store.audit_records():
                if rec.action == "objects.share":
                    shared |= {(i, v) for i, v in orjson.loads(rec.detail)["shared"]}
            rows = (
                side.store._db.reader()
                .execute("SELECT id, version FROM objects WHERE origin = ?", (policy.peer_origin(account),))
                .fetchall()
            )
            assert set(map(tuple, rows)) <= shared, "an object left a hub without an audit record"


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sharing_contract_holds_on_writes_and_across_hubs(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """EXAMPLES examples with both hubs on SQLite, PG_EXAMPLES with both on PostgreSQL (each hub a fresh
    schema of the module's database)."""
    new_dsn = request.getfixturevalue("new_pg_dsn") if backend == "postgres" else None

    @settings(
        max_examples=PG_EXAMPLES if new_dsn is not None else EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(a_spec=hub_st, b_spec=hub_st, actions=st.lists(action_st, min_size=1, max_size=10))
    def run(a_spec: HubSpec, b_spec: HubSpec, actions: list[tuple[Any, ...]]) -> None:
        dsns = (None, None) if new_dsn is None else (new_dsn(), new_dsn())
        _contract_holds(tmp_path, dsns, a_spec, b_spec, actions)

    run()


def _contract_holds(
    tmp_path: Path,
    dsns: tuple[str | None, str | None],
    a_spec: HubSpec,
    b_spec: HubSpec,
    actions: list[tuple[Any, ...]],
) -> None:
    sides = {
        "A": make_side(tmp_path, "A", a_spec, "B", dsns[0]),
        "B": make_side(tmp_path, "B", b_spec, "A", dsns[1]),
    }
    link(sides["A"], sides["B"])
    try:
        for action in [*actions, ("sync", "A"), ("sync", "B")]:  # every example ends with syncs both ways
            kind, hub = action[0], sides[action[1]]
            if kind == "sync":
                other = sides["B" if action[1] == "A" else "A"]
                assert other.client is not None
                [result] = Syncer(
                    hub.store, hub.store.keys, transport=other.client._transport, retries=0
                ).run_once()
                assert result.ok, result.summary()
                moved = sum(f.transferred for f in result.flows)
                event("a sync moved objects" if moved else "a sync moved nothing")
                continue
            org = hub.orgs[action[2] % len(hub.orgs)]
            if kind == "delete":
                oid = observable_id(action[4]) if action[3] == "ipv4-addr" else action[3]
                with contextlib.suppress(PermissionDenied):  # a refusal is an answer; nothing else is
                    hub.store.delete_versions(
                        hub.collection, org, oid, Query(versions=VersionFilter(all=True))
                    )
                continue
            if kind == "sight":
                target = observable_id(action[4]) if action[3] == "ipv4-addr" else action[3]
                obj = {
                    "type": "sighting", "spec_version": "2.1",
                    "id": f"sighting--{uuid.uuid5(SCO_NAMESPACE, target + str(action[4]))}",
                    "created": STAMPS[0], "modified": STAMPS[0], "sighting_of_ref": target, "count": 1,
                }  # fmt: skip
            else:
                names = [hub.orgs[i % len(hub.orgs)].name for i in action[6]]
                obj = build_object(action[3], action[4], action[5], names)
            expected = visible_answer(hub, org, obj)
            result = intake.accept(hub.store, hub.collection, intake.Sender.local(org), [obj], clock=utc_now)
            [answer] = result.objects
            got = {
                "stored": "stored",
                "new-version": "stored",
                "duplicate": "duplicate",
                "refused": "refused",
            }[answer.outcome.value]
            if got == "refused" and "recipient" in answer.reason:
                continue  # a reason about the writer's own input
            assert got == expected, (answer, expected)
            if answer.ok and got == "stored":
                row = (
                    hub.store._db.reader()
                    .execute(
                        "SELECT tlp FROM objects WHERE id=? ORDER BY date_added DESC LIMIT 1", (obj["id"],)
                    )
                    .fetchone()
                )
                hub.produced.setdefault((obj["id"], intake._digest(orjson.dumps(obj)).hex()), TLP(row[0]))
            check_reads(sides)
        check_reads(sides)
        check_shares(sides)
    finally:
        for s in sides.values():
            if s.client is not None:
                s.client.close()
            s.store.close()
