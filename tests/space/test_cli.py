"""``kizuna space ...`` as a user runs it."""

from __future__ import annotations

import csv
import json
import re
import struct
from pathlib import Path

import pytest

from kizuna.cli import main
from kizuna.space.events import CSV_COLUMNS

from .conftest import DATA

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.fixture
def screened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "events.csv"
    code = main([
        "space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--start", "2009-02-10T00:00:00Z",
        "--days", "1", "--out", str(out), "--cdm-dir", str(tmp_path / "cdms"), "--workers", "1",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    return out


def test_screen_writes_the_events_csv(screened: Path) -> None:
    with screened.open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys())[:7] == CSV_COLUMNS[:7]
    (row,) = rows
    assert (row["norad_1"], row["norad_2"]) == ("22675", "24946")
    assert ISO_MS.match(row["tca_utc"]) and row["tca_utc"] == "2009-02-10T16:55:59.796Z"
    assert float(row["miss_km"]) == pytest.approx(0.698, abs=0.0005)
    assert row["pc_method"] == "max-pc-tle" and 0 < float(row["pc"]) < 1
    cdms = list((screened.parent / "cdms").iterdir())
    assert len(cdms) == 1 and cdms[0].name.startswith("22675-24946-")


def test_pc_json(screened: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (cdm,) = (screened.parent / "cdms").iterdir()
    capsys.readouterr()
    assert main(["space", "pc", str(cdm), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "max-pc-tle"
    assert doc["miss_km"] == pytest.approx(0.698, abs=0.0005)
    assert doc["tca_utc"] == "2009-02-10T16:55:59.796Z"
    assert 0 < doc["pc"] < 1


def test_pc_on_a_cara_case(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = shared_data / "space" / "cara_alfano_2009" / "AlfanoTestCase05.cdm"
    assert main(["space", "pc", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "foster-2d"
    assert doc["pc"] == pytest.approx(0.044492344523551, rel=1e-3)
    assert doc["hbr_m"] == 10.0
    assert any("COMMENT" in n for n in doc["notes"])


def test_plot_writes_a_png(screened: Path, tmp_path: Path, shared_data: Path) -> None:
    png = tmp_path / "event.png"
    assert main(["space", "plot", f"{screened}:22675-24946", "--out", str(png)]) == 0
    width, height = _png_size(png)
    assert width > 800 and height > 400
    png2 = tmp_path / "cdm.png"
    cdm = shared_data / "space" / "ccsds_cdm_examples" / "CDMExample1.txt"
    assert main(["space", "plot", str(cdm), "--out", str(png2)]) == 0
    assert png2.stat().st_size > 20_000


def test_errors_are_one_line_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.cdm"
    bad.write_text("CCSDS_CDM_VERS = 1.0\nTCA = never\nMISS_DISTANCE = 1 [m]\n")
    assert main(["space", "pc", str(bad)]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("kizuna: error:") and str(bad) in message and "\n" not in message
    assert main(["space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--start", "yesterday"]) == 2
    assert "--start" in capsys.readouterr().err
    assert (
        main(["space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--publish", "http://127.0.0.1:9/"])
        == 2
    )
    assert "--token-file" in capsys.readouterr().err


def test_synth_then_screen_with_a_primary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "cat.tle"
    assert main(["space", "synth", "60", "--out", str(cat), "--seed", "3", "--epoch", "2026-01-01"]) == 0
    out = tmp_path / "ev.csv"
    code = main([
        "space", "screen", str(cat), "--primary", "10001", "--start", "2026-01-01", "--days", "0.05",
        "--threshold-km", "200", "--out", str(out), "--workers", "1",
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all("10001" in (r["norad_1"], r["norad_2"]) for r in rows)
