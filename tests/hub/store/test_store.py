"""The store suite: what every backend must do, behind the one ``store`` fixture (see conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kizuna.errors import Conflict, InputError, NotFound
from kizuna.hub import intake, policy
from kizuna.hub.audit import verify_chain
from kizuna.hub.auth import TokenKey
from kizuna.hub.models import Collection, Incoming, ObjectResult, Org, Outcome, Query, VersionFilter
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import NewVersion, Store, WriteTx
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import utc_now
from kizuna.stix.markings import TLP, TLP2_IDS
from tests.hub.conftest import FrozenClock, indicator


def _setup(store: Store) -> None:
    store.add_org("producer", ceiling=TLP.RED)
    store.add_org("reader", ceiling=TLP.AMBER)
    store.add_org("partner-hub", ceiling=TLP.RED, peer_hub=True)
    store.add_collection("c", alias="c", readers=["producer", "reader"], writers=["producer"])


# -- directory ---------------------------------------------------------------------------------------------
def test_organisations_tokens_collections_and_grants(store: Store) -> None:
    _setup(store)
    org = store.get_org("producer")
    assert org.ceiling == TLP.RED and org.identity_id and org.identity_id.startswith("identity--")
    assert [o.name for o in store.list_orgs()] == ["partner-hub", "producer", "reader"]
    with pytest.raises(Conflict):
        store.add_org("producer", ceiling=TLP.GREEN)
    with pytest.raises(NotFound):
        store.get_org("nobody")
    key = TokenKey("0123456789abcdef", "h" * 64)
    store.add_token("reader", key)
    assert store.org_for_token(key) == store.get_org("reader")
    assert store.org_for_token(TokenKey("0123456789abcdef", "g" * 64)) is None
    assert store.count_orgs_with_tokens() == 1
    assert store.revoke_tokens("reader") == 1 and store.org_for_token(key) is None
    c = store.get_collection("c")
    assert c is not None and store.get_collection(c.id) == c and c.default_tlp == TLP.AMBER
    g = store.grant(c, store.get_org("reader"))
    assert g is not None and g.can_read and not g.can_write
    store.grant_access("c", writers=["reader"])  # grants only widen
    g = store.grant(c, store.get_org("reader"))
    assert g is not None and g.can_read and g.can_write
    assert store.grant(c, store.get_org("partner-hub")) is None
    assert [x.id for x, _ in store.collections_for(store.get_org("reader"))] == [c.id]
    with pytest.raises(Conflict):
        store.add_collection("again", alias="c")
    with pytest.raises(InputError):
        store.add_collection("   ")


# -- the write transaction ---------------------------------------------------------------------------
def test_a_failing_write_leaves_nothing(store: Store) -> None:
    _setup(store)
    c = store.get_collection("c")
    assert c is not None
    before = list(store.audit_records())

    def work(tx: WriteTx) -> None:
        intake_result = intake.check(0, indicator())
        assert not isinstance(intake_result, ObjectResult)
        tx.insert(c, [intake_versions(intake_result)])
        tx.audit("org:producer", "objects.add", {"x": 1})
        raise RuntimeError("the disk filled up")

    with pytest.raises(RuntimeError):
        store.write(work)
    assert store.count_objects() == 0 and list(store.audit_records()) == before
    assert store.verify_audit().ok


def intake_versions(obj: Incoming) -> NewVersion:
    return NewVersion(obj, TLP.GREEN, None, "org:producer", b"d" * 16)


def test_date_added_is_unique_and_increasing_even_in_one_instant(store: Store, clock: FrozenClock) -> None:
    _setup(store)
    c = store.get_collection("c")
    producer = store.get_org("producer")
    assert c is not None
    for _ in range(3):  # the clock never moves
        intake.accept(store, c, intake.Sender.local(producer), [indicator() for _ in range(50)], clock=clock)
    rows = store.query(c, producer, Query(limit=1000)).rows
    added = [r.date_added_us for r in rows]
    assert len(rows) == 150 and added == sorted(set(added))


def test_keyset_pages_lose_and_repeat_nothing(store: Store) -> None:
    _setup(store)
    c = store.get_collection("c")
    producer = store.get_org("producer")
    assert c is not None
    objects = [indicator(f"198.51.100.{i}") for i in range(23)]
    intake.accept(store, c, intake.Sender.local(producer), objects, clock=utc_now)
    seen: list[str] = []
    after: Cursor | None = None
    while True:
        page = store.query(c, producer, Query(limit=5, after=after))
        seen += [r.id for r in page.rows]
        if not page.more:
            break
        after = page.cursor
    assert seen == [o["id"] for o in objects]
    # an incomplete cursor re-reads its own instant; a complete one starts after it
    first = store.query(c, producer, Query(limit=1)).rows[0]
    again = store.query(c, producer, Query(limit=1, after=Cursor(first.date_added_us, complete=False))).rows
    assert again[0].id == first.id
    nxt = store.query(c, producer, Query(limit=1, after=Cursor(first.date_added_us))).rows
    assert nxt[0].id == objects[1]["id"]


def test_reads_apply_the_policy_predicate(store: Store) -> None:
    _setup(store)
    c = store.get_collection("c")
    producer, reader = store.get_org("producer"), store.get_org("reader")
    assert c is not None
    red = indicator("192.0.2.1", tlp_ref=TLP2_IDS[TLP.RED])
    green = indicator("192.0.2.2", tlp_ref=TLP2_IDS[TLP.GREEN])
    intake.accept(store, c, intake.Sender.local(producer), [red, green], clock=utc_now)
    assert {r.id for r in store.query(c, producer, Query()).rows} == {red["id"], green["id"]}
    assert {r.id for r in store.query(c, reader, Query()).rows} == {green["id"]}
    egress = policy.Agreement("somewhere", TLP.AMBER)
    assert {r.id for r in store.query(c, egress, Query()).rows} == {green["id"]}


def test_write_results_are_kept_for_their_writer_only(store: Store) -> None:
    _setup(store)
    c = store.get_collection("c")
    producer = store.get_org("producer")
    assert c is not None
    obj = indicator()
    result = intake.accept(store, c, intake.Sender.local(producer), [obj, obj, {"type": "x"}], clock=utc_now)
    assert [r.outcome for r in result.objects] == [Outcome.STORED, Outcome.DUPLICATE, Outcome.REFUSED]
    assert store.write_result(result.id, producer) == result
    assert store.write_result(result.id, store.get_org("reader")) is None


def test_delete_removes_only_visible_versions_and_is_audited(store: Store) -> None:
    _setup(store)
    c = store.get_collection("c")
    producer = store.get_org("producer")
    assert c is not None
    v1 = indicator(oid="indicator--8c7a2e0e-0000-4000-8000-000000000001")
    v2 = {**v1, "modified": "2026-02-01T00:00:00.000Z"}
    intake.accept(store, c, intake.Sender.local(producer), [v1, v2], clock=utc_now)
    all_versions = Query(versions=VersionFilter(all=True))
    assert store.delete_versions(c, producer, v1["id"], all_versions) == 2
    assert store.count_objects() == 0
    assert [r.action for r in store.audit_records()][-1] == "objects.delete"


def _two_writers(store: Store) -> tuple[Collection, Org, Org]:
    """``_setup``'s hub with a second organisation that reads and writes collection c too."""
    _setup(store)
    store.add_org("other", ceiling=TLP.RED)
    store.grant_access("c", readers=["other"], writers=["other"])
    c, producer, other = store.get_collection("c"), store.get_org("producer"), store.get_org("other")
    assert c is not None and producer is not None and other is not None
    return c, producer, other


def test_an_id_stays_its_first_producers_when_its_versions_are_deleted(store: Store) -> None:
    """The first to store an id owns it, and still does once every version of it is deleted: nobody else
    may then take the id over."""
    c, producer, other = _two_writers(store)
    obj = indicator(oid="indicator--8c7a2e0e-0000-4000-8000-0000000000aa")
    mine, theirs = intake.Sender.local(producer), intake.Sender.local(other)

    def owners() -> dict[str, str]:
        return store.write(
            lambda tx: tx.owners([obj["id"], "indicator--00000000-0000-4000-8000-000000000000"])
        )

    assert owners() == {}
    assert intake.accept(store, c, mine, [obj], clock=utc_now).objects[0].outcome is Outcome.STORED
    assert owners() == {obj["id"]: policy.org_origin(producer)}
    later = {**obj, "modified": "2026-02-01T00:00:00.000Z"}
    # the other organisation reads the producer's version: its own version of the id is refused
    assert intake.accept(store, c, theirs, [later], clock=utc_now).objects[0].outcome is Outcome.REFUSED
    all_versions = Query(versions=VersionFilter(all=True))
    assert store.delete_versions(c, producer, obj["id"], all_versions) == 1
    assert store.count_objects() == 0
    assert owners() == {obj["id"]: policy.org_origin(producer)}
    # it reads no version now: its version is kept as its own copy (no existence oracle), readable by it alone
    assert intake.accept(store, c, theirs, [later], clock=utc_now).objects[0].outcome is Outcome.STORED
    assert owners() == {obj["id"]: policy.org_origin(producer)}
    assert store.query(c, producer, all_versions).rows == []
    assert [r.origin for r in store.query(c, other, all_versions).rows] == [policy.org_origin(other)]
    newer = {**obj, "modified": "2026-03-01T00:00:00.000Z"}
    assert intake.accept(store, c, mine, [newer], clock=utc_now).objects[0].outcome is Outcome.STORED
    assert [r.origin for r in store.query(c, producer, all_versions).rows] == [policy.org_origin(producer)]


def test_ids_whose_keys_collide_keep_their_own_owners(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Indexes key ids by a 64-bit hash; two ids with one key are still two ids: each its own owner, through
    writes and the deletion of one of them. Every id gets the same key here."""
    from kizuna.hub.store.sqlite import indexing, objects, reads

    for module in (objects, reads, indexing):
        monkeypatch.setattr(module, "id_key", lambda _id: 42)
    c, producer, other = _two_writers(store)
    x = indicator(oid="indicator--8c7a2e0e-0000-4000-8000-0000000000a1")
    y = indicator(oid="indicator--8c7a2e0e-0000-4000-8000-0000000000a2")
    mine, theirs = intake.Sender.local(producer), intake.Sender.local(other)
    assert intake.accept(store, c, mine, [x], clock=utc_now).objects[0].outcome is Outcome.STORED
    assert intake.accept(store, c, theirs, [y], clock=utc_now).objects[0].outcome is Outcome.STORED

    def owners() -> dict[str, str]:
        return store.write(lambda tx: tx.owners([x["id"], y["id"]]))

    assert owners() == {x["id"]: policy.org_origin(producer), y["id"]: policy.org_origin(other)}
    assert store.delete_versions(c, producer, x["id"], Query(versions=VersionFilter(all=True))) == 1
    assert owners() == {x["id"]: policy.org_origin(producer), y["id"]: policy.org_origin(other)}
    # the other organisation's own copy of x (it reads no version of it now) leaves x its producer's
    assert intake.accept(store, c, theirs, [x], clock=utc_now).objects[0].outcome is Outcome.STORED
    assert owners() == {x["id"]: policy.org_origin(producer), y["id"]: policy.org_origin(other)}
    later = {**y, "modified": "2026-02-01T00:00:00.000Z"}
    assert intake.accept(store, c, mine, [later], clock=utc_now).objects[0].outcome is Outcome.REFUSED
    assert intake.accept(store, c, theirs, [later], clock=utc_now).objects[0].outcome is Outcome.NEW_VERSION
    assert [r.id for r in store.query(c, producer, Query(ids=(y["id"],))).rows] == [y["id"]]
    assert store.query(c, producer, Query(ids=(x["id"],))).rows == []  # x: the other's own copy only


# -- peers ---------------------------------------------------------------------------------------------
def test_peers_flows_cursors_and_agreements(store: Store, make_store: Callable[[], Store]) -> None:
    _setup(store)
    peer = store.add_peer(
        "partner-hub",
        url="http://127.0.0.1:9/api/",
        user=None,
        secret=b"sealed",
        max_tlp=TLP.AMBER,
        types=("indicator",),
        pulls=[("remote-a", "c")],
        pushes=[("c", "remote-b")],
    )
    assert [f.direction for f in peer.flows] == ["pull", "push"] and all(f.cursor is None for f in peer.flows)
    agreement = store.agreement_for(store.get_org("partner-hub"))
    assert agreement == policy.Agreement("partner-hub", TLP.AMBER, ("indicator",))
    with pytest.raises(InputError):
        store.add_peer("too-much", url="http://x/", user=None, secret=b"s", max_tlp=TLP.RED)
    pull, push = peer.flows
    c = store.get_collection("c")
    assert c is not None
    result = intake.accept(
        store,
        c,
        intake.Sender.pulled(agreement),
        [indicator()],
        clock=utc_now,
        flow=intake.FlowAdvance(pull.id, Cursor(1_700_000_000_000_000, complete=False)),
    )
    assert result.added == 1
    rows = store.query(c, store.get_org("producer"), Query()).rows
    store.confirm_push(peer, push, Cursor(rows[-1].date_added_us), rows, {"id": "s", "failures": []})
    pull2, push2 = store.get_peer("partner-hub").flows
    assert pull2.cursor == Cursor(1_700_000_000_000_000, complete=False) and pull2.transferred == 1
    assert push2.cursor == Cursor(rows[-1].date_added_us) and push2.transferred == 1
    store.record_sync(peer.id, pull.id, "it broke")
    assert (store.get_peer("partner-hub").flows[0].last_error or "").endswith("it broke")
    actions = [r.action for r in store.audit_records()]
    assert actions[-2:] == ["objects.receive", "objects.share"]
    store.remove_peer("partner-hub")
    assert store.list_peers() == []
    assert make_store().list_peers() == []  # another hub is another hub


# -- audit ---------------------------------------------------------------------------------------------
def test_the_audit_head_follows_every_append(store: Store) -> None:
    for i in range(5):
        store.append_audit("cli", "test.event", {"i": i})
    records = list(store.audit_records())
    head = store.audit_head()
    assert head is not None and head.records == len(records) == 6  # hub.init + 5
    assert head.last_seq == records[-1].seq and head.hash == records[-1].hash
    assert store.verify_audit().ok
    assert not verify_chain(records[:-1], head, key=b"any").ok
    # the chain is keyed: without the hub's key nobody can produce a record that verifies
    assert not verify_chain(records, head, key=b"another key").ok


# -- SQLite's query plans ---------------------------------------------------------------------------------
def test_a_query_by_id_does_not_grow_with_the_collection(tmp_path: Path) -> None:
    """SQLite, without statistics, may pick the collection's date-order index for ``ORDER BY ... LIMIT``
    and walk every object in it looking for one id: an object fetched by id at 1,000,000 objects took
    0.3-1.3 s so. Counted in SQLite virtual-machine steps, a query by id costs the same whatever the
    collection holds. (PostgreSQL plans with statistics; its suite runs the same queries for answers.)"""
    steps: list[int] = []
    for n in (200, 2_000):
        store = SQLiteStore.create(tmp_path / f"{n}.db", durable=False)
        _setup(store)
        c, producer = store.get_collection("c"), store.get_org("producer")
        assert c is not None and producer is not None
        objects = [indicator(f"198.51.{i // 250}.{i % 250}") for i in range(n)]
        intake.accept(store, c, intake.Sender.local(producer), objects, clock=utc_now)
        wanted = objects[n // 2]["id"]
        store.query(c, producer, Query(ids=(wanted,)))  # the read indexes catch up first
        count = [0]

        def tick(count: list[int] = count) -> int:
            count[0] += 1
            return 0

        conn = store._db.reader()
        conn.set_progress_handler(tick, 100)
        rows = store.query(c, producer, Query(ids=(wanted,), versions=VersionFilter(all=True))).rows
        conn.set_progress_handler(None, 0)
        assert [r.id for r in rows] == [wanted]
        steps.append(count[0])
        store.close()
    assert steps[1] < 2 * steps[0] + 10, f"steps at 200 and 2,000 objects: {steps}"
