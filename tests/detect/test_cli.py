"""``kizuna match`` end to end through kizuna.cli.main (and one real hub for --report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.cli import main
from kizuna.hub.client import HubClient
from kizuna.stix.markings import TLP, TLP2_IDS
from kizuna.stix.validate import validate_object

from .conftest import DATA, indicator, write_bundle

C2 = indicator("[ipv4-addr:value = '185.225.17.44']", "grid C2 address", n=1)
DOMAIN = indicator("[domain-name:value = 'grid-telemetry.example']", "grid C2 domain", n=2, tlp=TLP.GREEN)
HASH = indicator(
    "[file:hashes.'SHA-256' = 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb']",
    "stage2 payload",
    n=3,
)
RESOLVER = indicator("[ipv4-addr:value = '8.8.8.8']", "public resolver", n=4)
EXPIRED = indicator(
    "[domain-name:value = 'update.grid-telemetry.example']", "old", n=5, valid_until="2026-01-20T00:00:00Z"
)
REVOKED = indicator("[ipv4-addr:value = '10.0.0.9']", "revoked", n=6, revoked=True)
MODBUS = indicator(
    "[network-traffic:dst_port = 502 AND network-traffic:dst_ref.value ISSUBSET '185.225.0.0/16']",
    "modbus to C2 range",
    n=7,
)
SEQUENCE = indicator(
    "([domain-name:value = 'grid-telemetry.example'] FOLLOWEDBY "
    "[url:value LIKE '%/payload/%']) WITHIN 300 SECONDS",
    "lookup then download",
    n=8,
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["match", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    return write_bundle(
        tmp_path / "indicators.json", [C2, DOMAIN, HASH, RESOLVER, EXPIRED, REVOKED, MODBUS, SEQUENCE]
    )


LOGS = [str(DATA / n) for n in ("conn.log", "dns.log", "http.log", "files.log", "eve.json", "observed.json")]


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_match_json_output(capsys: pytest.CaptureFixture[str], bundle: Path) -> None:
    code, out, err = _run(capsys, "--bundle", str(bundle), "--json", "--now", "2026-02-01T00:00:00Z", *LOGS)
    assert code == 0, err
    records = _json_lines(out)
    where = {(r["indicator_id"], Path(r["source"]).name, r["line"]) for r in records}
    assert (C2["id"], "conn.log", 9) in where
    assert (C2["id"], "http.log", 8) in where
    assert (DOMAIN["id"], "dns.log", 9) not in where  # dns.log queried update.grid-telemetry.example
    assert (DOMAIN["id"], "http.log", 8) in where
    assert (DOMAIN["id"], "eve.json", 1) in where
    assert (HASH["id"], "files.log", 8) in where and (HASH["id"], "eve.json", 4) in where
    assert (MODBUS["id"], "observed.json", 1) in where
    assert all({"indicator_id", "source", "line"} <= r.keys() for r in records)
    # compound pattern across files: the DNS lookup in eve.json then the download in http.log? no: the
    # download must come at or after the lookup within 300 s - eve.json's HTTP record does
    seq = [r for r in records if r["indicator_id"] == SEQUENCE["id"]]
    assert len(seq) == 1 and len(seq[0]["events"]) == 2
    ids = {r["indicator_id"] for r in records}
    assert RESOLVER["id"] not in ids and EXPIRED["id"] not in ids and REVOKED["id"] not in ids
    assert "1 on warning lists not alerted (public-dns-v4: 1" in err
    assert "1 ignored: revoked" in err and "1 ignored: expired (valid_until passed)" in err
    assert "conn.log:11: skipped malformed record" in err
    assert "2 malformed records skipped" in err  # conn.log line 11, eve.json line 5


def test_warninglisted_indicator_alerts_with_no_warninglists(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, bundle: Path
) -> None:
    log = tmp_path / "dns.ndjson"
    log.write_text('{"@timestamp":"2026-02-01T00:00:00Z","destination":{"ip":"8.8.8.8"}}\n')
    code, out, _err = _run(capsys, "--bundle", str(bundle), "--json", str(log))
    assert code == 0 and out == ""
    code, out, _err = _run(capsys, "--bundle", str(bundle), "--json", "--no-warninglists", str(log))
    assert [r["indicator_id"] for r in _json_lines(out)] == [RESOLVER["id"]]


def test_table_output(capsys: pytest.CaptureFixture[str], bundle: Path, tmp_path: Path) -> None:
    code, out, _err = _run(capsys, "--bundle", str(bundle), str(DATA / "files.log"))
    assert code == 0
    assert "stage2 payload" in out and "files.log:8" in out
    quiet = tmp_path / "quiet.ndjson"
    quiet.write_text('{"@timestamp":"2026-02-01T00:00:00Z","destination":{"ip":"192.0.2.200"}}\n')
    code, out, _err = _run(capsys, "--bundle", str(bundle), str(quiet))
    assert code == 0 and out.strip() == "no matches"


def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], bundle: Path, tmp_path: Path) -> None:
    code, _out, err = _run(capsys, "--bundle", str(bundle), str(tmp_path / "missing.log"))
    assert code == 2 and err.strip() == f"kizuna: error: {tmp_path / 'missing.log'}: log file not found"
    code, _out, err = _run(capsys, str(DATA / "dns.log"))
    assert code == 2 and "give --bundle FILE, or --hub URL" in err
    code, _out, err = _run(capsys, "--bundle", str(bundle), "--report", str(DATA / "dns.log"))
    assert code == 2 and "--report needs --hub" in err
    # --report-to with a bundle needs no --collection; a hub that cannot be reached is one error line
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o600)
    args = ["--bundle", str(bundle), "--hub", "http://127.0.0.1:9/api/", "--token-file", str(token)]
    code, out, err = _run(capsys, *args, "--report", "--report-to", "c1", "--json", str(DATA / "conn.log"))
    assert code == 2 and len(out.splitlines()) == 1  # the match was printed before reporting
    assert err.splitlines()[-1] == (
        "kizuna: error: cannot reach http://127.0.0.1:9/api/collections/c1/objects/: connection refused"
    )
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "bundle", "objects": [\n')
    code, _out, err = _run(capsys, "--bundle", str(bad), str(DATA / "dns.log"))
    assert code == 2 and err.startswith(f"kizuna: error: {bad}:1: not JSON")


def test_bad_pattern_is_reported_not_fatal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A pattern the STIX grammar takes but kizuna cannot compile (a bad regular expression)."""
    broken = indicator("[file:name MATCHES '(']", "broken", n=20)
    path = write_bundle(tmp_path / "b.json", [broken, C2])
    code, out, err = _run(capsys, "--bundle", str(path), "--json", str(DATA / "conn.log"))
    assert code == 0
    assert f"{broken['id']}: pattern does not compile" in err
    assert [r["indicator_id"] for r in _json_lines(out)] == [C2["id"]]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_invalid_bundle_indicators_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, workers: str
) -> None:
    """Bundle indicators go through the hub's validator: each refused one is named, the others are used,
    and the run exits 3."""
    bad_id = {**C2, "id": "indicator--XYZ"}
    whole_second = {**indicator("[ipv4-addr:value = '10.0.0.6']", n=21), "created": "2026-01-15T00:00:00Z"}
    no_parse = indicator("[ipv4-addr:value = ]", "broken", n=20)
    path = write_bundle(tmp_path / "b.json", [bad_id, whole_second, no_parse, DOMAIN])
    code, out, err = _run(
        capsys,
        "--bundle",
        str(path),
        "--json",
        "--workers",
        workers,
        str(DATA / "conn.log"),
        str(DATA / "eve.json"),
    )
    assert code == 3, err
    refused = [line for line in err.splitlines() if ": refused " in line]
    assert len(refused) == 3
    assert refused[0].startswith(f"kizuna: {path}: refused indicator--XYZ: 'id' must be")
    assert (
        f"refused {whole_second['id']}: property 'created' must be precise to at least the millisecond" in err
    )
    assert f"refused {no_parse['id']}: pattern does not parse" in err
    assert "1 indicators to match" in err and "3 refused by STIX validation (exit status 3)" in err
    assert {r["indicator_id"] for r in _json_lines(out)} == {DOMAIN["id"]}  # the valid one still matched
    code, _out, err = _run(
        capsys, "--bundle", str(write_bundle(tmp_path / "ok.json", [C2])), str(DATA / "conn.log")
    )
    assert code == 0 and "refused" not in err


def test_export_refuses_a_missing_output_directory(
    capsys: pytest.CaptureFixture[str], bundle: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    code, out, err = _run(
        capsys, "export", "--format", "zeek-intel", "--out", str(missing), "--bundle", str(bundle)
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith("kizuna: error: ") and "nonexistent" in err and "does not exist" in err
    assert not (tmp_path / "nonexistent").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    code, _out, err = _run(
        capsys, "export", "--format", "zeek-intel", "--out", str(a_file), "--bundle", str(bundle)
    )
    assert code == 2 and "not a folder" in err and a_file.read_text() == "x"


def test_export_zeek_and_suricata(capsys: pytest.CaptureFixture[str], bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "z").mkdir()
    (tmp_path / "s").mkdir()
    code, _out, err = _run(capsys, "export", "--format", "zeek-intel", "--out", str(tmp_path / "z"),
                          "--bundle", str(bundle), "--now", "2026-02-01T00:00:00Z")  # fmt: skip
    assert code == 0, err
    lines = (tmp_path / "z" / "kizuna.intel").read_text().splitlines()
    assert lines[0] == "#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\tmeta.url"
    rows = {tuple(line.split("\t")[:2]) for line in lines[1:]}
    assert rows == {
        ("185.225.17.44", "Intel::ADDR"),
        ("grid-telemetry.example", "Intel::DOMAIN"),
        ("ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", "Intel::FILE_HASH"),
    }
    assert "exported 3 indicators as 3 entries" in err and "not exportable" in err
    code, _out, err = _run(capsys, "export", "--format", "suricata-dataset", "--out", str(tmp_path / "s"),
                          "--bundle", str(bundle))  # fmt: skip
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["kizuna-domain.lst", "kizuna-ipv4.lst", "kizuna-sha256.lst", "kizuna.rules"]
    code, _out, err = _run(
        capsys, "export", "--format", "snort", "--out", str(tmp_path), "--bundle", str(bundle)
    )
    assert code == 2 and "--format: expected one of zeek-intel, suricata-dataset" in err


def test_report_posts_sightings_to_hub(
    kizuna_hub: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(kizuna_hub.token + "\n")
    token_file.chmod(0o600)
    with HubClient(kizuna_hub.api_root_url, kizuna_hub.token) as producer:
        status = producer.add_objects(kizuna_hub.collection_id, [C2, DOMAIN, HASH])
        assert status["success_count"] == 3, status
    code, out, err = _run(
        capsys, "--hub", kizuna_hub.api_root_url, "--token-file", str(token_file),
        "--collection", kizuna_hub.collection_id, "--report", "--org", "Grid Operator Ltd", "--json",
        str(DATA / "conn.log"), str(DATA / "http.log"), str(DATA / "eve.json"),
    )  # fmt: skip
    assert code == 0, err
    records = _json_lines(out)
    c2_hits = [r for r in records if r["indicator_id"] == C2["id"]]
    assert "reported 3 sighting(s)" in err and "0 refused" in err

    with HubClient(kizuna_hub.api_root_url, kizuna_hub.reader_token) as reader:
        objects = list(reader.iter_objects(kizuna_hub.collection_id))
    sightings = {o["sighting_of_ref"]: o for o in objects if o["type"] == "sighting"}
    assert set(sightings) == {C2["id"], DOMAIN["id"], HASH["id"]}
    s = sightings[C2["id"]]
    assert s["count"] == len(c2_hits) == 5  # conn.log, http.log, eve.json http + tls + fileinfo
    assert s["first_seen"] == "2026-02-01T10:00:00.123Z" and s["last_seen"] == "2026-02-01T10:01:03.000Z"
    identity = next(o for o in objects if o["type"] == "identity")
    assert identity["name"] == "Grid Operator Ltd" and s["where_sighted_refs"] == [identity["id"]]
    assert s["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
    assert sightings[DOMAIN["id"]]["object_marking_refs"] == [TLP2_IDS[TLP.GREEN]]
    by_id = {o["id"]: o for o in objects}
    (od_id,) = s["observed_data_refs"]
    od = by_id[od_id]
    assert od["number_observed"] == 5 and od["object_marking_refs"] == [TLP2_IDS[TLP.AMBER]]
    assert any(by_id[r].get("value") == "185.225.17.44" for r in od["object_refs"] if r in by_id)
    for obj in objects:
        validate_object(obj)


def test_subprocess_as_a_user_runs_it(tmp_path: Path) -> None:
    """``python -m kizuna match ...`` with the options after the file names, output piped."""
    import subprocess
    import sys

    path = write_bundle(tmp_path / "b.json", [C2])
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", "match", str(DATA / "conn.log"), "--bundle", str(path), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (record,) = _json_lines(proc.stdout)
    assert (record["indicator_id"], record["line"]) == (C2["id"], 9)
    assert "conn.log:11: skipped malformed record" in proc.stderr


def test_workers_print_what_the_plain_reader_prints(tmp_path: Path) -> None:
    """As a user runs it: worker processes and the plain reader in one process print the same matches,
    in the same order, and the same warnings and summary (every format, compound patterns included)."""
    import subprocess
    import sys

    path = write_bundle(tmp_path / "b.json", [C2, DOMAIN, HASH, MODBUS, SEQUENCE])
    logs = [*LOGS, str(DATA / "ecs.ndjson"), str(DATA / "zeek.json"), str(DATA / "cef.log")]
    now = "2026-02-01T00:00:00Z"
    base = [sys.executable, "-m", "kizuna", "match", "--bundle", str(path), "--json", "--now", now]

    def run(*options: str) -> subprocess.CompletedProcess[str]:
        args = [*base, *options, *logs]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc

    plain = run("--reader", "plain")
    assert len(_json_lines(plain.stdout)) >= 10 and "skipped malformed record" in plain.stderr
    for workers in ("2", "1"):
        fast = run("--workers", workers)
        assert (fast.stdout, fast.stderr) == (plain.stdout, plain.stderr)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--workers", "0"], "--workers: expected a number of processes >= 1, got 0"),
        (["--reader", "quick"], "--reader: expected fast or plain, got 'quick'"),
    ],
)
def test_bad_pipeline_options(
    capsys: pytest.CaptureFixture[str], bundle: Path, option: list[str], message: str
) -> None:
    code, out, err = _run(capsys, "--bundle", str(bundle), *option, str(DATA / "conn.log"))
    assert code == 2 and out == "" and err == f"kizuna: error: {message}\n"
