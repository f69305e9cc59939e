"""Throughput of kizuna.stix.validate.validate_object, single core.

Corpora:
* a generated feed-like mix (seeded): ~30% indicators (hash, IP, domain, URL and compound STIX patterns,
  all different, so the pattern cache does not help), SCOs, relationships, malware, identities, sightings...
* the hub benchmarks' corpus (benchmarks/_corpus.py), when present;
* MITRE ATT&CK for ICS v18.1 (kizuna/data/cti/ics-attack.json), 1,826 objects.

Each corpus is timed once with an empty pattern cache (cold: what a feed of new indicators costs) and as the
best of ``--repeat`` passes (warm).

Peer: the OASIS ``stix2`` library's ``stix2.parse(obj, allow_custom=True)`` on the same objects (it validates
properties and indicator patterns while building Python objects).

Usage: python benchmarks/stix_validate_bench.py [--objects 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from kizuna.errors import InvalidObject
from kizuna.stix import _pattern as patterns_mod
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.stix.validate import validate_object

MARKINGS = [TLP2_IDS[TLP.CLEAR], TLP2_IDS[TLP.GREEN], TLP2_IDS[TLP.AMBER], TLP2_IDS[TLP.RED]]


def _ts(rng: random.Random, year: int = 2025) -> str:
    return (
        f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:"
        f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
    )


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _domain(rng: random.Random) -> str:
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 12)))
    return f"{word}.{rng.choice(['com', 'net', 'ru', 'cn', 'xyz', 'co.uk', 'jp'])}"


def _pattern(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.40:
        alg, n = rng.choice([("'SHA-256'", 64), ("MD5", 32), ("'SHA-1'", 40)])
        return f"[file:hashes.{alg} = '{_hex(rng, n)}']"
    if kind < 0.60:
        return f"[ipv4-addr:value = '{_ip(rng)}']"
    if kind < 0.75:
        return f"[domain-name:value = '{_domain(rng)}']"
    if kind < 0.88:
        return f"[url:value = 'http://{_domain(rng)}/{_hex(rng, 8)}/index.php?id={rng.randint(1, 99999)}']"
    if kind < 0.95:
        return (
            f"[file:name = 'invoice_{rng.randint(1, 9999)}.exe' AND "
            f"file:hashes.'SHA-256' = '{_hex(rng, 64)}'] OR [ipv4-addr:value = '{_ip(rng)}']"
        )
    return (
        f"[network-traffic:dst_ref.value = '{_ip(rng)}' AND network-traffic:dst_port = 443] WITHIN 60 SECONDS"
    )


def generate(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    identity = f"identity--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def oid(t: str) -> str:
        return f"{t}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    def sdo(t: str, **props: Any) -> dict[str, Any]:
        created = _ts(rng, 2024)
        obj: dict[str, Any] = {
            "type": t,
            "spec_version": "2.1",
            "id": oid(t),
            "created": created,
            "modified": created if rng.random() < 0.5 else _ts(rng, 2025),
            "created_by_ref": identity,
            "object_marking_refs": [rng.choice(MARKINGS)],
        }
        obj.update(props)
        if rng.random() < 0.3:
            obj["labels"] = ["malicious-activity"]
        if rng.random() < 0.2:
            obj["external_references"] = [
                {"source_name": "feed", "url": f"https://{_domain(rng)}/r/{_hex(rng, 6)}"}
            ]
        return obj

    for _ in range(count):
        r = rng.random()
        if r < 0.30:
            yield sdo(
                "indicator",
                name=f"IOC {_hex(rng, 6)}",
                indicator_types=["malicious-activity"],
                pattern=_pattern(rng),
                pattern_type="stix",
                pattern_version="2.1",
                valid_from=_ts(rng, 2024),
                confidence=rng.randint(0, 100),
            )
        elif r < 0.55:
            sco_kind = rng.random()
            if sco_kind < 0.35:
                yield {"type": "ipv4-addr", "spec_version": "2.1", "id": oid("ipv4-addr"), "value": _ip(rng)}
            elif sco_kind < 0.6:
                yield {
                    "type": "domain-name",
                    "spec_version": "2.1",
                    "id": oid("domain-name"),
                    "value": _domain(rng),
                }
            elif sco_kind < 0.8:
                yield {
                    "type": "file",
                    "spec_version": "2.1",
                    "id": oid("file"),
                    "name": f"sample_{_hex(rng, 4)}.dll",
                    "hashes": {"MD5": _hex(rng, 32), "SHA-256": _hex(rng, 64)},
                    "size": rng.randint(1, 10**7),
                }
            elif sco_kind < 0.92:
                yield {
                    "type": "url",
                    "spec_version": "2.1",
                    "id": oid("url"),
                    "value": f"https://{_domain(rng)}/x",
                }
            else:
                yield {"type": "email-addr", "spec_version": "2.1", "id": oid("email-addr"),
                       "value": f"user@{_domain(rng)}"}  # fmt: skip
        elif r < 0.80:
            yield sdo(
                "relationship",
                relationship_type=rng.choice(["indicates", "uses", "targets", "related-to"]),
                source_ref=oid("indicator"),
                target_ref=oid("malware"),
            )
        elif r < 0.87:
            yield sdo(
                "malware",
                name=f"Family {_hex(rng, 4)}",
                is_family=True,
                malware_types=["ransomware"],
                kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "impact"}],
            )
        elif r < 0.90:
            yield sdo(
                "identity", name=f"Org {_hex(rng, 4)}", identity_class="organization", sectors=["energy"]
            )
        elif r < 0.94:
            first = _ts(rng, 2024)
            yield sdo("sighting", sighting_of_ref=oid("indicator"), count=rng.randint(1, 50),
                      where_sighted_refs=[identity], first_seen=first, last_seen=first)  # fmt: skip
        elif r < 0.97:
            yield sdo("attack-pattern", name=f"T{rng.randint(1000, 1999)}", description="technique")
        else:
            refs = [oid("indicator") for _ in range(5)]
            yield sdo(
                "report",
                name="Weekly",
                published=_ts(rng, 2025),
                report_types=["threat-report"],
                object_refs=refs,
            )


def hub_corpus(n: int) -> list[dict[str, Any]]:
    """The hub benchmarks' corpus (benchmarks/_corpus.py) when it is there."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from _corpus import corpus
    except ImportError:
        return []
    objects: list[dict[str, Any]] = corpus(n)
    return objects


def rate(objects: list[dict[str, Any]], fn: Callable[[dict[str, Any]], object], repeat: int) -> float:
    """Best objects per second of process CPU time over ``repeat`` passes.

    CPU time rather than wall-clock time, so that other work on a shared machine does not count.
    """
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        for obj in objects:
            fn(obj)
        best = min(best, time.process_time() - t0)
    return len(objects) / best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peer-objects", type=int, default=5_000, help="objects given to stix2.parse")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # single core

    mix = list(generate(args.objects))
    kinds = Counter(o["type"] for o in mix)
    invalid = 0
    for obj in mix:
        try:
            validate_object(obj)
        except InvalidObject as exc:  # pragma: no cover - the generator must only make valid objects
            invalid += 1
            print("invalid:", exc)
    assert invalid == 0, f"{invalid} generated objects are invalid"
    attack_text = resources.files("kizuna.data").joinpath("cti/ics-attack.json").read_text(encoding="utf-8")
    attack = json.loads(attack_text)["objects"]

    patterns = [o["pattern"] for o in mix if o["type"] == "indicator"]
    fast = sum(patterns_mod.fast_accepts(p) for p in patterns)
    print(f"python {platform.python_version()}, {platform.machine()}; rates per second of process CPU time")
    print(
        f"mix: {len(mix)} objects, {len(patterns)} indicators ({fast / len(patterns):.1%} on the fast path)"
    )
    print("mix types:", ", ".join(f"{t} {n}" for t, n in kinds.most_common()))

    for name, objects in (("mix", mix), ("hub corpus", hub_corpus(args.objects)), ("ATT&CK ICS", attack)):
        if not objects:
            continue
        patterns_mod._cached_reference.cache_clear()
        cold = rate(objects, validate_object, 1)  # every pattern seen for the first time
        warm = rate(objects, validate_object, args.repeat)
        print(f"validate_object, {name} ({len(objects)} objects): {cold:,.0f} objects/s, warm {warm:,.0f}")

    sample = patterns[:2000]
    t0 = time.process_time()
    for p in sample:
        patterns_mod.fast_accepts(p)
    fast_us = (time.process_time() - t0) / len(sample) * 1e6
    from stix2patterns.validator import run_validator

    slow_sample = sample[:300]
    t0 = time.process_time()
    for p in slow_sample:
        run_validator(p, stix_version="2.1")
    slow_us = (time.process_time() - t0) / len(slow_sample) * 1e6
    print(
        f"pattern check: fast recogniser {fast_us:.1f} us, "
        f"stix2-patterns {slow_us:.0f} us ({slow_us / fast_us:.0f}x)"
    )

    import stix2

    peer_objects = mix[: args.peer_objects]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer_rate = rate(peer_objects, lambda o: stix2.parse(o, allow_custom=True), 1)
        ours = rate(peer_objects, validate_object, args.repeat)
    print(
        f"peer stix2.parse(allow_custom=True), first {len(peer_objects)} of the mix: "
        f"{peer_rate:,.0f} objects/s; "
        f"validate_object on the same: {ours:,.0f} objects/s ({ours / peer_rate:.0f}x)"
    )


if __name__ == "__main__":
    main()
