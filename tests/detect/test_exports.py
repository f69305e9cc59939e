"""Zeek Intel and Suricata dataset exports, checked against the formats' rules.

Zeek (base/frameworks/intel, input framework ASCII reader): a ``#fields`` header naming tab-separated
columns; every row has one value per column, ``-`` for unset; ``indicator_type`` is an ``Intel::Type``.
Suricata (rules/datasets): ``string`` sets hold base64 lines, ``md5``/``sha256`` hex, ``ipv4``/``ip``
addresses; rules load the sets they name; sids are unique.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kizuna.detect.exports import SURICATA_TYPES, write_suricata_datasets, write_zeek_intel
from kizuna.detect.indicators import Indicator, select_indicators

from .conftest import indicator

ZEEK_INTEL_TYPES = {
    "Intel::ADDR", "Intel::SUBNET", "Intel::URL", "Intel::SOFTWARE", "Intel::EMAIL", "Intel::DOMAIN",
    "Intel::USER_NAME", "Intel::CERT_HASH", "Intel::PUBKEY_HASH", "Intel::FILE_HASH", "Intel::FILE_NAME",
}  # fmt: skip

SHA256 = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
MD5 = "0CC175B9C0F1B6A831C399E269772661"
PATTERNS = {
    "v4": "[ipv4-addr:value = '185.225.17.44']",
    "v6": "[ipv6-addr:value = '2a0b:4e07:3::9']",
    "net": "[ipv4-addr:value ISSUBSET '185.225.16.0/22']",
    "domains": "[domain-name:value IN ('grid-telemetry.example', 'scada-update.example')]",
    "url": "[url:value = 'https://grid-telemetry.example/payload/stage2.bin']",
    "hashes": f"[file:hashes.MD5 = '{MD5}' OR file:hashes.'SHA-256' = '{SHA256}']",
    "sha1": "[file:hashes.'SHA-1' = '86f7e437faa5a7fce15d1ddcb9eaeaea377667b8']",
    "name": "[file:name = 'stage2.bin']",
    "email": "[email-addr:value = 'ops@grid-telemetry.example']",
    "and": "[file:name = 'x.exe' AND file:size = 10]",
    "like": "[domain-name:value LIKE '%.grid-telemetry.example']",
    "compound": "[ipv4-addr:value = '185.225.17.45'] FOLLOWEDBY [domain-name:value = 'b.example']",
    "bad-ip": "[ipv4-addr:value = 'not-an-address']",
}


@pytest.fixture(scope="module")
def indicators() -> list[Indicator]:
    objects = [
        indicator(p, f"{key}\twith a tab", n=i)  # a tab in the name must not break the Zeek columns
        for i, (key, p) in enumerate(PATTERNS.items(), start=1)
    ]
    sel = select_indicators(objects, now=datetime(2026, 2, 1, tzinfo=UTC), warninglists=None)
    assert len(sel.active) == len(PATTERNS)
    return sel.active


def test_zeek_intel_file_follows_the_format(indicators: list[Indicator], tmp_path: Path) -> None:
    report = write_zeek_intel(indicators, tmp_path)
    lines = (tmp_path / "kizuna.intel").read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # newline-terminated
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:-1]]
    assert header[0] == "#fields" and header[1:3] == ["indicator", "indicator_type"]
    assert "meta.source" in header
    columns = header[1:]
    seen: dict[str, set[str]] = {}
    for row in rows:
        assert len(row) == len(columns)
        assert all(value and value.strip() == value and " \t" not in value for value in row)
        record = dict(zip(columns, row, strict=True))
        kind, value = record["indicator_type"], record["indicator"]
        assert kind in ZEEK_INTEL_TYPES
        if kind == "Intel::ADDR":
            ipaddress.ip_address(value)
        elif kind == "Intel::SUBNET":
            ipaddress.ip_network(value)
        elif kind == "Intel::URL":
            assert "://" not in value
        elif kind == "Intel::FILE_HASH":
            assert re.fullmatch(r"[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}", value)
        assert record["meta.source"].startswith("kizuna indicator--")
        seen.setdefault(kind, set()).add(value)
    assert seen == {
        "Intel::ADDR": {"185.225.17.44", "2a0b:4e07:3::9"},
        "Intel::SUBNET": {"185.225.16.0/22"},
        "Intel::DOMAIN": {"grid-telemetry.example", "scada-update.example"},
        "Intel::URL": {"grid-telemetry.example/payload/stage2.bin"},
        "Intel::FILE_HASH": {MD5.lower(), SHA256, "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"},
        "Intel::FILE_NAME": {"stage2.bin"},
        "Intel::EMAIL": {"ops@grid-telemetry.example"},
    }
    assert report.exported == 9 and sum(report.skipped.values()) == 4  # and, like, compound, bad-ip


def _rule_options(rule: str) -> list[tuple[str, str]]:
    m = re.fullmatch(r"alert (\w+) any any -> any any \((.*)\)", rule)
    assert m, rule
    options = []
    for part in re.findall(r'(?:[^;"]|"[^"]*")+;', m.group(2)):
        key, _, value = part.strip().rstrip(";").partition(":")
        options.append((key.strip(), value.strip()))
    return options


def test_suricata_datasets_follow_the_format(indicators: list[Indicator], tmp_path: Path) -> None:
    report = write_suricata_datasets(indicators, tmp_path)
    files = {p.name: p.read_text(encoding="ascii").splitlines() for p in tmp_path.iterdir()}
    decoded: dict[str, set[str]] = {}
    for name, dataset_type in SURICATA_TYPES.items():
        lines = files.get(f"{name}.lst", [])
        for line in lines:
            if dataset_type == "string":
                decoded.setdefault(name, set()).add(base64.b64decode(line, validate=True).decode())
            elif dataset_type in ("md5", "sha256"):
                width = 32 if dataset_type == "md5" else 64
                assert re.fullmatch(f"[0-9a-f]{{{width}}}", line)
                decoded.setdefault(name, set()).add(line)
            else:
                addr = ipaddress.ip_address(line)
                assert (addr.version == 4) == (dataset_type == "ipv4")
                decoded.setdefault(name, set()).add(line)
    assert decoded == {
        "kizuna-ipv4": {"185.225.17.44"},
        "kizuna-ipv6": {"2a0b:4e07:3::9"},
        "kizuna-domain": {"grid-telemetry.example", "scada-update.example"},
        "kizuna-md5": {MD5.lower()},
        "kizuna-sha256": {SHA256},
    }
    sids = []
    for rule in files["kizuna.rules"]:
        options = dict(_rule_options(rule))
        assert options["msg"].startswith('"kizuna: ') and options["rev"] == "1"
        sids.append(int(options["sid"]))
        if "dataset" in options:
            command, name, type_part, load_part = options["dataset"].split(",")
            assert command == "isset" and type_part == f"type {SURICATA_TYPES[name]}"
            assert load_part == f"load {name}.lst" and f"{name}.lst" in files
        else:
            (key,) = {"filemd5", "filesha256"} & options.keys()
            assert options[key] in files
    assert len(sids) == len(set(sids)) == 9
    # url, sha1, file name, email, subnet, and, like, compound, bad address: not expressible
    assert report.exported == 4 and sum(report.skipped.values()) == 9


@pytest.mark.skipif(shutil.which("suricata") is None, reason="suricata is not installed (not in Debian 12)")
def test_suricata_loads_the_rules(indicators: list[Indicator], tmp_path: Path) -> None:
    write_suricata_datasets(indicators, tmp_path)
    proc = subprocess.run(
        ["suricata", "-T", "-S", str(tmp_path / "kizuna.rules"), "-l", str(tmp_path),
         "--set", f"default-rule-path={tmp_path}"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_base64_is_strict() -> None:
    """The string check above really rejects non-base64 lines."""
    with pytest.raises(binascii.Error):
        base64.b64decode("not base64!", validate=True)
