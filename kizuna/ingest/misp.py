"""MISP core format (draft-dulaunoy-misp-core-format-17) to STIX 2.1, one event at a time.

:func:`events_in` finds the events of a parsed file (``{"Event": ...}``, a bare event, a list of either, or
the ``{"response": [...]}`` wrapping of MISP's downloads); :func:`convert_event` turns one event into a
:class:`~kizuna.ingest.units.Unit` following :mod:`kizuna.ingest.mapping`. Nothing MISP holds is lost:
what STIX has no property for goes into the kizuna MISP extension (:data:`MISP_EXTENSION_ID`), a type the
table does not map is kept whole as a ``kizuna-misp-attribute``, and every tag is kept verbatim.

Ids: a MISP uuid maps to exactly one primary STIX object (``type--uuid``); objects derived from it (the SCOs
of an observed-data, a relationship, a sighting without its own uuid) get UUIDv5 ids in kizuna's namespace
from the uuid and their role. A uuid that is not a UUID gets a derived one, the original kept.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from kizuna import __version__
from kizuna.errors import InputError
from kizuna.ingest import mapping
from kizuna.ingest.mapping import ATTRIBUTES, DISTRIBUTION, GALAXIES, derived_uuid
from kizuna.ingest.patterns import comparison_pattern
from kizuna.ingest.units import Record, Unit
from kizuna.stix._checks import is_uuid
from kizuna.stix.extensions import (
    MISP_ATTRIBUTE_TYPE,
    MISP_EXTENSION_ID,
    MISP_OBJECT_TYPE,
    kizuna_identity,
    misp_extension_definition,
)
from kizuna.stix.ids import format_timestamp
from kizuna.stix.markings import TLP, TLP2_IDS

CONVERTER = f"kizuna {__version__}"
_EVENT_KEYS = frozenset(
    {"info", "uuid", "Attribute", "Object", "Tag", "Orgc", "date", "threat_level_id", "analysis", "Galaxy"}
)
_IDENTITY_TIME = "2026-01-01T00:00:00.000Z"  # an organisation's identity has one version
_RELATIONSHIP_TYPE = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True, slots=True)
class Options:
    """What conversion needs to know of the collection it writes to."""

    shared_collection: bool = True  # organisations other than the ingesting one may read it
    accept_distribution: bool = False  # store "your organisation only" / sharing-group events anyway
    default_tlp: TLP | None = None  # --default-tlp: marks what has no TLP of its own
    collection_default: TLP = TLP.AMBER  # what the hub gives unmarked objects there
    attack: Mapping[str, str] = field(default_factory=dict)  # ATT&CK technique id -> id in the hub


def events_in(doc: object, source: str) -> list[tuple[str, object]]:
    """(JSON pointer, event) for each event of a parsed MISP file; InputError when it is not MISP."""
    if isinstance(doc, dict):
        if "Event" in doc:
            return [("/Event", doc["Event"])]
        if "response" in doc:
            items = doc["response"]
            if not isinstance(items, list):
                raise InputError("'response' is not a list of events", path=source)
            return [_wrapped(item, f"/response/{i}") for i, item in enumerate(items)]
        if doc.get("type") == "bundle" or "objects" in doc:
            raise InputError("this is STIX, not MISP (use 'kizuna ingest stix')", path=source)
        if _EVENT_KEYS & doc.keys():
            return [("", doc)]
        raise InputError(
            "not a MISP event: no 'Event', 'response' or event properties (info, uuid, Attribute...)",
            path=source,
        )
    if isinstance(doc, list):
        return [_wrapped(item, f"/{i}") for i, item in enumerate(doc)]
    raise InputError("not a MISP event: the JSON is neither an object nor a list", path=source)


def _wrapped(item: object, pointer: str) -> tuple[str, object]:
    if isinstance(item, dict) and "Event" in item:
        return f"{pointer}/Event", item["Event"]
    return pointer, item


def _s(value: object) -> str:
    return "" if value is None else str(value)


def _epoch(value: object) -> str | None:
    """A MISP epoch-seconds timestamp as a STIX timestamp; None when absent or zero."""
    return _epoch_text(_s(value))


@lru_cache(maxsize=4096)
def _epoch_text(text: str) -> str | None:
    if not text.isdigit() or int(text) == 0:
        return None
    return format_timestamp(datetime.fromtimestamp(int(text), UTC))


def _seen(value: object) -> str | None:
    """A MISP first_seen/last_seen (ISO 8601) as a STIX timestamp; ValueError when unreadable."""
    if value in (None, ""):
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_timestamp(moment)


def _tags(node: Mapping[str, Any]) -> list[str]:
    tags = node.get("Tag") or []
    out: list[str] = []
    for t in tags if isinstance(tags, list) else []:
        name = t.get("name") if isinstance(t, dict) else t
        if isinstance(name, str) and name:
            out.append(name)
    return out


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_NOT_A_LIST = "{key!r} must be a list"


def _list(node: Mapping[str, Any], key: str) -> list[Any] | None:
    """``node[key]`` as a list: [] when absent or empty, None when it is something else (a problem)."""
    value = node.get(key)
    if isinstance(value, list):
        return value
    return [] if not value else None


def _clean(ext: dict[str, Any]) -> dict[str, Any]:
    """``ext`` without its None, "" and [] values (False, 0 and {} are kept). A true value, the common
    case, is kept after one truth test (no JSON value that is true equals None, "" or [])."""
    return {k: v for k, v in ext.items() if v or not (v is None or v == "" or v == [])}


class _Event:
    """The conversion of one event (state shared by its attributes, objects and galaxies)."""

    def __init__(self, event: Mapping[str, Any], base: str, unit: Unit, opts: Options) -> None:
        self.ev = event
        self.base = base
        self.unit = unit
        self.opts = opts
        self.uuid = ""
        self.ids: dict[str, str] = {}  # MISP uuid (lower case) -> STIX id of the record holding it
        self.owner: dict[str, str] = {}  # MISP uuid -> locator of its record (for "depends on")
        self.refs: list[str] = []  # what the report refers to
        self.created = ""
        self.modified = ""
        self.created_by: str | None = None
        self.marking: TLP | None = None  # the event's own TLP (tags)
        self.dist_tlp: TLP | None = None
        self.clusters: dict[str, str] = {}  # cluster key -> STIX id (one object per cluster per event)
        self.event_level_galaxy: list[str] = []
        self.event_marks: list[str] = []
        self.by_id: dict[str, Record] = {}

    def items(self, node: Mapping[str, Any], key: str, loc: str, record_id: str = "") -> list[Any]:
        """The list ``node[key]``; a problem (the unit is refused) when it is there and not a list."""
        value = _list(node, key)
        if value is None:
            self.unit.problem(f"{loc}/{key}", record_id, _NOT_A_LIST.format(key=key))
            return []
        return value

    # -- ids --------------------------------------------------------------------------------------------
    def uid(self, raw: object, locator: str) -> tuple[str, str | None]:
        """(uuid to use, the original when it was not a UUID)."""
        text = _s(raw).strip().lower()
        if is_uuid(text):
            return text, None
        if not text:
            return derived_uuid(self.uuid, "no-uuid", locator), None
        self.unit.warn(locator + "/uuid", _s(raw), f"uuid {_s(raw)!r} is not a UUID; kizuna derived one")
        return derived_uuid(self.uuid, "misp-uuid", _s(raw)), _s(raw)

    # -- markings ---------------------------------------------------------------------------------------
    def own_tlp(self, tags: Sequence[str], locator: str, record_id: str) -> TLP | None:
        if not tags:
            return None
        levels = [lvl for t in tags if (lvl := mapping.tlp_tag_level(t)) is not None]
        for t in tags:
            if mapping.looks_like_tlp(t):
                self.unit.warn(
                    locator, record_id, f"tag {t!r} looks like TLP but is no TLP level: kept as a label"
                )
        if len(set(levels)) > 1:
            self.unit.warn(
                locator,
                record_id,
                f"several TLP tags ({', '.join(str(x) for x in levels)}): the most restrictive wins",
            )
        return max(levels) if levels else None

    def markings(self, tag_tlp: TLP | None, dist: object) -> list[str]:
        """The TLP marking refs of a record: its TLP (own tags, else its parent's) read together with its
        distribution; the more restrictive reading wins; nothing when neither says anything (the hub then
        applies the collection default, recorded as hub metadata)."""
        reading = self.dist_tlp
        entry = DISTRIBUTION.get(_s(dist))
        if entry is not None and entry[1] is not None:
            reading = entry[1] if reading is None else max(reading, entry[1])
        level = tag_tlp
        if level is None:
            if reading is not None:
                floor = self.opts.default_tlp or self.opts.collection_default
                level = max(reading, floor)
                if level == floor and self.opts.default_tlp is None:
                    level = None  # the collection default says as much
            else:
                level = self.opts.default_tlp
        elif reading is not None:
            level = max(level, reading)
        return [] if level is None else [TLP2_IDS[level]]

    # -- common properties ------------------------------------------------------------------------------
    def stamp(self, *candidates: object) -> str:
        for c in candidates:
            t = _epoch(c)
            if t is not None:
                return t
        return self.modified

    def common(
        self, stix_type: str, oid: str, modified: str, marks: list[str], labels: list[str]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": oid,
            "created": min(self.created, modified),
            "modified": modified,
        }
        if self.created_by:
            obj["created_by_ref"] = self.created_by
        if labels:
            obj["labels"] = labels
        if marks:
            obj["object_marking_refs"] = marks
        return obj

    def add(self, obj: dict[str, Any], locator: str, record_id: str, depends: Sequence[str] = ()) -> None:
        record = Record(obj, locator, record_id, tuple(depends))
        self.by_id[obj["id"]] = record
        self.unit.records.append(record)

    # -- the event --------------------------------------------------------------------------------------
    def convert(self) -> None:
        ev, base, unit = self.ev, self.base, self.unit
        raw_uuid = ev.get("uuid")
        if not _s(raw_uuid).strip():
            unit.refusal = "the event has no uuid (kizuna needs the producer's uuid to recognise it again)"
            unit.problem(base + "/uuid", "", unit.refusal)
            return
        text = _s(raw_uuid).strip().lower()
        self.uuid = text if is_uuid(text) else derived_uuid("misp-event", _s(raw_uuid))
        if self.uuid != text:
            unit.warn(base + "/uuid", _s(raw_uuid), "the event uuid is not a UUID; kizuna derived one")
        unit.event_uuid = _s(raw_uuid)
        unit.key = _s(raw_uuid)
        if not _s(ev.get("info")).strip():
            unit.refusal = "the event has no 'info' (its title)"
            unit.problem(base + "/info", _s(raw_uuid), unit.refusal)
            return
        date = _s(ev.get("date"))
        try:
            day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=UTC) if date else None
        except ValueError:
            unit.refusal = f"the event date {date!r} is not YYYY-MM-DD"
            unit.problem(base + "/date", _s(raw_uuid), unit.refusal)
            return
        self.modified = _epoch(ev.get("timestamp")) or (format_timestamp(day) if day else "")
        if not self.modified:
            unit.refusal = (
                "the event has neither 'timestamp' nor 'date' (kizuna needs one as the STIX version)"
            )
            unit.problem(base + "/timestamp", _s(raw_uuid), unit.refusal)
            return
        self.created = min(format_timestamp(day), self.modified) if day else self.modified
        dist = _s(ev.get("distribution"))
        entry = DISTRIBUTION.get(dist)
        if (
            entry is not None
            and not entry[2]
            and self.opts.shared_collection
            and not self.opts.accept_distribution
        ):
            unit.refusal = (
                f"the event's distribution is '{entry[0]}': its producer did not share it with a community,"
                " and other organisations can read this collection (--accept-distribution stores it anyway)"
            )
            unit.problem(base + "/distribution", _s(raw_uuid), unit.refusal)
            return
        self.dist_tlp = entry[1] if entry is not None else None
        tags = _tags(ev)
        self.marking = self.own_tlp(tags, base + "/Tag", _s(raw_uuid))
        event_marks = self.event_marks = self.markings(self.marking, None)
        for record in (kizuna_identity(), misp_extension_definition()):
            self.add(record, "", "kizuna")
        orgc = ev.get("Orgc")
        if isinstance(orgc, dict) and orgc.get("name"):
            self.created_by = self.identity(orgc, base + "/Orgc", event_marks)
        # attributes, objects, then what refers to them
        for i, attr in enumerate(self.items(ev, "Attribute", base)):
            self.attribute(attr, f"{base}/Attribute/{i}")
        objects = self.items(ev, "Object", base)
        for i, obj in enumerate(objects):
            self.misp_object(obj, f"{base}/Object/{i}")
        for i, obj in enumerate(objects):
            refs = self.items(obj, "ObjectReference", f"{base}/Object/{i}") if isinstance(obj, dict) else []
            for k, ref in enumerate(refs):
                self.reference(obj, ref, f"{base}/Object/{i}/ObjectReference/{k}")
        self.galaxies(ev, base, None, None, event_marks, tags)
        self.uses()
        for i, rep in enumerate(self.items(ev, "EventReport", base)):
            self.event_report(rep, f"{base}/EventReport/{i}", event_marks)
        for i, prop in enumerate(self.items(ev, "ShadowAttribute", base)):
            self.proposal(prop, f"{base}/ShadowAttribute/{i}")
        self.report(tags, event_marks)

    def identity(self, org: Mapping[str, Any], locator: str, marks: list[str]) -> str:
        """The identity of a MISP organisation: its id derived from the organisation's uuid (and name, so a
        renamed organisation is a new identity, never a conflicting version), one version, unmarked (the
        collection's default applies), so every event of that organisation refers to the same object."""
        key = (_s(org.get("uuid")) or _s(org.get("name"))).lower()
        name = _s(org.get("name")) or key
        oid = f"identity--{derived_uuid('misp-org', key, name)}"
        if oid not in self.by_id:
            obj: dict[str, Any] = {
                "type": "identity",
                "spec_version": "2.1",
                "id": oid,
                "created": _IDENTITY_TIME,
                "modified": _IDENTITY_TIME,
                "name": name,
                "identity_class": "organization",
            }
            if org.get("uuid"):
                obj["extensions"] = {
                    MISP_EXTENSION_ID: {
                        "extension_type": "property-extension",
                        "misp_uuid": _s(org.get("uuid")),
                    }
                }
            self.add(obj, locator, key)
        return oid

    # -- attributes -------------------------------------------------------------------------------------
    def attribute(self, attr: object, loc: str) -> None:
        unit = self.unit
        if not isinstance(attr, dict):
            unit.problem(loc, "", "an attribute must be a JSON object")
            return
        get = attr.get
        raw_uuid = _s(get("uuid"))
        uid, original = self.uid(raw_uuid, loc)
        raw_id = raw_uuid or uid
        key = raw_uuid.strip().lower() or uid
        misp_type = _s(get("type"))
        tm = ATTRIBUTES.get(misp_type)
        to_ids = bool(get("to_ids"))
        stix_type = self._primary_type(tm, to_ids)
        oid = f"{stix_type}--{uid}"
        if key in self.ids:
            unit.problem(
                loc + "/uuid", raw_id, f"two records with uuid {raw_id} (the first is {self.owner[key]})", oid
            )
            return
        self.ids[key] = oid
        self.owner[key] = loc
        if "ShadowAttribute" in attr:
            for i, prop in enumerate(self.items(attr, "ShadowAttribute", loc, raw_id)):
                self.proposal(prop, f"{loc}/ShadowAttribute/{i}")
        distribution = _s(get("distribution"))
        entry = DISTRIBUTION.get(distribution)
        if (
            entry is not None
            and not entry[2]
            and self.opts.shared_collection
            and not self.opts.accept_distribution
        ):
            unit.problem(
                loc + "/distribution",
                raw_id,
                f"distribution '{entry[0]}': not shared with a community (give --accept-distribution)",
                oid,
            )
            return
        tags = _tags(attr) if "Tag" in attr else []
        if tags:
            tag_tlp = self.own_tlp(tags, loc + "/Tag", raw_id)
            labels = [t for t in tags if mapping.tlp_tag_level(t) is None]
        else:
            tag_tlp, labels = None, []
        marks = self.markings(tag_tlp if tag_tlp is not None else self.marking, distribution)
        modified = self.stamp(get("timestamp"))
        value = _s(get("value"))
        sharing_group = _s(get("sharing_group_id"))
        ext = _clean(
            {
                "extension_type": "property-extension",
                "misp_type": misp_type,
                "category": _s(get("category")),
                "comment": _s(get("comment")),
                "to_ids": to_ids,
                "disable_correlation": True if get("disable_correlation") else None,
                "object_relation": _s(get("object_relation")),
                "distribution": distribution,
                "sharing_group": sharing_group if sharing_group not in ("", "0") else None,
                "misp_uuid": original,
                "data": _s(get("data")),  # a malware-sample or attachment's content (base64)
                "tags": tags,
            }
        )
        try:
            first_seen = _seen(attr.get("first_seen"))
            last_seen = _seen(attr.get("last_seen"))
        except ValueError as exc:
            unit.problem(loc + "/first_seen", raw_id, f"first_seen/last_seen: {exc}", oid)
            return
        if attr.get("first_seen"):
            ext["first_seen"] = _s(attr.get("first_seen"))
        if attr.get("last_seen"):
            ext["last_seen"] = _s(attr.get("last_seen"))
        obj = self.common(stix_type, oid, modified, marks, labels)
        if attr.get("deleted") is True:
            obj["revoked"] = True
        if tm is None:
            unit.warn(
                loc + "/type", raw_id, f"type {misp_type!r} is not mapped: kept whole ({MISP_ATTRIBUTE_TYPE})"
            )
            self._kept_whole(obj, ext, attr)
            self.refs.append(oid)
            self.add(obj, loc, raw_id)
        else:
            if stix_type == MISP_ATTRIBUTE_TYPE:
                unit.warn(
                    loc + "/type",
                    raw_id,
                    f"type {misp_type!r} without to_ids has no SCO form: kept whole ({MISP_ATTRIBUTE_TYPE})",
                )
            try:
                self._mapped(obj, ext, tm, value, to_ids, first_seen, last_seen, uid)
            except ValueError as exc:
                unit.problem(loc + "/value", raw_id, f"{misp_type} value: {exc}", oid)
            else:
                obj.setdefault("extensions", {})[MISP_EXTENSION_ID] = ext
                self.refs.append(oid)
                self.add(obj, loc, raw_id)
        # what refers to the attribute comes after it (and is refused with it)
        self.galaxies(attr, loc, oid, stix_type, marks, tags)
        self.sightings(attr, loc, oid, marks)

    def _primary_type(self, tm: mapping.TypeMap | None, to_ids: bool) -> str:
        if tm is None:
            return MISP_ATTRIBUTE_TYPE
        if tm.form == "vulnerability":
            return "vulnerability"
        if tm.form == "note":
            return "note"
        if tm.form == "pattern" or to_ids:
            return "indicator"
        return "observed-data" if tm.observable else MISP_ATTRIBUTE_TYPE

    def _kept_whole(self, obj: dict[str, Any], ext: dict[str, Any], attr: Mapping[str, Any]) -> None:
        obj["extensions"] = {MISP_EXTENSION_ID: {"extension_type": "new-sdo"}}
        obj["misp_type"] = _s(attr.get("type")) or "unknown"
        if _s(attr.get("value")):
            obj["value"] = _s(attr.get("value"))
        # the attribute's own properties live on the new SDO; the property extension is not needed twice
        ext.pop("extension_type", None)
        for k, v in ext.items():
            if k != "misp_type":
                obj[f"misp_{k}" if k in ("tags", "distribution") else k] = v
        ext.clear()
        ext["extension_type"] = "new-sdo"

    def _mapped(
        self,
        obj: dict[str, Any],
        ext: dict[str, Any],
        tm: mapping.TypeMap,
        value: str,
        to_ids: bool,
        first_seen: str | None,
        last_seen: str | None,
        uid: str,
    ) -> None:
        if obj["type"] == MISP_ATTRIBUTE_TYPE:  # an observable type that has no SCO form (to_ids false)
            mapping.check_part(tm.kinds[0], value)
            self._kept_whole(obj, ext, {"type": tm.misp_type, "value": value})
            return
        if tm.form == "vulnerability":
            name = str(mapping.check_part("cve", value))
            obj["name"] = name
            obj["external_references"] = [{"source_name": "cve", "external_id": name}]
            return
        if tm.form == "note":
            obj["content"] = mapping.check_part("text", value)
            obj["object_refs"] = [self.primary_id()]
            return
        if tm.form == "pattern":
            obj["pattern"] = mapping.check_part("text", value)
            obj["pattern_type"] = tm.misp_type
            obj["valid_from"] = first_seen or obj["created"]
            obj["indicator_types"] = ["malicious-activity"]
            return
        comparisons = self.comparisons(tm.paths, tm.kinds, tm.parts(value))
        stix_value = "|".join(str(v) for _, v in comparisons)
        if stix_value != value:
            ext["value"] = value
        self._observable(obj, comparisons, to_ids, first_seen, last_seen, uid)

    def comparisons(
        self, paths: Sequence[str], kinds: Sequence[str], parts: Sequence[str]
    ) -> list[tuple[str, str | int]]:
        out: list[tuple[str, str | int]] = []
        for path, kind, part in zip(paths, kinds, parts, strict=True):
            v = mapping.check_part(kind, part)
            out.append((mapping.resolve_path(path, v), v))
        return out

    def _observable(
        self,
        obj: dict[str, Any],
        comparisons: list[tuple[str, str | int]],
        to_ids: bool,
        first_seen: str | None,
        last_seen: str | None,
        uid: str,
    ) -> None:
        start = first_seen or obj["created"]
        if to_ids:
            obj["pattern"] = comparison_pattern(comparisons)
            obj["pattern_type"] = "stix"
            obj["valid_from"] = start
            obj["indicator_types"] = ["malicious-activity"]
            if last_seen and last_seen > start:
                obj["valid_until"] = last_seen
            return
        scos = mapping.build_scos(comparisons, lambda n: derived_uuid(uid, "sco", str(n)))
        obj["first_observed"] = start
        obj["last_observed"] = last_seen if last_seen and last_seen >= start else start
        obj["number_observed"] = 1
        obj["object_refs"] = [s["id"] for s in scos]
        for sco in scos:
            self.add(sco, "", uid)
        # the SCOs come before the observed-data that refers to them; the report lists them too
        self.refs.extend(s["id"] for s in scos)

    # -- MISP objects -----------------------------------------------------------------------------------
    def misp_object(self, mo: object, loc: str) -> None:
        unit = self.unit
        if not isinstance(mo, dict):
            unit.problem(loc, "", "an object must be a JSON object")
            return
        uid, original = self.uid(mo.get("uuid"), loc)
        raw_id = _s(mo.get("uuid")) or uid
        key = _s(mo.get("uuid")).strip().lower() or uid
        name = _s(mo.get("name"))
        attrs = [a for a in self.items(mo, "Attribute", loc, raw_id) if isinstance(a, dict)]
        comparisons: list[tuple[str, str | int]] = []
        to_ids = False
        ext_attrs: list[dict[str, Any]] = []
        inner_tlp: list[TLP] = []
        kept: list[str] = []
        stamps: list[str] = [self.stamp(mo.get("timestamp"))]
        failed: tuple[str, str, str] | None = None  # locator, record id, reason of an invalid value
        for k, a in enumerate(attrs):
            aloc = f"{loc}/Attribute/{k}"
            a_uid, a_orig = self.uid(a.get("uuid"), aloc)
            a_tags = _tags(a)
            level = self.own_tlp(a_tags, aloc + "/Tag", _s(a.get("uuid")) or a_uid)
            if level is not None:
                inner_tlp.append(level)
            a_type = _s(a.get("type"))
            relation = _s(a.get("object_relation"))
            value = _s(a.get("value"))
            tm = ATTRIBUTES.get(a_type)
            path = mapping.OBJECT_RELATIONS.get((name, relation))
            try:
                if path is not None:
                    kind = mapping.RELATION_KINDS.get(relation) or (
                        tm.kinds[0] if tm and len(tm.kinds) == 1 else "text"
                    )
                    comparisons += self.comparisons([path], [kind], [value])
                elif tm is not None and tm.form == "observable":
                    comparisons += self.comparisons(tm.paths, tm.kinds, tm.parts(value))
                else:
                    kept.append(relation or a_type)
            except ValueError as exc:
                failed = failed or (aloc + "/value", _s(a.get("uuid")) or a_uid, f"{a_type} value: {exc}")
            if a.get("to_ids") and (path is not None or (tm is not None and tm.form == "observable")):
                to_ids = True
            stamps.append(self.stamp(a.get("timestamp"), mo.get("timestamp")))
            ext_attrs.append(
                _clean(
                    {
                        "misp_uuid": _s(a.get("uuid")) or None,
                        "misp_type": a_type,
                        "object_relation": relation,
                        "value": value,
                        "category": _s(a.get("category")),
                        "comment": _s(a.get("comment")),
                        "to_ids": bool(a.get("to_ids")),
                        "disable_correlation": True if a.get("disable_correlation") else None,
                        "distribution": _s(a.get("distribution")),
                        "first_seen": _s(a.get("first_seen")),
                        "last_seen": _s(a.get("last_seen")),
                        "timestamp": _s(a.get("timestamp")),
                        "deleted": True if a.get("deleted") else None,
                        "data": _s(a.get("data")),  # a malware-sample or attachment's content (base64)
                        "tags": a_tags,
                    }
                )
            )
            if a_orig is not None:
                ext_attrs[-1]["misp_uuid"] = a_orig
            for i, prop in enumerate(self.items(a, "ShadowAttribute", aloc)):
                self.proposal(prop, f"{aloc}/ShadowAttribute/{i}")
        if kept:
            unit.warn(
                loc, raw_id, f"object {name!r}: {', '.join(kept)} kept in the object's extension, not mapped"
            )
        stix_type = ("indicator" if to_ids else "observed-data") if comparisons else MISP_OBJECT_TYPE
        oid = f"{stix_type}--{uid}"
        if key in self.ids:
            unit.problem(
                loc + "/uuid", raw_id, f"two records with uuid {raw_id} (the first is {self.owner[key]})", oid
            )
            return
        self.ids[key] = oid
        self.owner[key] = loc
        for a in attrs:
            a_key = _s(a.get("uuid")).strip().lower()
            if a_key:
                if a_key in self.ids:
                    unit.problem(
                        loc,
                        raw_id,
                        f"two records with uuid {a.get('uuid')} (the first is {self.owner[a_key]})",
                        oid,
                    )
                    return
                self.ids[a_key] = oid
                self.owner[a_key] = loc
        tags = _tags(mo)
        own = self.own_tlp(tags, loc + "/Tag", raw_id)
        levels = [x for x in (own, *inner_tlp) if x is not None]
        marks = self.markings(max(levels) if levels else self.marking, mo.get("distribution"))
        modified = max(stamps)
        labels = [t for t in tags if mapping.tlp_tag_level(t) is None]
        obj = self.common(stix_type, oid, modified, marks, labels)
        if mo.get("deleted") is True:
            obj["revoked"] = True
        ext = _clean(
            {
                "extension_type": "property-extension",
                "name": name,
                "meta_category": _s(mo.get("meta-category")),
                "template_uuid": _s(mo.get("template_uuid")),
                "template_version": _s(mo.get("template_version")),
                "comment": _s(mo.get("comment")),
                "distribution": _s(mo.get("distribution")),
                "first_seen": _s(mo.get("first_seen")),
                "last_seen": _s(mo.get("last_seen")),
                "misp_uuid": original,
                "tags": tags,
                "attributes": ext_attrs,
            }
        )
        if failed is not None:
            unit.problem(failed[0], failed[1], failed[2], oid)
        elif stix_type == MISP_OBJECT_TYPE:
            unit.warn(
                loc, raw_id, f"object {name!r} has no mapped attribute: kept whole ({MISP_OBJECT_TYPE})"
            )
            obj["extensions"] = {MISP_EXTENSION_ID: {"extension_type": "new-sdo"}}
            ext.pop("extension_type")
            obj.update(
                {("misp_" + k if k in ("name", "tags", "distribution") else k): v for k, v in ext.items()}
            )
        else:
            self._observable(obj, comparisons, to_ids, None, None, uid)
            obj["extensions"] = {MISP_EXTENSION_ID: ext}
        if failed is None:
            self.refs.append(oid)
            self.add(obj, loc, raw_id)
        self.galaxies(mo, loc, oid, stix_type, marks, tags)
        for k, a in enumerate(attrs):
            self.galaxies(a, f"{loc}/Attribute/{k}", oid, stix_type, marks, _tags(a))
            self.sightings(a, f"{loc}/Attribute/{k}", oid, marks)

    def reference(self, mo: Mapping[str, Any], ref: object, loc: str) -> None:
        unit = self.unit
        if not isinstance(ref, dict):
            unit.problem(loc, "", "an object reference must be a JSON object")
            return
        src_key = _s(ref.get("object_uuid") or mo.get("uuid")).strip().lower()
        dst_key = _s(ref.get("referenced_uuid")).strip().lower()
        source = self.ids.get(src_key)
        target = self.ids.get(dst_key)
        rid = _s(ref.get("uuid"))
        rel_uuid = (
            rid.lower()
            if is_uuid(rid.lower())
            else derived_uuid(self.uuid, "reference", src_key, dst_key, _s(ref.get("relationship_type")))
        )
        oid = f"relationship--{rel_uuid}"
        if target is None:
            unit.problem(
                loc + "/referenced_uuid",
                rid or dst_key,
                f"object reference to unknown uuid {ref.get('referenced_uuid')!r}",
                oid,
            )
            return
        if source is None:
            unit.problem(
                loc + "/object_uuid", rid or src_key, f"object reference from unknown uuid {src_key!r}", oid
            )
            return
        rel_type = _s(ref.get("relationship_type")) or "related-to"
        marks = self.record_marks(source)
        obj = self.common(
            "relationship", oid, self.stamp(ref.get("timestamp"), mo.get("timestamp")), marks, []
        )
        obj["relationship_type"] = rel_type if _RELATIONSHIP_TYPE.fullmatch(rel_type) else "related-to"
        obj["source_ref"] = source
        obj["target_ref"] = target
        if _s(ref.get("comment")):
            obj["description"] = _s(ref.get("comment"))
        obj["extensions"] = {
            MISP_EXTENSION_ID: _clean(
                {
                    "extension_type": "property-extension",
                    "misp_uuid": rid if rid and rid.lower() != rel_uuid else None,
                    "relationship_type": rel_type if obj["relationship_type"] != rel_type else None,
                    "referenced_uuid": _s(ref.get("referenced_uuid")),
                }
            )
        }
        self.refs.append(oid)
        self.add(obj, loc, rid or rel_uuid, (source, target))

    def record_marks(self, oid: str) -> list[str]:
        record = self.by_id.get(oid)
        return self.event_marks if record is None else list(record.obj.get("object_marking_refs") or [])

    # -- galaxies ---------------------------------------------------------------------------------------
    def galaxies(
        self,
        node: Mapping[str, Any],
        loc: str,
        on: str | None,
        on_type: str | None,
        marks: list[str],
        tags: Sequence[str],
    ) -> None:
        if not node.get("Galaxy") and not any(t.startswith("misp-galaxy:") for t in tags):
            return
        found: list[
            tuple[str, str, str | None, str, str, str]
        ] = []  # galaxy type, value, uuid, tag, desc, loc
        seen_tags: set[str] = set()
        blocks = [g for g in self.items(node, "Galaxy", loc) if isinstance(g, dict)]
        # old exports give every cluster of a galaxy the galaxy's uuid: such a uuid names no one cluster
        uses = Counter(
            _s(c.get("uuid")) for g in blocks for c in _list(g, "GalaxyCluster") or [] if isinstance(c, dict)
        )
        for g_i, galaxy in enumerate(blocks):
            for c_i, cluster in enumerate(self.items(galaxy, "GalaxyCluster", f"{loc}/Galaxy/{g_i}")):
                if not isinstance(cluster, dict):
                    continue
                cuuid = _s(cluster.get("uuid"))
                if uses[cuuid] > 1 or cuuid == _s(galaxy.get("uuid")):
                    cuuid = ""
                gtype = _s(cluster.get("type") or galaxy.get("type"))
                tag = _s(cluster.get("tag_name")) or f'misp-galaxy:{gtype}="{_s(cluster.get("value"))}"'
                seen_tags.add(tag)
                found.append(
                    (
                        gtype,
                        _s(cluster.get("value")),
                        cuuid or None,
                        tag,
                        _s(cluster.get("description")),
                        f"{loc}/Galaxy/{g_i}/GalaxyCluster/{c_i}",
                    )
                )
        for t_i, tag in enumerate(tags):
            if not tag.startswith("misp-galaxy:") or tag in seen_tags:
                continue
            gtype, _, rest = tag[len("misp-galaxy:") :].partition("=")
            found.append((gtype, rest.strip('"'), None, tag, "", f"{loc}/Tag/{t_i}"))
        for gtype, value, cluster_uuid, tag_name, desc, gloc in found:
            target = self.cluster(gtype, value, cluster_uuid, tag_name, desc, gloc, marks)
            if target is None:
                continue
            if on is None:
                self.event_level_galaxy.append(target)
                continue
            rel_type = "indicates" if on_type == "indicator" else "related-to"
            self.relationship(on, rel_type, target, marks, gloc)

    def cluster(
        self, gtype: str, value: str, cuuid: str | None, tag: str, desc: str, loc: str, marks: list[str]
    ) -> str | None:
        stix_type = GALAXIES.get(gtype)
        if stix_type is None or not value:
            self.unit.warn(loc, tag, f"galaxy {gtype!r} is not mapped: kept as the label {tag!r}")
            return None
        if stix_type == "attack-pattern":
            tid = mapping.technique_id(value) or mapping.technique_id(tag)
            if tid is not None and tid in self.opts.attack:
                return self.opts.attack[tid]
            if cuuid is None:
                self.unit.warn(
                    loc,
                    tag,
                    f"ATT&CK cluster {tag!r} is not in the hub ({tid or 'no technique id'}): kept as a label",
                )
                return None
        key = (cuuid or tag).lower()
        if key in self.clusters:
            return self.clusters[key]
        uid = cuuid.lower() if cuuid and is_uuid(cuuid.lower()) else derived_uuid("misp-galaxy", key)
        oid = f"{stix_type}--{uid}"
        self.clusters[key] = oid
        obj = self.common(stix_type, oid, self.modified, marks, [tag])
        obj["name"] = value
        if desc:
            obj["description"] = desc
        if stix_type == "malware":
            obj["is_family"] = True
        elif stix_type == "identity":
            obj["identity_class"] = "class"
        tid = mapping.technique_id(value) or mapping.technique_id(tag)
        if stix_type == "attack-pattern" and tid:
            obj["external_references"] = [{"source_name": "mitre-attack", "external_id": tid}]
        obj["extensions"] = {
            MISP_EXTENSION_ID: _clean(
                {
                    "extension_type": "property-extension",
                    "galaxy_type": gtype,
                    "tag_name": tag,
                    "misp_uuid": cuuid,
                }
            )
        }
        self.refs.append(oid)
        self.add(obj, loc, cuuid or tag)
        return oid

    def relationship(self, source: str, rel_type: str, target: str, marks: list[str], loc: str) -> None:
        oid = f"relationship--{derived_uuid(source, rel_type, target)}"
        if oid in self.by_id:
            return
        obj = self.common("relationship", oid, self.modified, marks, [])
        obj["relationship_type"] = rel_type
        obj["source_ref"] = source
        obj["target_ref"] = target
        self.refs.append(oid)
        self.add(obj, loc, oid, [source, target])

    def uses(self) -> None:
        actors = [g for g in self.event_level_galaxy if g.startswith(("threat-actor--", "intrusion-set--"))]
        used = [
            g for g in self.event_level_galaxy if g.startswith(("malware--", "tool--", "attack-pattern--"))
        ]
        for a in actors:
            for u in used:
                self.relationship(a, "uses", u, self.event_marks, self.base + "/Galaxy")
        self.refs.extend(self.event_level_galaxy)

    # -- sightings, reports, proposals ------------------------------------------------------------------
    def sightings(self, attr: Mapping[str, Any], loc: str, of: str, marks: list[str]) -> None:
        for i, s in enumerate(self.items(attr, "Sighting", loc)):
            if not isinstance(s, dict):
                continue
            sloc = f"{loc}/Sighting/{i}"
            raw = _s(s.get("uuid")).lower()
            uid = raw if is_uuid(raw) else derived_uuid(of, "sighting", str(i))
            when = _epoch(s.get("date_sighting")) or self.stamp(s.get("timestamp"))
            oid = f"sighting--{uid}"
            obj = self.common("sighting", oid, when, marks, [])
            obj["created"] = when
            obj["sighting_of_ref"] = of
            obj["first_seen"] = when
            obj["last_seen"] = when
            obj["count"] = 1
            org = s.get("Organisation")
            if isinstance(org, dict) and org.get("name"):
                obj["where_sighted_refs"] = [self.identity(org, sloc + "/Organisation", marks)]
            stype = _s(s.get("type") or "0")
            obj["extensions"] = {
                MISP_EXTENSION_ID: _clean(
                    {
                        "extension_type": "property-extension",
                        "sighting_type": mapping.SIGHTING_TYPES.get(stype, stype),
                        "source": _s(s.get("source")),
                        "misp_uuid": _s(s.get("uuid")) if _s(s.get("uuid")).lower() != uid else None,
                    }
                )
            }
            self.refs.append(oid)
            self.add(obj, sloc, _s(s.get("uuid")) or oid, [of])

    def event_report(self, rep: object, loc: str, marks: list[str]) -> None:
        if not isinstance(rep, dict):
            return
        uid, _ = self.uid(rep.get("uuid"), loc)
        oid = f"note--{uid}"
        obj = self.common("note", oid, self.stamp(rep.get("timestamp")), marks, [])
        if _s(rep.get("name")):
            obj["abstract"] = _s(rep.get("name"))
        obj["content"] = _s(rep.get("content")) or _s(rep.get("name")) or "(empty event report)"
        obj["object_refs"] = [self.primary_id()]
        obj["extensions"] = {
            MISP_EXTENSION_ID: {"extension_type": "property-extension", "misp_type": "event-report"}
        }
        self.refs.append(oid)
        self.add(obj, loc, _s(rep.get("uuid")) or uid)

    def proposal(self, prop: object, loc: str) -> None:
        record = _s(prop.get("uuid")) if isinstance(prop, dict) else ""
        self.unit.skipped += 1
        self.unit.warn(loc, record, "a proposal (ShadowAttribute) is not a fact: skipped")

    def primary_id(self) -> str:
        published = bool(self.ev.get("published"))
        return f"{'report' if published else 'grouping'}--{self.uuid}"

    def report(self, tags: list[str], marks: list[str]) -> None:
        ev = self.ev
        oid = self.primary_id()
        obj = self.common(
            oid.split("--")[0],
            oid,
            self.modified,
            marks,
            [t for t in tags if mapping.tlp_tag_level(t) is None],
        )
        obj["name"] = _s(ev.get("info"))
        if obj["type"] == "report":
            obj["published"] = _epoch(ev.get("publish_timestamp")) or self.modified
            obj["report_types"] = ["threat-report"]
        else:
            obj["context"] = "suspicious-activity"
        refs = list(dict.fromkeys(self.refs))
        if not refs:
            refs = [self.created_by or "identity--0c7b3d2a-5e8f-4a61-b7d4-2f9e6a1c8b35"]
        obj["object_refs"] = refs
        org = _dict(ev.get("Org"))
        orgc = _dict(ev.get("Orgc"))
        sg = _dict(ev.get("SharingGroup"))
        obj["extensions"] = {
            MISP_EXTENSION_ID: _clean(
                {
                    "extension_type": "property-extension",
                    "misp_uuid": _s(ev.get("uuid")) if _s(ev.get("uuid")).lower() != self.uuid else None,
                    "org": _clean({"name": _s(org.get("name")), "uuid": _s(org.get("uuid"))}) or None,
                    "orgc": _clean({"name": _s(orgc.get("name")), "uuid": _s(orgc.get("uuid"))}) or None,
                    "date": _s(ev.get("date")),
                    "threat_level": mapping.THREAT_LEVELS.get(
                        _s(ev.get("threat_level_id")), _s(ev.get("threat_level_id"))
                    ),
                    "analysis": mapping.ANALYSIS.get(_s(ev.get("analysis")), _s(ev.get("analysis"))),
                    "distribution": _s(ev.get("distribution")),
                    "sharing_group": _clean(
                        {"id": _s(ev.get("sharing_group_id")), "name": _s(sg.get("name"))}
                    )
                    if _s(ev.get("sharing_group_id")) not in ("", "0")
                    else None,
                    "published": bool(ev.get("published")),
                    "event_timestamp": _s(ev.get("timestamp")),
                    "publish_timestamp": _s(ev.get("publish_timestamp"))
                    if _s(ev.get("publish_timestamp")) not in ("", "0")
                    else None,
                    "tags": tags,
                }
            )
        }
        self.unit.records.append(Record(obj, self.base, _s(ev.get("uuid")), (), container=True))


def convert_event(event: object, base: str, source: str, opts: Options, fmt: str = "misp") -> Unit:
    """One MISP event as a unit of STIX 2.1 objects (and the problems that refuse some of them)."""
    unit = Unit(fmt, source, base or "/")
    if not isinstance(event, dict):
        unit.refusal = "an event must be a JSON object"
        unit.problem(base or "/", "", unit.refusal)
        return unit
    _Event(event, base, unit, opts).convert()
    return unit


def iter_units(doc: object, source: str, opts: Options, fmt: str = "misp") -> Iterator[Unit]:
    for base, event in events_in(doc, source):
        yield convert_event(event, base, source, opts, fmt)
