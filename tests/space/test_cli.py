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

#: Reference vectors copied into the repository with their provenance (data/PROVENANCE.md).
SPACE_DATA = Path(__file__).resolve().parent / "data"


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
    assert ISO_MS.match(row["tca_utc"]) and row["tca_utc"] == "2009-02-10T16:55:59.795Z"
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
    assert doc["tca_utc"] == "2009-02-10T16:55:59.795Z"
    assert 0 < doc["pc"] < 1


def test_pc_on_a_cara_case(capsys: pytest.CaptureFixture[str]) -> None:
    path = SPACE_DATA / "cara_alfano_2009" / "AlfanoTestCase05.cdm"
    assert main(["space", "pc", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["method"] == "foster-2d"
    assert doc["pc"] == pytest.approx(0.044492344523551, rel=1e-3)
    assert doc["hbr_m"] == 10.0
    assert any("COMMENT" in n for n in doc["notes"])


def test_plot_writes_a_png(screened: Path, tmp_path: Path) -> None:
    png = tmp_path / "event.png"
    assert main(["space", "plot", f"{screened}:22675-24946", "--out", str(png)]) == 0
    width, height = _png_size(png)
    assert width > 800 and height > 400
    png2 = tmp_path / "cdm.png"
    cdm = SPACE_DATA / "ccsds_cdm_examples" / "CDMExample1.txt"
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


def _one_line_error(capsys: pytest.CaptureFixture[str], *parts: str) -> None:
    message = capsys.readouterr().err.strip()
    assert message.startswith("kizuna: error:") and "\n" not in message, message
    assert "Traceback" not in message
    for part in parts:
        assert part in message, message


def test_screen_refuses_to_overwrite_without_force(
    screened: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = screened.read_bytes()
    args = [
        "space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--start", "2009-02-10T00:00:00Z",
        "--days", "0.1", "--out", str(screened), "--workers", "1",
    ]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 2
    _one_line_error(capsys, str(screened), "--force")
    assert screened.read_bytes() == before
    assert main([*args, "--force"]) == 0  # a window without the collision: only the header is left
    assert screened.read_bytes() != before and screened.read_text().count("\n") == 1
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


@pytest.mark.parametrize(
    "command",
    [
        ["space", "screen", str(DATA / "iridium33_cosmos2251.tle"), "--days", "0.01", "--out"],
        ["space", "synth", "3", "--out"],
    ],
)
def test_an_output_in_a_missing_folder_is_one_line_and_nothing_is_created(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nonexistent" / "dir" / "out.csv"
    assert main([*command, str(target)]) == 2
    _one_line_error(capsys, str(target), "does not exist")
    assert list(tmp_path.iterdir()) == []


def test_plot_into_a_missing_folder_is_one_line(
    screened: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "nonexistent" / "x.png"
    capsys.readouterr()
    assert main(["space", "plot", str(screened), "--out", str(target)]) == 2
    _one_line_error(capsys, str(target))
    assert not (tmp_path / "nonexistent").exists()
    png = tmp_path / "x.png"
    png.write_bytes(b"keep")
    assert main(["space", "plot", str(screened), "--out", str(png)]) == 2
    _one_line_error(capsys, "--force")
    assert png.read_bytes() == b"keep"


def test_the_worst_case_sigma_circle_fits_in_the_plot(screened: Path) -> None:
    from kizuna.space.assessment import event_geometry
    from kizuna.space.events import read_events_csv
    from kizuna.space.plot import encounter_figure

    (event,) = read_events_csv(screened)
    fig = encounter_figure(event_geometry(event), 10.0, "Iridium 33 / Cosmos 2251")
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        ax = fig.axes[0]
        box = ax.get_window_extent(renderer)
        patches = [p for p in ax.patches]
        assert len(patches) >= 2  # the sigma circle and the hard-body circle
        for patch in patches:
            extent = patch.get_window_extent(renderer)
            assert box.x0 - 0.5 <= extent.x0 and extent.x1 <= box.x1 + 0.5, (patch, extent, box)
            assert box.y0 - 0.5 <= extent.y0 and extent.y1 <= box.y1 + 0.5, (patch, extent, box)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("worst-case 1 sigma" in t for t in labels) and any("hard-body" in t for t in labels)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_owner_groups_volume_and_stale_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cat = tmp_path / "cat.tle"
    assert main(["space", "synth", "120", "--out", str(cat), "--seed", "5", "--epoch", "2026-01-01"]) == 0
    out = tmp_path / "ev.csv"
    code = main([
        "space", "screen", str(cat), "--owner", "SYN-CONSTELLATION_550-*", "--exclude-same-group",
        "--start", "2026-01-20", "--days", "0.1", "--volume", "20,150,100", "--out", str(out),
        "--workers", "1",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "120 element sets have epochs more than 7 days before the window start" in err
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        names = (
            r["name_1"].startswith("SYN-CONSTELLATION_550"),
            r["name_2"].startswith("SYN-CONSTELLATION_550"),
        )
        assert any(names) and not all(names)  # a fleet member against something outside the fleet
    assert main(["space", "screen", str(cat), "--owner", "NOTHING*", "--out", str(tmp_path / "x.csv")]) == 2
    _one_line_error(capsys, "NOTHING*")
    assert main(["space", "screen", str(cat), "--volume", "1,2", "--out", str(tmp_path / "x.csv")]) == 2
    _one_line_error(capsys, "--volume")
    assert not (tmp_path / "x.csv").exists()


def test_scheduler_runs_the_screen_on_a_dask_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dask.distributed import LocalCluster

    cat = tmp_path / "cat.tle"
    assert main(["space", "synth", "150", "--out", str(cat), "--seed", "9", "--epoch", "2026-01-01"]) == 0
    common = ["space", "screen", str(cat), "--start", "2026-01-01", "--days", "0.2", "--threshold-km", "40"]
    assert main([*common, "--out", str(tmp_path / "pool.csv"), "--workers", "2"]) == 0
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        code = main([*common, "--out", str(tmp_path / "dask.csv"), "--scheduler", cluster.scheduler_address])
    assert code == 0, capsys.readouterr().err
    pool = (tmp_path / "pool.csv").read_text()
    assert pool == (tmp_path / "dask.csv").read_text() and pool.count("\n") > 2
    capsys.readouterr()
    assert main([*common, "--out", str(tmp_path / "x.csv"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    _one_line_error(capsys, "tcp://127.0.0.1:9")
