from __future__ import annotations

import subprocess
import sys

from kizuna import __version__
from kizuna.cli import main


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"kizuna {__version__}"


def test_unknown_command_is_one_clear_error():
    proc = subprocess.run([sys.executable, "-m", "kizuna", "no-such-command"], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "no-such-command" in proc.stderr


def test_hub_commands_do_not_import_the_scientific_stack():
    code = (
        "import sys; from kizuna.cli import main; rc = main(['hub', '--help']); "
        "heavy = sorted(m for m in ('numpy', 'scipy', 'matplotlib', 'dask', 'sgp4') if m in sys.modules); "
        "print(heavy)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr


def test_every_domain_is_listed_in_the_top_level_help(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("hub", "demo", "match", "space", "minerals"):
        assert command in text
