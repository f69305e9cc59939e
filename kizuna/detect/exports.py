"""Exports for line-rate engines: Zeek's Intel framework and Suricata datasets.

Only the *compilable subset* is exported: an indicator whose pattern is one ``[...]`` made of equality
comparisons (``=``, ``IN``; OR between them) - and ``ISSUBSET`` for Zeek subnets - on a property the
engine watches. Everything else is counted under a reason in :class:`ExportReport`.

Zeek Intel (``Intel::read_files``): one tab-separated file, header ``#fields indicator indicator_type
meta.source meta.desc meta.url``, unset fields ``-``; URLs are written without their scheme, as Zeek
matches them. Suricata: one dataset file per type - ``string`` (base64 of each value, one a line),
``md5``/``sha256`` (hex), ``ipv4``, ``ip`` (IPv6 text) - and ``kizuna.rules`` with the rules that load
them (``dns.query``/``tls.sni``/``http.host`` for domains, ``ip.src``/``ip.dst`` for addresses,
``filemd5``/``filesha256`` for file hashes).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import stat
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from kizuna.detect.indicators import Indicator
from kizuna.detect.pattern import BoolOr, Comparison, ComparisonExpr, Observation

EXPORT_FORMATS = ("zeek-intel", "suricata-dataset")

# (object type, path) -> Zeek Intel type
ZEEK_TYPES: dict[tuple[str, tuple[str, ...]], str] = {
    ("ipv4-addr", ("value",)): "Intel::ADDR",
    ("ipv6-addr", ("value",)): "Intel::ADDR",
    ("domain-name", ("value",)): "Intel::DOMAIN",
    ("url", ("value",)): "Intel::URL",
    ("email-addr", ("value",)): "Intel::EMAIL",
    ("file", ("name",)): "Intel::FILE_NAME",
    ("file", ("hashes", "MD5")): "Intel::FILE_HASH",
    ("file", ("hashes", "SHA-1")): "Intel::FILE_HASH",
    ("file", ("hashes", "SHA-256")): "Intel::FILE_HASH",
    ("user-account", ("account_login",)): "Intel::USER_NAME",
    ("user-account", ("user_id",)): "Intel::USER_NAME",
    ("software", ("name",)): "Intel::SOFTWARE",
    ("x509-certificate", ("hashes", "SHA-1")): "Intel::CERT_HASH",
}

# (object type, path) -> Suricata dataset name (each name has one dataset type)
SURICATA_SETS: dict[tuple[str, tuple[str, ...]], str] = {
    ("ipv4-addr", ("value",)): "kizuna-ipv4",
    ("ipv6-addr", ("value",)): "kizuna-ipv6",
    ("domain-name", ("value",)): "kizuna-domain",
    ("file", ("hashes", "MD5")): "kizuna-md5",
    ("file", ("hashes", "SHA-256")): "kizuna-sha256",
}
SURICATA_TYPES = {
    "kizuna-ipv4": "ipv4",
    "kizuna-ipv6": "ip",
    "kizuna-domain": "string",
    "kizuna-md5": "md5",
    "kizuna-sha256": "sha256",
}
SID_BASE = 9_710_000


@dataclass
class ExportReport:
    exported: int = 0  # indicators with at least one exported value
    lines: int = 0  # values written
    skipped: Counter[str] = field(default_factory=Counter)
    files: list[Path] = field(default_factory=list)


def _atoms(expr: ComparisonExpr) -> list[Comparison] | None:
    """The comparisons of a plain OR of comparisons; None when there is an AND."""
    if isinstance(expr, Comparison):
        return [expr]
    if isinstance(expr, BoolOr):
        left, right = _atoms(expr.left), _atoms(expr.right)
        return None if left is None or right is None else left + right
    return None


def _values(c: Comparison) -> list[str] | None:
    """The values an equality / IN comparison on strings matches; None for other comparisons."""
    if (c.op == "=" and not c.negated) or (c.op == "!=" and c.negated):
        return [c.value] if isinstance(c.value, str) else None
    if c.op == "IN" and not c.negated and isinstance(c.value, frozenset):
        values = sorted(c.value, key=str)
        return values if all(isinstance(v, str) for v in values) else None
    return None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _clean(text: str) -> str:
    """Zeek fields cannot hold tabs or newlines; an empty field is written as '-'."""
    text = " ".join(text.split())
    return text or "-"


def zeek_intel_rows(indicators: Iterable[Indicator], report: ExportReport) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for ind in indicators:
        atoms = _atoms(ind.expr.comparison) if isinstance(ind.expr, Observation) else None
        if atoms is None:
            report.skipped["not a single [..] of OR-ed comparisons"] += 1
            continue
        out: list[tuple[str, ...]] = []
        for c in atoms:
            key = (c.object_type, tuple(str(s) for s in c.path))
            if c.op == "ISSUBSET" and not c.negated and key[0] in ("ipv4-addr", "ipv6-addr"):
                try:
                    values = [str(ipaddress.ip_network(str(c.value), strict=False))]
                except ValueError:
                    values = None
                intel = "Intel::SUBNET"
            else:
                values, intel = _values(c), ZEEK_TYPES.get(key, "")
            if values is None or not intel:
                out = []
                break
            if intel == "Intel::ADDR" and not all(_is_address(v) for v in values):
                out = []
                break
            for v in values:
                if intel == "Intel::URL":
                    parts = urlsplit(v)
                    v = v[len(parts.scheme) + 3 :] if parts.scheme and "://" in v else v
                if intel == "Intel::FILE_HASH":
                    v = v.lower()
                out.append((_clean(v), intel, _clean(f"kizuna {ind.id}"), _clean(ind.name), "-"))
        if not out:
            report.skipped["comparison Zeek Intel cannot express"] += 1
            continue
        report.exported += 1
        rows.extend(out)
    report.lines += len(rows)
    return rows


ZEEK_INTEL_FILE = "kizuna.intel"
ZEEK_INTEL_HEADER = "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url\n"
SURICATA_RULES_FILE = "kizuna.rules"


def zeek_intel_files(indicators: Iterable[Indicator], report: ExportReport) -> dict[str, bytes]:
    """The Zeek export as {file name: content}."""
    rows = zeek_intel_rows(indicators, report)
    text = ZEEK_INTEL_HEADER + "".join("\t".join(row) + "\n" for row in rows)
    return {ZEEK_INTEL_FILE: text.encode("utf-8")}


def suricata_files(
    indicators: Iterable[Indicator], report: ExportReport, *, keep: Iterable[str] = ()
) -> dict[str, bytes]:
    """The Suricata export as {file name: content}: a dataset file per non-empty dataset (and, empty, per
    dataset file named in ``keep``: one written before, whose values are gone), then the rules."""
    sets = suricata_values(indicators, report)
    kept = set(keep)
    files: dict[str, bytes] = {}
    for name, values in sets.items():
        unique = list(dict.fromkeys(values))
        if unique or f"{name}.lst" in kept:
            files[f"{name}.lst"] = "".join(v + "\n" for v in unique).encode("ascii")
            report.lines += len(unique)
    files[SURICATA_RULES_FILE] = "".join(r + "\n" for r in suricata_rules(sets)).encode("utf-8")
    return files


def export_files(
    fmt: str, indicators: Iterable[Indicator], *, keep: Iterable[str] = ()
) -> tuple[dict[str, bytes], ExportReport]:
    """The files of export format ``fmt`` (one of :data:`EXPORT_FORMATS`) and what went into them."""
    report = ExportReport()
    if fmt == "zeek-intel":
        return zeek_intel_files(indicators, report), report
    return suricata_files(indicators, report, keep=keep), report


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` by ``data`` so that a reader sees the old file or the new one, never a part:
    a temporary file in the same folder, fsync, rename, then fsync of the folder. The file keeps its mode
    (``mode`` for a new one, default 0644: sensors run as another user and must read it)."""
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)


def _write_all(files: dict[str, bytes], out_dir: Path, report: ExportReport) -> ExportReport:
    out_dir.mkdir(exist_ok=True)  # one new folder at most: its parent was checked before any work
    for name, data in files.items():
        path = out_dir / name
        write_atomically(path, data)
        report.files.append(path)
    return report


def write_zeek_intel(indicators: Iterable[Indicator], out_dir: Path) -> ExportReport:
    report = ExportReport()
    return _write_all(zeek_intel_files(indicators, report), out_dir, report)


def suricata_values(indicators: Iterable[Indicator], report: ExportReport) -> dict[str, list[str]]:
    sets: dict[str, list[str]] = {name: [] for name in SURICATA_TYPES}
    for ind in indicators:
        atoms = _atoms(ind.expr.comparison) if isinstance(ind.expr, Observation) else None
        if atoms is None:
            report.skipped["not a single [..] of OR-ed comparisons"] += 1
            continue
        picked = _suricata_pick(atoms)
        if not picked:
            report.skipped["comparison Suricata datasets cannot express"] += 1
            continue
        report.exported += 1
        for name, value in picked:
            sets[name].append(value)
    return sets


def _suricata_pick(atoms: list[Comparison]) -> list[tuple[str, str]] | None:
    """(dataset name, line) for every value of the comparisons; None if one cannot be expressed."""
    picked: list[tuple[str, str]] = []
    for c in atoms:
        name = SURICATA_SETS.get((c.object_type, tuple(str(s) for s in c.path)))
        values = _values(c)
        if name is None or values is None:
            return None
        for v in values:
            value = _suricata_value(SURICATA_TYPES[name], v)
            if value is None:
                return None
            picked.append((name, value))
    return picked


def _suricata_value(dataset_type: str, value: str) -> str | None:
    if dataset_type == "string":
        return base64.b64encode(value.encode("utf-8")).decode("ascii")
    if dataset_type in ("md5", "sha256"):
        width = 32 if dataset_type == "md5" else 64
        v = value.lower()
        return v if len(v) == width and all(ch in "0123456789abcdef" for ch in v) else None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if (dataset_type == "ipv4") != (addr.version == 4):
        return None
    return str(addr)


def suricata_rules(sets: dict[str, list[str]]) -> list[str]:
    rules: list[str] = []

    def rule(proto: str, msg: str, body: str) -> None:
        sid = SID_BASE + len(rules) + 1
        rules.append(f'alert {proto} any any -> any any (msg:"kizuna: {msg}"; {body} sid:{sid}; rev:1;)')

    def load(name: str) -> str:
        return f"dataset:isset,{name},type {SURICATA_TYPES[name]},load {name}.lst;"

    if sets["kizuna-domain"]:
        rule("dns", "DNS query for a shared indicator domain", f"dns.query; {load('kizuna-domain')}")
        rule("tls", "TLS SNI of a shared indicator domain", f"tls.sni; {load('kizuna-domain')}")
        rule("http", "HTTP host of a shared indicator domain", f"http.host; {load('kizuna-domain')}")
    for name in ("kizuna-ipv4", "kizuna-ipv6"):
        if sets[name]:
            rule("ip", "traffic from a shared indicator address", f"ip.src; {load(name)}")
            rule("ip", "traffic to a shared indicator address", f"ip.dst; {load(name)}")
    if sets["kizuna-md5"]:
        rule("http", "file with a shared indicator MD5", "filemd5:kizuna-md5.lst;")
    if sets["kizuna-sha256"]:
        rule("http", "file with a shared indicator SHA-256", "filesha256:kizuna-sha256.lst;")
    return rules


def write_suricata_datasets(indicators: Iterable[Indicator], out_dir: Path) -> ExportReport:
    report = ExportReport()
    return _write_all(suricata_files(indicators, report), out_dir, report)
