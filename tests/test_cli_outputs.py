"""Every kizuna command that writes files, given a missing or unwritable output path: one clear line, exit 2,
no traceback, nothing created (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from kizuna.cli import main

HERE = Path(__file__).resolve().parent
CDM = HERE / "space" / "data" / "minimal.cdm"
TLE = """ISS (ZARYA)
1 25544U 98067A   26032.50000000  .00016717  00000-0  10270-3 0  9009
2 25544  51.6400 247.4627 0006703 130.5360 325.0288 15.49000000 00007
"""


def _hub(tmp: Path) -> Path:
    from kizuna.hub.store.sqlite import SQLiteStore
    from kizuna.stix.markings import TLP

    with SQLiteStore.create(tmp / "h.db", durable=False) as s:
        s.add_org("a", ceiling=TLP.GREEN)
    return tmp / "h.db"


def _bundle(tmp: Path) -> Path:
    ind = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00.000Z",
    }
    p = tmp / "b.json"
    p.write_bytes(
        orjson.dumps(
            {"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "objects": [ind]}
        )
    )
    return p


@pytest.mark.parametrize(
    "make_args",
    [
        pytest.param(
            lambda t: ["space", "plot", str(CDM), "--out", "/nonexistent/dir/x.png"], id="space-plot"
        ),
        pytest.param(
            lambda t: [
                "space",
                "screen",
                str(t / "cat.tle"),
                "--days",
                "0.01",
                "--out",
                "/nonexistent/dir/e.csv",
            ],
            id="space-screen",
        ),
        pytest.param(
            lambda t: [
                "space",
                "screen",
                str(t / "cat.tle"),
                "--days",
                "0.01",
                "--out",
                str(t / "e.csv"),
                "--cdm-dir",
                "/nonexistent/dir/cdms",
            ],
            id="space-screen-cdm-dir",
        ),
        pytest.param(lambda t: ["space", "synth", "3", "--out", "/nonexistent/dir/c.tle"], id="space-synth"),
        pytest.param(
            lambda t: [
                "match",
                "export",
                "--format",
                "zeek-intel",
                "--out",
                "/nonexistent/dir",
                "--bundle",
                str(_bundle(t)),
            ],
            id="match-export",
        ),
        pytest.param(lambda t: ["space", "plot", str(CDM), "--out", str(t)], id="space-plot-to-a-directory"),
        pytest.param(
            lambda t: [
                "hub",
                "token",
                "create",
                "--db",
                str(_hub(t)),
                "--org",
                "a",
                "--out",
                "/nonexistent/t",
            ],
            id="hub-token-create",
        ),
    ],
)
def test_an_unusable_output_path_is_one_line_exit_2_and_nothing_is_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make_args: object
) -> None:
    (tmp_path / "cat.tle").write_text(TLE)
    args = make_args(tmp_path)  # type: ignore[operator]
    before = sorted(os.listdir(tmp_path))
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kizuna: error:") and "Traceback" not in captured.err
    assert not Path("/nonexistent").exists()
    assert sorted(os.listdir(tmp_path)) == before


def test_match_export_creates_one_new_directory_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "zeek"
    assert (
        main(
            [
                "match",
                "export",
                "--format",
                "zeek-intel",
                "--out",
                str(target),
                "--bundle",
                str(_bundle(tmp_path)),
            ]
        )
        == 0
    )
    assert target.is_dir()
    code = main(
        [
            "match",
            "export",
            "--format",
            "zeek-intel",
            "--out",
            str(tmp_path / "a" / "b"),
            "--bundle",
            str(_bundle(tmp_path)),
        ]
    )
    assert code == 2 and not (tmp_path / "a").exists()
