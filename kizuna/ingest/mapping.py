"""The one mapping table between MISP and STIX 2.1, both ways. ``docs/ingest.md`` is generated from it
(:func:`render_markdown`; ``tests/ingest/test_docs.py`` fails when the file is stale).

A mapped attribute type is a list of *parts*: its value split on ``|`` (``filename|md5`` has two), each part
checked as a kind of value (:mod:`kizuna.ingest.values`) and written at a STIX object path. The same paths
make an indicator's pattern (``[file:name = 'a' AND file:hashes.MD5 = '...']``) and the SCOs of an
``observed-data`` (:func:`build_scos`), and read the value back for ``kizuna export misp``
(:func:`read_path`). ``ip-addr`` in a path stands for ``ipv4-addr`` or ``ipv6-addr``, whichever the value is.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kizuna.ingest import values
from kizuna.stix.ids import name_uuid
from kizuna.stix.markings import TLP

#: Namespace of the UUIDv5 ids kizuna derives (secondary objects, uuids that are not UUIDs, tags).
KIZUNA_NAMESPACE = uuid.UUID("6a0c9e47-5b1d-4f3e-8a2c-7d9b0e1f3a65")


def derived_uuid(*parts: str) -> str:
    """A UUIDv5 in kizuna's namespace from ``parts`` (a MISP uuid and a role, a tag, a row...): what
    ``str(uuid.uuid5(KIZUNA_NAMESPACE, "/".join(parts)))`` gives (tests/ingest/test_values.py)."""
    return name_uuid(KIZUNA_NAMESPACE, "/".join(parts))


@dataclass(frozen=True, slots=True)
class TypeMap:
    """How one MISP attribute type maps to STIX."""

    misp_type: str
    paths: tuple[str, ...]  # one STIX object path per '|'-separated part of the value
    kinds: tuple[str, ...]  # the value kind of each part (kizuna.ingest.values.KINDS)
    form: str = "observable"  # observable | vulnerability | note | pattern
    observable: bool = True  # can be an observed-data SCO (else to_ids false keeps it whole)
    doc: str = ""

    def parts(self, value: str) -> list[str]:
        if len(self.paths) == 1:
            return [value]
        parts = value.split("|")
        if len(parts) != len(self.paths):
            raise ValueError(
                f"{value!r} is not a {self.misp_type} value ({len(self.paths)} parts separated by '|')"
            )
        return parts


def _t(misp_type: str, paths: str, kinds: str, **kw: Any) -> TypeMap:
    return TypeMap(misp_type, tuple(paths.split(" ")), tuple(kinds.split(" ")), **kw)


_IP = "ip-addr:value"
_HASHES = {
    "md5": "MD5",
    "sha1": "'SHA-1'",
    "sha224": "'SHA-224'",
    "sha256": "'SHA-256'",
    "sha384": "'SHA-384'",
    "sha512": "'SHA-512'",
    "ssdeep": "SSDEEP",
}

#: MISP attribute type -> STIX (the table docs/ingest.md shows).
ATTRIBUTES: dict[str, TypeMap] = {
    t.misp_type: t
    for t in (
        _t("ip-src", _IP, "ip"),
        _t("ip-dst", _IP, "ip"),
        _t("ip-src|port", "network-traffic:src_ref.value network-traffic:src_port", "ip port"),
        _t("ip-dst|port", "network-traffic:dst_ref.value network-traffic:dst_port", "ip port"),
        _t("domain", "domain-name:value", "domain"),
        _t("hostname", "domain-name:value", "domain"),
        _t("domain|ip", "domain-name:value domain-name:resolves_to_refs[*].value", "domain ip"),
        _t("url", "url:value", "url"),
        _t("uri", "url:value", "uri"),
        _t("link", "url:value", "url"),
        _t("email", "email-addr:value", "email"),
        _t("email-src", "email-addr:value", "email"),
        _t("email-dst", "email-addr:value", "email"),
        _t("email-subject", "email-message:subject", "text", observable=False),
        _t("filename", "file:name", "text"),
        *(_t(h, f"file:hashes.{n}", h) for h, n in _HASHES.items()),
        *(_t(f"filename|{h}", f"file:name file:hashes.{n}", f"text {h}") for h, n in _HASHES.items()),
        _t("size-in-bytes", "file:size", "port", observable=False),
        _t("mime-type", "file:mime_type", "text", observable=False),
        _t("mutex", "mutex:name", "text"),
        _t("regkey", "windows-registry-key:key", "text"),
        _t("regkey|value", "windows-registry-key:key windows-registry-key:values[*].data", "text text"),
        _t(
            "user-agent",
            "network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'",
            "text",
            observable=False,
        ),
        _t("AS", "autonomous-system:number", "asn"),
        _t("mac-address", "mac-addr:value", "mac"),
        _t("x509-fingerprint-md5", "x509-certificate:hashes.MD5", "md5"),
        _t("x509-fingerprint-sha1", "x509-certificate:hashes.'SHA-1'", "sha1"),
        _t("x509-fingerprint-sha256", "x509-certificate:hashes.'SHA-256'", "sha256"),
        _t("vulnerability", "vulnerability:name", "cve", form="vulnerability"),
        _t("text", "note:content", "text", form="note"),
        _t("comment", "note:content", "text", form="note"),
        _t("yara", "indicator:pattern", "text", form="pattern"),
        _t("sigma", "indicator:pattern", "text", form="pattern"),
        _t("snort", "indicator:pattern", "text", form="pattern"),
    )
}

#: (MISP object name, object_relation) -> the STIX path its value takes inside that object, where it is not
#: the attribute type's own path. Other attributes of an object take their type's path ("the same rule").
OBJECT_RELATIONS: dict[tuple[str, str], str] = {
    ("domain-ip", "ip"): "domain-name:resolves_to_refs[*].value",
    ("ip-port", "ip"): "network-traffic:dst_ref.value",
    ("ip-port", "ip-dst"): "network-traffic:dst_ref.value",
    ("ip-port", "ip-src"): "network-traffic:src_ref.value",
    ("ip-port", "dst-port"): "network-traffic:dst_port",
    ("ip-port", "src-port"): "network-traffic:src_port",
    ("network-connection", "ip-src"): "network-traffic:src_ref.value",
    ("network-connection", "ip-dst"): "network-traffic:dst_ref.value",
    ("network-connection", "src-port"): "network-traffic:src_port",
    ("network-connection", "dst-port"): "network-traffic:dst_port",
    ("network-connection", "layer4-protocol"): "network-traffic:protocols[*]",
    ("email", "from"): "email-message:from_ref.value",
    ("email", "to"): "email-message:to_refs[*].value",
    ("email", "cc"): "email-message:cc_refs[*].value",
    ("email", "subject"): "email-message:subject",
    ("email", "message-id"): "email-message:message_id",
    ("x509", "serial-number"): "x509-certificate:serial_number",
    ("x509", "issuer"): "x509-certificate:issuer",
    ("x509", "subject"): "x509-certificate:subject",
    ("file", "size-in-bytes"): "file:size",
    ("file", "mime-type"): "file:mime_type",
}
#: Kinds of the object relations above whose attribute type does not say it (ports are MISP ``port``).
RELATION_KINDS: dict[str, str] = {
    "dst-port": "port",
    "src-port": "port",
    "size-in-bytes": "port",
    "layer4-protocol": "protocol",
}

#: MISP galaxy type -> STIX type of its clusters (malware gets is_family true).
GALAXIES: dict[str, str] = {
    "mitre-attack-pattern": "attack-pattern",
    "attack-pattern": "attack-pattern",
    "mitre-enterprise-attack-attack-pattern": "attack-pattern",
    "mitre-ics-techniques": "attack-pattern",
    "mitre-intrusion-set": "intrusion-set",
    "intrusion-set": "intrusion-set",
    "threat-actor": "threat-actor",
    "mitre-malware": "malware",
    "malpedia": "malware",
    "malware": "malware",
    "ransomware": "malware",
    "rat": "malware",
    "banker": "malware",
    "botnet": "malware",
    "stealer": "malware",
    "backdoor": "malware",
    "android": "malware",
    "mitre-tool": "tool",
    "tool": "tool",
    "exploit-kit": "tool",
    "mitre-course-of-action": "course-of-action",
    "sector": "identity",
}

#: MISP distribution -> (meaning, the TLP it reads as, whether it was shared with a community).
DISTRIBUTION: dict[str, tuple[str, TLP | None, bool]] = {
    "0": ("your organisation only", TLP.AMBER_STRICT, False),
    "1": ("this community only", TLP.AMBER, True),
    "2": ("connected communities", TLP.GREEN, True),
    "3": ("all communities", None, True),
    "4": ("sharing group", TLP.AMBER_STRICT, False),
    "5": ("inherit event", None, True),
}
THREAT_LEVELS = {"1": "high", "2": "medium", "3": "low", "4": "undefined"}
ANALYSIS = {"0": "initial", "1": "ongoing", "2": "completed"}
SIGHTING_TYPES = {"0": "sighting", "1": "false-positive", "2": "expiration"}

#: TLP tag levels (any letter case); ``tlp:white`` is TLP 2.0 CLEAR.
TLP_TAGS: dict[str, TLP] = {
    "tlp:clear": TLP.CLEAR,
    "tlp:white": TLP.CLEAR,
    "tlp:green": TLP.GREEN,
    "tlp:amber": TLP.AMBER,
    "tlp:amber+strict": TLP.AMBER_STRICT,
    "tlp:red": TLP.RED,
}

_TECHNIQUE = re.compile(r"\b(T\d{4}(?:\.\d{3})?)\b")


def technique_id(text: str) -> str | None:
    """The ATT&CK technique id in a cluster value or tag (``"Phishing - T1566"``,
    ``"Initial Access - Phishing [T1566]"``), or None.

    >>> technique_id('misp-galaxy:mitre-attack-pattern="Phishing - T1566"')
    'T1566'
    """
    m = _TECHNIQUE.search(text)
    return m.group(1) if m else None


def tlp_tag_level(tag: str) -> TLP | None:
    return TLP_TAGS.get(tag.strip().lower())


def looks_like_tlp(tag: str) -> bool:
    """A tag in the TLP or PAP namespace that is not a TLP level (``tlp:ex:chr``, ``PAP:RED``)."""
    low = tag.strip().lower()
    return low.startswith(("tlp:", "pap:")) and low not in TLP_TAGS


# -- values and paths -----------------------------------------------------------------------------------
def check_part(kind: str, value: str) -> str | int:
    """``value`` checked as ``kind`` and written as STIX writes it (ValueError with the reason)."""
    return values.KINDS[kind](value)


def resolve_path(path: str, value: str | int) -> str:
    """The path with ``ip-addr`` made ``ipv4-addr`` or ``ipv6-addr`` by the value."""
    if path.startswith("ip-addr:"):
        return f"ipv{values.ip_version(str(value))}-addr:" + path[8:]
    return path


_TOKEN = re.compile(r"'([^']*)'|([A-Za-z0-9_-]+)|(\[\*\])|(\.)")


def path_tokens(path: str) -> tuple[str, list[str]]:
    """``"file:hashes.'SHA-256'"`` -> ``("file", ["hashes", "SHA-256"])``; ``[*]`` is kept as a token."""
    root, tokens = _path_tokens(path)
    return root, list(tokens)


@lru_cache(maxsize=512)
def _path_tokens(path: str) -> tuple[str, tuple[str, ...]]:
    root, _, rest = path.partition(":")
    tokens: list[str] = []
    for m in _TOKEN.finditer(rest):
        if m.group(1) is not None:
            tokens.append(m.group(1))
        elif m.group(2) is not None:
            tokens.append(m.group(2))
        elif m.group(3) is not None:
            tokens.append("[*]")
    return root, tuple(tokens)


def _ref_type(value: str | int) -> str:
    text = str(value)
    if "@" in text:
        return "email-addr"
    try:
        values.ip(text)
    except ValueError:
        return "domain-name"
    return f"ipv{values.ip_version(text)}-addr"


def build_scos(
    comparisons: Sequence[tuple[str, str | int]], new_id: Callable[[int], str]
) -> list[dict[str, Any]]:
    """The SCOs that ``comparisons`` (resolved path, value) describe; the first is the main one. Values
    of one root type go into one SCO until a property would be written twice, which starts another.
    ``new_id(n)`` gives the n-th SCO its id."""
    scos: list[dict[str, Any]] = []
    current: dict[str, dict[str, Any]] = {}

    def make(stix_type: str) -> dict[str, Any]:
        sco: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": f"{stix_type}--{new_id(len(scos))}",
        }
        scos.append(sco)
        return sco

    for path, value in comparisons:
        root_type, tokens = path_tokens(path)
        root = current.get(root_type)
        if root is None or _is_set(root, tokens):
            root = current[root_type] = make(root_type)
        _put(root, tokens, value, make)
    for sco in scos:
        if sco["type"] == "network-traffic":
            ends = [sco.get("src_ref"), sco.get("dst_ref")]
            if "protocols" not in sco:
                ref = next((r for r in ends if r), "")
                sco["protocols"] = ["ipv6" if ref.startswith("ipv6") else "ipv4"]
        elif sco["type"] == "email-message":
            sco.setdefault("is_multipart", False)
    return scos


def _is_set(node: dict[str, Any], tokens: list[str]) -> bool:
    for i, t in enumerate(tokens):
        if t == "[*]" or t.endswith("_refs"):
            return False
        if t.endswith("_ref"):
            return t in node
        if i == len(tokens) - 1:
            return t in node
        nxt = node.get(t)
        if not isinstance(nxt, dict):
            return False
        node = nxt
    return False


def _put(
    node: dict[str, Any], tokens: list[str], value: str | int, make: Callable[[str], dict[str, Any]]
) -> None:
    i = 0
    while i < len(tokens):
        t = tokens[i]
        last = i == len(tokens) - 1
        if t.endswith("_ref") and not last:  # X_ref.value: a referenced SCO
            ref = make(_ref_type(value))
            ref["value"] = value
            node[t] = ref["id"]
            return
        if t.endswith("_refs") and not last:  # X_refs[*].value
            ref = make(_ref_type(value))
            ref["value"] = value
            node.setdefault(t, []).append(ref["id"])
            return
        if not last and tokens[i + 1] == "[*]":
            items = node.setdefault(t, [])
            if i + 2 < len(tokens):
                items.append({tokens[i + 2]: value})
            else:
                items.append(value)
            return
        if last:
            node[t] = value
            return
        node = node.setdefault(t, {})
        i += 1


def read_path(
    obj: Mapping[str, Any], tokens: Sequence[str], by_id: Mapping[str, Mapping[str, Any]]
) -> list[Any]:
    """The values at a path's tokens in an SCO, following references through ``by_id`` (the reverse of
    :func:`build_scos`)."""
    nodes: list[Any] = [obj]
    for t in tokens:
        nxt: list[Any] = []
        for n in nodes:
            if t == "[*]":
                if isinstance(n, list):
                    nxt.extend(n)
                continue
            if not isinstance(n, Mapping) or t not in n:
                continue
            v = n[t]
            if t.endswith("_ref"):
                v = by_id.get(v)
            elif t.endswith("_refs") and isinstance(v, list):
                v = [by_id.get(x) for x in v]
            nxt.append(v)
        nodes = [n for n in nxt if n is not None]
    return nodes


def type_for_sco_path(paths: Iterable[str]) -> str | None:
    """The MISP type that writes exactly these resolved paths as a standalone attribute (export of STIX
    that did not come from MISP), or None. IP paths give ``ip-dst``."""
    wanted = tuple(p.replace("ipv4-addr:", "ip-addr:").replace("ipv6-addr:", "ip-addr:") for p in paths)
    for t in _REVERSE_ORDER:
        if ATTRIBUTES[t].paths == wanted:
            return t
    return None


# the first type of each path set wins when STIX that did not come from MISP is exported
_REVERSE_ORDER = [
    "ip-dst",
    "ip-dst|port",
    "ip-src|port",
    "domain",
    "domain|ip",
    "url",
    "email-src",
    "email-subject",
    "filename",
    *_HASHES,
    *(f"filename|{h}" for h in _HASHES),
    "mutex",
    "regkey",
    "regkey|value",
    "user-agent",
    "AS",
    "mac-address",
    "x509-fingerprint-md5",
    "x509-fingerprint-sha1",
    "x509-fingerprint-sha256",
]


# -- docs/ingest.md -------------------------------------------------------------------------------------
def render_mapping_markdown() -> str:
    """The mapping tables of docs/ingest.md, from the tables above."""
    lines = [
        "| MISP attribute type | value parts (checked as) | STIX, `to_ids` true | STIX, `to_ids` false |",
        "|---|---|---|---|",
    ]
    for t in ATTRIBUTES.values():
        kinds = " \\| ".join(t.kinds)
        if t.form == "observable":
            pattern = "`[" + " AND ".join(f"{p} = …" for p in t.paths).replace("|", "\\|") + "]`"
            observed = (
                "`observed-data` + " + ", ".join(sorted({p.split(":")[0] for p in t.paths}))
                if t.observable
                else f"kept whole (`{_KEPT}`)"
            )
            lines.append(f"| `{t.misp_type}` | {kinds} | `indicator` {pattern} | {observed} |")
        elif t.form == "vulnerability":
            lines.append(f"| `{t.misp_type}` | {kinds} | `vulnerability` (name, CVE reference) | the same |")
        elif t.form == "note":
            lines.append(f"| `{t.misp_type}` | {kinds} | `note` on the event's report | the same |")
        else:
            lines.append(
                f"| `{t.misp_type}` | {kinds} | `indicator`, `pattern_type` `{t.misp_type}` | the same |"
            )
    lines.append(f'| any other type | - | kept whole (`{_KEPT}`), listed as "kept, not mapped" | the same |')
    lines += [
        "",
        "Attributes inside a MISP object take the object's path for their relation where the table below",
        "names one, else their type's path; the object becomes one `indicator` (every mapped value in one",
        "pattern joined with AND) when any of its attributes has `to_ids`, else one `observed-data` with its",
        "SCOs. An object with no mapped attribute is kept whole (`kizuna-misp-object`).",
        "",
        "| MISP object | relation | STIX path |",
        "|---|---|---|",
    ]
    for (name, relation), path in OBJECT_RELATIONS.items():
        lines.append(f"| `{name}` | `{relation}` | `{path}` |")
    lines += ["", "| MISP galaxy type | STIX type |", "|---|---|"]
    lines += [f"| `{g}` | `{s}` |" for g, s in GALAXIES.items()]
    lines += ["", "| MISP distribution | meaning | reads as | shared with a community |", "|---|---|---|---|"]
    for code, (meaning, tlp, shared) in DISTRIBUTION.items():
        lines.append(
            f"| {code} | {meaning} | {tlp if tlp is not None else '-'} | {'yes' if shared else 'no'} |"
        )
    lines += ["", "| MISP tag (any letter case) | TLP 2.0 marking |", "|---|---|"]
    lines += [f"| `{tag}` | {level} |" for tag, level in TLP_TAGS.items()]
    return "\n".join(lines) + "\n"


_KEPT = "kizuna-misp-attribute"
