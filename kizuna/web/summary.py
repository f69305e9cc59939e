"""What the pages show of stored objects: one-line descriptions, TLP labels and per-collection counts.

Everything here reads through :meth:`Store.query` with the viewing organisation, so the sharing policy is
applied in the database query exactly as for the TAXII API; nothing here can see what the org may not read.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import orjson

from kizuna.hub.models import Collection, Org, Query, Row
from kizuna.hub.paging import Cursor
from kizuna.hub.store.protocols import Store
from kizuna.stix.markings import TLP, tlp_of

#: Label of objects that carry no TLP marking (the hub enforces a default for them; see :func:`tlp_label`).
UNMARKED = "unmarked"

#: Order of TLP labels in tables and charts.
TLP_ORDER: tuple[str, ...] = (*(level.label for level in TLP), UNMARKED)

#: Characters of an object's description shown in a table cell.
MAX_DESCRIPTION_CHARS = 160

_SCAN_PAGE = 1000


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


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts of the latest versions ``org`` may read in one collection."""

    total: int
    by_type: dict[str, int]
    by_tlp: dict[str, int]
    truncated: bool  # the scan stopped at its bound; the counts cover the first ``total`` objects only

    def tlp_counts(self) -> list[tuple[str, int]]:
        return [(label, self.by_tlp[label]) for label in TLP_ORDER if self.by_tlp.get(label)]

    def type_counts(self) -> list[tuple[str, int]]:
        return sorted(self.by_type.items(), key=lambda kv: (-kv[1], kv[0]))


def summarise(store: Store, collection: Collection, org: Org, *, max_objects: int) -> Summary:
    """Count by type and TLP the latest version of every object ``org`` may read (at most ``max_objects``)."""
    by_type: Counter[str] = Counter()
    by_tlp: Counter[str] = Counter()
    query = Query(limit=min(_SCAN_PAGE, max_objects))
    seen = 0
    while True:
        page = store.query(collection, org, query)
        rows: list[Row] = page.rows[: max_objects - seen]
        for row in rows:
            by_type[row.type] += 1
            by_tlp[tlp_label(parse_raw(row.raw))] += 1
        seen += len(rows)
        if not page.more or not rows:
            return Summary(seen, dict(by_type), dict(by_tlp), truncated=False)
        if seen >= max_objects:
            return Summary(seen, dict(by_type), dict(by_tlp), truncated=True)
        query = replace(
            query, after=Cursor(rows[-1].date_added_us), limit=min(_SCAN_PAGE, max_objects - seen)
        )
