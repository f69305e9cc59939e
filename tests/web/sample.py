"""A small, realistic mix of STIX objects at every TLP level, for pages worth looking at."""

from __future__ import annotations

import uuid
from typing import Any

from kizuna.stix.markings import TLP, TLP2_IDS

CREATED = "2026-01-15T08:30:00.000Z"
MALICIOUS_NAME = "<script>alert('xss')</script><img src=x onerror=alert(2)>"


def sid(kind: str, n: int) -> str:
    return f"{kind}--{uuid.uuid5(uuid.NAMESPACE_URL, f'kizuna-web-{kind}-{n}')}"


def _base(kind: str, n: int, tlp: TLP | None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": sid(kind, n),
        "created": CREATED,
        "modified": CREATED,
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_IDS[tlp]]
    return obj


def indicator(n: int, pattern: str, name: str, tlp: TLP | None, **extra: Any) -> dict[str, Any]:
    return {
        **_base("indicator", n, tlp),
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": CREATED,
        **extra,
    }


def sample_objects(red_recipients: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """~30 objects: indicators at each TLP, malware, threat actor, attack patterns, relationships."""
    levels = [TLP.CLEAR, TLP.GREEN, TLP.GREEN, TLP.AMBER, TLP.AMBER, TLP.AMBER_STRICT, None]
    objs = [
        indicator(
            i, f"[ipv4-addr:value = '203.0.113.{i}']", f"C2 node 203.0.113.{i}", levels[i % len(levels)]
        )
        for i in range(14)
    ]
    objs += [
        indicator(
            100 + i,
            f"[domain-name:value = 'update-{i}.water-scada.example']",
            f"Phishing domain update-{i}",
            TLP.GREEN,
        )
        for i in range(4)
    ]
    objs.append(indicator(200, "[file:hashes.'SHA-256' = '" + "ab" * 32 + "']", MALICIOUS_NAME, TLP.GREEN))
    red = indicator(300, "[ipv4-addr:value = '192.0.2.66']", "Implant beacon (RED)", TLP.RED)
    if red_recipients:
        red["x_kizuna_recipients"] = list(red_recipients)
    objs.append(red)
    objs += [
        {**_base("malware", 1, TLP.AMBER), "name": "VOLTAGE-DROP loader", "is_family": True},
        {**_base("malware", 2, TLP.GREEN), "name": "PumpJack wiper", "is_family": True},
        {**_base("threat-actor", 1, TLP.AMBER), "name": "Reservoir Spider"},
        {**_base("attack-pattern", 1, TLP.CLEAR), "name": "Spearphishing Attachment"},
        {**_base("attack-pattern", 2, TLP.CLEAR), "name": "Modify Control Logic"},
    ]
    for i in range(5):
        objs.append(
            {
                **_base("relationship", i, TLP.GREEN),
                "relationship_type": "indicates",
                "source_ref": sid("indicator", i),
                "target_ref": sid("malware", 2),
            }
        )
    return objs
