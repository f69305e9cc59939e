"""Seeded random STIX patterns and events for the agreement tests (fast path vs reference)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from kizuna.detect.matcher import Event

IPS = ["10.0.0.1", "10.0.0.2", "10.0.1.7", "192.168.1.10", "8.8.8.8", "203.0.113.5", "10.0.0.1/30", "junk"]
IP6 = ["2001:db8::1", "2001:db8::2", "fe80::1", "2001:db8:1::9"]
CIDRS = ["10.0.0.0/8", "10.0.0.0/24", "10.0.0.0/31", "192.168.0.0/16", "203.0.113.0/24", "8.8.8.8/32"]
CIDR6 = ["2001:db8::/32", "2001:db8::/64", "fe80::/10"]
DOMAINS = ["evil.example", "good.example", "a.evil.example", "x.test", "Evil.Example"]
URLS = ["http://evil.example/a", "https://good.example/", "http://x.test/p?q=1"]
MD5 = ["d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661", "abc"]
NAMES = ["a.exe", "b.dll", "it's.txt", "ünï.doc", "a%b_c"]
PORTS = [22, 53, 80, 443, 8080]
STRINGS = ["evil", "ex%", "%.example", "a_.exe", "%", "good%", "_"]
REGEXES = ["^evil", "example$", "[0-9]+", "\\.exe$", "a|b", ""]

START = datetime(2026, 1, 1, tzinfo=UTC)


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# (object type, path text, value pool, kind)
FIELDS: list[tuple[str, str, list[Any], str]] = [
    ("ipv4-addr", "value", IPS, "ip"),
    ("ipv6-addr", "value", IP6, "ip6"),
    ("domain-name", "value", DOMAINS, "str"),
    ("url", "value", URLS, "str"),
    ("file", "hashes.MD5", MD5, "str"),
    ("file", "hashes.'SHA-256'", MD5, "str"),
    ("file", "name", NAMES, "str"),
    ("network-traffic", "dst_port", PORTS, "int"),
    ("network-traffic", "dst_ref.value", IPS, "ip"),
    ("network-traffic", "protocols[*]", ["tcp", "udp", "dns"], "str"),
    ("network-traffic", "protocols[0]", ["tcp", "udp", "dns"], "str"),
]


def literal(rng: random.Random, kind: str, pool: list[Any]) -> str:
    v = rng.choice(pool)
    return str(v) if kind == "int" else quote(str(v))


def comparison(rng: random.Random, object_type: str | None = None) -> str:
    fields = [f for f in FIELDS if object_type is None or f[0] == object_type] or FIELDS
    t, path, pool, kind = rng.choice(fields)
    lhs = f"{t}:{path}"
    r = rng.random()
    neg = "NOT " if rng.random() < 0.1 else ""
    if r < 0.45:
        return f"{lhs} {neg}= {literal(rng, kind, pool)}"
    if r < 0.52:
        return f"{lhs} {neg}!= {literal(rng, kind, pool)}"
    if r < 0.62:
        items = ", ".join(literal(rng, kind, pool) for _ in range(rng.randint(0, 3)))
        return f"{lhs} {neg}IN ({items})"
    if r < 0.72 and kind in ("ip", "ip6"):
        return f"{lhs} {neg}ISSUBSET {quote(rng.choice(CIDRS if kind == 'ip' else CIDR6))}"
    if r < 0.8 and kind != "int":
        return f"{lhs} {neg}LIKE {quote(rng.choice(STRINGS))}"
    if r < 0.87 and kind != "int":
        return f"{lhs} {neg}MATCHES {quote(rng.choice(REGEXES))}"
    if r < 0.95:
        op = rng.choice(["<", "<=", ">", ">="])
        return f"{lhs} {neg}{op} {literal(rng, kind, pool)}"
    return f"{lhs} = {literal(rng, kind, pool)}"


def comparison_expr(rng: random.Random, depth: int = 0) -> str:
    if depth >= 2 or rng.random() < 0.55:
        return comparison(rng)
    op = rng.choice(["AND", "OR"])
    left = comparison_expr(rng, depth + 1)
    # AND of different object types never holds; keep the type mostly the same so ANDs can match
    right = comparison(rng, left.split(":")[0].lstrip("(")) if rng.random() < 0.7 else comparison_expr(rng, 2)
    text = f"{left} {op} {right}"
    return f"({text})" if rng.random() < 0.3 else text


def observation_expr(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth >= 2 or r < 0.5:
        base = f"[{comparison_expr(rng)}]"
    else:
        op = rng.choice(["AND", "OR", "FOLLOWEDBY"])
        base = f"({observation_expr(rng, depth + 1)} {op} {observation_expr(rng, depth + 1)})"
    q = rng.random()
    if q < 0.12:
        base += f" WITHIN {rng.choice([1, 5, 30, 300])} SECONDS"
    elif q < 0.2:
        base += f" REPEATS {rng.randint(1, 3)} TIMES"
    elif q < 0.26:
        a = START + timedelta(seconds=rng.randint(0, 60))
        b = a + timedelta(seconds=rng.randint(-5, 60))
        base += f" START t'{a:%Y-%m-%dT%H:%M:%S}Z' STOP t'{b:%Y-%m-%dT%H:%M:%S}Z'"
    return base


def pattern(rng: random.Random, compound_share: float = 0.3) -> str:
    if rng.random() < compound_share:
        return observation_expr(rng)
    return f"[{comparison_expr(rng)}]"


def event(rng: random.Random, line: int) -> Event:
    objects: dict[str, dict[str, Any]] = {}
    n = rng.randint(1, 3)
    for _ in range(n):
        key = str(len(objects))
        kind = rng.choice(["ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "network-traffic"])
        if kind == "ipv4-addr":
            objects[key] = {"type": kind, "value": rng.choice(IPS)}
        elif kind == "ipv6-addr":
            objects[key] = {"type": kind, "value": rng.choice(IP6)}
        elif kind == "domain-name":
            objects[key] = {"type": kind, "value": rng.choice(DOMAINS)}
        elif kind == "url":
            objects[key] = {"type": kind, "value": rng.choice(URLS)}
        elif kind == "file":
            hashes = {rng.choice(["MD5", "SHA-256"]): rng.choice(MD5)}
            objects[key] = {"type": kind, "hashes": hashes, "name": rng.choice(NAMES)}
            if rng.random() < 0.2:
                objects[key]["size"] = rng.choice([0, 10, True])
        else:
            dst = str(len(objects) + 1)
            objects[key] = {
                "type": kind,
                "dst_port": rng.choice([*PORTS, 80.0, True, "80"]),
                "protocols": rng.sample(["tcp", "udp", "dns"], rng.randint(0, 2)),
                "dst_ref": dst,
            }
            objects[dst] = {"type": "ipv4-addr", "value": rng.choice(IPS)}
    time = START + timedelta(seconds=rng.randint(0, 90))
    return Event("random.log", line, time, objects)
