"""The CLI contract, for every ``kizuna`` command (found in the Typer app, so a new one cannot be missed).

Each command is run as a user runs it (a subprocess, its output going to pipes) four ways:

* ``--help``: exit 0, a usage text, no traceback;
* with a **missing input file** (a path longer than 80 columns, so a wrapped message would show):
  exactly one line on stderr, ``kizuna: error: ...`` naming the file, exit status 2, no traceback, nothing
  created;
* with an **unwritable output path** (inside a regular file, which nobody can write into, root included):
  the same;
* with its **output to a pipe**, on a run that works: the documented exit status, no traceback, no
  terminal escape codes, and no message broken across lines.

``CONTRACTS`` says how to run each command; a command without an entry fails
``test_every_command_has_a_contract``. A case a command cannot have (no input file, no output file, a
server that runs until stopped) is ``None`` with the reason in ``NOT_APPLICABLE``. Cases that fail in a
part of kizuna another piece of work owns are expected failures naming that work (``OWNED_ELSEWHERE``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer

from kizuna.cli import build_app
from kizuna.ingest.docs import EXAMPLE_CSV, EXAMPLE_MAPPING

#: A folder name long enough that any message naming a path in it is wider than 80 columns.
LONG = "a-folder-whose-name-is-long-enough-that-every-message-naming-it-is-wider-than-eighty-columns"


@dataclass(frozen=True)
class Contract:
    """How to run a command each way (shell words; ``{missing}``: an input file that does not exist,
    ``{unwritable}``: a regular file, so a path inside it cannot be written, ``{db}``, ``{samples}``,
    ``{token}``: the world below). None: the case does not apply (the reason is in NOT_APPLICABLE)."""

    missing: str | None
    unwritable: str | None
    pipe: str | None
    pipe_exit: int = 0


TLE = "{samples}/iridium33_cosmos2251.tle"
BUNDLE = "--bundle {samples}/indicators.json"
CHART = "--chart {unwritable}/chart.png"
IRIDIUM = f"space screen {TLE} --start 2009-02-10 --days 1 --workers 1"
INGEST = "--db {db} --collection cni --org uk-ncsc"
EVENT_UUID = "5f1b6f2e-7c3a-4d2b-9e8f-0a1b2c3d4e5f"
MISP_EVENT = {
    "Event": {
        "uuid": EVENT_UUID,
        "info": "a contract test event",
        "date": "2026-01-01",
        "timestamp": "1767225600",
        "published": True,
        "Attribute": [
            {
                "uuid": "6a2c7f3e-8d4b-4e3c-af90-1b2c3d4e5f60",
                "type": "ip-dst",
                "category": "Network activity",
                "value": "198.51.100.7",
                "to_ids": True,
                "timestamp": "1767225600",
            }
        ],
    }
}
C = Contract

CONTRACTS: dict[str, Contract] = {
    "hub init": C(None, "hub init --db {unwritable}/hub.db", "hub init --db new.db"),
    "hub migrate": C("hub migrate --db {missing}", None, "hub migrate --db {db}"),
    "hub org add": C("hub org add x --db {missing}", None, "hub org add new-org --db {db}"),
    "hub org list": C("hub org list --db {missing}", None, "hub org list --db {db}"),
    "hub org update": C(
        "hub org update uk-ncsc --ceiling red --db {missing}",
        None,
        "hub org update uk-ncsc --ceiling amber --db {db}",
    ),
    "hub org remove": C("hub org remove lonely --db {missing}", None, "hub org remove lonely --db {db}"),
    "hub token create": C(
        "hub token create --org uk-ncsc --db {missing}", None, "hub token create --org uk-ncsc --db {db}"
    ),
    "hub token list": C("hub token list --db {missing}", None, "hub token list --db {db}"),
    "hub token revoke": C(
        "hub token revoke --org uk-ncsc --db {missing}", None, "hub token revoke --org uk-ncsc --db {db}"
    ),
    "hub collection add": C(
        "hub collection add --title t --db {missing}",
        None,
        "hub collection add --title New --alias new --db {db}",
    ),
    "hub collection grant": C(
        "hub collection grant cni --read lonely --db {missing}",
        None,
        "hub collection grant cni --read lonely --db {db}",
    ),
    "hub collection revoke": C(
        "hub collection revoke cni --write uk-ncsc --db {missing}",
        None,
        "hub collection revoke cni --write uk-ncsc --db {db}",
    ),
    "hub collection update": C(
        "hub collection update cni --title t --db {missing}",
        None,
        "hub collection update cni --title 'CNI (UK)' --db {db}",
    ),
    "hub collection remove": C(
        "hub collection remove empty --db {missing}", None, "hub collection remove empty --db {db}"
    ),
    "hub collection list": C("hub collection list --db {missing}", None, "hub collection list --db {db}"),
    "hub audit list": C("hub audit list --db {missing}", None, "hub audit list --db {db}"),
    "hub audit verify": C("hub audit verify --db {missing}", None, "hub audit verify --db {db}"),
    "hub serve": C("hub serve --db {missing} --port 9", None, None),
    "hub peer add": C(
        "hub peer add p2 --db {db} --url http://127.0.0.1:9/api/ --token-file {missing}",
        None,
        "hub peer add p2 --db {db} --url http://127.0.0.1:9/api/ --token-file {token}",
    ),
    "hub peer list": C("hub peer list --db {missing}", None, "hub peer list --db {db}"),
    "hub peer remove": C("hub peer remove partner --db {missing}", None, "hub peer remove partner --db {db}"),
    # the peer is down: exit 1 and one line naming the peer, the URL and the cause
    "hub sync": C("hub sync --db {missing} --once", None, "hub sync --db {db} --once", pipe_exit=1),
    "demo": C(None, None, None),
    "match run": C(
        f"match run {BUNDLE} {{missing}}", None, f"match run {BUNDLE} {{samples}}/conn.log --no-progress"
    ),
    "match export": C(
        "match export --format zeek-intel --out zeek --bundle {missing}",
        f"match export --format zeek-intel --out {{unwritable}}/zeek {BUNDLE}",
        f"match export --format zeek-intel --out zeek {BUNDLE}",
    ),
    "space screen": C(
        "space screen {missing} --start 2009-02-10 --days 1",
        f"{IRIDIUM} --out {{unwritable}}/e.csv",
        f"{IRIDIUM} --out events.csv",
    ),
    "space pc": C("space pc {missing}", None, "space pc {samples}/partner.cdm"),
    "space plot": C(
        "space plot {missing} --out plot.png",
        "space plot {samples}/partner.cdm --out {unwritable}/plot.png",
        "space plot {samples}/partner.cdm --out plot.png",
    ),
    "space synth": C(
        None,
        "space synth 20 --out {unwritable}/c.tle --seed 1 --epoch 2026-01-01",
        "space synth 20 --out c.tle --seed 1 --epoch 2026-01-01",
    ),
    "minerals profile": C(
        "minerals --usgs {missing} profile cobalt",
        f"minerals profile cobalt {CHART}",
        "minerals profile cobalt --chart cobalt.png",
    ),
    "minerals exposure": C(
        "minerals --baci {missing} exposure --partner JPN --mineral graphite",
        f"minerals exposure {CHART}",
        "minerals exposure --partner JPN --mineral graphite",
    ),
    "minerals scenario": C(
        "minerals scenario {missing}",
        f"minerals scenario {{samples}}/graphite-2023.toml {CHART}",
        "minerals scenario {samples}/graphite-2023.toml",
    ),
    "minerals restrictions": C(None, None, "minerals restrictions"),
    "minerals diversify": C(
        "minerals --baci {missing} diversify graphite",
        f"minerals diversify graphite {CHART}",
        "minerals diversify graphite",
    ),
    "minerals eu-crm": C(
        "minerals --eu-global {missing} eu-crm",
        f"minerals eu-crm {CHART}",
        "minerals eu-crm --material gallium",
    ),
    "samples": C(None, "samples {unwritable}/samples", "samples"),
    "ingest misp": C(
        f"ingest misp {{missing}} {INGEST}",
        f"ingest misp {{inputs}}/event.json {INGEST} --report {{unwritable}}/report.json",
        f"ingest misp {{inputs}}/event.json {INGEST}",
    ),
    "ingest misp-feed": C(
        f"ingest misp-feed {{missing}} {INGEST}",
        f"ingest misp-feed {{inputs}}/feed {INGEST} --report {{unwritable}}/report.json",
        f"ingest misp-feed {{inputs}}/feed {INGEST}",
    ),
    "ingest csv": C(
        f"ingest csv {{missing}} --mapping {{inputs}}/mapping.toml {INGEST}",
        f"ingest csv {{inputs}}/indicators.csv --mapping {{inputs}}/mapping.toml {INGEST}"
        " --report {unwritable}/report.json",
        f"ingest csv {{inputs}}/indicators.csv --mapping {{inputs}}/mapping.toml {INGEST}",
    ),
    "ingest stix": C(
        f"ingest stix {{missing}} {INGEST}",
        f"ingest stix {{samples}}/indicators.json {INGEST} --report {{unwritable}}/report.json",
        f"ingest stix {{samples}}/indicators.json {INGEST}",
    ),
    "export misp": C(
        "export misp --db {missing} --collection cni --out m.json",
        "export misp --db {db} --collection cni --out {unwritable}/m.json",
        "export misp --db {db} --collection cni --org uk-ncsc --out m.json",
    ),
}

NOT_APPLICABLE = {
    ("hub init", "missing"): "it creates its database; it reads no file",
    ("hub serve", "pipe"): "it serves until stopped (tests/hub/test_cli.py runs it)",
    ("demo", "missing"): "it reads no file",
    ("demo", "unwritable"): "it writes only its own temporary folder",
    ("demo", "pipe"): "it serves until stopped (tests/hub/test_demo.py runs it and its next commands)",
    ("space synth", "missing"): "it reads no file",
    ("minerals restrictions", "missing"): "it reads no file",
    ("minerals restrictions", "unwritable"): "it writes no file",
    ("samples", "missing"): "it reads only the package's own files",
    ("match run", "unwritable"): "it writes no file (matches go to stdout)",
    ("space pc", "unwritable"): "it writes no file",
}
NOT_APPLICABLE |= {
    (name, "unwritable"): "it writes no file but its database, which is its input"
    for name, c in CONTRACTS.items()
    if name.startswith("hub ") and name != "hub init" and c.unwritable is None
}

#: Cases that fail in parts of kizuna other work owns: the issue item, for the one who merges.
OWNED_ELSEWHERE = {}


def discovered_commands() -> list[str]:
    """Every runnable command of the Typer app, as 'hub org add'."""

    def walk(cmd: object, path: tuple[str, ...]) -> list[str]:
        subs = getattr(cmd, "commands", None)  # a group (Typer ships its own copy of click's classes)
        if isinstance(subs, dict):
            return [name for sub, c in sorted(subs.items()) for name in walk(c, (*path, sub))]
        return [" ".join(path)]

    return walk(typer.main.get_command(build_app()), ())


COMMANDS = discovered_commands()


def test_every_command_has_a_contract() -> None:
    assert sorted(CONTRACTS) == sorted(COMMANDS), "add a Contract for each new command (and remove old ones)"
    for name, c in CONTRACTS.items():
        for case in ("missing", "unwritable", "pipe"):
            if getattr(c, case) is None:
                assert NOT_APPLICABLE.get((name, case)), f"{name}: say why it has no {case!r} case"


# -- the world the commands run in ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A hub database (organisations, collections, a peer that is down), a token file and the samples."""
    base = tmp_path_factory.mktemp("world")
    db = base / "hub.db"
    token = base / "peer.token"
    token.write_text("a-peer-credential\n")
    token.chmod(0o600)
    steps = [
        "hub init --db {db}",
        "hub org add uk-ncsc --db {db} --ceiling red",
        "hub org add lonely --db {db}",
        "hub collection add --db {db} --title CNI --alias cni --write uk-ncsc",
        "hub collection add --db {db} --title Empty --alias empty",
        # a peer that is down: nothing answers at its URL
        "hub peer add partner --db {db} --url http://127.0.0.1:9/api/ --token-file {token} --pull remote:cni",
        "samples {samples}",
    ]
    values = {"db": str(db), "token": str(token), "samples": str(base / "samples")}
    for step in steps:
        proc = _kizuna(_words(step, values), base)
        assert proc.returncode == 0, proc.stderr
    inputs = base / "inputs"
    (inputs / "feed").mkdir(parents=True)
    (inputs / "event.json").write_text(json.dumps(MISP_EVENT))
    (inputs / "feed" / f"{EVENT_UUID}.json").write_text(json.dumps(MISP_EVENT))
    manifest = {
        EVENT_UUID: {"info": "a contract test event", "timestamp": "1767225600", "date": "2026-01-01"}
    }
    (inputs / "feed" / "manifest.json").write_text(json.dumps(manifest))
    (inputs / "indicators.csv").write_text(EXAMPLE_CSV)
    (inputs / "mapping.toml").write_text(EXAMPLE_MAPPING)
    return {"base": base, "db": db, "token": token, "samples": base / "samples", "inputs": inputs}


def _words(command: str, values: dict[str, str]) -> list[str]:
    return [word.format(**values) for word in shlex.split(command)]


def _kizuna(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("KIZUNA_")
    }
    return subprocess.run(
        [sys.executable, "-m", "kizuna", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _case_dir(tmp_path: Path, world: dict[str, Path]) -> tuple[Path, dict[str, str]]:
    case = tmp_path / LONG
    case.mkdir()
    shutil.copy(world["db"], case / "hub.db")
    shutil.copy(world["db"].with_name("hub.db.key"), case / "hub.db.key")
    (case / "not-a-folder").write_text("a regular file: nothing can be written inside it\n")
    values = {
        "db": str(case / "hub.db"),
        "missing": str(case / "no-such-folder" / "no-such-file"),
        "unwritable": str(case / "not-a-folder"),
        "samples": str(world["samples"]),
        "token": str(world["token"]),
        "inputs": str(world["inputs"]),
    }
    return case, values


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _params(case: str) -> list[object]:
    params: list[object] = []
    for name in COMMANDS:
        c = CONTRACTS.get(name)
        if c is not None and getattr(c, case) is None:
            continue
        marks = []
        if (name, case) in OWNED_ELSEWHERE:
            marks.append(pytest.mark.xfail(reason=OWNED_ELSEWHERE[(name, case)], strict=True))
        params.append(pytest.param(name, id=name.replace(" ", "-"), marks=marks))
    return params


# -- the four cases ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", COMMANDS, ids=lambda n: n.replace(" ", "-"))
def test_help(name: str, tmp_path: Path) -> None:
    proc = _kizuna([*name.split(), "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert not list(tmp_path.iterdir()), "--help created a file"


def _one_error_line(proc: subprocess.CompletedProcess[str], case: Path, before: set[str]) -> str:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"not one line:\n{proc.stderr}"
    assert lines[0].startswith("kizuna: error: "), lines[0]
    assert _files(case) == before, f"created {_files(case) - before}"
    return lines[0]


@pytest.mark.parametrize("name", _params("missing"))
def test_missing_input_file_is_one_line(name: str, tmp_path: Path, world: dict[str, Path]) -> None:
    case, values = _case_dir(tmp_path, world)
    args = _words(CONTRACTS[name].missing or "", values)
    before = _files(case)
    line = _one_error_line(_kizuna(args, case), case, before)
    assert values["missing"] in line or "no-such-folder" in line, line  # the message names the file


@pytest.mark.parametrize("name", _params("unwritable"))
def test_unwritable_output_is_one_line_and_creates_nothing(
    name: str, tmp_path: Path, world: dict[str, Path]
) -> None:
    case, values = _case_dir(tmp_path, world)
    args = _words(CONTRACTS[name].unwritable or "", values)
    before = _files(case)
    line = _one_error_line(_kizuna(args, case), case, before)
    assert "not-a-folder" in line, line  # the message names the place


@pytest.mark.parametrize("name", _params("pipe"))
def test_output_to_a_pipe(name: str, tmp_path: Path, world: dict[str, Path]) -> None:
    contract = CONTRACTS[name]
    case, values = _case_dir(tmp_path, world)
    args = _words(contract.pipe or "", values)
    proc = _kizuna(args, case)
    both = proc.stdout + proc.stderr
    assert proc.returncode == contract.pipe_exit, f"exit {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in both, proc.stderr
    assert "\x1b[" not in both, "terminal escape codes in a pipe"
    # every path in the case folder is wider than 80 columns: a message wrapped by the console would cut it
    assert both.count(LONG[:30]) == both.count(LONG), f"a message was broken across lines:\n{both}"
