"""The samples shipped in the package (issue 19): every guide runs from a fresh install with them.

Each file is listed with its sha256 in ``kizuna/data/samples/PROVENANCE.md``, ships in the wheel (the
package-data patterns), is what it claims to be (the logs parse, the bundles validate with the hub's
validator, the CDM reads), and ``kizuna samples DIR`` copies it byte for byte.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from pathlib import Path

import orjson
import pytest

from kizuna.cli import main
from kizuna.detect.readers import ReadStats, read_events
from kizuna.samples import SAMPLES
from kizuna.space.cdm import read_cdm
from kizuna.stix.validate import validate_object

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = ROOT / "kizuna" / "data" / "samples"


def provenance_sha256() -> dict[str, str]:
    """file name -> sha256, from the PROVENANCE.md table (a row may list several files and digests)."""
    found: dict[str, str] = {}
    for row in (SAMPLE_DIR / "PROVENANCE.md").read_text(encoding="utf-8").splitlines():
        cells = row.split(" | ")
        if len(cells) < 4 or not row.startswith("| `"):
            continue
        files = re.findall(r"`([^`]+)`", cells[0])
        digests = re.findall(r"`([0-9a-f]{64})`", cells[3])
        assert len(files) == len(digests), row
        found.update(zip(files, digests, strict=True))
    return found


def test_every_shipped_sample_has_its_provenance() -> None:
    recorded = provenance_sha256()
    shipped = {p.name for p in SAMPLE_DIR.iterdir()} - {"PROVENANCE.md"}
    assert shipped == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((SAMPLE_DIR / name).read_bytes()).hexdigest() == digest, name
    assert shipped <= {s.name for s in SAMPLES}


def test_every_sample_ships_in_the_wheel() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    for s in SAMPLES:
        assert s.resource().is_file(), s.name
        path = f"{s.package.replace('.', '/')}/{s.path}"
        assert any(fnmatch.fnmatch(path, "*/" + p.removeprefix("**/")) for p in patterns), path


def test_the_samples_are_what_they_say(tmp_path: Path) -> None:
    for bundle in ("indicators.json", "exchange.json"):
        for obj in orjson.loads((SAMPLE_DIR / bundle).read_bytes())["objects"]:
            validate_object(obj)  # the hub's own validator: a guide never posts something it refuses
    stats = ReadStats()
    warnings: list[str] = []
    events = [
        e
        for name in ("conn.log", "dns.log", "http.log", "eve.json", "ecs.ndjson")
        for e in read_events(SAMPLE_DIR / name, stats=stats, on_warning=warnings.append)
    ]
    assert len(events) == stats.events == 18 and stats.malformed == 1
    assert len(warnings) == 1 and "conn.log:14" in warnings[0]  # the one truncated record, on purpose
    cdm = read_cdm(SAMPLE_DIR / "partner.cdm")
    assert cdm is not None


def test_kizuna_samples_lists_and_copies_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["samples"]) == 0
    listing = capsys.readouterr().out
    for s in SAMPLES:
        assert s.name in listing
    target = tmp_path / "new-folder"
    assert main(["samples", str(target)]) == 0
    assert capsys.readouterr().err == f"kizuna: wrote {len(SAMPLES)} sample files to {target}\n"
    for s in SAMPLES:
        assert (target / s.name).read_bytes() == s.resource().read_bytes()
