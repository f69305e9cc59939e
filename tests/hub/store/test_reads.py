"""The store's indexed reads (ReadIndex), against every backend: each answer is the reader's own (the sharing
policy in the query), counts are bounded, the indexes follow writes and deletes, audit pages and incremental
verification, sessions."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from kizuna.hub import intake
from kizuna.hub.models import Collection, Org, Query
from kizuna.hub.paging import Cursor
from kizuna.hub.reads import AuditFilter, ConjunctionQuery, Search
from kizuna.hub.store.protocols import Store
from kizuna.stix.ids import to_us
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.hub.conftest import FrozenClock
from tests.hub.store.conftest import tamper

T0 = "2026-02-01T00:00:00.000Z"


def obj(kind: str, **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": f"{kind}--{uuid.uuid4()}",
        "created": T0,
        "modified": T0,
    }
    level = extra.pop("tlp", TLP.GREEN)
    if level is not None:
        o["object_marking_refs"] = [TLP2_IDS[level]]
    o.update(extra)
    return o


def ind(value: str, **extra: Any) -> dict[str, Any]:
    return obj(
        "indicator", pattern=f"[ipv4-addr:value = '{value}']", pattern_type="stix", valid_from=T0, **extra
    )


class World:
    def __init__(self, store: Store, clock: FrozenClock) -> None:
        self.store = store
        self.clock = clock
        self.orgs = {
            name: store.add_org(name, ceiling=level)
            for name, level in (("uk", TLP.RED), ("jp", TLP.RED), ("amber", TLP.AMBER), ("green", TLP.GREEN))
        }
        names = list(self.orgs)
        self.c = store.add_collection("c", readers=names, writers=["uk", "jp"])
        self.d = store.add_collection("d", readers=["uk", "jp", "amber"], writers=["uk", "jp", "green"])

    def post(self, org: str, objs: list[dict[str, Any]], c: Collection | None = None) -> None:
        result = intake.accept(
            self.store, c or self.c, intake.Sender.local(self.orgs[org]), objs, clock=self.clock
        )
        assert not result.refused, result.refused
        self.clock.advance(1)

    def ids(self, org: str, search: Search) -> list[str]:
        out: list[str] = []
        s = search
        for _ in range(100):
            page = self.store.search(self.orgs[org], s)
            out.extend(h.row.id for h in page.hits)
            if not page.more:
                return out
            s = replace(s, after=page.cursor)
        raise AssertionError("paging did not end")


@pytest.fixture
def world(store: Store, clock: FrozenClock) -> World:
    return World(store, clock)


def test_search_by_value_text_and_every_filter(world: World) -> None:
    a = ind("198.51.100.7", name="Scanner of water utilities", tlp=TLP.GREEN)
    b = ind("198.51.100.8", name="Beacon", description="water reservoir controller", tlp=TLP.AMBER)
    red = ind("198.51.100.7", name="Implant", tlp=TLP.RED, x_kizuna_recipients=["jp"])
    sco = obj("ipv4-addr", value="198.51.100.7", tlp=None)
    sco.pop("created"), sco.pop("modified")
    world.post("uk", [a, b, red, sco])
    revoked = ind("192.0.2.1", name="water gone")
    world.post("jp", [revoked])
    world.post("jp", [{**revoked, "modified": "2026-02-02T00:00:00.000Z", "revoked": True}])
    by_value = Search(value="198.51.100.7")
    # one write's versions are disclosed widest first (policy.disclosure_rank): the RED one last
    assert world.ids("uk", by_value) == [a["id"], sco["id"], red["id"]]
    assert world.ids("jp", by_value) == [a["id"], sco["id"], red["id"]]  # named recipient of the RED one
    assert world.ids("amber", by_value) == [a["id"], sco["id"]]
    assert world.ids("green", by_value) == [a["id"]]  # the unmarked SCO takes the default, AMBER
    assert world.ids("amber", Search(text="water")) == [a["id"], b["id"], revoked["id"]]
    assert world.ids("green", Search(text="water")) == [a["id"], revoked["id"]]
    assert world.ids("amber", Search(text="WATER reserv")) == [b["id"]]
    assert world.ids("amber", Search(text="!!!")) == []
    assert world.ids("amber", Search(text="water", revoked=True)) == [revoked["id"]]
    assert world.ids("amber", Search(text="water", revoked=False)) == [a["id"], b["id"]]
    assert world.ids("amber", Search(tlps=("amber",))) == [b["id"]]
    assert world.ids("amber", Search(tlps=("unmarked",))) == [sco["id"]]
    assert world.ids("uk", Search(types=("ipv4-addr",))) == [sco["id"]]
    assert world.ids("amber", Search(origins=("org:jp",))) == [revoked["id"]]
    assert world.ids("amber", Search(origin_hubs=("elsewhere",))) == []
    assert world.ids("amber", Search(collection=world.d)) == []
    hit = world.store.search(world.orgs["amber"], Search(value="198.51.100.7")).hits[0]
    assert hit.collection.id == world.c.id and hit.source.kind == "org" and hit.source.name == "uk"
    added = [h.row.date_added_us for h in world.store.search(world.orgs["uk"], Search()).hits]
    between = Search(added_after_us=added[0], added_before_us=added[2])
    assert world.ids("uk", between) == [b["id"]]
    assert world.ids("uk", Search(value="198.51.100.7", newest_first=True)) == [red["id"], sco["id"], a["id"]]


def test_keyset_paging_and_bounded_counts(world: World) -> None:
    objs = [ind(f"10.0.{i // 250}.{i % 250}") for i in range(260)]
    for i in range(0, 260, 100):
        world.post("uk", objs[i : i + 100])
    ids = world.ids("green", Search(limit=50))
    assert ids == [o["id"] for o in objs]
    assert world.ids("green", Search(limit=7, newest_first=True)) == [o["id"] for o in reversed(objs)]
    assert world.store.count(world.orgs["green"], Search()) == 260
    assert world.store.count(world.orgs["green"], Search(), cap=100) == 101  # 101: "100+"


def test_latest_version_only_and_a_tlp_raised_later(world: World) -> None:
    o = ind("192.0.2.9", name="first", tlp=TLP.GREEN)
    world.post("uk", [o])
    world.post(
        "uk",
        [
            {
                **o,
                "name": "second",
                "modified": "2026-02-03T00:00:00.000Z",
                "object_marking_refs": [TLP2_IDS[TLP.AMBER]],
            }
        ],
    )
    for org, name in (("green", "first"), ("amber", "second")):
        [hit] = world.store.search(world.orgs[org], Search(value="192.0.2.9")).hits
        assert f'"name":"{name}"' in hit.row.raw.decode()
    assert world.ids("green", Search(text="second")) == []  # the newer version's words: not for it
    assert [v.hit.row.version for v in world.store.versions(world.orgs["amber"], o["id"])] == [
        "2026-02-03T00:00:00.000Z",
        T0,
    ]
    assert len(world.store.versions(world.orgs["green"], o["id"])) == 1


def test_tally_counts_the_readers_latest_versions(world: World) -> None:
    world.post(
        "uk", [ind("1.1.1.1", tlp=TLP.GREEN), ind("1.1.1.2", tlp=TLP.AMBER), ind("1.1.1.3", tlp=TLP.RED)]
    )
    world.post("jp", [obj("malware", name="m", is_family=False, tlp=None)])
    t = world.store.tally(world.c, world.orgs["amber"])
    assert (t.total, t.by_type, t.by_tlp) == (
        3,
        {"indicator": 2, "malware": 1},
        {"green": 1, "amber": 1, "unmarked": 1},
    )
    assert t.by_source == {"org:uk": 2, "org:jp": 1} and not t.truncated
    small = world.store.tally(world.c, world.orgs["uk"], limit=2)
    assert small.total == 2 and small.truncated
    assert world.store.tally(world.c, world.orgs["green"]).total == 1


def test_generation_moves_with_every_change(world: World) -> None:
    g0 = world.store.generation()
    o = ind("1.2.3.4")
    world.post("uk", [o])
    g1 = world.store.generation()
    assert g1 > g0
    world.store.delete_versions(world.c, world.orgs["uk"], o["id"], Query())
    assert world.store.generation() > g1
    assert world.ids("uk", Search(value="1.2.3.4")) == []  # its index rows went with it


def test_versions_say_why_the_reader_may_read(world: World) -> None:
    red = ind("1.2.3.5", tlp=TLP.RED, x_kizuna_recipients=["jp"])
    world.post("uk", [red])
    [mine] = world.store.versions(world.orgs["uk"], red["id"])
    [named] = world.store.versions(world.orgs["jp"], red["id"])
    assert mine.reader_produced and not mine.reader_named
    assert named.reader_named and not named.reader_produced
    assert world.store.versions(world.orgs["amber"], red["id"]) == []
    assert world.store.versions(world.orgs["uk"], red["id"], world.d) == []


def test_links_sightings_notes_and_relationships(world: World) -> None:
    target = ind("1.2.3.6")
    mal = obj("malware", name="m", is_family=False)
    rel = obj("relationship", relationship_type="indicates", source_ref=target["id"], target_ref=mal["id"])
    hidden = obj(
        "relationship",
        relationship_type="indicates",
        source_ref=target["id"],
        target_ref=mal["id"],
        tlp=TLP.RED,
    )
    note = obj("note", content="seen it", object_refs=[target["id"]])
    world.post("uk", [target, mal, rel, hidden, note])
    org = world.orgs["amber"]
    assert [h.row.id for h in world.store.linked(org, target["id"], "source").hits] == [rel["id"]]
    assert [h.row.id for h in world.store.linked(org, mal["id"], "target").hits] == [rel["id"]]
    assert [h.row.id for h in world.store.linked(org, target["id"], "about").hits] == [note["id"]]
    assert len(world.store.linked(world.orgs["uk"], target["id"], "source").hits) == 2
    page = world.store.linked(world.orgs["uk"], target["id"], "source", limit=1)
    rest = world.store.linked(world.orgs["uk"], target["id"], "source", after=page.cursor, limit=1)
    assert page.more and not rest.more and page.hits[0].row.id != rest.hits[0].row.id


def test_sighting_tallies_count_only_readable_sightings(world: World, clock: FrozenClock) -> None:
    target = ind("1.2.3.7")
    world.post("uk", [target])
    now = clock.now
    day = 86_400_000_000

    def sighting(days_ago: int, level: TLP, count: int = 1, **extra: Any) -> dict[str, Any]:
        seen = now.timestamp() - days_ago * 86400
        stamp = __import__("datetime").datetime.fromtimestamp(seen, __import__("datetime").UTC)
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return obj(
            "sighting",
            sighting_of_ref=target["id"],
            count=count,
            first_seen=text,
            last_seen=text,
            tlp=level,
            **extra,
        )

    world.post(
        "jp", [sighting(1, TLP.GREEN, 2), sighting(3, TLP.AMBER, 5), sighting(40, TLP.GREEN, 9)], world.d
    )
    world.post("uk", [sighting(2, TLP.RED, 7)], world.d)
    now_us = to_us(now)
    for org, sightings, count in (("jp", 2, 7), ("amber", 2, 7), ("uk", 3, 14)):
        [t], more = world.store.sighting_tallies(
            world.orgs[org], since_us=now_us - 30 * day, until_us=now_us + 1
        )
        assert (t.ref, t.sightings, t.count, more) == (target["id"], sightings, count, False), org
        assert len(t.per_day) == 30 and sum(t.per_day) == count
    assert (
        world.store.sighting_tallies(world.orgs["green"], since_us=now_us - 30 * day, until_us=now_us)[0]
        == []
    )
    [t], _ = world.store.sighting_tallies(
        world.orgs["uk"], since_us=now_us - 30 * day, until_us=now_us + 1, tlps=("green",)
    )
    assert t.count == 2 and t.reporters == 1


def test_sighting_tallies_page_most_recently_seen_first_across_chunks(
    world: World, clock: FrozenClock
) -> None:
    """The dashboard's order (most recent readable sighting first, ties by the later stored) holds when the
    walk takes several bounded chunks: 300 sightings of two indicators come before the others, several
    share one time, and RED ones the reader may not read are skipped."""
    targets = [ind(f"10.7.0.{i}") for i in range(60)]
    world.post("uk", targets)
    base = clock.now.timestamp()

    def sighting(target: int, seconds_ago: int, level: TLP = TLP.GREEN) -> dict[str, Any]:
        stamp = __import__("datetime").datetime.fromtimestamp(base - seconds_ago, __import__("datetime").UTC)
        text = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return obj(
            "sighting", sighting_of_ref=targets[target]["id"], first_seen=text, last_seen=text, tlp=level
        )

    batch = [sighting(k % 2, 10 + k // 7) for k in range(300)]  # 7 at each time: ties
    batch += [sighting(2 + i, 1000 + i) for i in range(58)]  # indicators 2..59, one each
    batch += [sighting(59, 5, TLP.RED)]  # the newest of all, not for the AMBER reader
    world.post("jp", batch)
    now_us = to_us(clock.now)
    # newest readable sighting first: 59's newest is RED (skipped), its GREEN one the oldest of all
    expected = [targets[k]["id"] for k in (0, 1, *range(2, 60))]
    for offset, limit in ((0, 50), (50, 50), (3, 7)):
        tallies, more = world.store.sighting_tallies(
            world.orgs["amber"], since_us=now_us - 86_400_000_000, until_us=now_us, offset=offset, limit=limit
        )
        got = [t.ref for t in tallies]
        assert got == expected[offset : offset + limit], (offset, limit)
        assert more == (offset + limit < len(expected))


def test_stale_indicators(world: World, clock: FrozenClock) -> None:
    quiet = ind("2.2.2.1")
    expired = ind("2.2.2.2", valid_until="2026-01-15T00:00:00.000Z")
    expired["valid_from"] = "2025-01-01T00:00:00.000Z"
    fresh = ind("2.2.2.3")
    world.post("uk", [quiet, expired, fresh])
    stamp = "2026-02-28T00:00:00.000Z"
    world.post("jp", [obj("sighting", sighting_of_ref=fresh["id"], last_seen=stamp, first_seen=stamp)])
    now_us = to_us(clock.now)
    stale, more = world.store.stale_indicators(
        world.orgs["amber"], now_us=now_us, quiet_since_us=now_us - 90 * 86_400_000_000
    )
    assert [(s.hit.row.id, s.reasons) for s in stale] == [
        (quiet["id"], ("quiet",)),
        (expired["id"], ("expired", "quiet")),
    ]
    assert not more


def test_same_groups_need_two_readable_sources(world: World) -> None:
    a = ind("3.3.3.3", name="uk view", tlp=TLP.GREEN)
    b = ind("3.3.3.3", name="jp view", tlp=TLP.AMBER)
    lone = ind("3.3.3.4")
    world.post("uk", [a, lone])
    world.post("jp", [b])
    groups, more = world.store.same_groups(world.orgs["amber"])
    assert [(g.key, g.reports, g.sources) for g in groups] == [("value:3.3.3.3", 2, 2)] and not more
    assert world.store.same_groups(world.orgs["green"])[0] == []  # only one of them is readable to it
    assert {h.row.id for h in world.store.same_members(world.orgs["amber"], "value:3.3.3.3")} == {
        a["id"],
        b["id"],
    }
    assert world.store.same_groups(world.orgs["amber"], kinds=("name",))[0] == []
    first, _ = world.store.same_groups(world.orgs["amber"], after=Cursor(groups[0].position))
    assert first == []


def test_conjunction_filters(world: World) -> None:
    def conj(n1: int, n2: int, tca: str, pc: float, miss: float) -> dict[str, Any]:
        facts = {"norad_1": n1, "norad_2": n2, "tca": tca, "miss_km": miss, "collision_probability": pc}
        return obj(
            "kizuna-conjunction", name="c", rel_speed_km_s=10.0, pc_method="foster-2d", cdm="x", **facts
        )

    x = conj(100, 200, "2026-02-01T00:00:00Z", 1e-3, 0.2)
    y = conj(100, 300, "2026-02-05T00:00:00Z", 1e-6, 4.0)
    world.post("uk", [x, y])
    org = world.orgs["green"]
    got = lambda q: [c.hit.row.id for c in world.store.conjunctions(org, q)[0]]  # noqa: E731
    assert got(ConjunctionQuery()) == [y["id"], x["id"]]
    assert got(ConjunctionQuery(norad=300)) == [y["id"]]
    assert got(ConjunctionQuery(min_pc=1e-4)) == [x["id"]]
    assert got(ConjunctionQuery(max_miss_km=1.0)) == [x["id"]]
    assert got(
        ConjunctionQuery(
            tca_from_us=to_us(__import__("datetime").datetime(2026, 2, 2, tzinfo=__import__("datetime").UTC))
        )
    ) == [y["id"]]
    assert world.store.conjunctions(org, ConjunctionQuery(limit=1))[1] is True


def test_audit_pages_and_incremental_verification(world: World) -> None:
    for i in range(30):
        world.store.append_audit("ui", "test.action" if i % 2 else "test.other", {"i": i})
    records, more = world.store.audit_page(AuditFilter(actions=("test.action",), limit=10))
    assert [r.action for r in records] == ["test.action"] * 10 and more
    older, _ = world.store.audit_page(
        AuditFilter(actions=("test.action",), before_seq=records[-1].seq, limit=10)
    )
    assert older[0].seq < records[-1].seq
    assert world.store.audit_page(AuditFilter(actors=("nobody",)))[0] == []
    p = None
    for _ in range(100):
        p = world.store.verify_audit_progress(p, max_records=7)
        if p.complete:
            break
    assert p is not None and p.ok and p.complete and p.records == world.store.audit_head().records  # type: ignore[union-attr]
    world.store.append_audit("ui", "test.more", {})
    p2 = world.store.verify_audit_progress(p, max_records=7)
    assert p2.ok and p2.complete and p2.records == p.records + 1
    # tampering is caught on the next look, as by 'kizuna hub audit verify'
    tamper(world.store, "UPDATE audit SET detail = '{\"i\":999}' WHERE seq = 5")
    fresh = world.store.verify_audit_progress(None, max_records=1000)
    assert not fresh.ok and fresh.first_bad_seq == 5 and "modified" in fresh.reason


def test_sessions_in_the_store(world: World) -> None:
    from kizuna.hub.reads import UiSession

    s = UiSession("h1", world.orgs["uk"].id, "t", "c", 1, to_us(world.clock.now) + 10**9)
    world.store.create_session(s, max_sessions=10)
    assert world.store.get_session("h1") == s
    assert world.store.end_session("h1") and world.store.get_session("h1") is None


def test_set_admin(world: World) -> None:
    assert world.store.update_org("uk", admin=True).admin
    assert not world.store.update_org("uk", admin=False).admin
    assert any(r.action == "org.update" for r in world.store.audit_records())


def _org(store: Store, name: str) -> Org:
    return store.get_org(name)
