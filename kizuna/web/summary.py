"""What the pages show of stored objects: one-line descriptions and TLP labels, and count orders.

The counts themselves come from the store's tallies (:meth:`ReadIndex.tally`), filtered by the sharing policy
in the query and cached per write (:mod:`kizuna.web.cache`), not recounted per request.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from kizuna.stix.markings import TLP, tlp_of

#: Label of objects that carry no TLP marking (the hub enforces a default for them; see :func:`tlp_label`).
UNMARKED = "unmarked"

#: Order of TLP labels in tables and charts.
TLP_ORDER: tuple[str, ...] = (*(level.label for level in TLP), UNMARKED)

#: Characters of an object's description shown in a table cell.
MAX_DESCRIPTION_CHARS = 160


def parse_raw(raw: bytes) -> dict[str, Any]:
    """The stored object (served as received, so always a JSON object; ``{}`` if it somehow is not)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = json.loads(raw)  # integers beyond 64 bits: the standard parser takes them
    return obj if isinstance(obj, dict) else {}


def tlp_label(obj: dict[str, Any]) -> str:
    """``clear`` ... ``red`` from the object's own markings (highest wins); ``unmarked`` when it has none.

    An unmarked object is enforced at its collection's default TLP, or at the agreement's TLP when it came
    from another hub; the hub records which, and the UI shows the object's own marking only.
    """
    level = tlp_of(obj)
    return UNMARKED if level is None else level.label


def describe(obj: dict[str, Any]) -> str:
    """One line that identifies the object to a reader: its name, pattern, value, or what it links."""
    for key in ("name", "pattern", "value", "abstract", "path", "number", "user_id", "key"):
        value = obj.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return _clip(str(value))
    kind = obj.get("type")
    if kind == "opinion" and isinstance(obj.get("opinion"), str):
        explanation = obj.get("explanation")
        return _clip(obj["opinion"] + (f": {explanation}" if isinstance(explanation, str) else ""))
    if kind == "note" and isinstance(obj.get("content"), str):
        return _clip(obj["content"])
    if kind == "relationship":
        rel = obj.get("relationship_type", "related-to")
        return _clip(f"{short_ref(obj.get('source_ref'))} {rel} {short_ref(obj.get('target_ref'))}")
    if kind == "sighting":
        return _clip(f"sighting of {short_ref(obj.get('sighting_of_ref'))} (count {obj.get('count', '?')})")
    if kind == "report" and isinstance(obj.get("object_refs"), list):
        return f"report of {len(obj['object_refs'])} objects"
    hashes = obj.get("hashes")
    if isinstance(hashes, dict) and hashes:
        algo, digest = next(iter(hashes.items()))
        return _clip(f"{algo}: {digest}")
    return ""


def short_ref(ref: object) -> str:
    """``indicator--f8ff7330-189c-...`` -> ``indicator--f8ff7330``: enough to tell objects apart in a line."""
    if not isinstance(ref, str) or "--" not in ref:
        return "?"
    kind, _, uid = ref.partition("--")
    return f"{kind}--{uid[:8]}"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION_CHARS else text[: MAX_DESCRIPTION_CHARS - 1] + "\u2026"


def tlp_counts(by_tlp: dict[str, int]) -> list[tuple[str, int]]:
    """(label, count) in TLP order, zero counts left out."""
    return [(label, by_tlp[label]) for label in TLP_ORDER if by_tlp.get(label)]


def ranked(counts: dict[str, int]) -> list[tuple[str, int]]:
    """(key, count), largest first."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
