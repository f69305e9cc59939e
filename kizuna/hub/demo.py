"""The demo hub behind ``kizuna demo``: a temporary database with real sample intelligence.

Organisations: the UK's and Japan's national cyber agencies and a UK water operator (CNI). Collections: MITRE
ATT&CK for ICS (shipped in the package, TLP:CLEAR), a UK-Japan CNI channel (default AMBER) with a few
indicators at different TLP levels, and a sightings channel.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from kizuna.errors import StoreError
from kizuna.hub import intake
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.models import Collection, Org
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import Clock, format_timestamp, utc_now
from kizuna.stix.markings import TLP, TLP2_IDS, marking_definition

ORGS = (
    ("uk-ncsc", "GB", ("government",), TLP.RED),
    ("jp-nisc", "JP", ("government",), TLP.RED),
    ("uk-water-op", "GB", ("water",), TLP.AMBER),
)


@dataclass
class DemoHub:
    store: SQLiteStore
    db_path: Path
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    collections: dict[str, str] = field(default_factory=dict)

    def cleanup(self) -> None:
        self.store.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def attack_ics_objects() -> list[dict[str, Any]]:
    """MITRE ATT&CK for ICS v18.1 (STIX 2.1), shipped in the package; see kizuna/data/PROVENANCE.md."""
    data = resources.files("kizuna.data").joinpath("cti/ics-attack.json").read_bytes()
    return list(orjson.loads(data)["objects"])


def _indicator(name: str, pattern: str, level: TLP, created: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": created,
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": created,
        "indicator_types": ["malicious-activity"],
        "object_marking_refs": [TLP2_IDS[level]],
        **extra,
    }


def build_demo(workdir: Path | None = None) -> DemoHub:
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kizuna-demo-"))
    db = work / "demo-hub.db"
    store = SQLiteStore.create(db, title="kizuna demo hub (UK-Japan)")
    hub = DemoHub(store, db, work)
    for name, country, sectors, ceiling in ORGS:
        store.add_org(name, ceiling=ceiling, country=country, sectors=sectors)
        token = new_token()
        store.add_token(name, hash_token(token))
        hub.tokens[name] = token
    everyone = [o[0] for o in ORGS]
    agencies = ["uk-ncsc", "jp-nisc"]
    attack = store.add_collection(
        "MITRE ATT&CK for ICS",
        alias="attack-ics",
        default_tlp=TLP.CLEAR,
        readers=everyone,
        writers=agencies,
        description="ATT&CK for ICS v18.1, (c) The MITRE Corporation",
    )
    cni = store.add_collection(
        "UK-Japan CNI threats", alias="uk-jp-cni", default_tlp=TLP.AMBER, readers=everyone, writers=everyone
    )
    sightings = store.add_collection(
        "Sightings", alias="sightings", default_tlp=TLP.AMBER, readers=agencies, writers=everyone
    )
    hub.collections = {attack.title: attack.id, cni.title: cni.id, sightings.title: sightings.id}

    ncsc = store.get_org("uk-ncsc")
    load(store, attack, ncsc, attack_ics_objects())
    now = format_timestamp(utc_now())
    samples = [marking_definition(level) for level in (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.RED)]
    samples += [
        _indicator(
            "Scanner probing Modbus/TCP (documentation range)",
            "[ipv4-addr:value = '198.51.100.23']",
            TLP.GREEN,
            now,
        ),
        _indicator(
            "Phishing domain targeting water utilities",
            "[domain-name:value = 'scada-update.example']",
            TLP.AMBER,
            now,
        ),
        _indicator(
            "Implant hash seen at a UK operator (for NISC only)",
            "[file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877']",
            TLP.RED,
            now,
            x_kizuna_recipients=["jp-nisc"],
        ),
    ]
    load(store, cni, ncsc, samples)
    return hub


def load(
    store: Store, collection: Collection, org: Org, objects: list[dict[str, Any]], *, clock: Clock = utc_now
) -> None:
    """Store the demo's objects through the intake, as ``org`` would post them; refuse the whole demo if
    any is refused."""
    result = intake.accept(store, collection, intake.Sender.local(org), objects, clock=clock)
    if result.refused:
        raise StoreError(f"demo data was refused: {[r.reason for r in result.refused[:3]]}")
