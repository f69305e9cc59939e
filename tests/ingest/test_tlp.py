"""TLP from MISP tags and distribution (issue 15, item 3): one test per rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.hub.models import Query
from kizuna.ingest.misp import Options, convert_event
from kizuna.stix.markings import TLP, TLP2_IDS, tlp_of
from tests.ingest.conftest import LocalHub, kizuna

EVENT = "8a0b5a5e-6f3c-4d2b-9e1a-1c2d3e4f5a60"


def _event(event_tags: list[str], attr_tags: list[str], *, distribution: str = "3") -> dict[str, Any]:
    return {
        "uuid": EVENT,
        "info": "tlp test",
        "date": "2026-02-01",
        "timestamp": "1769904000",
        "distribution": distribution,
        "Tag": [{"name": t} for t in event_tags],
        "Attribute": [
            {
                "uuid": "8a0b5a5e-6f3c-4d2b-9e1a-1c2d3e4f5a61",
                "type": "ip-dst",
                "category": "Network activity",
                "value": "198.51.100.10",
                "to_ids": True,
                "timestamp": "1769904000",
                "Tag": [{"name": t} for t in attr_tags],
            }
        ],
    }


def _levels(event: dict[str, Any], **opts: Any) -> tuple[TLP | None, TLP | None, list[str]]:
    unit = convert_event(event, "/Event", "t.json", Options(**opts))
    by_type = {r.obj["type"]: r.obj for r in unit.records}
    return tlp_of(by_type["grouping"]), tlp_of(by_type["indicator"]), [w.reason for w in unit.warnings]


@pytest.mark.parametrize(
    ("tag", "level"),
    [
        ("tlp:white", TLP.CLEAR),
        ("TLP:CLEAR", TLP.CLEAR),
        ("tlp:Green", TLP.GREEN),
        ("Tlp:Amber", TLP.AMBER),
        ("TLP:AMBER+STRICT", TLP.AMBER_STRICT),
        ("tlp:red", TLP.RED),
    ],
)
def test_tlp_tags_in_any_letter_case(tag: str, level: TLP) -> None:
    event_tlp, attr_tlp, _ = _levels(_event([tag], []))
    assert event_tlp == attr_tlp == level


def test_an_attributes_own_tlp_wins_over_its_events() -> None:
    assert _levels(_event(["tlp:red"], ["tlp:green"]))[:2] == (TLP.RED, TLP.GREEN)
    assert _levels(_event(["tlp:clear"], ["tlp:amber"]))[:2] == (TLP.CLEAR, TLP.AMBER)


def test_several_tlp_tags_take_the_most_restrictive_with_a_warning() -> None:
    _, attr, warnings = _levels(_event([], ["tlp:green", "tlp:red", "tlp:amber"]))
    assert attr == TLP.RED and any("several TLP tags" in w for w in warnings)


def test_no_tlp_leaves_the_object_unmarked_for_the_collection_default() -> None:
    event_tlp, attr_tlp, _ = _levels(_event([], []))
    assert event_tlp is None and attr_tlp is None  # the hub records the collection default as metadata


def test_tags_that_look_like_tlp_are_kept_as_labels_and_listed() -> None:
    unit = convert_event(_event(["tlp:ex:chr", "PAP:RED"], ["tlp:unclear"]), "/Event", "t.json", Options())
    by_type = {r.obj["type"]: r.obj for r in unit.records}
    assert by_type["grouping"]["labels"] == ["tlp:ex:chr", "PAP:RED"]
    assert by_type["indicator"]["labels"] == ["tlp:unclear"]
    assert tlp_of(by_type["indicator"]) is None
    listed = [w.reason for w in unit.warnings]
    assert sum("looks like TLP but is no TLP level" in w for w in listed) == 3


def test_other_tags_are_kept_verbatim_as_labels() -> None:
    tags = ['misp:tool="misp2stix"', 'admiralty-scale:source-reliability="b"', "osint"]
    unit = convert_event(_event(tags, []), "/Event", "t.json", Options())
    grouping = next(r.obj for r in unit.records if r.obj["type"] == "grouping")
    assert grouping["labels"] == tags


def test_the_more_restrictive_of_tlp_and_distribution_wins() -> None:
    # TLP:RED with "all communities" (the inconsistency misp-playbooks#22 hunts for) stays RED
    assert _levels(_event(["tlp:red"], [], distribution="3"))[:2] == (TLP.RED, TLP.RED)
    # TLP:CLEAR with "connected communities" reads as GREEN: it was not for the public
    assert _levels(_event(["tlp:clear"], [], distribution="2"))[:2] == (TLP.GREEN, TLP.GREEN)
    # no TLP, "this community only": AMBER, which is the collection default here, so left to it
    assert _levels(_event([], [], distribution="1"))[:2] == (None, None)
    # ... but marked where the collection's default is lower
    assert _levels(_event([], [], distribution="1"), collection_default=TLP.GREEN)[:2] == (
        TLP.AMBER,
        TLP.AMBER,
    )


def test_an_event_without_tlp_lands_amber_and_a_green_reader_cannot_read_it(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(orjson.dumps({"Event": _event([], [])}))
    r = kizuna(capsys, "ingest", "misp", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    assert r.rc == 0, r.err
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None and c.default_tlp == TLP.AMBER
        uk = store.query(c, store.get_org("uk"), Query(types=("indicator",))).rows
        assert [(row.tlp, row.marked) for row in uk] == [(TLP.AMBER, False)]  # hub metadata, never CLEAR
        assert store.query(c, store.get_org("jp"), Query(types=("indicator",))).rows == []  # GREEN ceiling


def test_default_tlp_marks_what_has_none(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.json"
    path.write_bytes(orjson.dumps({"Event": _event([], [])}))
    args = ["--db", local_hub.db, "--collection", "shared", "--org", "uk", "--default-tlp", "green"]
    assert kizuna(capsys, "ingest", "misp", path, *args).rc == 0
    with local_hub.store() as store:
        c = store.get_collection("shared")
        assert c is not None
        rows = store.query(c, store.get_org("jp"), Query(types=("indicator",))).rows
        assert [orjson.loads(r.raw)["object_marking_refs"] for r in rows] == [[TLP2_IDS[TLP.GREEN]]]
