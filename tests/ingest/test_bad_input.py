"""Bad input (issue 15, acceptance): each with its message, exit status 2 or 3, and the database's row
counts unchanged where the unit was refused. Never a traceback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ingest.conftest import LocalHub, kizuna

EVENT: dict[str, Any] = {
    "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a40",
    "info": "bad input",
    "date": "2026-02-01",
    "timestamp": "1769904000",
    "distribution": "3",
    "Attribute": [
        {
            "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a41",
            "type": "domain",
            "category": "Network activity",
            "value": "good.example.com",
            "to_ids": True,
        },
        {
            "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a42",
            "type": "ip-dst",
            "category": "Network activity",
            "value": "198.51.100.20",
            "to_ids": True,
            "Sighting": [
                {"uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a43", "type": "0", "date_sighting": "1769904100"}
            ],
        },
    ],
    "Object": [
        {
            "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a44",
            "name": "domain-ip",
            "timestamp": "1769904000",
            "Attribute": [
                {
                    "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a45",
                    "type": "domain",
                    "object_relation": "domain",
                    "value": "other.example.com",
                    "to_ids": True,
                }
            ],
            "ObjectReference": [
                {
                    "uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a46",
                    "object_uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a44",
                    "referenced_uuid": "3f2a1b0c-4d5e-4f60-8a7b-9c0d1e2f3a42",
                    "relationship_type": "resolves-to",
                }
            ],
        }
    ],
}


def _write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return p


def _misp(tmp_path: Path, hub: LocalHub, capsys: pytest.CaptureFixture[str], doc: Any, *extra: str) -> Any:
    path = _write(tmp_path, "event.json", orjson.dumps(doc))
    return kizuna(
        capsys, "ingest", "misp", path, "--db", hub.db, "--collection", "shared", "--org", "uk", *extra
    )


def _refused(r: Any, status: int, *messages: str) -> None:
    assert r.rc == status, r.err
    assert "Traceback" not in r.err
    for m in messages:
        assert m in r.err, r.err


def test_not_json_names_line_and_column(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    path = _write(tmp_path, "e.json", '{\n  "Event": {\n    "info": x\n  }\n}\n')
    r = kizuna(capsys, "ingest", "misp", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    _refused(r, 2, f"{path}:3: not JSON", "column")
    assert local_hub.counts() == before


def test_truncated_json(tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]) -> None:
    before = local_hub.counts()
    text = orjson.dumps({"Event": EVENT}, option=orjson.OPT_INDENT_2)
    path = _write(tmp_path, "e.json", text[: len(text) // 2])
    r = kizuna(capsys, "ingest", "misp", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    _refused(r, 2, f"{path}:", "not JSON")
    assert local_hub.counts() == before


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"hello": "world"}, "not a MISP event"),
        ({"type": "bundle", "id": "bundle--1", "objects": []}, "this is STIX, not MISP"),
        ("just a string", "neither an object nor a list"),
    ],
)
def test_json_that_is_not_misp(
    doc: Any, message: str, tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    _refused(_misp(tmp_path, local_hub, capsys, doc), 2, message)
    assert local_hub.counts() == before


def test_an_event_without_info(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    ev = {k: v for k, v in EVENT.items() if k != "info"}
    _refused(_misp(tmp_path, local_hub, capsys, {"Event": ev}), 3, "/Event/info: the event has no 'info'")
    assert local_hub.counts() == before


@pytest.mark.parametrize("where", ["Attribute", "Object", "Galaxy", "Sighting"])
def test_a_list_that_is_not_a_list(
    where: str, tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``"Attribute": true`` and the like (found by the fuzz test below): the event is refused, naming
    the property; never a TypeError."""
    before = local_hub.counts()
    ev = copy.deepcopy(EVENT)
    node, loc = (ev["Attribute"][1], "/Event/Attribute/1") if where == "Sighting" else (ev, "/Event")
    node[where] = True
    r = _misp(tmp_path, local_hub, capsys, {"Event": ev})
    _refused(r, 3, f"{loc}/{where}: '{where}' must be a list")
    assert local_hub.counts() == before


def test_two_attributes_with_one_uuid(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    ev = copy.deepcopy(EVENT)
    ev["Attribute"][1]["uuid"] = ev["Attribute"][0]["uuid"]
    r = _misp(tmp_path, local_hub, capsys, {"Event": ev})
    _refused(r, 3, "/Event/Attribute/1/uuid: two records with uuid", "(the first is /Event/Attribute/0)")
    assert local_hub.counts() == before


def test_a_value_invalid_for_its_type_refuses_the_event_or_only_itself(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    ev = copy.deepcopy(EVENT)
    ev["Attribute"][1]["value"] = "198.51.100.300"
    r = _misp(tmp_path, local_hub, capsys, {"Event": ev})
    _refused(r, 3, "/Event/Attribute/1/value: ip-dst value: '198.51.100.300' is not an IPv4 or IPv6 address")
    assert local_hub.counts() == before
    # --skip-invalid: the rest is stored; the sighting of the refused attribute and the reference to it are
    # refused with it, each listed
    report = tmp_path / "report.json"
    r = _misp(tmp_path, local_hub, capsys, {"Event": ev}, "--skip-invalid", "--report", str(report))
    assert r.rc == 3
    problems = {p["locator"]: p["reason"] for p in orjson.loads(report.read_bytes())["problems"]}
    assert problems["/Event/Attribute/1/value"].startswith("ip-dst value:")
    assert problems["/Event/Attribute/1/Sighting/0"] == "depends on refused /Event/Attribute/1/value"
    assert problems["/Event/Object/0/ObjectReference/0"] == "depends on refused /Event/Attribute/1/value"
    assert r.err.strip().endswith("rejected 3")
    after = local_hub.counts()
    assert after["objects"] > before["objects"] and after["ingest_units"] == 1


def test_an_object_reference_to_an_unknown_uuid(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    ev = copy.deepcopy(EVENT)
    ev["Object"][0]["ObjectReference"][0]["referenced_uuid"] = "00000000-0000-4000-8000-000000000000"
    r = _misp(tmp_path, local_hub, capsys, {"Event": ev})
    _refused(r, 3, "/Event/Object/0/ObjectReference/0/referenced_uuid: object reference to unknown uuid")
    assert local_hub.counts() == before


MAPPING = '[fields]\nvalue = "indicator"\ntype = { constant = "ipv4-addr" }\ndescription = "note"\n'


def _csv(
    tmp_path: Path, hub: LocalHub, capsys: pytest.CaptureFixture[str], content: bytes, mapping: str = MAPPING
) -> Any:
    path = _write(tmp_path, "iocs.csv", content)
    m = _write(tmp_path, "mapping.toml", mapping)
    return kizuna(
        capsys, "ingest", "csv", path, "--mapping", m, "--db", hub.db, "--collection", "shared", "--org", "uk"
    )


def test_a_csv_in_the_wrong_encoding(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    content = "indicator,note\n198.51.100.1,ok\n198.51.100.2,caf\u00e9\n".encode("cp1252")
    _refused(_csv(tmp_path, local_hub, capsys, content), 2, "iocs.csv:3: not utf-8: byte 0xe9")
    assert local_hub.counts() == before


def test_a_csv_row_with_the_wrong_number_of_fields(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    content = b"indicator,note\n198.51.100.1,ok\n198.51.100.2,too,many\n"
    _refused(_csv(tmp_path, local_hub, capsys, content), 3, "iocs.csv:3: 3 fields where the header has 2")
    assert local_hub.counts() == before


def test_a_csv_value_invalid_for_its_type(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    content = b"indicator,note\n198.51.100.1,ok\nnot-an-ip,bad\n"
    _refused(_csv(tmp_path, local_hub, capsys, content), 3, "iocs.csv:3: column 'indicator': 'not-an-ip'")
    assert local_hub.counts() == before


def test_a_mapping_naming_a_missing_column(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    mapping = MAPPING.replace('"note"', '"comment"')
    r = _csv(tmp_path, local_hub, capsys, b"indicator,note\n198.51.100.1,ok\n", mapping)
    _refused(
        r,
        2,
        "iocs.csv:1: the mapping names column(s) 'comment' that the file lacks (columns: indicator, note)",
    )
    assert local_hub.counts() == before


def _bundle20(pattern: str) -> dict[str, Any]:
    return {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "spec_version": "2.0",
        "objects": [
            {
                "type": "indicator",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2016-04-06T20:03:48.000Z",
                "modified": "2016-04-06T20:03:48.000Z",
                "labels": ["malicious-activity"],
                "pattern": pattern,
                "valid_from": "2016-01-01T00:00:00Z",
            }
        ],
    }


def test_a_stix20_indicator_with_an_invalid_pattern(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    path = _write(tmp_path, "b.json", orjson.dumps(_bundle20("[file:hashes.MD5 = 'd41d8cd9' AND]")))
    r = kizuna(capsys, "ingest", "stix", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    _refused(r, 3, "/objects/0: indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f: pattern does not parse")
    assert local_hub.counts() == before


def test_a_bundle_mixing_20_and_21(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    before = local_hub.counts()
    bundle = _bundle20("[ipv4-addr:value = '198.51.100.1']")
    del bundle["spec_version"]
    bundle["objects"].append(
        {
            "type": "identity",
            "spec_version": "2.1",
            "id": "identity--311b2d2d-f010-4473-83ec-1edf84858f4c",
            "created": "2016-04-06T20:03:48.000Z",
            "modified": "2016-04-06T20:03:48.000Z",
            "name": "x",
        }
    )
    path = _write(tmp_path, "b.json", orjson.dumps(bundle))
    r = kizuna(capsys, "ingest", "stix", path, "--db", local_hub.db, "--collection", "shared", "--org", "uk")
    _refused(r, 2, "the bundle mixes STIX 2.0 and 2.1 objects")
    assert local_hub.counts() == before


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
_KEYS = [
    "uuid",
    "info",
    "date",
    "timestamp",
    "distribution",
    "Tag",
    "Attribute",
    "Object",
    "Galaxy",
    "Orgc",
    "EventReport",
    "ShadowAttribute",
    "published",
    "publish_timestamp",
]
_ATTR_KEYS = [
    "uuid",
    "type",
    "value",
    "to_ids",
    "Tag",
    "Sighting",
    "Galaxy",
    "first_seen",
    "deleted",
    "ObjectReference",
    "Attribute",
    "name",
    "object_relation",
    "distribution",
    "timestamp",
]


@st.composite
def _events(draw: st.DrawFn) -> dict[str, Any]:
    ev: dict[str, Any] = {k: draw(_JSON) for k in draw(st.lists(st.sampled_from(_KEYS), unique=True))}
    ev.setdefault("uuid", EVENT["uuid"])
    ev.setdefault("info", "fuzz")
    for key in ("Attribute", "Object"):
        if draw(st.booleans()):
            ev[key] = [
                {k: draw(_JSON) for k in draw(st.lists(st.sampled_from(_ATTR_KEYS), unique=True))}
                for _ in range(draw(st.integers(0, 3)))
            ]
    return ev


@settings(max_examples=150, deadline=None)
@given(_events())
def test_any_event_converts_or_is_refused_with_reasons_never_an_exception(ev: dict[str, Any]) -> None:
    from kizuna.hub import intake
    from kizuna.ingest.misp import Options, convert_event

    unit = convert_event(ev, "/Event", "fuzz.json", Options())
    assert unit.refusal is not None or unit.records
    for i, r in enumerate(unit.records):
        intake.check(i, r.obj)  # validation answers (valid or a reason); it never raises
