"""The demo hub behind ``kizuna demo``: a temporary database with real sample intelligence that shows every
page of the web UI.

Organisations: the UK's and Japan's national cyber agencies (the UK's an administrator), a UK water operator
(CNI), and the two partners' space-surveillance teams. Collections: MITRE ATT&CK for ICS (shipped in the
package, TLP:CLEAR); a UK-Japan CNI channel (default AMBER) with indicators at every TLP level, a UK and a
Japanese report of the same scanner and of the same threat actor that disagree, a note and an opinion on the
UK's report, an expired and a revoked indicator; a sightings channel with sightings over the last 30 days;
a space channel with the UK's and Japan's assessments of the Iridium 33 / Cosmos 2251 conjunction (screened
from the shipped TLEs, Pc at different hard-body radii); and a minerals channel with cobalt's supply profile
and the partners' exposure to it, computed from the shipped data sets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from kizuna.errors import StoreError
from kizuna.hub import intake
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.models import Collection, Org
from kizuna.hub.store.postgres import PostgresStore
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import Clock, format_timestamp, from_us, to_us, utc_now
from kizuna.stix.markings import TLP, TLP2_IDS, marking_definition

ORGS = (
    ("uk-ncsc", "GB", ("government",), TLP.RED),
    ("jp-nisc", "JP", ("government",), TLP.RED),
    ("uk-water-op", "GB", ("water",), TLP.AMBER),
    ("uk-space-ops", "GB", ("space",), TLP.AMBER),
    ("jp-space-ops", "JP", ("space",), TLP.AMBER),
)
#: The demo's administrator (sees the audit log and the peers in the web UI).
ADMIN = "uk-ncsc"
#: The address the UK and Japan report differently (a documentation range).
SCANNER_IP = "198.51.100.23"
SCANNER_INDICATOR = "indicator--6f1a3c2e-8a1b-4d6e-9f70-1c2d3e4f5a01"


@dataclass
class DemoHub:
    store: SQLiteStore | PostgresStore
    db_path: Path | str  # a SQLite file, or a PostgreSQL database (its DSN, password hidden)
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    token_files: dict[str, Path] = field(default_factory=dict)  # one per organisation, mode 0600
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
        "id": extra.pop("id", f"indicator--{uuid.uuid4()}"),
        "created": created,
        "modified": created,
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": created,
        "indicator_types": extra.pop("indicator_types", ["malicious-activity"]),
        "object_marking_refs": [TLP2_IDS[level]],
        **extra,
    }


def _ago(now: datetime, days: float) -> str:
    return format_timestamp(from_us(to_us(now) - int(days * 86_400_000_000)))


def build_demo(
    workdir: Path | None = None, *, space: bool = True, minerals: bool = True, dsn: str | None = None
) -> DemoHub:
    """A demo hub in ``workdir`` (a new temporary directory by default), or in the empty PostgreSQL
    database ``dsn`` (its key file in ``workdir``). ``space`` and ``minerals`` load those wings' sample
    assessments (a few seconds of computing each)."""
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kizuna-demo-"))
    title = "kizuna demo hub (UK-Japan)"
    store: SQLiteStore | PostgresStore
    if dsn is not None:
        store = PostgresStore.create(dsn, key_file=work / "demo-hub.key", title=title)
        hub = DemoHub(store, store.path, work)
    else:
        db = work / "demo-hub.db"
        store = SQLiteStore.create(db, title=title)
        hub = DemoHub(store, db, work)
    for name, country, sectors, ceiling in ORGS:
        store.add_org(name, ceiling=ceiling, country=country, sectors=sectors, admin=name == ADMIN)
        token = new_token()
        store.add_token(name, hash_token(token))
        hub.tokens[name] = token
        hub.token_files[name] = _token_file(work / f"{name}.token", token)
    everyone = [o[0] for o in ORGS]
    agencies = ["uk-ncsc", "jp-nisc"]
    space_teams = ["uk-space-ops", "jp-space-ops"]
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
    space_c = store.add_collection(
        "Space: conjunctions",
        alias="space",
        default_tlp=TLP.GREEN,
        readers=[*agencies, *space_teams],
        writers=space_teams,
        description="Conjunction assessments of the partners' space-surveillance teams (kizuna space).",
    )
    minerals_c = store.add_collection(
        "Critical minerals",
        alias="minerals",
        default_tlp=TLP.AMBER,
        readers=everyone,
        writers=agencies,
        description="Supply-risk assessments (kizuna minerals) from the shipped USGS, EU CRM and BACI data.",
    )
    hub.collections = {c.title: c.id for c in (attack, cni, sightings, space_c, minerals_c)}
    orgs = {name: store.get_org(name) for name, *_ in ORGS}
    now = utc_now()
    load(store, attack, orgs["uk-ncsc"], attack_ics_objects())
    _cni(store, cni, orgs, now)
    _sightings(store, sightings, orgs, now)
    if space:
        _space(store, space_c, orgs, now)
    if minerals:
        _minerals(store, minerals_c, orgs)
    return hub


def _cni(store: Store, cni: Collection, orgs: dict[str, Org], now: datetime) -> None:
    stamp = format_timestamp(now)
    later = format_timestamp(from_us(to_us(now) + 1000))
    markings = [marking_definition(level) for level in (TLP.CLEAR, TLP.GREEN, TLP.AMBER, TLP.RED)]
    uk = [
        _indicator(
            "Scanner probing Modbus/TCP (documentation range)",
            f"[ipv4-addr:value = '{SCANNER_IP}']",
            TLP.GREEN,
            stamp,
            id=SCANNER_INDICATOR,
            confidence=80,
            description="Seen scanning UK water utilities' Modbus/TCP (502/tcp) from this address.",
        ),
        _indicator(
            "Phishing domain targeting water utilities",
            "[domain-name:value = 'scada-update.example']",
            TLP.AMBER,
            stamp,
        ),
        _indicator(
            "Implant hash seen at a UK operator (for NISC only)",
            "[file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877']",
            TLP.RED,
            stamp,
            x_kizuna_recipients=["jp-nisc"],
        ),
        _indicator(
            "Old beacon address (expired)",
            "[ipv4-addr:value = '203.0.113.77']",
            TLP.GREEN,
            _ago(now, 400),
            valid_until=_ago(now, 200),
        ),
        {
            "type": "threat-actor",
            "spec_version": "2.1",
            "id": "threat-actor--0b3e7d1a-5c4f-4e2a-8d9b-7a6f5e4d3c21",
            "created": stamp,
            "modified": stamp,
            "name": "Reservoir Spider",
            "aliases": ["WaterBear"],
            "threat_actor_types": ["crime-syndicate"],
            "sophistication": "intermediate",
            "description": "Targets water utilities' remote access (UK reporting).",
            "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        },
    ]
    load(store, cni, orgs["uk-ncsc"], markings + uk)
    jp = [
        _indicator(
            "Modbus/TCP スキャン元 (scanner on shared hosting)",
            f"[ipv4-addr:value = '{SCANNER_IP}']",
            TLP.GREEN,
            stamp,
            confidence=40,
            indicator_types=["anomalous-activity"],
            description="日本の水道事業者への探索。共有ホスティングのため誤検知の可能性あり。",
            lang="ja",
        ),
        {
            "type": "threat-actor",
            "spec_version": "2.1",
            "id": "threat-actor--5d2c1b0a-9e8f-4a7b-8c6d-3e2f1a0b9c87",
            "created": stamp,
            "modified": stamp,
            "name": "WaterBear",
            "aliases": ["Reservoir Spider", "ウォーターベア"],
            "threat_actor_types": ["nation-state"],
            "sophistication": "advanced",
            "description": "A state-backed cluster, not a crime group (Japanese reporting).",
            "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        },
        {
            "type": "note",
            "spec_version": "2.1",
            "id": "note--3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d",
            "created": later,
            "modified": later,
            "abstract": "Shared hosting",
            "content": "A shared hosting provider's address: we see benign traffic from it too.",
            "authors": ["jp-nisc"],
            "object_refs": [SCANNER_INDICATOR],
            "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        },
        {
            "type": "opinion",
            "spec_version": "2.1",
            "id": "opinion--8b9c0d1e-2f3a-4b5c-8d6e-7f8a9b0c1d2e",
            "created": later,
            "modified": later,
            "opinion": "disagree",
            "explanation": "Confidence 80 is too high for a shared-hosting address.",
            "authors": ["jp-nisc"],
            "object_refs": [SCANNER_INDICATOR],
            "object_marking_refs": [TLP2_IDS[TLP.GREEN]],
        },
    ]
    load(store, cni, orgs["jp-nisc"], jp)
    retracted = _indicator(
        "Retracted: mistyped address", "[ipv4-addr:value = '192.0.2.254']", TLP.GREEN, stamp
    )
    load(store, cni, orgs["uk-ncsc"], [retracted])
    load(store, cni, orgs["uk-ncsc"], [{**retracted, "modified": later, "revoked": True}])


def _sightings(store: Store, sightings: Collection, orgs: dict[str, Org], now: datetime) -> None:
    """Sightings of the UK's scanner indicator over the last 30 days, by the water operator and by NISC."""
    for org_name, days in (("uk-water-op", (28, 21, 14, 9, 6, 3, 2, 1)), ("jp-nisc", (12, 4, 1))):
        org = orgs[org_name]
        objs = []
        for i, d in enumerate(days):
            seen = _ago(now, d)
            sighting: dict[str, Any] = {
                "type": "sighting",
                "spec_version": "2.1",
                "id": f"sighting--{uuid.uuid5(uuid.NAMESPACE_URL, f'kizuna-demo-{org_name}-{i}')}",
                "created": seen,
                "modified": seen,
                "sighting_of_ref": SCANNER_INDICATOR,
                "count": 1 + (i * 7) % 5,
                "first_seen": seen,
                "last_seen": seen,
                "object_marking_refs": [TLP2_IDS[TLP.AMBER]],
            }
            if org.identity_id:
                sighting["where_sighted_refs"] = [org.identity_id]
            objs.append(sighting)
        load(store, sightings, org, objs)


def _space(store: Store, space: Collection, orgs: dict[str, Org], now: datetime) -> None:
    """The UK's and Japan's assessments of the Iridium 33 / Cosmos 2251 conjunction of 10 February 2009:
    the same screened event, Pc at a 10 m and a 20 m hard-body radius (a disagreement)."""
    from kizuna.space import assess_event, parse_catalog_text, screen, write_kvn
    from kizuna.space.assessment import event_to_cdm
    from kizuna.space.publish import conjunction_object, extension_definition, kizuna_identity

    text = resources.files("kizuna.data").joinpath("space/iridium33_cosmos2251.tle").read_text()
    catalog = parse_catalog_text(text, source="iridium33_cosmos2251.tle")
    found = screen(catalog.objects, datetime(2009, 2, 10, 16, 0, tzinfo=UTC), 3600.0, workers=1)
    if not found.events:
        raise StoreError("demo: the shipped TLEs gave no conjunction")
    event = found.events[0]
    for org_name, hbr_m in (("uk-space-ops", 10.0), ("jp-space-ops", 20.0)):
        org = orgs[org_name]
        assessed = assess_event(event, hbr_m=hbr_m)
        cdm = event_to_cdm(
            assessed, originator=org_name.upper(), message_id=f"{org_name}-demo-1", created=now
        )
        obj = conjunction_object(
            assessed, write_kvn(cdm), cdm_format="kvn", level=TLP.GREEN, created_by_ref=org.identity_id or ""
        )
        load(store, space, org, [kizuna_identity(), extension_definition(), obj])


def _minerals(store: Store, minerals: Collection, orgs: dict[str, Org]) -> None:
    """Cobalt's supply profile (published by the UK) and the UK's and Japan's import exposure to it
    (published by Japan), computed from the shipped data sets."""
    from kizuna.minerals import MineralsData, exposure, profile
    from kizuna.minerals.publish import build_objects

    data = MineralsData()
    prof = build_objects(
        "profile",
        "Cobalt: supplier shares by stage",
        profile(data, "cobalt").as_dict(),
        TLP.GREEN,
        minerals=["cobalt"],
    )
    load(store, minerals, orgs["uk-ncsc"], prof.objects)
    docs = [exposure(data, partner, "cobalt", year=2024).as_dict() for partner in ("GBR", "JPN")]
    exp = build_objects(
        "exposure",
        "Partner exposure GBR, JPN: cobalt",
        {"year": 2024, "exposures": docs},
        TLP.AMBER,
        minerals=["cobalt"],
        partners=["GBR", "JPN"],
    )
    load(store, minerals, orgs["jp-nisc"], exp.objects)


def _token_file(path: Path, token: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    return path


def next_steps(hub: DemoHub, base_url: str) -> list[str]:
    """The commands to try next against a running demo hub (printed by ``kizuna demo``)."""
    api = f"{base_url}/api/"
    cni = hub.collections["UK-Japan CNI threats"]
    nisc, water = hub.token_files["jp-nisc"], hub.token_files["uk-water-op"]
    return [
        "Try next, in another terminal:",
        f'  curl -H "Authorization: Bearer $(cat {nisc})" {api}collections/',
        "  kizuna samples kizuna-samples          # sample logs, indicators, a CDM, scenarios",
        f"  kizuna match --hub {api} --token-file {nisc} \\",
        f"      --collection {cni} --no-warninglists kizuna-samples/eve.json kizuna-samples/conn.log",
        f"  kizuna minerals profile gallium --publish {api} --token-file {water} \\",
        f"      --collection {cni} --tlp green",
        f"  open {base_url}/ui/ and log in with a token above (only jp-nisc sees the RED indicator)",
        "Guides: docs/quickstart.md, docs/detect.md, docs/federation.md, docs/minerals.md, docs/space.md",
    ]


def load(
    store: Store, collection: Collection, org: Org, objects: list[dict[str, Any]], *, clock: Clock = utc_now
) -> None:
    """Store the demo's objects through the intake, as ``org`` would post them; refuse the whole demo if
    any is refused."""
    result = intake.accept(store, collection, intake.Sender.local(org), objects, clock=clock)
    if result.refused:
        raise StoreError(f"demo data was refused: {[r.reason for r in result.refused[:3]]}")
