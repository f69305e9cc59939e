"""A deterministic, realistic STIX 2.1 corpus for the hub benchmarks (seeded; same seed, same bytes).

The mix resembles a national CERT's sharing feed: indicators with simple and compound patterns (about a
third), observables (IPv4 addresses, domains, URLs, files with hashes), relationships between what came
before, sightings of indicators, malware, attack patterns, threat actors, identities of the producers
and now and then a report grouping recent objects. Objects carry TLP 2.0 markings (mostly GREEN and AMBER,
some CLEAR and AMBER+STRICT, a few RED) and ``created_by_ref`` pointing at one of the identities.

``corpus(n, seed)`` returns a list of ``n`` plain dicts; references only point at objects earlier in the
list, so any prefix of the corpus is self-contained.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

# TLP 2.0 marking-definition ids (FIRST TLP 2.0, the OASIS extension's predefined markings).
TLP_IDS = {
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
_TLP_WEIGHTS = (("clear", 15), ("green", 40), ("amber", 33), ("amber+strict", 8), ("red", 1), (None, 3))

# STIX 2.1 section 2.9: the namespace of deterministic SCO ids.
_SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

_TYPE_WEIGHTS = (
    ("indicator", 32),
    ("ipv4-addr", 8),
    ("domain-name", 7),
    ("url", 5),
    ("file", 5),
    ("relationship", 20),
    ("sighting", 8),
    ("malware", 5),
    ("attack-pattern", 4),
    ("threat-actor", 2),
    ("identity", 2),
    ("report", 2),
)

_TLDS = ("example", "test", "invalid", "example.com", "example.net", "example.org")
_WORDS = (
    "update", "secure", "login", "cdn", "mail", "portal", "sync", "cloud", "api", "files", "billing",
    "grid", "scada", "ops", "vpn", "relay", "docs", "status", "static", "auth",
)  # fmt: skip
_MALWARE = (
    "Industroyer", "TRITON", "BlackEnergy", "Havex", "PIPEDREAM", "Emotet", "QakBot", "PlugX",
    "ShadowPad", "Cobalt Strike", "Sliver", "AsyncRAT", "IcedID", "Royal", "LockBit",
)  # fmt: skip
_MALWARE_TYPES = ("backdoor", "ransomware", "remote-access-trojan", "dropper", "downloader", "wiper", "bot")
_EXTENSIONS = ("exe", "dll", "ps1", "docm")
_ORGS = ("NCSC", "NISC", "JPCERT/CC", "Grid operator", "Water utility", "Rail operator")
_ACTORS = ("Sandworm", "XENOTIME", "Volt Typhoon", "APT10", "Lazarus Group", "TEMP.Veles", "Dragonfly")
_SECTORS = ("energy", "water", "transportation", "telecommunications", "government-national", "finance")
_TECHNIQUES = (
    ("T0817", "Drive-by Compromise"), ("T0866", "Exploitation of Remote Services"),
    ("T0886", "Remote Services"), ("T0855", "Unauthorized Command Message"),
    ("T1190", "Exploit Public-Facing Application"), ("T1566", "Phishing"), ("T1078", "Valid Accounts"),
    ("T1059", "Command and Scripting Interpreter"), ("T1021", "Remote Services"),
)  # fmt: skip
_REL_TYPES = (
    ("indicator", "malware", "indicates"),
    ("indicator", "threat-actor", "indicates"),
    ("malware", "attack-pattern", "uses"),
    ("threat-actor", "malware", "uses"),
    ("threat-actor", "attack-pattern", "uses"),
    ("threat-actor", "identity", "targets"),
    ("malware", "identity", "targets"),
    ("indicator", "attack-pattern", "indicates"),
)


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
        self.pools: dict[str, list[str]] = {t: [] for t, _ in _TYPE_WEIGHTS}
        self.recent: list[str] = []
        self.n = 0

    # -- helpers --------------------------------------------------------------------------------------
    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def sco_id(self, stix_type: str, contributing: str) -> str:
        return f"{stix_type}--{uuid.uuid5(_SCO_NAMESPACE, contributing)}"

    def ts(self) -> str:
        moment = self.base + timedelta(seconds=self.n * 7 + self.rng.randrange(0, 3600))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.rng.randrange(1000):03d}Z"

    def ip(self) -> str:
        net = self.rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{self.rng.randrange(1, 255)}"

    def domain(self) -> str:
        r = self.rng
        return f"{r.choice(_WORDS)}-{r.choice(_WORDS)}{r.randrange(1000)}.{r.choice(_TLDS)}"

    def url(self) -> str:
        r = self.rng
        return f"https://{self.domain()}/{r.choice(_WORDS)}/{r.randrange(10**6)}.php?id={r.randrange(10**4)}"

    def hexdigest(self, kind: str) -> str:
        return hashlib.new(kind, self.rng.getrandbits(64).to_bytes(8, "big")).hexdigest()

    def marking(self, obj: dict[str, Any]) -> dict[str, Any]:
        labels = [t for t, _ in _TLP_WEIGHTS]
        level = self.rng.choices(labels, weights=[w for _, w in _TLP_WEIGHTS])[0]
        if level is not None:
            obj["object_marking_refs"] = [TLP_IDS[level]]
        return obj

    def sdo(self, stix_type: str, **props: Any) -> dict[str, Any]:
        created = self.ts()
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": f"{stix_type}--{self.uuid4()}",
            "created": created,
            "modified": created,
        }
        if self.pools["identity"]:
            obj["created_by_ref"] = self.rng.choice(self.pools["identity"])
        obj.update(props)
        return self.marking(obj)

    def pick(self, stix_type: str) -> str | None:
        pool = self.pools[stix_type]
        if not pool:
            return None
        # Mostly recent objects, as in a live feed.
        return pool[-1 - min(int(self.rng.expovariate(1 / 50)), len(pool) - 1)]

    # -- patterns -------------------------------------------------------------------------------------
    def pattern(self) -> tuple[str, str]:
        """(pattern, name) with simple comparisons most often and compound forms now and then."""
        r = self.rng
        kind = r.choices(
            (
                "ip",
                "domain",
                "url",
                "sha256",
                "hashes_or",
                "net",
                "cidr",
                "email",
                "followed",
                "regkey",
                "multi",
            ),
            weights=(18, 18, 12, 16, 8, 6, 5, 5, 4, 4, 4),
        )[0]
        if kind == "ip":
            ip = self.ip()
            return f"[ipv4-addr:value = '{ip}']", f"C2 address {ip}"
        if kind == "domain":
            d = self.domain()
            return f"[domain-name:value = '{d}']", f"Malicious domain {d}"
        if kind == "url":
            u = self.url()
            return f"[url:value = '{u}']", "Payload download URL"
        if kind == "sha256":
            return f"[file:hashes.'SHA-256' = '{self.hexdigest('sha256')}']", "Malicious file (SHA-256)"
        if kind == "hashes_or":
            return (
                f"[file:hashes.MD5 = '{self.hexdigest('md5')}' OR "
                f"file:hashes.'SHA-1' = '{self.hexdigest('sha1')}']",
                "Loader variant hashes",
            )
        if kind == "net":
            return (
                "[network-traffic:dst_ref.type = 'ipv4-addr'"
                f" AND network-traffic:dst_ref.value = '{self.ip()}'"
                f" AND network-traffic:dst_port = {r.choice((443, 502, 8443, 20000, 44818))}]",
                "Beacon to controller",
            )
        if kind == "cidr":
            return f"[ipv4-addr:value ISSUBSET '{self.ip().rsplit('.', 1)[0]}.0/24']", "Scanning range"
        if kind == "email":
            d = self.domain().replace(".", "\\\\.")
            return f"[email-message:from_ref.value MATCHES '.+@{d}$']", "Phishing sender domain"
        if kind == "followed":
            return (
                f"[process:name = '{r.choice(_WORDS)}.exe'] FOLLOWEDBY "
                f"[file:name = '{r.choice(_WORDS)}{r.randrange(100)}.dll']"
                f" WITHIN {r.choice((60, 300, 600))} SECONDS",
                "Side-loading sequence",
            )
        if kind == "regkey":
            return (
                f"[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\SOFTWARE\\\\{r.choice(_WORDS)}'"
                f" AND windows-registry-key:values[*].name = 'Run{r.randrange(100)}']",
                "Persistence key",
            )
        return (
            f"([ipv4-addr:value = '{self.ip()}'] OR [domain-name:value = '{self.domain()}'])"
            f" AND [url:value = '{self.url()}'] REPEATS {r.randrange(2, 5)} TIMES",
            "Multi-stage infrastructure",
        )

    # -- objects --------------------------------------------------------------------------------------
    def make(self, stix_type: str) -> dict[str, Any]:
        r = self.rng
        if stix_type == "indicator":
            pattern, name = self.pattern()
            obj = self.sdo(
                "indicator",
                name=name,
                indicator_types=[r.choice(("malicious-activity", "anomalous-activity", "attribution"))],
                pattern=pattern,
                pattern_type="stix",
                valid_from=self.ts(),
                confidence=r.choice((15, 50, 85)),
            )
            if r.random() < 0.3:
                t, n = r.choice(_TECHNIQUES)
                obj["kill_chain_phases"] = [
                    {"kill_chain_name": "mitre-attack", "phase_name": n.lower().replace(" ", "-")}
                ]
            return obj
        if stix_type == "ipv4-addr":
            ip = self.ip()
            return self.marking(
                {"type": stix_type, "spec_version": "2.1", "id": self.sco_id(stix_type, ip), "value": ip}
            )
        if stix_type == "domain-name":
            d = self.domain()
            return self.marking(
                {"type": stix_type, "spec_version": "2.1", "id": self.sco_id(stix_type, d), "value": d}
            )
        if stix_type == "url":
            u = self.url()
            return self.marking(
                {"type": stix_type, "spec_version": "2.1", "id": self.sco_id(stix_type, u), "value": u}
            )
        if stix_type == "file":
            sha = self.hexdigest("sha256")
            return self.marking(
                {
                    "type": "file",
                    "spec_version": "2.1",
                    "id": self.sco_id("file", sha),
                    "hashes": {"SHA-256": sha, "MD5": self.hexdigest("md5")},
                    "name": f"{r.choice(_WORDS)}{r.randrange(1000)}.{r.choice(_EXTENSIONS)}",
                    "size": r.randrange(10_000, 5_000_000),
                }
            )
        if stix_type == "malware":
            return self.sdo(
                "malware",
                name=f"{r.choice(_MALWARE)} variant {r.randrange(1000)}",
                is_family=r.random() < 0.2,
                malware_types=[r.choice(_MALWARE_TYPES)],
                description="Observed against operational technology networks.",
            )
        if stix_type == "attack-pattern":
            t, n = r.choice(_TECHNIQUES)
            return self.sdo(
                "attack-pattern",
                name=n,
                external_references=[
                    {
                        "source_name": "mitre-attack",
                        "external_id": t,
                        "url": f"https://attack.mitre.org/techniques/{t}/",
                    }
                ],
            )
        if stix_type == "threat-actor":
            return self.sdo(
                "threat-actor",
                name=f"{r.choice(_ACTORS)} cluster {r.randrange(100)}",
                threat_actor_types=[r.choice(("nation-state", "crime-syndicate", "hacker"))],
                sophistication=r.choice(("advanced", "expert", "strategic")),
            )
        if stix_type == "identity":
            return self.sdo(
                "identity",
                name=f"{r.choice(_ORGS)} {r.randrange(1000)}",
                identity_class="organization",
                sectors=[r.choice(_SECTORS)],
            )
        if stix_type == "relationship":
            options = [(s, t, rt) for s, t, rt in _REL_TYPES if self.pools[s] and self.pools[t]]
            if not options:
                return self.make("indicator")
            s, t, rt = r.choice(options)
            return self.sdo(
                "relationship", relationship_type=rt, source_ref=self.pick(s), target_ref=self.pick(t)
            )
        if stix_type == "sighting":
            ind = self.pick("indicator")
            if ind is None:
                return self.make("indicator")
            first = self.ts()
            obj = self.sdo(
                "sighting", sighting_of_ref=ind, count=r.randrange(1, 500), first_seen=first, last_seen=first
            )
            if self.pools["identity"]:
                obj["where_sighted_refs"] = [r.choice(self.pools["identity"])]
            return obj
        if stix_type == "report":
            refs = self.recent[-r.randrange(5, 20) :]
            if not refs:
                return self.make("indicator")
            return self.sdo(
                "report",
                name=f"Weekly OT threat summary {self.n}",
                report_types=["threat-report"],
                published=self.ts(),
                object_refs=list(refs),
            )
        raise ValueError(stix_type)

    def next_object(self) -> dict[str, Any]:
        if self.n < 3:
            stix_type = "identity"  # the producers come first
        else:
            stix_type = self.rng.choices(
                [t for t, _ in _TYPE_WEIGHTS], weights=[w for _, w in _TYPE_WEIGHTS]
            )[0]
        obj = self.make(stix_type)
        self.pools[obj["type"]].append(obj["id"])
        self.recent.append(obj["id"])
        del self.recent[:-50]
        self.n += 1
        return obj


def corpus(n: int, seed: int = 20260105) -> list[dict[str, Any]]:
    """``n`` distinct STIX 2.1 objects, deterministic for a given ``seed``."""
    gen = _Gen(seed)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(out) < n:
        obj = gen.next_object()
        if obj["id"] in seen:  # an SCO drawn twice (same value, same deterministic id)
            continue
        seen.add(obj["id"])
        out.append(obj)
    return out
