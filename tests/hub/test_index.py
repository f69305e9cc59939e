"""What the store indexes of an object (kizuna/hub/index.py): pattern values, observables, full-text queries
that never fail, CJK phrases, sameness keys and their URL form."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kizuna.hub import index
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.minerals.publish import ASSESSMENT_TYPE
from kizuna.space.publish import CONJUNCTION_TYPE
from tests.hub.conftest import BACKENDS


def test_the_wings_types_are_the_ones_indexed() -> None:
    assert index.CONJUNCTION_TYPE == CONJUNCTION_TYPE
    assert index.ASSESSMENT_TYPE == ASSESSMENT_TYPE


def test_pattern_values() -> None:
    pattern = (
        "[file:hashes.'SHA-256' = 'AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12']"
        " OR ([ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')] AND [url:value = 'http://x.example/a=b\\'c'])"
        " FOLLOWEDBY [domain-name:value != 'not.this'] AND [network-traffic:dst_port = 502]"
    )
    assert index.pattern_values(pattern) == [
        ("file:hashes.'SHA-256'", "AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12"),
        ("ipv4-addr:value", "192.0.2.1"),
        ("ipv4-addr:value", "192.0.2.2"),
        ("url:value", "http://x.example/a=b'c"),
    ]
    e = index.entries({"type": "indicator", "id": "indicator--x", "pattern": pattern, "name": "n"})
    assert "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12" in e.values  # case-folded
    assert "value:192.0.2.1" in e.keys and "value:not.this" not in e.keys


def test_observables_and_their_keys() -> None:
    sco = {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.100.7"}
    e = index.entries(sco)
    assert e.values == ("198.51.100.7",) and e.keys == ("sco:ipv4-addr--1",)
    f = index.entries(
        {"type": "file", "id": "file--2", "hashes": {"MD5": "D41D8CD98F00B204E9800998ECF8427E"}}
    )
    assert f.values == ("d41d8cd98f00b204e9800998ecf8427e",)


def test_what_looks_like_one_observable() -> None:
    yes = ["198.51.100.23", "10.0.0.0/8", "fe80::1", "scada-update.example", "a" * 64, "http://x.example/p"]
    yes += ["someone@example.org", "00:1a:2b:3c:4d:5e"]
    no = ["apt29", "water utilities", "", " ", "Reservoir Spider", "x" * 3000]
    assert all(index.looks_like_observable(v) for v in yes)
    assert not any(index.looks_like_observable(v) for v in no)


def test_names_aliases_conjunctions_and_minerals_keys() -> None:
    actor = {
        "type": "threat-actor",
        "id": "threat-actor--1",
        "name": "Reservoir  Spider",
        "aliases": ["WaterBear"],
    }
    assert index.entries(actor).keys == ("name:threat-actor:reservoir spider", "name:threat-actor:waterbear")
    assert index.entries({"type": "report", "id": "report--1", "name": "x"}).keys == ()
    conj = {
        "type": CONJUNCTION_TYPE,
        "id": "x--1",
        "norad_1": 24946,
        "norad_2": 22675,
        "tca": "2009-02-10T16:55:59Z",
    }
    e = index.entries(conj)
    assert e.keys == ("conjunction:22675-24946",) and e.conjunction is not None
    assert (e.conjunction.norad_1, e.conjunction.norad_2) == (22675, 24946)
    assessment = {
        "type": ASSESSMENT_TYPE,
        "assessment_kind": "exposure",
        "assessment": {
            "exposures": [
                {"partner": "GBR", "mineral": "cobalt", "stages": [{"stage": "refining", "year": 2024}]}
            ]
        },
    }
    assert index.entries(assessment).keys == ("minerals:cobalt:refining:GBR:2024",)


def test_sightings_links_and_flags() -> None:
    s = index.entries(
        {
            "type": "sighting",
            "id": "sighting--1",
            "created": "2026-01-01T00:00:00Z",
            "sighting_of_ref": "indicator--1",
            "count": 3,
            "first_seen": "2026-01-02T00:00:00Z",
        }
    )
    assert s.sighting is not None and s.sighting.count == 3 and s.sighting.seen_us == s.sighting.first_seen_us
    assert s.links == (("sighting", "indicator--1"),)
    rel = index.entries({"type": "relationship", "source_ref": "a--1", "target_ref": "b--2"})
    assert rel.links == (("source", "a--1"), ("target", "b--2"))
    note = index.entries({"type": "note", "content": "c", "object_refs": [f"x--{i}" for i in range(5000)]})
    assert len(note.links) == index.MAX_LINKS
    flags = index.entries(
        {
            "type": "indicator",
            "pattern": "[x:y = 'z']",
            "revoked": True,
            "valid_until": "2020-01-01T00:00:00Z",
        }
    )
    assert flags.revoked and flags.valid_until_us is not None


def _fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE search USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')")
    return conn


def test_cjk_text_is_found_inside_a_sentence() -> None:
    conn = _fts()
    conn.execute(
        "INSERT INTO search (rowid, body) VALUES (1, ?)", (index.fts_text("日本の水道事業者への標的型攻撃"),)
    )
    conn.execute("INSERT INTO search (rowid, body) VALUES (2, ?)", (index.fts_text("Modbus scanner"),))

    def found(q: str) -> list[int]:
        expr = index.fts_query(q)
        return [r[0] for r in conn.execute("SELECT rowid FROM search WHERE search MATCH ?", (expr,))]

    assert found("標的型攻撃") == [1] and found("攻撃") == [1] and found("水道") == [1]
    assert found("撃攻") == [] and found("modb") == [2] and found("Scanner") == [2]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_query_is_a_valid_full_text_expression(q: str) -> None:
    expr = index.fts_query(q)
    if expr is None:
        return
    _fts().execute("SELECT rowid FROM search WHERE search MATCH ?", (expr,)).fetchall()


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=80))
def test_keys_travel_in_urls_and_back(rest: str) -> None:
    key = "name:malware:" + rest
    assert index.decode_key(index.encode_key(key)) == key
    assert index.decode_key(index.encode_key(key) + "!") is None
    assert index.decode_key(index.encode_key("other:" + rest)) is None


# -- keys held by two origins: never fewer than the truth -------------------------------------------------
_write = st.lists(
    st.tuples(st.sampled_from(["org:uk", "org:jp", "peer:de"]), st.sampled_from(["k1", "k2", "k3", "k4"])),
    min_size=1,
    max_size=6,
)


@pytest.fixture(params=BACKENDS)
def index_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """An empty hub on each backend, whose index tables the test writes directly."""
    store: Any
    if request.param == "postgres":
        from kizuna.hub.store.postgres import PostgresStore

        store = PostgresStore.create(request.getfixturevalue("new_pg_dsn")(), key_file=tmp_path / "hub.key")
    else:
        store = SQLiteStore.create(tmp_path / "hub.db", durable=False)
    yield store
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_write, st.lists(st.integers(0, 40), max_size=3)), min_size=1, max_size=8))
def test_shared_keys_hold_every_key_two_origins_hold(
    index_store: Any, steps: list[tuple[list[tuple[str, str]], list[int]]]
) -> None:
    """Writes of (origin, key) in batches, each followed by deletes of earlier versions: ``shared_keys`` is
    always a superset of the keys that versions of two or more origins hold (the disagreements list narrows
    it per reader; it must never miss one). On both backends, through the store's own write transactions."""
    from kizuna.hub.store.sqlite.indexing import index_versions, unindex

    with index_store._db.write() as conn:  # each example starts from empty index tables
        for table in ("same_keys", "shared_keys", "key_origins"):
            conn.execute(f"DELETE FROM {table}")
    held: dict[int, tuple[str, str]] = {}  # date_added -> (origin, key)
    added = 0
    for batch, doomed in steps:
        versions = []
        for origin, key in batch:
            added += 1
            held[added] = (origin, key)
            versions.append((added, origin, index.Entries(keys=(key,))))
        gone = [a for a in dict.fromkeys(doomed) if a in held]
        with index_store._db.write() as conn:
            index_versions(conn, versions)
            unindex(conn, gone)
        for a in gone:
            del held[a]
        origins: dict[str, set[str]] = {}
        for origin, key in held.values():
            origins.setdefault(key, set()).add(origin)
        truth = {k for k, o in origins.items() if len(o) > 1}
        with index_store._db.write() as conn:
            recorded = {r[0] for r in conn.execute("SELECT key FROM shared_keys").fetchall()}
        assert truth <= recorded
