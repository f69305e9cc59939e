"""Peer parity (issue 15, acceptance): for each PyMISP test event, every observable value and indicator
comparison value that misp-stix 2026.10.12 emits in STIX 2.1 is also in kizuna's output; every file
``kizuna export misp`` writes loads with PyMISP's ``MISPEvent`` with the same attribute values. Both peers are
only checked against; no code of theirs is in kizuna."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from misp_stix_converter import MISPtoSTIX21Parser
from pymisp import MISPEvent
from stix2patterns.v21.pattern import Pattern

from kizuna.ingest.export import export_events
from kizuna.ingest.misp import Options, convert_event
from kizuna.stix.extensions import MISP_EXTENSION_ID
from tests.ingest import corpus
from tests.ingest.conftest import MISP_FILES, events_of

_SKIP = {"type", "id", "spec_version", "created", "modified", "object_refs", "defanged", "is_multipart"}
EVENTS = [(name, i) for name in MISP_FILES for i in range(len(events_of(name)))]


def _leaves(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in _SKIP or k.endswith(("_ref", "_refs")):
                continue
            _leaves(v, out)
    elif isinstance(node, list):
        for v in node:
            _leaves(v, out)
    elif isinstance(node, str | int) and not isinstance(node, bool):
        out.add(str(node))


def _pattern_values(pattern: str) -> set[str]:
    out: set[str] = set()
    for items in Pattern(pattern).inspect().comparisons.values():
        for _path, _op, value in items:
            out.add(re.sub(r"\\(.)", r"\1", value[1:-1]) if value.startswith("'") else value)
    return out


def _values(objects: list[dict[str, Any]], *, kizuna: bool) -> set[str]:
    """Observable values (SCO properties) and indicator comparison values of a STIX 2.1 output."""
    out: set[str] = set()
    for o in objects:
        if o["type"] == "indicator" and o.get("pattern_type", "stix") == "stix":
            out |= _pattern_values(o["pattern"])
        elif "created" not in o and o["type"] not in ("marking-definition", "bundle"):  # an SCO
            _leaves(o, out)
        if kizuna:  # what kizuna keeps in its MISP extension or as a kept-whole object
            ext = (o.get("extensions") or {}).get(MISP_EXTENSION_ID, {})
            for a in [*ext.get("attributes", []), *o.get("attributes", [])]:
                out |= {str(a.get("value")), *str(a.get("value")).split("|"), str(a.get("data"))}
            if "value" in o:
                out.add(str(o["value"]))
    return out


def _misp_stix(event: dict[str, Any]) -> list[dict[str, Any]]:
    parser = MISPtoSTIX21Parser()
    try:
        parser.parse_misp_event({"Event": event})
    except Exception as exc:  # e.g. PyMISP's object uuids "a" and "b", which misp-stix cannot convert
        pytest.skip(f"misp-stix cannot convert this event: {str(exc)[:120]}")
    return list(orjson.loads(parser.bundle.serialize())["objects"])


def _from_the_event(values: set[str], event: dict[str, Any]) -> set[str]:
    """The values that come from the event (misp-stix also writes constants of its own, such as the
    'infected' password and 'application/zip' type of a malware sample's artifact)."""
    text = orjson.dumps(event).decode()
    return {v for v in values if orjson.dumps(v).decode()[1:-1] in text}


@pytest.mark.parametrize(("name", "i"), EVENTS)
def test_every_value_misp_stix_emits_is_in_kizunas_output(name: str, i: int) -> None:
    event = events_of(name)[i]
    unit = convert_event(event, "/Event", name, Options(shared_collection=False))
    ours = _values([r.obj for r in unit.records], kizuna=True)
    theirs = _from_the_event(_values(_misp_stix(event), kizuna=False), event)
    assert theirs - ours == set()


@pytest.mark.parametrize("n", range(2))
def test_every_value_misp_stix_emits_for_the_generated_corpus(n: int) -> None:
    event = corpus.event(n)
    unit = convert_event(event, "/Event", "corpus", Options(shared_collection=False))
    ours = _values([r.obj for r in unit.records], kizuna=True)
    theirs = _from_the_event(_values(_misp_stix(event), kizuna=False), event)
    assert theirs - ours == set()


@pytest.mark.parametrize(("name", "i"), EVENTS)
def test_exported_events_load_with_pymisp(name: str, i: int) -> None:
    event = events_of(name)[i]
    unit = convert_event(event, "/Event", name, Options(shared_collection=False))
    [exported] = export_events([r.obj for r in unit.records])
    m = MISPEvent()
    m.load(orjson.loads(orjson.dumps(exported)))
    assert sorted(a.value for a in m.attributes) == sorted(
        str(a["value"]) for a in event.get("Attribute") or []
    )
    ours = sorted(str(a.value) for o in m.objects for a in o.attributes)
    assert ours == sorted(
        str(a["value"]) for o in event.get("Object") or [] for a in o.get("Attribute") or []
    )
