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
