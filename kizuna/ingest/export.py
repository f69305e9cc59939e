"""STIX back to MISP core format (``kizuna export misp``), by the same table as the way in.

Each ``report`` or ``grouping`` becomes a MISP event; the objects it refers to become its attributes,
objects, references, sightings, event reports, galaxies and tags. What kizuna converted from MISP carries
the kizuna MISP extension and comes back exactly (uuids, types, categories, comments, relations, first/last
seen, tags as MISP held them); other STIX is read through the mapping table's paths: an indicator whose
pattern is one observation of mapped paths, an observed-data whose SCOs are. TLP markings become ``tlp:``
tags (the marking wins over what the tags said; on an attribute only where it has a TLP of its own or
differs from its event's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
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
_GALAXY_TYPES = ("attack-pattern", "malware", "tool", "threat-actor", "intrusion-set", "course-of-action")


def _epoch(ts: object) -> str:
    return str(to_us(parse_timestamp(str(ts))) // 1_000_000) if ts else "0"


def _ext(obj: Mapping[str, Any]) -> dict[str, Any]:
    ext = (obj.get("extensions") or {}).get(MISP_EXTENSION_ID)
    return dict(ext) if isinstance(ext, dict) else {}


def _uuid(obj: Mapping[str, Any], ext: Mapping[str, Any]) -> str:
    return str(ext.get("misp_uuid") or str(obj["id"]).split("--", 1)[1])


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [])}


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


def _galaxy_blocks(galaxies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """MISP ``Galaxy`` blocks for the galaxy objects that came from MISP clusters with their own uuid."""
    blocks: dict[str, dict[str, Any]] = {}
    for g in galaxies:
        ext = _ext(g)
        if not ext.get("misp_uuid") or not ext.get("galaxy_type"):
            continue
        gtype = str(ext["galaxy_type"])
        block = blocks.setdefault(gtype, {"type": gtype, "GalaxyCluster": []})
        cluster: dict[str, Any] = {"uuid": ext["misp_uuid"], "type": gtype, "value": g.get("name", "")}
        if ext.get("tag_name"):
            cluster["tag_name"] = ext["tag_name"]
        if g.get("description"):
            cluster["description"] = g["description"]
        block["GalaxyCluster"].append(cluster)
    return list(blocks.values())


class _Exporter:
    def __init__(self, container: Mapping[str, Any], by_id: Mapping[str, Mapping[str, Any]]) -> None:
        self.c = container
        self.by_id = by_id
        self.event_tlp = _tlp_tag(container)
        self.attributes: dict[str, dict[str, Any]] = {}  # STIX id -> MISP attribute
        self.objects: dict[str, dict[str, Any]] = {}  # STIX id -> MISP object
        self.skipped = 0

    # -- values -----------------------------------------------------------------------------------------
    def value_of(self, obj: Mapping[str, Any], misp_type: str) -> str | None:
        tm = ATTRIBUTES.get(misp_type)
        if tm is None:
            return None
        if tm.form == "vulnerability":
            return str(obj.get("name", ""))
        if tm.form == "note":
            return str(obj.get("content", ""))
        if tm.form == "pattern":
            return str(obj.get("pattern", ""))
        if obj.get("type") == "indicator":
            found = [
                (p.replace("ipv4-addr:", "ip-addr:").replace("ipv6-addr:", "ip-addr:"), v)
                for p, v in pattern_comparisons(str(obj.get("pattern", "")))
            ]
            parts = []
            for p in tm.paths:
                hit = next((v for k, v in found if k == p), None)
                if hit is None:
                    return None
                parts.append(str(hit))
            return "|".join(parts)
        scos = [s for r in obj.get("object_refs") or [] if (s := self.by_id.get(r)) is not None]
        sco_by_id = {str(s["id"]): s for s in scos}
        parts = []
        for p in tm.paths:
            root, tokens = mapping.path_tokens(p)
            roots = [
                s
                for s in scos
                if s.get("type") == root
                or (root == "ip-addr" and str(s.get("type")) in ("ipv4-addr", "ipv6-addr"))
            ]
            got = next((v for s in roots for v in mapping.read_path(s, tokens, sco_by_id)), None)
            if got is None:
                return None
            parts.append(str(got))
        return "|".join(parts)

    def tags_for(
        self, obj: Mapping[str, Any], own_tags: list[str] | None, event: bool = False
    ) -> list[dict[str, str]]:
        """A record's MISP tags: as MISP held them (``own_tags`` from the extension) or its labels, with the
        TLP of its marking."""
        level = _tlp_tag(obj)
        if own_tags is None:
            own_tags = [str(x) for x in obj.get("labels") or []]
        own_level = max(
            (lvl for t in own_tags if (lvl := mapping.tlp_tag_level(t)) is not None), default=None
        )
        if level is not None and own_level is not None and f"tlp:{own_level.label}" == level:
            return _tags(own_tags)
        names = [t for t in own_tags if mapping.tlp_tag_level(t) is None]
        if level is not None and (event or own_level is not None or level != self.event_tlp):
            names.insert(0, level)
        return _tags(names)

    # -- attributes and objects -------------------------------------------------------------------------
    def attribute(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        ext = _ext(obj)
        kept = obj.get("type") == MISP_ATTRIBUTE_TYPE
        get: Callable[[str], Any]
        if kept:
            misp_type = str(obj.get("misp_type", ""))
            value = obj.get("value")
            get = obj.get
            uuid = str(obj.get("misp_uuid") or str(obj["id"]).split("--", 1)[1])
            own_raw = obj.get("misp_tags")
        else:
            misp_type = str(ext.get("misp_type") or self._guess_type(obj) or "")
            if not misp_type:
                return None
            value = ext.get("value") or self.value_of(obj, misp_type)
            get = ext.get
            uuid = _uuid(obj, ext)
            own_raw = ext.get("tags") if ext else None
        if value is None:
            return None
        attr: dict[str, Any] = {
            "uuid": uuid,
            "type": misp_type,
            "value": str(value),
            "to_ids": bool(get("to_ids")) if get("to_ids") is not None else obj.get("type") == "indicator",
            "timestamp": _epoch(obj.get("modified")),
        }
        for key in ("category", "comment", "first_seen", "last_seen", "object_relation", "data"):
            if get(key):
                attr[key] = get(key)
        dist = get("misp_distribution") if kept else get("distribution")
        if dist:
            attr["distribution"] = dist
        if get("disable_correlation"):
            attr["disable_correlation"] = True
        if obj.get("revoked"):
            attr["deleted"] = True
        tags = self.tags_for(
            obj, [str(t) for t in own_raw] if isinstance(own_raw, list) else ([] if ext or kept else None)
        )
        if tags:
            attr["Tag"] = tags
        return attr

    def _guess_type(self, obj: Mapping[str, Any]) -> str | None:
        if obj.get("type") == "indicator" and obj.get("pattern_type") == "stix":
            paths = [p for p, _ in pattern_comparisons(str(obj.get("pattern", "")))]
            return mapping.type_for_sco_path(paths) if paths else None
        return None

    def misp_object(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if obj.get("type") == MISP_OBJECT_TYPE:
            ext = {
                k[5:] if k in ("misp_name", "misp_tags", "misp_distribution") else k: v
                for k, v in obj.items()
            }
        else:
            ext = _ext(obj)
        attrs = []
        for a in ext.get("attributes") or []:
            ma: dict[str, Any] = {
                "type": a.get("misp_type", ""),
                "value": a.get("value", ""),
                "to_ids": bool(a.get("to_ids")),
            }
            for key, name in (
                ("misp_uuid", "uuid"),
                ("object_relation", "object_relation"),
                ("category", "category"),
                ("comment", "comment"),
                ("distribution", "distribution"),
                ("timestamp", "timestamp"),
                ("first_seen", "first_seen"),
                ("last_seen", "last_seen"),
                ("data", "data"),
            ):
                if a.get(key):
                    ma[name] = a[key]
            if a.get("disable_correlation"):
                ma["disable_correlation"] = True
            if a.get("deleted"):
                ma["deleted"] = True
            if a.get("tags"):
                ma["Tag"] = _tags(a["tags"])
            attrs.append(ma)
        out: dict[str, Any] = {
            "uuid": _uuid(obj, ext),
            "name": ext.get("name", ""),
            "timestamp": _epoch(obj.get("modified")),
            "Attribute": attrs,
            "ObjectReference": [],
        }
        for key, name in (
            ("meta_category", "meta-category"),
            ("template_uuid", "template_uuid"),
            ("template_version", "template_version"),
            ("comment", "comment"),
            ("distribution", "distribution"),
            ("first_seen", "first_seen"),
            ("last_seen", "last_seen"),
        ):
            if ext.get(key):
                out[name] = ext[key]
        if obj.get("revoked"):
            out["deleted"] = True
        # an object's TLP is the most restrictive of its own and its attributes': only its own tags come back
        level = _tlp_tag(obj)
        own = [str(t) for t in ext.get("tags") or []]
        inner = [mapping.tlp_tag_level(t["name"]) for a in attrs for t in a.get("Tag", [])]
        if level is not None and not any(x is not None and f"tlp:{x.label}" == level for x in inner):
            tags = self.tags_for(obj, own)
        else:
            tags = _tags(own)
        if tags:
            out["Tag"] = tags
        return out

    # -- the event --------------------------------------------------------------------------------------
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
                        "timestamp": _epoch(obj.get("modified")),
                    }
                )
            elif oext.get("galaxy_type") or t in _GALAXY_TYPES:
                galaxies[str(obj["id"])] = obj
            elif t == MISP_OBJECT_TYPE or (t in ("indicator", "observed-data") and "attributes" in oext):
                self.objects[str(obj["id"])] = self.misp_object(obj)
            elif t in ("indicator", "observed-data", "vulnerability", "note", MISP_ATTRIBUTE_TYPE):
                a = self.attribute(obj)
                if a is None:
                    self.skipped += 1
                else:
                    self.attributes[str(obj["id"])] = a
        event_tags = [
            t["name"] for t in self.tags_for(c, ext.get("tags") if "tags" in ext else None, event=True)
        ]
        for rel in relationships:
            self.relation(rel, galaxies)
        for s in sightings:
            self.sighting(s)
        holders = (*self.attributes, *self.objects)
        on_records = {str(r.get("target_ref")) for r in relationships if r.get("source_ref") in holders}
        event_galaxies = [g for gid, g in galaxies.items() if gid not in on_records]
        for g in event_galaxies:
            if _galaxy_blocks([g]):
                continue  # comes back as a Galaxy block
            tag = self._galaxy_name(g)
            tid = mapping.technique_id(tag)
            if tag not in event_tags and not (
                tid and any(tid == mapping.technique_id(t) for t in event_tags)
            ):
                event_tags.append(tag)
        event: dict[str, Any] = {
            "uuid": _uuid(c, ext),
            "info": c.get("name", ""),
            "timestamp": _epoch(c.get("modified")),
            "published": c.get("type") == "report",
        }
        if ext.get("date"):
            event["date"] = ext["date"]
        if ext.get("publish_timestamp"):
            event["publish_timestamp"] = ext["publish_timestamp"]
        if ext.get("threat_level"):
            event["threat_level_id"] = _REV_THREAT.get(str(ext["threat_level"]), str(ext["threat_level"]))
        if ext.get("analysis"):
            event["analysis"] = _REV_ANALYSIS.get(str(ext["analysis"]), str(ext["analysis"]))
        if ext.get("distribution"):
            event["distribution"] = ext["distribution"]
        sg = ext.get("sharing_group")
        if isinstance(sg, dict) and sg.get("id"):
            event["sharing_group_id"] = sg["id"]
            if sg.get("name"):
                event["SharingGroup"] = {"name": sg["name"]}
        org = ext.get("orgc") or {}
        creator = by_id.get(str(c.get("created_by_ref")))
        if org or creator:
            event["Orgc"] = _clean(
                {"name": org.get("name") or (creator or {}).get("name", ""), "uuid": org.get("uuid", "")}
            )
        if ext.get("org"):
            event["Org"] = ext["org"]
        if event_tags:
            event["Tag"] = _tags(event_tags)
        event["Attribute"] = list(self.attributes.values())
        event["Object"] = list(self.objects.values())
        blocks = _galaxy_blocks(event_galaxies)
        if blocks:
            event["Galaxy"] = blocks
        if reports:
            event["EventReport"] = reports
        return {"Event": event}

    def relation(self, rel: Mapping[str, Any], galaxies: Mapping[str, Mapping[str, Any]]) -> None:
        src, dst = str(rel.get("source_ref")), str(rel.get("target_ref"))
        rext = _ext(rel)
        if dst in galaxies and src in self.attributes:
            holder = self.attributes[src]
            blocks = _galaxy_blocks([galaxies[dst]])
            if blocks:
                holder.setdefault("Galaxy", []).extend(blocks)
                return
            names = [t["name"] for t in holder.get("Tag", [])]
            tag = self._galaxy_name(galaxies[dst])
            tid = mapping.technique_id(tag)
            if tag not in names and not (tid and any(tid == mapping.technique_id(n) for n in names)):
                holder.setdefault("Tag", []).append({"name": tag})
            return
        if src in self.objects and "referenced_uuid" in rext:
            self.objects[src]["ObjectReference"].append(
                {
                    "uuid": _uuid(rel, rext),
                    "object_uuid": self.objects[src]["uuid"],
                    "referenced_uuid": rext["referenced_uuid"],
                    "relationship_type": rext.get("relationship_type") or rel.get("relationship_type", ""),
                    "comment": rel.get("description", ""),
                    "timestamp": _epoch(rel.get("modified")),
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

    def sighting(self, s: Mapping[str, Any]) -> None:
        of = str(s.get("sighting_of_ref"))
        holder = self.attributes.get(of)
        if holder is None and of in self.objects and self.objects[of]["Attribute"]:
            holder = self.objects[of]["Attribute"][0]
        if holder is None:
            return
        ext = _ext(s)
        sighting: dict[str, Any] = {
            "uuid": _uuid(s, ext),
            "type": _REV_SIGHTING.get(str(ext.get("sighting_type")), "0"),
            "date_sighting": _epoch(s.get("first_seen") or s.get("created")),
        }
        if ext.get("source"):
            sighting["source"] = ext["source"]
        where = [self.by_id.get(str(r)) for r in s.get("where_sighted_refs") or []]
        org = next((w for w in where if w is not None), None)
        if org is not None:
            sighting["Organisation"] = _clean(
                {"name": org.get("name", ""), "uuid": _ext(org).get("misp_uuid", "")}
            )
        holder.setdefault("Sighting", []).append(sighting)


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
