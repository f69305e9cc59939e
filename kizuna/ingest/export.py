"""STIX back to MISP core format (``kizuna export misp``), by the same table as the way in.

Each ``report`` or ``grouping`` becomes a MISP event; the objects it refers to become its attributes,
objects, references, sightings, event reports and tags. What kizuna converted from MISP carries the kizuna
MISP extension and comes back exactly (uuids, types, categories, comments, relations, first/last seen);
other STIX is read through the mapping table's paths: an indicator whose pattern is one observation of
mapped paths, an observed-data whose SCOs are. TLP markings become ``tlp:`` tags (on an attribute only
when it differs from its event's, or when its own MISP tags named one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from kizuna.ingest import mapping
from kizuna.ingest.mapping import ATTRIBUTES
from kizuna.stix.extensions import MISP_ATTRIBUTE_TYPE, MISP_EXTENSION_ID, MISP_OBJECT_TYPE
from kizuna.stix.ids import parse_timestamp, to_us
from kizuna.stix.markings import tlp_of

_COMPARISON = re.compile(r"([a-z0-9-]+:(?:[A-Za-z0-9_\-\[\]*.]|'[^']*')+) = ('(?:[^'\\]|\\.)*'|-?\d+)")
_REV_THREAT = {v: k for k, v in mapping.THREAT_LEVELS.items()}
_REV_ANALYSIS = {v: k for k, v in mapping.ANALYSIS.items()}
_REV_SIGHTING = {v: k for k, v in mapping.SIGHTING_TYPES.items()}


def _epoch(ts: str | None) -> str:
    return str(to_us(parse_timestamp(ts)) // 1_000_000) if ts else "0"


def _ext(obj: Mapping[str, Any]) -> dict[str, Any]:
    ext = (obj.get("extensions") or {}).get(MISP_EXTENSION_ID)
    return dict(ext) if isinstance(ext, dict) else {}


def _uuid(obj: Mapping[str, Any], ext: Mapping[str, Any]) -> str:
    return str(ext.get("misp_uuid") or str(obj["id"]).split("--", 1)[1])


def pattern_comparisons(pattern: str) -> list[tuple[str, str | int]]:
    """(path, value) of a pattern as :func:`kizuna.ingest.patterns.comparison_pattern` writes it."""
    out: list[tuple[str, str | int]] = []
    for path, lit in _COMPARISON.findall(pattern):
        if lit.startswith("'"):
            out.append((path, re.sub(r"\\(.)", r"\1", lit[1:-1])))
        else:
            out.append((path, int(lit)))
    return out


def _tlp_tag(obj: Mapping[str, Any]) -> str | None:
    level = tlp_of(obj)
    return None if level is None else f"tlp:{level.label}"


def _tags(names: Iterable[str]) -> list[dict[str, str]]:
    return [{"name": n} for n in dict.fromkeys(names)]


class _Exporter:
    def __init__(self, container: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> None:
        self.c = container
        self.by_id = by_id
        self.event_tlp = _tlp_tag(container)
        self.attributes: dict[str, dict[str, Any]] = {}  # STIX id -> MISP attribute
        self.objects: dict[str, dict[str, Any]] = {}  # STIX id -> MISP object
        self.skipped = 0

    def value_of(self, obj: Mapping[str, Any], misp_type: str) -> str | None:
        tm = ATTRIBUTES.get(misp_type)
        if tm is None:
            return None
        if tm.form in ("vulnerability",):
            return str(obj.get("name", ""))
        if tm.form == "note":
            return str(obj.get("content", ""))
        if tm.form == "pattern":
            return str(obj.get("pattern", ""))
        if obj.get("type") == "indicator":
            found = dict(pattern_comparisons(str(obj.get("pattern", ""))))
            parts = []
            for p in tm.paths:
                hit = next(
                    (
                        v
                        for k, v in found.items()
                        if k.replace("ipv4-addr", "ip-addr").replace("ipv6-addr", "ip-addr") == p
                    ),
                    None,
                )
                if hit is None:
                    return None
                parts.append(str(hit))
            return "|".join(parts)
        refs = [self.by_id.get(r) for r in obj.get("object_refs") or []]
        scos = [s for s in refs if s is not None]
        sco_by_id = {str(s["id"]): s for s in scos}
        parts = []
        for p in tm.paths:
            root, tokens = mapping.path_tokens(p)
            roots = [
                s
                for s in scos
                if s.get("type") == root or (root == "ip-addr" and str(s.get("type")).startswith("ipv"))
            ]
            got = next((v for s in roots for v in mapping.read_path(s, tokens, sco_by_id)), None)
            if got is None:
                return None
            parts.append(str(got))
        return "|".join(parts)

    def tags_for(self, obj: Mapping[str, Any], own_tags: list[str]) -> list[dict[str, str]]:
        names = [str(x) for x in obj.get("labels") or []]
        level = _tlp_tag(obj)
        had_tlp = any(mapping.tlp_tag_level(t) is not None for t in own_tags)
        if level is not None and (had_tlp or level != self.event_tlp):
            names.insert(0, level)
        return _tags(names)

    def attribute(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        ext = _ext(obj)
        if obj.get("type") == MISP_ATTRIBUTE_TYPE:
            misp_type = str(obj.get("misp_type", ""))
            value = obj.get("value")
            get = obj.get
        else:
            misp_type = str(ext.get("misp_type") or self._guess_type(obj) or "")
            if not misp_type:
                return None
            value = ext.get("value") or self.value_of(obj, misp_type)
            get = ext.get
        if value is None:
            return None
        own = [
            str(t)
            for t in (get("misp_tags") if obj.get("type") == MISP_ATTRIBUTE_TYPE else get("tags")) or []
        ]
        attr: dict[str, Any] = {
            "uuid": _uuid(
                obj, ext if obj.get("type") != MISP_ATTRIBUTE_TYPE else {"misp_uuid": obj.get("misp_uuid")}
            ),
            "type": misp_type,
            "category": get("category") or "Other",
            "value": str(value),
            "to_ids": bool(get("to_ids")) if get("to_ids") is not None else obj.get("type") == "indicator",
            "comment": get("comment") or "",
            "timestamp": _epoch(obj.get("modified")),
            "distribution": get("misp_distribution") or get("distribution") or "5",
            "disable_correlation": bool(get("disable_correlation")),
            "deleted": bool(obj.get("revoked")),
            "Tag": self.tags_for(obj, own),
        }
        for k in ("first_seen", "last_seen"):
            if get(k):
                attr[k] = get(k)
        return attr

    def _guess_type(self, obj: Mapping[str, Any]) -> str | None:
        if obj.get("type") == "indicator" and obj.get("pattern_type") == "stix":
            paths = [p for p, _ in pattern_comparisons(str(obj.get("pattern", "")))]
            return mapping.type_for_sco_path(paths) if paths else None
        return None

    def misp_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        ext = (
            _ext(obj)
            if obj.get("type") != MISP_OBJECT_TYPE
            else {
                k[5:] if k in ("misp_name", "misp_tags", "misp_distribution") else k: v
                for k, v in obj.items()
            }
        )
        attrs = []
        for a in ext.get("attributes") or []:
            ma: dict[str, Any] = {
                "uuid": a.get("misp_uuid") or "",
                "type": a.get("misp_type", ""),
                "object_relation": a.get("object_relation", ""),
                "value": a.get("value", ""),
                "category": a.get("category") or "Other",
                "to_ids": bool(a.get("to_ids")),
                "comment": a.get("comment") or "",
                "disable_correlation": bool(a.get("disable_correlation")),
                "distribution": a.get("distribution") or "5",
                "timestamp": a.get("timestamp") or _epoch(obj.get("modified")),
                "deleted": bool(a.get("deleted")),
                "Tag": _tags(a.get("tags") or []),
            }
            for k in ("first_seen", "last_seen"):
                if a.get(k):
                    ma[k] = a[k]
            attrs.append(ma)
        out: dict[str, Any] = {
            "uuid": _uuid(obj, ext),
            "name": ext.get("name", ""),
            "meta-category": ext.get("meta_category", ""),
            "template_uuid": ext.get("template_uuid", ""),
            "template_version": ext.get("template_version", ""),
            "comment": ext.get("comment", ""),
            "distribution": ext.get("distribution") or "5",
            "timestamp": _epoch(obj.get("modified")),
            "deleted": bool(obj.get("revoked")),
            "Attribute": attrs,
            "ObjectReference": [],
        }
        tags = self.tags_for(obj, [str(t) for t in ext.get("tags") or []])
        if tags:
            out["Tag"] = tags
        return out

    def event(self) -> dict[str, Any]:
        c, by_id = self.c, self.by_id
        ext = _ext(c)
        refs = [by_id[r] for r in c.get("object_refs") or [] if r in by_id]
        reports: list[dict[str, Any]] = []
        sightings: list[Mapping[str, Any]] = []
        relationships: list[Mapping[str, Any]] = []
        galaxies: dict[str, Mapping[str, Any]] = {}
        for obj in refs:
            t = obj.get("type")
            oext = _ext(obj)
            if t == "relationship":
                relationships.append(obj)
            elif t == "sighting":
                sightings.append(obj)
            elif t == "note" and oext.get("misp_type") == "event-report":
                reports.append(
                    {
                        "uuid": _uuid(obj, oext),
                        "name": obj.get("abstract", ""),
                        "content": obj.get("content", ""),
                    }
                )
            elif oext.get("galaxy_type") or t in (
                "attack-pattern",
                "malware",
                "tool",
                "threat-actor",
                "intrusion-set",
            ):
                galaxies[str(obj["id"])] = obj
            elif t == MISP_OBJECT_TYPE or (t in ("indicator", "observed-data") and "attributes" in oext):
                self.objects[str(obj["id"])] = self.misp_object(obj)
            elif t in ("indicator", "observed-data", "vulnerability", "note", MISP_ATTRIBUTE_TYPE):
                a = self.attribute(obj)
                if a is None:
                    self.skipped += 1
                else:
                    self.attributes[str(obj["id"])] = a
        event_tags = [str(x) for x in c.get("labels") or []]
        if self.event_tlp:
            event_tags.insert(0, self.event_tlp)
        for rel in relationships:
            self.relation(rel, galaxies, event_tags)
        for s in sightings:
            self.sighting(s)
        for gid, g in galaxies.items():
            if not any(
                r.get("target_ref") == gid and r.get("source_ref") in (*self.attributes, *self.objects)
                for r in relationships
            ):
                self._galaxy_tag(g, event_tags)
        org = ext.get("orgc") or {}
        creator = by_id.get(str(c.get("created_by_ref")))
        event: dict[str, Any] = {
            "uuid": _uuid(c, ext),
            "info": c.get("name", ""),
            "date": ext.get("date") or str(c.get("created", ""))[:10],
            "timestamp": _epoch(c.get("modified")),
            "published": c.get("type") == "report",
            "publish_timestamp": ext.get("publish_timestamp")
            or (_epoch(c.get("published")) if c.get("published") else "0"),
            "threat_level_id": _REV_THREAT.get(str(ext.get("threat_level")), "4"),
            "analysis": _REV_ANALYSIS.get(str(ext.get("analysis")), "0"),
            "distribution": ext.get("distribution") or "3",
            "Tag": _tags(event_tags),
            "Attribute": list(self.attributes.values()),
            "Object": list(self.objects.values()),
        }
        if org or creator:
            event["Orgc"] = {
                "name": org.get("name") or (creator or {}).get("name", ""),
                "uuid": org.get("uuid", ""),
            }
        if ext.get("org"):
            event["Org"] = ext["org"]
        if reports:
            event["EventReport"] = reports
        return {"Event": event}

    def relation(
        self, rel: Mapping[str, Any], galaxies: Mapping[str, Mapping[str, Any]], event_tags: list[str]
    ) -> None:
        src, dst = str(rel.get("source_ref")), str(rel.get("target_ref"))
        rext = _ext(rel)
        if dst in galaxies and (src in self.attributes or src in self.objects):
            holder = self.attributes.get(src) or self.objects[src]
            names = [t["name"] for t in holder.setdefault("Tag", [])]
            tag = self._galaxy_name(galaxies[dst])
            tid = mapping.technique_id(tag)
            if tag not in names and not (tid and any(tid == mapping.technique_id(n) for n in names)):
                holder["Tag"].append({"name": tag})
            return
        if src in self.objects and "referenced_uuid" in rext:
            self.objects[src]["ObjectReference"].append(
                {
                    "uuid": _uuid(rel, rext),
                    "object_uuid": self.objects[src]["uuid"],
                    "referenced_uuid": rext["referenced_uuid"],
                    "relationship_type": rext.get("relationship_type") or rel.get("relationship_type", ""),
                    "comment": rel.get("description", ""),
                }
            )

    def _galaxy_name(self, g: Mapping[str, Any]) -> str:
        gext = _ext(g)
        if gext.get("tag_name"):
            return str(gext["tag_name"])
        tid = next(
            (
                str(r.get("external_id"))
                for r in g.get("external_references") or []
                if str(r.get("source_name", "")).startswith("mitre")
            ),
            None,
        )
        gtype = "mitre-attack-pattern" if g.get("type") == "attack-pattern" else f"mitre-{g.get('type')}"
        return f'misp-galaxy:{gtype}="{g.get("name", "")}{" - " + tid if tid else ""}"'

    def _galaxy_tag(self, g: Mapping[str, Any], event_tags: list[str]) -> None:
        tag = self._galaxy_name(g)
        tid = mapping.technique_id(tag)
        if tag in event_tags or (tid and any(tid == mapping.technique_id(t) for t in event_tags)):
            return
        event_tags.append(tag)

    def sighting(self, s: Mapping[str, Any]) -> None:
        of = str(s.get("sighting_of_ref"))
        holder = self.attributes.get(of)
        if holder is None and of in self.objects and self.objects[of]["Attribute"]:
            holder = self.objects[of]["Attribute"][0]
        if holder is None:
            return
        ext = _ext(s)
        holder.setdefault("Sighting", []).append(
            {
                "uuid": _uuid(s, ext),
                "type": _REV_SIGHTING.get(str(ext.get("sighting_type")), "0"),
                "date_sighting": _epoch(str(s.get("first_seen") or s.get("created"))),
                "source": ext.get("source", ""),
            }
        )


def export_events(objects: Iterable[Mapping[str, Any]], report_id: str | None = None) -> list[dict[str, Any]]:
    """MISP events (``{"Event": ...}``) for the reports and groupings among ``objects`` (or only
    ``report_id``); the other objects are looked up by id."""
    by_id: dict[str, Mapping[str, Any]] = {}
    for o in objects:
        by_id[str(o.get("id"))] = o
    containers = [
        o
        for o in by_id.values()
        if o.get("type") in ("report", "grouping") and (report_id is None or o.get("id") == report_id)
    ]
    return [_Exporter(c, by_id).event() for c in containers]
