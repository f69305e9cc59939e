"""A corpus that crosses every visibility line, for the policy crawl and the fuzzing of the web UI.

Three users: ``admin`` (ceiling RED, administrator), ``amber`` (AMBER) and ``green`` (GREEN). Producers:
``partner-a`` and ``partner-b`` (RED), and ``secret`` (RED), whose objects none of the three may read. The
corpus has every TLP level, RED objects naming recipients and naming nobody, unmarked objects, a TLP raised in
a later version, a revoked object, relationships, sightings (one routed home), notes and opinions that
reference objects across visibility lines, disagreements some users may see and others may not,
conjunctions and minerals assessments, and a collection none of the three holds a grant on.

:meth:`Corpus.readable` is the oracle: the plain read rule (:func:`kizuna.hub.policy.may_read`) over what
was stored, written without the store's queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kizuna.hub import intake, policy
from kizuna.hub.auth import hash_token, new_token
from kizuna.hub.models import Collection, Grant, Org
from kizuna.hub.store.protocols import Store
from kizuna.hub.store.sqlite import SQLiteStore
from kizuna.stix.ids import parse_timestamp, to_us
from kizuna.stix.markings import TLP, TLP2_IDS, tlp_of
from tests.hub.conftest import FrozenClock

USERS = ("admin", "amber", "green")
PRODUCERS = ("partner-a", "partner-b", "secret")
T0 = "2026-03-01T08:00:00.000Z"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def sid(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(uuid.NAMESPACE_URL, 'kizuna-crawl-' + key)}"


def base(kind: str, key: str, level: TLP | None, /, **extra: Any) -> dict[str, Any]:
    o: dict[str, Any] = {
        "type": kind,
        "spec_version": "2.1",
        "id": sid(kind, key),
        "created": T0,
        "modified": T0,
    }
    if level is not None:
        o["object_marking_refs"] = [TLP2_IDS[level]]
    o.update(extra)
    return o


def indicator(name: str, value: str, level: TLP | None, /, **extra: Any) -> dict[str, Any]:
    return base(
        "indicator",
        name,
        level,
        name=name,
        pattern=f"[ipv4-addr:value = '{value}']",
        pattern_type="stix",
        valid_from=T0,
        **extra,
    )


@dataclass
class Stored:
    obj: dict[str, Any]
    producer: str
    collection: str  # alias
    tlp: TLP  # enforced
    recipients: tuple[str, ...]
    restricted: bool = False


@dataclass
class Corpus:
    store: Store
    clock: FrozenClock
    tokens: dict[str, str]
    orgs: dict[str, Org]
    collections: dict[str, Collection]
    grants: dict[tuple[str, str], Grant]
    stored: list[Stored] = field(default_factory=list)

    def post(self, producer: str, alias: str, objs: list[dict[str, Any]]) -> None:
        c = self.collections[alias]
        result = intake.accept(
            self.store, c, intake.Sender.local(self.orgs[producer]), objs, clock=self.clock
        )
        assert not result.refused, result.refused
        for o in objs:
            marked = tlp_of(o)
            level = c.default_tlp if marked is None else marked
            self.stored.append(Stored(o, producer, alias, level, tuple(o.get("x_kizuna_recipients", ()))))
        self.clock.advance(1)

    def may_read(self, user: str, s: Stored) -> bool:
        org = self.orgs[user]
        grant = self.grants.get((user, s.collection))
        named = {self.orgs[r].id for r in s.recipients if r in self.orgs}
        return policy.may_read(org, grant, s.tlp, self.orgs[s.producer].id, named, restricted=s.restricted)

    def readable(self, user: str, alias: str | None = None) -> list[str]:
        """Ids of the objects whose latest readable version ``user`` may read (in one collection), in the
        order they were first stored."""
        out: dict[str, None] = {}
        for s in self.stored:
            if (alias is None or s.collection == alias) and self.may_read(user, s):
                out[s.obj["id"]] = None
        return list(out)

    def readable_versions(self, user: str) -> list[Stored]:
        return [s for s in self.stored if self.may_read(user, s)]

    def forbidden(self, user: str) -> set[str]:
        """Words that must not reach ``user``: ids, names and pattern values of objects it may not read
        (unless a readable object carries the same text: a readable relationship names its target's id),
        and the name of the producer none of whose objects it may read."""
        readable = self.readable_versions(user)
        visible_text = " ".join(repr(s.obj) for s in readable)
        words: set[str] = set()
        for s in self.stored:
            if s in readable:
                continue
            for w in (s.obj["id"], s.obj.get("name"), s.obj.get("content"), s.obj.get("explanation")):
                if isinstance(w, str) and w not in visible_text:
                    words.add(w)
            pattern = s.obj.get("pattern")
            if isinstance(pattern, str):
                value = pattern.split("'")[1]
                if value not in visible_text:
                    words.add(value)
        if not any(s.producer == "secret" for s in readable):
            words.add("secret-producer-org")
        return {w for w in words if len(w) >= 6}


def build(path: Path, dsn: str | None = None) -> Corpus:
    """The corpus in a new hub: the SQLite file ``path``, or (given ``dsn``) a PostgreSQL hub with its key
    file beside ``path``."""
    clock = FrozenClock(NOW)
    store: Store
    if dsn is None:
        store = SQLiteStore.create(path, title="crawl hub", clock=clock, durable=False)
    else:
        from kizuna.hub.store.postgres import PostgresStore

        store = PostgresStore.create(dsn, title="crawl hub", clock=clock, key_file=path.with_suffix(".key"))
    tokens: dict[str, str] = {}
    orgs: dict[str, Org] = {}
    for name, level, admin in (
        ("admin", TLP.RED, True),
        ("amber", TLP.AMBER, False),
        ("green", TLP.GREEN, False),
        ("partner-a", TLP.RED, False),
        ("partner-b", TLP.RED, False),
        ("secret-producer-org", TLP.RED, False),
    ):
        orgs[name] = store.add_org(name, ceiling=level, admin=admin)
        tokens[name] = new_token()
        store.add_token(name, hash_token(tokens[name]))
    orgs["secret"] = orgs["secret-producer-org"]
    everyone = [*USERS, "partner-a", "partner-b", "secret-producer-org"]
    collections = {
        "main": store.add_collection("Main", alias="main", readers=everyone, writers=everyone),
        "sightings": store.add_collection(
            "Sightings", alias="sightings", readers=["admin", "amber", "partner-b"], writers=["partner-b"]
        ),
        "hidden": store.add_collection(
            "Hidden", alias="hidden", readers=["partner-a"], writers=["partner-a"]
        ),
    }
    grants: dict[tuple[str, str], Grant] = {}
    for alias, c in collections.items():
        for user in [*USERS, "partner-a", "partner-b", "secret-producer-org"]:
            g = store.grant(c, orgs[user])
            if g is not None:
                grants[(user, alias)] = g
                if user == "secret-producer-org":
                    grants[("secret", alias)] = g
    corpus = Corpus(store, clock, tokens, orgs, collections, grants)
    _fill(corpus)
    return corpus


def rel(key: str, level: TLP, source: str, target: str) -> dict[str, Any]:
    return base(
        "relationship", key, level, relationship_type="indicates", source_ref=source, target_ref=target
    )


def sighting(key: str, level: TLP, of: str, count: int, seen: str) -> dict[str, Any]:
    return base("sighting", key, level, sighting_of_ref=of, count=count, first_seen=seen, last_seen=seen)


def conjunction(
    key: str, level: TLP, name: str, tca: str, miss_km: float, pc: float, hbr_m: float
) -> dict[str, Any]:
    return base(
        "kizuna-conjunction",
        key,
        level,
        name=name,
        norad_1=22675,
        norad_2=24946,
        tca=tca,
        miss_km=miss_km,
        rel_speed_km_s=11.6,
        collision_probability=pc,
        pc_method="max-pc-tle",
        hbr_m=hbr_m,
        cdm_format="kvn",
        cdm="CCSDS_CDM_VERS = 1.0\n",
    )


def _fill(c: Corpus) -> None:
    bravo = sid("indicator", "ind-green-bravo")
    a = [
        indicator("ind-clear-alpha", "198.18.0.1", TLP.CLEAR),
        indicator("ind-green-bravo", "198.18.0.2", TLP.GREEN),
        indicator("ind-amber-charlie", "198.18.0.3", TLP.AMBER),
        indicator("ind-strict-delta", "198.18.0.4", TLP.AMBER_STRICT),
        indicator("ind-red-echo-named", "198.18.0.5", TLP.RED, x_kizuna_recipients=["admin"]),
        indicator("ind-red-foxtrot-nobody", "198.18.0.6", TLP.RED),
        indicator("ind-unmarked-golf", "198.18.0.7", None),
        base("malware", "mal-green", TLP.GREEN, name="malware-green-hotel", is_family=True),
        base("malware", "mal-red", TLP.RED, name="malware-red-india", is_family=True),
        base("threat-actor", "actor-a", TLP.AMBER, name="Actor Juliet", aliases=["Kilo Group"]),
    ]
    c.post("partner-a", "main", a)
    raised = indicator("ind-raised-lima", "198.18.0.8", TLP.GREEN)
    c.post("partner-a", "main", [raised])
    amber = [TLP2_IDS[TLP.AMBER]]
    later = "2026-03-02T00:00:00.000Z"
    c.post(
        "partner-a",
        "main",
        [{**raised, "name": "ind-raised-mike-amber", "modified": later, "object_marking_refs": amber}],
    )
    gone = indicator("ind-revoked-november", "198.18.0.9", TLP.GREEN)
    c.post("partner-a", "main", [gone])
    c.post("partner-a", "main", [{**gone, "modified": later, "revoked": True}])
    c.post(
        "partner-a",
        "main",
        [
            rel("rel-green-to-red", TLP.GREEN, bravo, sid("malware", "mal-red")),
            rel(
                "rel-clear-to-green",
                TLP.AMBER,
                sid("indicator", "ind-clear-alpha"),
                sid("malware", "mal-green"),
            ),
            base(
                "note",
                "note-green-about-amber",
                TLP.GREEN,
                content="note-about-amber-oscar",
                object_refs=[sid("indicator", "ind-amber-charlie")],
            ),
            base("note", "note-red-nobody", TLP.RED, content="red-note-papa-secret", object_refs=[bravo]),
            base(
                "opinion",
                "opinion-amber",
                TLP.AMBER,
                opinion="disagree",
                explanation="opinion-quebec-words",
                object_refs=[bravo],
            ),
            sighting("sight-a-green", TLP.GREEN, bravo, 2, "2026-03-05T00:00:00Z"),
        ],
    )
    b = [
        indicator("ind-green-b-romeo", "198.18.0.2", TLP.GREEN, confidence=10),
        indicator("ind-amber-b-sierra", "198.18.0.3", TLP.AMBER, confidence=90),
        indicator("ind-red-b-tango", "198.18.0.1", TLP.RED, x_kizuna_recipients=["partner-a"]),
        base("threat-actor", "actor-b", TLP.GREEN, name="Kilo Group", aliases=["Actor Juliet"]),
        sighting("sight-b-amber", TLP.AMBER, bravo, 3, "2026-03-07T00:00:00Z"),
    ]
    c.post("partner-b", "main", b)
    c.post(
        "partner-b", "sightings", [sighting("sight-b-routed", TLP.GREEN, bravo, 5, "2026-03-08T00:00:00Z")]
    )
    # the routed copy in 'main' is restricted to the indicator's producer and the poster
    routed = c.stored[-1]
    c.stored.append(
        Stored(routed.obj, "partner-b", "main", routed.tlp, ("partner-a", "partner-b"), restricted=True)
    )
    s = [
        indicator("ind-secret-uniform", "198.18.9.9", TLP.RED),
        sighting("sight-secret", TLP.RED, bravo, 7, "2026-03-06T00:00:00Z"),
        base("malware", "mal-secret", TLP.RED, name="malware-secret-victor", is_family=False),
    ]
    c.post("secret", "main", s)
    c.post("partner-a", "hidden", [indicator("ind-hidden-whiskey", "198.18.7.7", TLP.GREEN)])
    tca = "2009-02-10T16:55:59.000Z"
    c.post("partner-a", "main", [conjunction("conj-a", TLP.GREEN, "conj-a-xray", tca, 0.7, 3e-4, 10.0)])
    tca_b = "2009-02-10T16:56:09.000Z"
    c.post("partner-b", "main", [conjunction("conj-b", TLP.AMBER, "conj-b-yankee", tca_b, 0.9, 6e-4, 20.0)])
    tca_s = "2009-02-10T16:56:00.000Z"
    c.post("secret", "main", [conjunction("conj-s", TLP.RED, "conj-secret-zulu", tca_s, 0.1, 1e-2, 5.0)])
    for who, level, shares, name in (
        ("partner-a", TLP.GREEN, {"CHN": 60.0, "FIN": 12.0}, "minerals-a-alfa"),
        ("partner-b", TLP.AMBER, {"CHN": 55.0, "BEL": 9.0}, "minerals-b-bravo"),
        ("secret", TLP.RED, {"CHN": 99.0}, "minerals-secret-charlie"),
    ):
        stage = {"stage": "refining", "year": 2024, "import_shares_pct": shares, "import_hhi": 1000.0}
        doc = {"year": 2024, "exposures": [{"partner": "GBR", "mineral": "cobalt", "stages": [stage]}]}
        assessment = base(
            "x-kizuna-minerals-assessment",
            name,
            level,
            name=name,
            assessment_kind="exposure",
            minerals=["cobalt"],
            partners=["GBR"],
            assessment=doc,
        )
        c.post(who, "main", [assessment])


def stored_time(s: Stored) -> int:
    return to_us(parse_timestamp(s.obj.get("modified") or T0))
