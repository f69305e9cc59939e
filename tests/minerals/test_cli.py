"""``kizuna minerals ...`` end to end through kizuna.cli.main, and publishing to a real hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.cli import main
from kizuna.hub.client import HubClient
from kizuna.minerals.publish import ASSESSMENT_TYPE, EXTENSION_ID
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.stix.validate import validate_object

PNG = b"\x89PNG\r\n\x1a\n"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["minerals", *args, "--json"]) == 0
    return dict(orjson.loads(capsys.readouterr().out))


def test_profile_json_and_chart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    chart = tmp_path / "ree.png"
    doc = run_json(capsys, "profile", "rare earths", "--chart", str(chart))
    mining = doc["stages"]["mining"]
    assert doc["mineral"] == "rare_earths"
    assert mining["source"] == "usgs" and mining["year"] == 2025
    assert 0 < mining["hhi"] <= 10_000
    shares = mining["shares_pct"]
    assert shares["CHN"] == pytest.approx(100 * 270_000 / sum(
        v for v in [270000, 51000, 29000, 22000, 4800, 2900, 2700, 2600, 2000, 1500, 550, 150, 110]
    ), rel=1e-4)  # fmt: skip
    # HHI on 0-10,000 from the printed shares (ROW is not a supplier)
    assert mining["hhi"] == pytest.approx(sum(v * v for k, v in shares.items() if k != "ROW"), rel=1e-5)
    assert "refining" in doc["stages"]
    assert all(f["status"] == "verified" for f in doc["data"]["files"])
    assert chart.read_bytes().startswith(PNG)


def test_profile_all_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "profile", "all")
    assert len(doc["profiles"]) > 100
    assert main(["minerals", "profile", "unobtainium"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kizuna: error:") and "unobtainium" in err and len(err.strip().splitlines()) == 1


def test_exposure_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    chart = tmp_path / "exp.png"
    doc = run_json(capsys, "exposure", "--partner", "JPN", "--mineral", "graphite", "--chart", str(chart))
    (exp,) = doc["exposures"]
    (stage,) = exp["stages"]
    assert exp["partner"] == "JPN" and stage["hs92"] == [250410, 250490]
    assert stage["top_supplier"] == "CHN" and stage["china_share_pct"] > 50
    assert 0 <= stage["import_reliance_pct"] <= 100
    assert stage["import_hhi"] == pytest.approx(
        sum(v * v for v in stage["import_shares_pct"].values()), rel=1e-5
    )
    assert 0 < stage["geopolrisk"]["score"] < 1
    assert chart.read_bytes().startswith(PNG)


def test_scenario_json_and_chart(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    f = tmp_path / "graphite.toml"
    f.write_text(
        'name = "graphite licence regime"\nas_of = 2026-01-01\n[[restriction]]\nid = "CHN-graphite-2023"\n'
    )
    chart = tmp_path / "s.png"
    doc = run_json(capsys, "scenario", str(f), "--chart", str(chart))
    assert doc["scenario"] == "graphite licence regime"
    jpn = next(i for i in doc["impacts"] if i["partner"] == "JPN")
    assert jpn["before"]["total_t"] > jpn["after"]["total_t"] > 0
    assert chart.read_bytes().startswith(PNG)
    assert main(["minerals", "scenario", str(tmp_path / "missing.toml")]) == 2


def test_eu_crm_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = run_json(capsys, "eu-crm", "--year", "2023", "--chart", str(tmp_path / "crm.png"))
    by = {m["material"]: m for m in doc["materials"]}
    assert {"gallium", "cobalt", "neodymium", "natural_graphite"} <= set(by)
    assert by["gallium"]["sr"] > 1 and by["gallium"]["ei"] > 0
    assert any("IR" in a for a in doc["assumptions"])
    assert main(["minerals", "eu-crm", "--year", "2020"]) == 2


def test_diversify_json(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "diversify", "cobalt", "--exclude", "CHN", "--allied-pct", "60")
    for p in doc["partners"]:
        assert "CHN" not in p["optimal_t"]
        assert p["allied_share_optimal_pct"] >= 60 - 1e-6 or p["unmet_t"] > 0


def test_restrictions_listing(capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(capsys, "restrictions")
    assert len(doc["restrictions"]) == 9


def test_newer_release_is_flagged_on_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from kizuna.minerals.provenance import resolve

    newer = tmp_path / "mcs.csv"
    old = resolve("usgs").read_bytes()
    newer.write_bytes(old.replace(b'Rubidium,"China, Germany, and Russia"', b"Rubidium,China"))
    assert newer.read_bytes() != old
    assert main(["minerals", "--usgs", str(newer), "profile", "cobalt", "--json"]) == 0
    captured = capsys.readouterr()
    doc = orjson.loads(captured.out)
    assert {f["role"]: f["status"] for f in doc["data"]["files"]}["usgs"] == "differs"
    assert "differs from the shipped record" in captured.err


def test_publish_to_a_real_hub(capsys: pytest.CaptureFixture[str], tmp_path: Path, kizuna_hub: Any) -> None:
    token = tmp_path / "token"
    token.write_text(kizuna_hub.token + "\n")
    token.chmod(0o600)
    args = [
        "minerals",
        "profile",
        "gallium",
        "--publish",
        kizuna_hub.api_root_url,
        "--token-file",
        str(token),
    ]
    assert main([*args, "--collection", kizuna_hub.collection_id, "--tlp", "green"]) == 0
    assert "published report--" in capsys.readouterr().err
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.reader_token) as reader:
        objects = list(reader.iter_objects(kizuna_hub.collection_id))
    by_type = {o["type"]: o for o in objects}
    report, assessment = by_type["report"], by_type[ASSESSMENT_TYPE]
    assert by_type["extension-definition"]["id"] == EXTENSION_ID
    assert report["object_refs"] == [assessment["id"]]
    for o in (report, assessment):
        assert o["object_marking_refs"] == [TLP2_IDS[TLP.GREEN]]
        validate_object(o)
    assert assessment["extensions"] == {EXTENSION_ID: {"extension_type": "new-sdo"}}
    stage = assessment["assessment"]["stages"]["refining"]
    assert stage["shares_pct"]["CHN"] > 95 and stage["hhi"] > 9000
    # missing publishing options are one clear error
    assert main(["minerals", "profile", "gallium", "--publish", kizuna_hub.api_root_url]) == 2
    assert "--token-file" in capsys.readouterr().err
