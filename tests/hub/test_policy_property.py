"""Property test: the store's policy-filtered queries return exactly what a plain reference allows.

Hypothesis generates organisations (ceilings, peer-hub accounts), grants, a collection default, objects with
random markings (TLP 1.0, TLP 2.0, OpenCTI ids, several at once, none), producers, RED recipients and
versions (several producers writing the same ids, so ownership decides), then a reader and query parameters
(id/type/version filters, added_after, page size). What the intake stored must be what the reference expects,
and the pages the store returns, concatenated, must equal the reference list computed here from DESIGN.md's
rules. The change stream is held to the same reference over HTTP, and to ``objects/`` for the same caller.
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.hub import intake
from kizuna.hub.models import Org, Query, VersionFilter
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import format_timestamp, from_us, parse_timestamp, to_us, utc_now
from kizuna.stix.markings import TLP
from tests.hub.store.conftest import raw_query

EXAMPLES = int(os.environ.get("KIZUNA_POLICY_EXAMPLES", "2000"))
#: Examples on PostgreSQL, whose round trips cost about six times SQLite's in process.
PG_EXAMPLES = int(os.environ.get("KIZUNA_POLICY_PG_EXAMPLES", str(max(50, EXAMPLES // 4))))
#: Examples of the stream's property test (each one an HTTP stream and pages of objects/).
STREAM_EXAMPLES = max(20, EXAMPLES // 10)

# The reference's own marking table (written from the TLP 1.0 / 2.0 / OpenCTI definitions, not imported).
RANK = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": 0,  # TLP 1.0 WHITE = CLEAR
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": 0,  # TLP 2.0 CLEAR
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": 1,  # TLP 1.0 GREEN
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": 1,  # TLP 2.0 GREEN
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": 2,  # TLP 1.0 AMBER
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": 2,  # TLP 2.0 AMBER
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": 3,  # TLP 2.0 AMBER+STRICT
    "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": 3,  # OpenCTI AMBER+STRICT
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": 4,  # TLP 1.0 RED
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": 4,  # TLP 2.0 RED
}
OTHER_MARKING = "marking-definition--3f2e8f6a-0000-4000-8000-000000000001"  # a marking the hub never saw
IDS = [f"indicator--{uuid.UUID(int=i, version=4)}" for i in range(1, 5)] + [
    f"malware--{uuid.UUID(int=9, version=4)}"
]


@dataclass(frozen=True)
class OrgSpec:
    ceiling: int
    peer: bool
    read: bool
    write: bool


@dataclass(frozen=True)
class ObjSpec:
    oid: str
    version_us: int
    markings: tuple[str, ...]
    producer: int
    recipients: tuple[int, ...]


orgs_st = st.lists(
    st.builds(OrgSpec, st.integers(0, 4), st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=4
)
objs_st = st.lists(
    st.builds(
        ObjSpec,
        st.sampled_from(IDS),
        st.sampled_from([0, 1_000_000, 2_000_000, 3_000_000]),
        st.lists(st.sampled_from([*RANK, OTHER_MARKING]), max_size=2).map(tuple),
        st.integers(0, 3),
        st.lists(st.integers(0, 3), max_size=2).map(tuple),
    ),
    max_size=12,
)
query_st = st.fixed_dictionaries(
    {
        "reader": st.integers(0, 3),
        "default_tlp": st.integers(0, 4),
        "limit": st.integers(1, 5),
        "ids": st.lists(st.sampled_from(IDS), max_size=2).map(tuple),
        "types": st.lists(st.sampled_from(["indicator", "malware", "report"]), max_size=2).map(tuple),
        "version": st.sampled_from(["last", "first", "all", "at", "last+first"]),
        "at": st.lists(st.sampled_from([0, 1_000_000, 2_000_000, 3_000_000]), min_size=1, max_size=2),
        "added_after_index": st.one_of(st.none(), st.integers(0, 11)),
    }
)


def stix_object(o: ObjSpec, names: list[str], suffix: str) -> dict[str, object]:
    """A valid STIX object for the spec: its id (unique to the example), `modified` at ``version_us``, its
    markings and RED recipients."""
    stamp = format_timestamp(from_us(o.version_us))
    obj: dict[str, object] = {
        "type": o.oid.split("--")[0],
        "spec_version": "2.1",
        "id": unique_id(o.oid, suffix),
        "created": "1970-01-01T00:00:00.000Z",
        "modified": stamp,
    }
    if obj["type"] == "indicator":
        obj.update(pattern="[ipv4-addr:value = '192.0.2.1']", pattern_type="stix", valid_from=stamp)
    else:
        obj.update(name="sample", is_family=False)
    if o.markings:
        obj["object_marking_refs"] = list(dict.fromkeys(o.markings))
    if o.recipients:
        obj["x_kizuna_recipients"] = [names[r % len(names)] for r in o.recipients]
    return obj


def unique_id(oid: str, suffix: str) -> str:
    """The spec's id made unique to one example (owners are hub-wide and the store is shared)."""
    kind = oid.split("--")[0]
    return f"{kind}--{uuid.uuid5(uuid.NAMESPACE_URL, suffix + oid)}"


@dataclass(frozen=True)
class RefRow:
    """A version the reference expects stored."""

    spec: ObjSpec
    tlp: int
    restricted: bool
    producer: int
    granted: frozenset[int]


def expected_rows(orgs: list[OrgSpec], objs: list[ObjSpec], default: int) -> list[RefRow]:
    """What the intake must store, in order, written from DESIGN.md's rules: the first to store an id owns
    it; another writer is refused where it can read the owner's versions and otherwise keeps its own copy,
    which only it reads; the same id and version again stores nothing; a marking the hub does not know makes
    a version RED for everyone but its producer; only RED versions' named recipients read them."""
    n = len(orgs)
    rows: list[RefRow] = []
    owner: dict[str, int] = {}
    for o in objs:
        p = o.producer % n
        marked = [RANK[m] for m in o.markings if m in RANK]
        unknown = OTHER_MARKING in o.markings
        base = max(marked) if marked else default
        tlp = 4 if unknown else base
        restricted = False
        own = owner.get(o.oid)
        if own is not None and own != p:
            if any(visible(orgs, p, r) for r in rows if r.spec.oid == o.oid and r.producer == own):
                continue  # refused: the writer can see that the id is someone else's
            restricted = True
        if any(r.spec.oid == o.oid and r.producer == p and r.spec.version_us == o.version_us for r in rows):
            continue  # a duplicate, or a different object under the same id and version: nothing stored
        granted = (
            frozenset(r % n for r in o.recipients)
            if tlp == 4 and not unknown and not restricted
            else frozenset()
        )
        owner.setdefault(o.oid, p)
        rows.append(RefRow(o, tlp, restricted, p, granted))
    return rows


def visible(orgs: list[OrgSpec], reader: int, row: RefRow) -> bool:
    spec = orgs[reader]
    if not spec.read:
        return False
    # another hub's account: never RED or AMBER+STRICT, and with no peer agreement on record, GREEN at most,
    # never a restricted version
    ceiling = min(spec.ceiling, 1) if spec.peer else spec.ceiling
    if row.tlp > ceiling or (spec.peer and row.restricted):
        return False
    if row.tlp < 4 and not row.restricted:
        return True
    return reader == row.producer or reader in row.granted


def reference(orgs: list[OrgSpec], stored: list[tuple[RefRow, int]], q: dict) -> list[tuple[str, int]]:
    """What the reader may see, in date_added order, as (spec id, version_us)."""
    reader = q["reader"] % len(orgs)
    seen = [(r, added) for r, added in stored if visible(orgs, reader, r)]
    versions: dict[str, list[int]] = {}
    for r, _ in seen:
        versions.setdefault(r.spec.oid, []).append(r.spec.version_us)
    out = []
    for r, added in seen:
        o = r.spec
        mode = q["version"]
        keep = (
            mode == "all"
            or ("last" in mode and o.version_us == max(versions[o.oid]))
            or ("first" in mode and o.version_us == min(versions[o.oid]))
            or (mode == "at" and o.version_us in q["at"])
        )
        if not keep:
            continue
        if q["ids"] and o.oid not in q["ids"]:
            continue
        if q["types"] and o.oid.split("--")[0] not in q["types"]:
            continue
        if q["added_after"] is not None and added <= q["added_after"]:
            continue
        out.append((o.oid, o.version_us))
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    path: Path = tmp_path_factory.mktemp("policy") / "hub.db"
    if request.param == "postgres":
        from kizuna.hub.store.postgres import PostgresStore

        cluster = request.getfixturevalue("pg_cluster")
        dsn = cluster.schema_dsn(request.getfixturevalue("pg_database"))
        s = PostgresStore.create(dsn, key_file=path.with_suffix(".key"))
    else:
        s = SQLiteStore.create(path, durable=False)
    yield s
    s.close()


def _example(store: SQLiteStore, orgs: list[OrgSpec], objs: list[ObjSpec], q: dict) -> tuple[Any, ...]:
    """Set up one example in ``store``: its organisations, collection and objects (through the intake);
    returns (collection, organisations, the query with its ids and added_after made concrete, the
    reference's answer for it with every version)."""
    suffix = uuid.uuid4().hex[:10]
    names = [f"o{i}-{suffix}" for i in range(len(orgs))]
    made: list[Org] = [
        store.add_org(n, ceiling=TLP(spec.ceiling), peer_hub=spec.peer)
        for n, spec in zip(names, orgs, strict=True)
    ]
    collection = store.add_collection(
        f"c-{suffix}",
        default_tlp=TLP(q["default_tlp"]),
        readers=[n for n, s in zip(names, orgs, strict=True) if s.read],
        writers=[n for n, s in zip(names, orgs, strict=True) if s.write],
    )
    # post each object as its producer through the intake, one write per object
    for o in objs:
        producer = made[o.producer % len(made)]
        sender = intake.Sender.local(producer)
        intake.accept(store, collection, sender, [stix_object(o, names, suffix)], clock=utc_now)
    rows = raw_query(
        store,
        "SELECT id, version_us, date_added FROM objects WHERE collection_key=? ORDER BY date_added",
        (collection.key,),
    )
    ref = expected_rows(orgs, objs, q["default_tlp"])
    # the store holds exactly what the reference expects, in order
    assert [(oid, v) for oid, v, _ in rows] == [
        (unique_id(r.spec.oid, suffix), r.spec.version_us) for r in ref
    ]
    stored = [(r, added) for r, (_, _, added) in zip(ref, rows, strict=True)]
    idx = q["added_after_index"]
    q = {**q, "added_after": None if idx is None or not rows else rows[idx % len(rows)][2]}
    q = {**q, "ids": tuple(unique_id(i, suffix) for i in q["ids"])}
    expected = [(unique_id(oid, suffix), v) for oid, v in reference(orgs, stored, {**q, "ids": ()})]
    if q["ids"]:
        expected = [e for e in expected if e[0] in q["ids"]]
    every = [
        (unique_id(oid, suffix), v) for oid, v in reference(orgs, stored, {**q, "ids": (), "version": "all"})
    ]
    return collection, made, q, expected, every


def test_store_matches_reference_policy(store: SQLiteStore, request: pytest.FixtureRequest) -> None:
    """The reference policy against the store, EXAMPLES examples on SQLite and PG_EXAMPLES on PostgreSQL
    (the same query code through the dialect adapter: fewer examples there keep the suite's time)."""
    postgres = request.node.callspec.params["store"] == "postgres"

    @settings(
        max_examples=PG_EXAMPLES if postgres else EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(orgs=orgs_st, objs=objs_st, q=query_st)
    def run(orgs: list[OrgSpec], objs: list[ObjSpec], q: dict) -> None:
        _store_matches(store, orgs, objs, q)

    run()


def _store_matches(store: SQLiteStore, orgs: list[OrgSpec], objs: list[ObjSpec], q: dict) -> None:
    collection, made, q, expected, _every = _example(store, orgs, objs, q)
    mode = q["version"]
    versions = VersionFilter(
        last="last" in mode,
        first="first" in mode,
        all=mode == "all",
        at_us=tuple(q["at"]) if mode == "at" else (),
    )
    reader = made[q["reader"] % len(made)]
    got: list[tuple[str, int]] = []
    after = None
    for _ in itertools.count():
        page = store.query(
            collection,
            reader,
            Query(
                added_after_us=q["added_after"],
                limit=q["limit"],
                after=after,
                ids=q["ids"],
                types=q["types"],
                versions=versions,
            ),
        )
        got += [(r.id, to_us(parse_timestamp(r.version))) for r in page.rows]
        assert len(page.rows) <= q["limit"]
        if not page.more:
            break
        after = page.cursor
    assert got == expected


# -- the change stream: never more than objects/ gives the same caller ---------------------------------------
@pytest.fixture(scope="module")
def served(store: SQLiteStore):
    from kizuna.hub.app import create_app
    from kizuna.hub.settings import HubSettings

    from .streaming import ThreadedServer

    with ThreadedServer(create_app(HubSettings(stream_heartbeat_s=0.05), store)) as server:
        yield server


@settings(
    max_examples=STREAM_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orgs=orgs_st, objs=objs_st, q=query_st)
def test_the_stream_gives_exactly_what_objects_gives_the_same_caller(
    store: SQLiteStore, served: Any, orgs: list[OrgSpec], objs: list[ObjSpec], q: dict
):
    """Over HTTP, for a random caller and filters (``match[type]``, ``added_after``): the stream's events are
    the versions ``objects/?match[version]=all`` pages out to that caller, in the same order, and both are
    the reference's answer."""
    import httpx

    from kizuna.hub.auth import hash_token, new_token
    from kizuna.stix.ids import format_us

    from .streaming import caught_up

    collection, made, q, _expected, every = _example(store, orgs, objs, q)
    reader = made[q["reader"] % len(made)]
    token = new_token()
    store.add_token(reader.name, hash_token(token))
    params: dict[str, str] = {}
    if q["types"]:
        params["match[type]"] = ",".join(q["types"])
    if q["added_after"] is not None:
        params["added_after"] = format_us(q["added_after"])
    base = f"{served.url}/api/collections/{collection.id}/"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/taxii+json;version=2.1"}
    if not orgs[q["reader"] % len(orgs)].read:
        # no read grant: both answer exactly as for a collection that does not exist, or forbid alike
        a = httpx.get(base + "objects/", headers=headers, timeout=30).status_code
        b = httpx.get(base + "stream/", headers={"Authorization": headers["Authorization"]}, timeout=30)
        assert a == b.status_code and a in (403, 404)
        return
    streamed = [
        (e["object"]["id"], to_us(parse_timestamp(e["object"]["modified"])))
        for e in caught_up(base + "stream/", token, **params)
    ]
    paged: list[tuple[str, int]] = []
    page_params = {**params, "match[version]": "all", "limit": str(q["limit"])}
    for _ in itertools.count():
        body = httpx.get(base + "objects/", params=page_params, headers=headers, timeout=30).json()
        paged += [(o["id"], to_us(parse_timestamp(o["modified"]))) for o in body.get("objects", [])]
        if not body.get("more"):
            break
        page_params["next"] = body["next"]
    types = set(q["types"])
    assert streamed == paged == [e for e in every if not types or e[0].split("--")[0] in types]
