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


class Indicator:
    """One indicator to match: ``expr`` is its compiled ``pattern`` (:func:`compile_pattern`), ``raw`` the
    STIX object. Either may be given as ``None`` / JSON bytes and is then made when first read: the
    compiled-indicator cache keeps indicators that way, so a run loads 100,000 of them without building
    expressions nobody reads (a cached matcher has its own)."""

    __slots__ = ("_expr", "_raw", "id", "listed_on", "name", "pattern", "tlp")

    def __init__(
        self,
        id: str,
        name: str,
        pattern: str,
        expr: ObservationExpr | None,
        tlp: TLP | None,
        listed_on: str | None,  # the warning list one of its values is on
        raw: Mapping[str, Any] | bytes,
    ) -> None:
        self.id = id
        self.name = name
        self.pattern = pattern
        self._expr = expr
        self.tlp = tlp
        self.listed_on = listed_on
        self._raw = raw

    @property
    def expr(self) -> ObservationExpr:
        if self._expr is None:
            self._expr = compile_pattern(self.pattern)
        return self._expr

    @property
    def raw(self) -> Mapping[str, Any]:
        raw = self._raw
        if isinstance(raw, bytes):
            raw = self._raw = orjson.loads(raw)
        return raw

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Indicator):
            return NotImplemented
        return (self.id, self.name, self.pattern, self.expr, self.tlp, self.listed_on, self.raw) == (
            other.id, other.name, other.pattern, other.expr, other.tlp, other.listed_on, other.raw,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        return f"Indicator(id={self.id!r}, name={self.name!r}, pattern={self.pattern!r}, tlp={self.tlp!r})"


def compile_pattern(pattern: str) -> ObservationExpr:
    """The expression of a pattern as indicators are matched: parsed, with hexadecimal literals compared
    with ``hashes`` lower-cased. PatternError when it does not compile."""
    expr = parse_pattern(pattern)
    if "hashes" in pattern:  # a path step named hashes is in the text, quoted or not
        expr = lower_hash_literals(expr)
    return expr


@dataclass
class Selection:
    """The indicators to alert on, those flagged by warning lists, and why others were left out."""

    active: list[Indicator] = field(default_factory=list)
    flagged: list[Indicator] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def load_bundle(path: str | Path) -> list[dict[str, Any]]:
    """STIX objects of a bundle file (or a JSON list of objects, or JSON lines of objects)."""
    return bundle_objects(read_bundle(path), str(path))


def read_bundle(path: str | Path) -> bytes:
    """The bytes of a bundle file (InputError when it cannot be read)."""
    p = Path(path)
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise InputError("bundle file not found", path=str(p)) from None
    except OSError as exc:
        raise InputError(f"cannot read bundle: {exc.strerror}", path=str(p)) from None


def bundle_objects(data: bytes, source: str) -> list[dict[str, Any]]:
    """:func:`load_bundle` of bytes already read from ``source``."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return list(_json_lines(data, source))
    if isinstance(doc, dict) and isinstance(doc.get("objects"), list):
        return [o for o in doc["objects"] if isinstance(o, dict)]
    if isinstance(doc, list):
        return [o for o in doc if isinstance(o, dict)]
    if isinstance(doc, dict) and "type" in doc:
        return [doc]
    raise InputError("expected a STIX bundle, a list of objects, or JSON lines", path=source, line=1)


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


@dataclass(slots=True)
class Prepared:
    """What :func:`select_indicators` decides about one indicator without the time: everything but
    whether ``valid_until`` has passed (:func:`prepare_indicators`; :func:`select_prepared` adds the time,
    so a prepared set can be kept and reused at another ``now``)."""

    id: str
    revoked: bool
    until_text: str | None  # valid_until when it is a string
    until: datetime | None  # ... parsed (None when it does not parse)
    indicator: Indicator | None  # to match (or flagged), unless skipped
    skip: str | None = None  # why it is not compiled
    error: str | None = None  # the compile error, reported when the indicator is not otherwise skipped


def prepare_indicators(
    objects: Iterable[Mapping[str, Any]], *, warninglists: WarningLists | None
) -> list[Prepared]:
    """The latest version of each indicator, parsed and checked against the warning lists."""
    out: list[Prepared] = []
    for ind_id, obj in _latest(objects).items():
        revoked = obj.get("revoked") is True
        until_text = obj.get("valid_until")
        until: datetime | None = None
        if isinstance(until_text, str):
            try:
                until = parse_stix_timestamp(until_text)
            except ValueError:
                until = None
        else:
            until_text = None
        entry = Prepared(ind_id, revoked, until_text, until, None)
        out.append(entry)
        if revoked:
            continue
        if obj.get("pattern_type", "stix") != "stix":
            entry.skip = f"pattern_type {obj.get('pattern_type')}"
            continue
        pattern = obj.get("pattern")
        if not isinstance(pattern, str):
            entry.skip = "no pattern"
            continue
        try:
            expr = compile_pattern(pattern)
        except PatternError as exc:
            entry.skip = "pattern does not compile"
            entry.error = f"{ind_id}: pattern does not compile: {exc}"
            continue
        listed = warninglists.hit_pattern(expr) if warninglists is not None else None
        entry.indicator = Indicator(ind_id, str(obj.get("name", "")), pattern, expr, tlp_of(obj), listed, obj)
    return out


def select_prepared(
    prepared: Iterable[Prepared],
    *,
    now: datetime,
    include_listed: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Selection:
    """The selection of :func:`select_indicators` from prepared indicators, at ``now``."""
    sel = Selection()
    warn = on_warning or (lambda _m: None)
    for entry in prepared:
        if entry.revoked:
            sel.skipped["revoked"] += 1
            continue
        if entry.until_text is not None:
            if entry.until is None:
                sel.errors.append(f"{entry.id}: bad valid_until {entry.until_text!r}")
            elif entry.until <= now:
                sel.skipped["expired (valid_until passed)"] += 1
                continue
        if entry.indicator is None:
            assert entry.skip is not None
            sel.skipped[entry.skip] += 1
            if entry.error is not None:
                sel.errors.append(entry.error)
                warn(entry.error)
            continue
        if entry.indicator.listed_on is not None and not include_listed:
            sel.flagged.append(entry.indicator)
        else:
            sel.active.append(entry.indicator)
    return sel


def select_indicators(
    objects: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    warninglists: WarningLists | None,
    include_listed: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Selection:
    """The indicators to match at ``now`` (the rules are in this module's docstring)."""
    prepared = prepare_indicators(objects, warninglists=warninglists)
    return select_prepared(prepared, now=now, include_listed=include_listed, on_warning=on_warning)


def build_matcher(indicators: Iterable[Indicator], **kwargs: Any) -> Matcher:
    matcher = Matcher(**kwargs)
    for ind in indicators:
        matcher.add(ind.id, ind.expr)
    return matcher
