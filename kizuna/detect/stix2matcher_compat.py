"""kizuna's matcher behind the call signature of ``stix2matcher.matcher.match`` (OASIS stix2-matcher).

This lets the stix2-matcher conformance suite run against kizuna (see ``tests/detect``): it takes the
same inputs - STIX 2.1 bundles holding observed-data and the SCOs they reference, or STIX 2.0
observed-data with embedded ``objects`` - and returns the matching SDOs of the first binding found.
Errors are raised as stix2-matcher's own exception types when that package is installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kizuna.detect.evaluator import MatchError, ObservedData, find_binding
from kizuna.detect.pattern import PatternError, PatternSyntaxError, parse_pattern, parse_stix_timestamp

#: STIX 2.1 object types that are not cyber-observables: never roots of a comparison.
SDO_TYPES_21 = frozenset(
    [
        "attack-pattern",
        "bundle",
        "campaign",
        "course-of-action",
        "extension-definition",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "language-content",
        "location",
        "malware",
        "malware-analysis",
        "marking-definition",
        "note",
        "observed-data",
        "opinion",
        "relationship",
        "report",
        "threat-actor",
        "tool",
        "sighting",
        "vulnerability",
    ]
)


def _merge(into: dict[str, Any], other: Mapping[str, Any]) -> None:
    """Deep merge: dicts merge, lists concatenate, other values are replaced."""
    for key, value in other.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif key in into and isinstance(into[key], list) and isinstance(value, list):
            into[key] = into[key] + value
        else:
            into[key] = value


def _timestamps(sdo: Mapping[str, Any], what: str) -> tuple[Any, Any, int]:
    if not all(k in sdo for k in ("number_observed", "first_observed", "last_observed")):
        raise MatchError(f"{what} must have number_observed, first_observed and last_observed")
    count = sdo["number_observed"]
    if not isinstance(count, int) or count < 1:
        raise MatchError(f"observed-data with invalid number_observed (must be >= 1): {count}")
    try:
        first = parse_stix_timestamp(sdo["first_observed"])
        last = parse_stix_timestamp(sdo["last_observed"])
    except (TypeError, ValueError) as exc:
        raise MatchError(str(exc)) from None
    return first, last, count


def observations_21(bundles: Sequence[Mapping[str, Any]]) -> tuple[list[ObservedData], list[dict[str, Any]]]:
    """STIX 2.1 bundles -> one observation per observed-data (objects = the SCOs it references)."""
    merged: dict[str, Any] = {}
    for bundle in bundles:
        _merge(merged, bundle)
    if "objects" not in merged:
        raise MatchError("a STIX 2.1 bundle must have an 'objects' list")
    scos = {o["id"]: o for o in merged["objects"] if o.get("type") != "observed-data"}
    observations: list[ObservedData] = []
    sdos: list[dict[str, Any]] = []
    for od in merged["objects"]:
        if od.get("type") != "observed-data":
            continue
        if "object_refs" not in od:
            raise MatchError("a STIX 2.1 observed-data object must have 'object_refs'")
        first, last, count = _timestamps(od, "a STIX 2.1 observed-data object")
        members = [od] + [scos[ref] for ref in od["object_refs"] if ref in scos]
        objects = {o["id"]: o for o in members}
        roots = [o for o in objects.values() if o.get("type") not in SDO_TYPES_21]
        observations.append(ObservedData(first, last, count, objects, roots))
        sdos.append({**merged, "objects": members})
    return observations, sdos


def observations_20(sdos: Sequence[Mapping[str, Any]]) -> list[ObservedData]:
    """STIX 2.0 observed-data SDOs with embedded ``objects`` dictionaries."""
    out = []
    for sdo in sdos:
        first, last, count = _timestamps(sdo, "a STIX 2.0 observed-data SDO")
        objects = sdo.get("objects") or {}
        out.append(ObservedData(first, last, count, objects, list(objects.values())))
    return out


def match(
    pattern: str,
    observed_data_sdos: Sequence[Mapping[str, Any]],
    verbose: bool = False,
    stix_version: str = "2.0",
) -> list[Any]:
    """Same contract as ``stix2matcher.matcher.match``: the SDOs of the first binding, [] on no match."""
    del verbose
    try:
        expr = parse_pattern(pattern, stix_version)
        sdos: list[Any]
        if stix_version == "2.1":
            observations, sdos = observations_21(observed_data_sdos)
        else:
            observations, sdos = observations_20(observed_data_sdos), list(observed_data_sdos)
        binding = find_binding(expr, observations)
    except PatternSyntaxError as exc:
        raise _foreign("stix2patterns.exceptions", "ParseException", exc) from exc
    except (PatternError, MatchError) as exc:
        raise _foreign("stix2matcher.matcher", "MatcherException", exc) from exc
    return [] if binding is None else [sdos[i] for i in binding]


def _foreign(module: str, name: str, exc: Exception) -> Exception:
    """The stix2-matcher/stix2-patterns exception type when installed (the conformance suite wants it)."""
    try:
        cls = getattr(__import__(module, fromlist=[name]), name)
    except (ImportError, AttributeError):
        return exc
    return cls(str(exc))  # type: ignore[no-any-return]
