"""Objects as rows of properties: to render one, to diff two versions, and to put reports side by side.

A property path is dotted (``kill_chain_phases[0].phase_name``); a value is shown as JSON text (strings as
they are). Nothing is merged or chosen: a comparison only says which cells differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kizuna.hub.index import ASSESSMENT_TYPE

#: Properties every STIX object has that say nothing about the thing reported (shown apart).
BOOKKEEPING = frozenset(
    {
        "id",
        "type",
        "spec_version",
        "created",
        "modified",
        "object_marking_refs",
        "granular_markings",
        "extensions",
    }
)
#: Properties left out of side-by-side comparisons (who and where is in each column's header).
NOT_COMPARED = BOOKKEEPING | {"created_by_ref", "x_kizuna_recipients", "cdm", "lang"}
#: Rows of one flattened object, at most.
MAX_FIELDS = 400
#: Items of one list shown before "... N more".
MAX_ITEMS = 20
MISSING = "\u2014"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def flatten(obj: Any, prefix: str = "", out: dict[str, str] | None = None) -> dict[str, str]:
    """``{path: text}`` of every leaf (lists of scalars as one row; long lists cut with a count)."""
    out = {} if out is None else out
    if len(out) >= MAX_FIELDS:
        return out
    if isinstance(obj, Mapping):
        for k in obj:
            flatten(obj[k], f"{prefix}.{k}" if prefix else str(k), out)
        return out
    if isinstance(obj, list):
        if all(not isinstance(v, Mapping | list) for v in obj):
            shown = ", ".join(_text(v) for v in obj[:MAX_ITEMS])
            more = f" \u2026 and {len(obj) - MAX_ITEMS} more" if len(obj) > MAX_ITEMS else ""
            out[prefix] = shown + more
            return out
        for i, v in enumerate(obj[:MAX_ITEMS]):
            flatten(v, f"{prefix}[{i}]", out)
        if len(obj) > MAX_ITEMS:
            out[f"{prefix}[\u2026]"] = f"{len(obj) - MAX_ITEMS} more"
        return out
    out[prefix] = _text(obj)
    return out


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    before: str
    after: str
    kind: str  # "added", "removed", "changed", "same"


def field_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Change]:
    """Property by property, from version ``a`` to version ``b``."""
    fa, fb = flatten(a), flatten(b)
    out = []
    for path in list(dict.fromkeys([*fa, *fb])):
        before, after = fa.get(path), fb.get(path)
        if before is None:
            out.append(Change(path, MISSING, after or "", "added"))
        elif after is None:
            out.append(Change(path, before, MISSING, "removed"))
        else:
            out.append(Change(path, before, after, "same" if before == after else "changed"))
    return out


def facts(obj: Mapping[str, Any], key: str) -> dict[str, str]:
    """What a report says about the thing its sameness ``key`` names: its own properties (bookkeeping left
    out), or, for a minerals assessment, the figures of that mineral, stage, country and year."""
    if obj.get("type") == ASSESSMENT_TYPE and key.startswith("minerals:"):
        return flatten(_assessment_section(obj, key))
    return flatten({k: v for k, v in obj.items() if k not in NOT_COMPARED})


def _assessment_section(obj: Mapping[str, Any], key: str) -> Any:
    _, mineral, stage, country, year = (key.split(":") + [""] * 5)[:5]
    doc = obj.get("assessment")
    if not isinstance(doc, Mapping):
        return {}
    for s in doc.get("series") or ():
        if (
            isinstance(s, Mapping)
            and s.get("stage") == stage
            and str(s.get("year")) == year
            and country == "world"
        ):
            return s
    for e in doc.get("exposures") or ():
        if not isinstance(e, Mapping) or e.get("mineral") != mineral or e.get("partner") != country:
            continue
        for s in e.get("stages") or ():
            if isinstance(s, Mapping) and s.get("stage") == stage and str(s.get("year")) == year:
                return s
    return {}


@dataclass(frozen=True, slots=True)
class Line:
    """One property across the reports: a cell each (``MISSING`` where a report does not say), and
    whether they differ."""

    path: str
    cells: tuple[str, ...]
    differs: bool


def side_by_side(columns: Sequence[Mapping[str, str]]) -> list[Line]:
    paths = list(dict.fromkeys(p for c in columns for p in c))
    lines = []
    for p in paths:
        cells = tuple(c.get(p, MISSING) for c in columns)
        lines.append(Line(p, cells, len(set(cells)) > 1))
    lines.sort(key=lambda line: (not line.differs, paths.index(line.path)))
    return lines


def differs(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    return dict(a) != dict(b)
