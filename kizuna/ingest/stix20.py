"""STIX bundles and TAXII envelopes, 2.0 upgraded to 2.1 on the way in.

Version by the spec's rule: a bundle with a ``spec_version`` property is STIX 2.0 (2.1 bundles have none);
a 2.1 bundle that wrongly carries one (older ATT&CK releases) is taken as 2.1 with a warning when its
objects say 2.1. In an envelope (``{"objects": [...]}``) each object says its version: 2.1 SDOs, SROs and
meta objects carry ``spec_version`` "2.1", 2.0 ones carry none. One unit never mixes the two.

:func:`upgrade` turns one 2.0 object into 2.1 objects: ``spec_version`` "2.1" on each; 2.0 ``labels`` on
indicator, malware, tool, threat-actor and report become the 2.1 ``*_types`` property; indicators get
``pattern_type`` "stix"; malware gets ``is_family`` true unless the source says otherwise; an
``observed-data``'s ``objects`` become top-level SCOs with the spec's deterministic ids (UUIDv5 of their
id-contributing properties, section 2.9) and ``object_refs``. TLP 1.0 markings and custom properties are
kept as received. ``tests/ingest/test_stix20.py`` compares the result with the OASIS ``stix_stepper``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from kizuna.errors import InputError
from kizuna.ingest.units import Record, Unit
from kizuna.stix.ids import name_uuid

#: STIX 2.1 section 2.9: the namespace of SCO ids.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
#: ID contributing properties of each SCO type (STIX 2.1, each SCO's section).
ID_CONTRIBUTING: dict[str, tuple[str, ...]] = {
    "artifact": ("hashes", "payload_bin"),
    "autonomous-system": ("number",),
    "directory": ("path",),
    "domain-name": ("value",),
    "email-addr": ("value",),
    "email-message": ("from_ref", "subject", "body"),
    "file": ("hashes", "name", "extensions", "parent_directory_ref"),
    "ipv4-addr": ("value",),
    "ipv6-addr": ("value",),
    "mac-addr": ("value",),
    "mutex": ("name",),
    "network-traffic": (
        "start",
        "end",
        "src_ref",
        "dst_ref",
        "src_port",
        "dst_port",
        "protocols",
        "extensions",
    ),
    "software": ("name", "cpe", "swid", "vendor", "version"),
    "url": ("value",),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}
_HASH_ORDER = ("MD5", "SHA-1", "SHA-256", "SHA-512")
_TYPES_PROPERTY = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "tool": "tool_types",
    "threat-actor": "threat_actor_types",
    "report": "report_types",
}
# 2.0 names of SCO properties that 2.1 renamed (STIX 2.1 section 6; as the OASIS stepper moves them)
_RENAMED: dict[str, dict[str, str]] = {
    "file": {"created": "ctime", "modified": "mtime", "accessed": "atime"},
    "directory": {"created": "ctime", "modified": "mtime", "accessed": "atime"},
    "process": {"created": "created_time", "binary_ref": "image_ref"},
    "user-account": {"password_last_changed": "credential_last_changed"},
}
_META_AND_DOMAIN = frozenset(
    {
        "attack-pattern",
        "campaign",
        "course-of-action",
        "identity",
        "indicator",
        "intrusion-set",
        "malware",
        "observed-data",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
        "relationship",
        "sighting",
        "marking-definition",
    }
)


def _canonical(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def sco_id(obj: Mapping[str, Any]) -> str | None:
    """The deterministic id of an SCO (STIX 2.1 section 2.9), or None when it has no contributing property."""
    props = ID_CONTRIBUTING.get(str(obj.get("type")))
    if not props:
        return None
    data: dict[str, Any] = {}
    for p in props:
        if p not in obj:
            continue
        if p == "hashes" and isinstance(obj[p], dict):
            hashes = obj[p]
            name = next((h for h in _HASH_ORDER if h in hashes), None) or (
                sorted(hashes)[0] if hashes else None
            )
            if name is not None:
                data[p] = {name: hashes[name]}
        else:
            data[p] = obj[p]
    if not data:
        return None
    return f"{obj['type']}--{name_uuid(SCO_NAMESPACE, _canonical(data))}"


def object_version(obj: Mapping[str, Any]) -> str | None:
    """'2.1', '2.0', or None for an object that does not say (an SCO)."""
    if obj.get("spec_version") == "2.1":
        return "2.1"
    if "spec_version" in obj:
        return str(obj["spec_version"])
    return "2.0" if obj.get("type") in _META_AND_DOMAIN or str(obj.get("type", "")).startswith("x-") else None


def upgrade(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """One STIX 2.0 object as STIX 2.1 objects (an observed-data brings its SCOs first)."""
    out = dict(obj)
    out["spec_version"] = "2.1"
    t = out.get("type")
    prop = _TYPES_PROPERTY.get(str(t))
    if prop is not None and "labels" in out and prop not in out:
        out[prop] = out.pop("labels")
    if t == "indicator":
        out.setdefault("pattern_type", "stix")
    elif t == "malware":
        out.setdefault("is_family", True)
    elif t == "observed-data" and isinstance(out.get("objects"), dict):
        scos = _scos(out.pop("objects"), str(out.get("id", "")))
        out["object_refs"] = [s["id"] for s in scos]
        return [*scos, out]
    return [out]


def _scos(objects: Mapping[str, Any], container: str) -> list[dict[str, Any]]:
    """2.0 observable objects (local keys "0", "1"...) as 2.1 SCOs; references resolved to the new ids."""
    pending = {k: dict(v) for k, v in objects.items() if isinstance(v, dict)}
    ids: dict[str, str] = {}
    out: list[dict[str, Any]] = []

    def refs_of(sco: dict[str, Any]) -> list[str]:
        keys: list[str] = []
        for name, value in sco.items():
            if name.endswith("_ref") and isinstance(value, str):
                keys.append(value)
            elif name.endswith("_refs") and isinstance(value, list):
                keys.extend(v for v in value if isinstance(v, str))
        return keys

    for _ in range(len(pending) + 1):  # referenced objects first, so their ids contribute
        progressed = False
        for key in list(pending):
            sco = pending[key]
            if any(r in pending and r != key for r in refs_of(sco)):
                continue
            del pending[key]
            progressed = True
            for old, new in _RENAMED.get(str(sco.get("type")), {}).items():
                if old in sco:
                    sco[new] = sco.pop(old)
            for name, value in list(sco.items()):
                if name.endswith("_ref") and isinstance(value, str):
                    sco[name] = ids.get(value, value)
                elif name.endswith("_refs") and isinstance(value, list):
                    sco[name] = [ids.get(v, v) for v in value]
            sco["spec_version"] = "2.1"
            ids[key] = sco_id(sco) or f"{sco.get('type')}--{name_uuid(SCO_NAMESPACE, container + '/' + key)}"
            sco = {"type": sco.get("type"), "spec_version": "2.1", "id": ids[key], **sco}
            out.append(sco)
        if not pending or not progressed:
            break
    if pending:
        raise InputError(
            f"{container}: observable objects refer to each other in a circle: {sorted(pending)}"
        )
    return out


def unit_of(doc: object, source: str, fmt: str = "stix") -> Unit:
    """A bundle or envelope as one unit (2.0 upgraded); InputError when it is neither, or mixes versions."""
    if not isinstance(doc, dict):
        raise InputError("not a STIX bundle or TAXII envelope (the JSON is not an object)", path=source)
    objects = doc.get("objects")
    if not isinstance(objects, list):
        if "Event" in doc or "response" in doc:
            raise InputError("this is MISP, not STIX (use 'kizuna ingest misp')", path=source)
        raise InputError("not a STIX bundle or TAXII envelope: no 'objects' list", path=source)
    is_bundle = doc.get("type") == "bundle"
    unit = Unit(fmt, source, str(doc.get("id") or source))
    versions = {v for o in objects if isinstance(o, dict) and (v := object_version(o)) is not None}
    if is_bundle and "spec_version" in doc:
        if versions == {"2.1"}:
            unit.warn(
                "/spec_version",
                unit.key,
                "a 2.1 bundle with a 'spec_version' property (a 2.0 trait): taken as 2.1",
            )
        elif doc["spec_version"] != "2.0":
            raise InputError(
                f"bundle spec_version {doc['spec_version']!r}: kizuna reads 2.0 and 2.1", path=source
            )
        else:
            versions |= {"2.0"}
            if "2.1" in versions:
                raise InputError("the bundle mixes STIX 2.0 and 2.1 objects", path=source)
    elif is_bundle and versions == {"2.0"}:
        versions = {"2.0"}
    if len(versions) > 1:
        raise InputError("the bundle mixes STIX 2.0 and 2.1 objects", path=source)
    v20 = versions == {"2.0"}
    for i, obj in enumerate(objects):
        loc = f"/objects/{i}"
        if not isinstance(obj, dict):
            unit.problem(loc, "", "an object must be a JSON object")
            continue
        oid = str(obj.get("id", ""))
        if v20:
            try:
                upgraded = upgrade(obj)
            except InputError as exc:
                unit.problem(loc, oid, str(exc), oid or None)
                continue
        else:
            upgraded = [obj]
        for o in upgraded:
            deps = [
                str(o[k])
                for k in ("source_ref", "target_ref", "sighting_of_ref")
                if isinstance(o.get(k), str)
            ]
            unit.records.append(Record(o, loc, oid, tuple(deps)))
    return unit
