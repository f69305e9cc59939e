"""A generated MISP corpus for round trips: every mapped type (to_ids on and off), types kizuna does not
map, objects with references, tags at every TLP level in several letter cases, galaxies (blocks and tags,
ATT&CK by technique id), sightings and event reports. Deterministic."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from kizuna.ingest.mapping import ATTRIBUTES

NS = uuid.UUID("0f4e2a8c-1b3d-4c5e-8f70-a1b2c3d4e5f6")


def uid(*parts: object) -> str:
    return str(uuid.uuid5(NS, "/".join(map(str, parts))))


def _hex(n: int, seed: object) -> str:
    h = hashlib.sha512(str(seed).encode()).hexdigest() * 2
    return h[:n]


def value_for(misp_type: str, i: int) -> str:
    kinds = ATTRIBUTES[misp_type].kinds if misp_type in ATTRIBUTES else ("text",)
    parts = []
    for k, kind in enumerate(kinds):
        seed = (misp_type, i, k)
        parts.append(
            {
                "ip": f"198.51.100.{i % 250 + 1}" if i % 3 else f"2001:db8::{i + 1:x}",
                "domain": f"host-{i}.example.com",
                "url": f"https://evil-{i}.example.com/path?q={i}&r='x'",
                "uri": f"/gate/{i}.php",
                "email": f"user{i}@example.org",
                "md5": _hex(32, seed),
                "sha1": _hex(40, seed),
                "sha224": _hex(56, seed),
                "sha256": _hex(64, seed),
                "sha384": _hex(96, seed),
                "sha512": _hex(128, seed),
                "ssdeep": f"96:{_hex(20, seed)}:{_hex(12, seed)}",
                "port": str(1024 + i),
                "asn": f"AS{64500 + i}",
                "mac": "AA-BB-CC-00-11-%02X" % (i % 256) if i % 2 else "00:11:22:33:44:%02x" % (i % 256),
                "cve": f"CVE-2021-{44228 + i}",
                "text": f"it's value {i} \\ with a back-slash",
            }[kind]
        )
    if misp_type == "yara":
        return f"rule r{i} {{ condition: true }}"
    if misp_type == "sigma":
        return f"title: rule {i}\ndetection:\n  condition: true"
    if misp_type == "snort":
        return f'alert tcp any any -> any any (msg:"r{i}"; sid:{1000 + i};)'
    return "|".join(parts)


TLP_TAGS = ["tlp:clear", "TLP:WHITE", "tlp:Green", "TLP:AMBER", "tlp:amber+strict", "Tlp:Red"]
ATTACK = {
    "T1566": "Phishing",
    "T1059": "Command and Scripting Interpreter",
    "T1071": "Application Layer Protocol",
}


def event(n: int, *, attack_in_hub: bool = False) -> dict[str, Any]:
    """Event number ``n`` of the corpus."""
    ev_uuid = uid("event", n)
    ts = 1769904000 + n * 100
    attrs: list[dict[str, Any]] = []
    types = [*ATTRIBUTES, "btc", "whois-registrar"]
    for i, t in enumerate(types):
        for to_ids in (True, False):
            k = i * 2 + int(to_ids)
            a: dict[str, Any] = {
                "uuid": uid(n, "attr", t, to_ids),
                "type": t,
                "category": "Network activity" if k % 2 else "Payload delivery",
                "value": value_for(t, k),
                "to_ids": to_ids,
                "comment": f"comment {k}" if k % 3 == 0 else "",
                "timestamp": str(ts - k),
                "distribution": "5",
            }
            tags = []
            if k % 5 == 0:
                tags.append(TLP_TAGS[k % len(TLP_TAGS)])
            if k % 7 == 0:
                tags.append(f'misp:confidence-level="{k}"')
            if k % 11 == 0:
                tid = list(ATTACK)[k % 3]
                tags.append(f'misp-galaxy:mitre-attack-pattern="{ATTACK[tid]} - {tid}"')
            if tags:
                a["Tag"] = [{"name": x} for x in tags]
            if k % 13 == 0:
                a["first_seen"] = "2026-01-01T10:00:00.000000+00:00"
                a["last_seen"] = "2026-01-02T10:00:00.000000+00:00"
            if k % 9 == 0 and to_ids:
                a["Sighting"] = [
                    {
                        "uuid": uid(n, "sighting", t, s),
                        "type": str(s),
                        "date_sighting": str(ts + s),
                        "source": "sensor",
                    }
                    for s in range(3)
                ]
            attrs.append(a)
    objects = _objects(n, ts)
    galaxy = [
        {
            "type": "mitre-malware",
            "name": "Malware",
            "uuid": uid("galaxy", "mitre-malware"),
            "GalaxyCluster": [
                {
                    "uuid": uid("cluster", "Emotet"),
                    "type": "mitre-malware",
                    "value": "Emotet",
                    "tag_name": 'misp-galaxy:mitre-malware="Emotet"',
                }
            ],
        },
        {
            "type": "threat-actor",
            "name": "Threat Actor",
            "uuid": uid("galaxy", "threat-actor"),
            "GalaxyCluster": [
                {
                    "uuid": uid("cluster", "APT0"),
                    "type": "threat-actor",
                    "value": "APT0",
                    "tag_name": 'misp-galaxy:threat-actor="APT0"',
                }
            ],
        },
    ]
    return {
        "uuid": ev_uuid,
        "info": f"generated event {n}",
        "date": "2026-02-01",
        "timestamp": str(ts),
        "published": n % 2 == 0,
        "publish_timestamp": str(ts + 10) if n % 2 == 0 else "0",
        "threat_level_id": str(n % 4 + 1),
        "analysis": str(n % 3),
        "distribution": "3",
        "Orgc": {"name": "Example CERT", "uuid": uid("org", "cert")},
        "Org": {"name": "Example CERT", "uuid": uid("org", "cert")},
        "Tag": [
            {"name": TLP_TAGS[n % len(TLP_TAGS)]},
            {"name": 'workflow:state="complete"'},
            {"name": 'misp-galaxy:mitre-attack-pattern="Initial Access - Phishing [T1566]"'},
        ],
        "Galaxy": galaxy,
        "Attribute": attrs,
        "Object": objects,
        "EventReport": [
            {"uuid": uid(n, "report"), "name": "summary", "content": "# what happened", "timestamp": str(ts)}
        ],
    }


def _objects(n: int, ts: int) -> list[dict[str, Any]]:
    def attr(obj: str, rel: str, t: str, v: str, to_ids: bool = True) -> dict[str, Any]:
        return {
            "uuid": uid(n, obj, rel, v),
            "type": t,
            "object_relation": rel,
            "value": v,
            "to_ids": to_ids,
            "category": "Network activity",
            "timestamp": str(ts),
        }

    objs = [
        (
            "file",
            [
                ("filename", "filename", "a.exe"),
                ("md5", "md5", _hex(32, n)),
                ("sha256", "sha256", _hex(64, n)),
                ("size-in-bytes", "size-in-bytes", "1024"),
                ("state", "text", "Malicious"),
            ],
        ),
        (
            "domain-ip",
            [
                ("domain", "domain", f"c2-{n}.example.net"),
                ("ip", "ip-dst", "203.0.113.7"),
                ("ip", "ip-dst", "203.0.113.8"),
            ],
        ),
        ("ip-port", [("ip", "ip-dst", "203.0.113.9"), ("dst-port", "port", "443")]),
        (
            "url",
            [("url", "url", f"https://c2-{n}.example.net/x"), ("host", "hostname", f"c2-{n}.example.net")],
        ),
        (
            "email",
            [
                ("from", "email-src", "bad@example.net"),
                ("to", "email-dst", "victim@example.org"),
                ("subject", "email-subject", "Invoice"),
            ],
        ),
        (
            "network-connection",
            [
                ("ip-src", "ip-src", "198.51.100.77"),
                ("ip-dst", "ip-dst", "203.0.113.10"),
                ("dst-port", "port", "8080"),
                ("layer4-protocol", "text", "TCP"),
            ],
        ),
        (
            "x509",
            [
                ("x509-fingerprint-sha1", "x509-fingerprint-sha1", _hex(40, ("x", n))),
                ("serial-number", "text", "0a1b2c"),
            ],
        ),
        ("whois", [("registrar", "whois-registrar", "Example Registrar")]),
    ]
    out = []
    for j, (name, attrs) in enumerate(objs):
        o: dict[str, Any] = {
            "uuid": uid(n, "object", name),
            "name": name,
            "meta-category": "network",
            "template_uuid": uid("template", name),
            "template_version": "7",
            "timestamp": str(ts),
            "Attribute": [attr(name, rel, t, v, to_ids=(j % 2 == 0)) for rel, t, v in attrs],
        }
        if j == 0:
            o["Tag"] = [{"name": "tlp:amber"}]
        out.append(o)
    out[1]["ObjectReference"] = [
        {
            "uuid": uid(n, "ref", 1),
            "object_uuid": out[1]["uuid"],
            "referenced_uuid": out[0]["uuid"],
            "relationship_type": "drops",
            "comment": "seen dropping",
            "timestamp": str(ts),
        }
    ]
    out[3]["ObjectReference"] = [
        {
            "uuid": uid(n, "ref", 3),
            "object_uuid": out[3]["uuid"],
            "referenced_uuid": uid(n, "attr", "domain", True),
            "relationship_type": "communicates-with",
            "timestamp": str(ts),
        }
    ]
    return out
