"""Indicators to match: loaded from a bundle file or a hub collection, filtered, compiled.

Rules (:func:`select_indicators`):

* only ``pattern_type`` ``stix`` indicators are compiled (others are counted as skipped);
* of several versions of one indicator id, the latest ``modified`` counts;
* revoked indicators, and indicators whose ``valid_until`` is at or before ``now``, are ignored;
* indicators whose compared values are on a warning list are *flagged*: kept out of alerting unless
  ``include_listed`` (the CLI's ``--no-warninglists``);
* a pattern that does not compile is reported and skipped, never fatal;
* hexadecimal literals compared with ``hashes`` are lower-cased (:func:`lower_hash_literals`), as the
  log readers lower-case the hashes they read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from kizuna.detect.matcher import Matcher
from kizuna.detect.pattern import (
    ObservationExpr,
    PatternError,
    lower_hash_literals,
    parse_pattern,
    parse_stix_timestamp,
)
from kizuna.detect.warninglists import WarningLists
from kizuna.errors import InputError, InvalidObject
from kizuna.stix.markings import TLP, tlp_of
from kizuna.stix.validate import validate_object


@dataclass(slots=True)
class Indicator:
    id: str
    name: str
    pattern: str
    expr: ObservationExpr
    tlp: TLP | None
    listed_on: str | None  # the warning list one of its values is on
    raw: Mapping[str, Any]


@dataclass
class Selection:
    """The indicators to alert on, those flagged by warning lists, and why others were left out."""

    active: list[Indicator] = field(default_factory=list)
    flagged: list[Indicator] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def load_bundle(path: str | Path) -> list[dict[str, Any]]:
    """STIX objects of a bundle file (or a JSON list of objects, or JSON lines of objects)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError("bundle file not found", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read bundle: {exc.strerror}", path=str(p)) from None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return list(_json_lines(data, str(p)))
    if isinstance(doc, dict) and isinstance(doc.get("objects"), list):
        return [o for o in doc["objects"] if isinstance(o, dict)]
    if isinstance(doc, list):
        return [o for o in doc if isinstance(o, dict)]
    if isinstance(doc, dict) and "type" in doc:
        return [doc]
    raise InputError("expected a STIX bundle, a list of objects, or JSON lines", path=str(p), line=1)


def _json_lines(data: bytes, source: str) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc}", path=source, line=number) from None
        if isinstance(obj, dict):
            yield obj


def refused_indicators(objects: Iterable[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """Indicators the hub's validator refuses: (position in ``objects``, "ID: reason") for each.

    Indicators read from a file have not been through a hub's intake, so they are checked as it would
    check them (:func:`kizuna.stix.validate.validate_object`) before they are matched.
    """
    refused = []
    for position, obj in enumerate(objects):
        if obj.get("type") != "indicator":
            continue
        try:
            validate_object(obj)
        except InvalidObject as exc:
            given = obj.get("id")
            ident = given if isinstance(given, str) else repr(given)
            reason = str(exc).removeprefix(f"{ident}: ")
            refused.append((position, f"{ident}: {reason}"))
    return refused


def _latest(objects: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    latest: dict[str, Mapping[str, Any]] = {}
    for obj in objects:
        if obj.get("type") != "indicator" or not isinstance(obj.get("id"), str):
            continue
        prev = latest.get(obj["id"])
        if prev is None or str(obj.get("modified", "")) >= str(prev.get("modified", "")):
            latest[obj["id"]] = obj
    return latest


def select_indicators(
    objects: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    warninglists: WarningLists | None,
    include_listed: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Selection:
    sel = Selection()
    warn = on_warning or (lambda _m: None)
    for ind_id, obj in _latest(objects).items():
        if obj.get("revoked") is True:
            sel.skipped["revoked"] += 1
            continue
        until = obj.get("valid_until")
        if isinstance(until, str):
            try:
                if parse_stix_timestamp(until) <= now:
                    sel.skipped["expired (valid_until passed)"] += 1
                    continue
            except ValueError:
                sel.errors.append(f"{ind_id}: bad valid_until {until!r}")
        if obj.get("pattern_type", "stix") != "stix":
            sel.skipped[f"pattern_type {obj.get('pattern_type')}"] += 1
            continue
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            sel.skipped["no pattern"] += 1
            continue
        try:
            expr = parse_pattern(pattern)
            if "hashes" in pattern:  # a path step named hashes is in the text, quoted or not
                expr = lower_hash_literals(expr)
        except PatternError as exc:
            sel.skipped["pattern does not compile"] += 1
            message = f"{ind_id}: pattern does not compile: {exc}"
            sel.errors.append(message)
            warn(message)
            continue
        listed = warninglists.hit_pattern(expr) if warninglists is not None else None
        ind = Indicator(ind_id, str(obj.get("name", "")), pattern, expr, tlp_of(obj), listed, obj)
        if listed is not None and not include_listed:
            sel.flagged.append(ind)
        else:
            sel.active.append(ind)
    return sel


def build_matcher(indicators: Iterable[Indicator], **kwargs: Any) -> Matcher:
    matcher = Matcher(**kwargs)
    for ind in indicators:
        matcher.add(ind.id, ind.expr)
    return matcher
