"""``--db-file FILE``: the database named in a 0600 file of one line, so that a DSN's password never shows
on the command line (issue 18). Run through the CLI's entry point, as the console script runs it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kizuna.cli import main
from kizuna.hub.store.backends import take_db_file


def _file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_password_dsn_from_a_0600_file_serves_every_hub_command(
    new_pg_dsn: Callable[[], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = new_pg_dsn().replace("user=postgres", "user=postgres&password=s3cret")  # trust: not checked
    monkeypatch.setenv("KIZUNA_DB", "unused")  # main() sets it from the file for one run
    monkeypatch.setenv("KIZUNA_KEY_FILE", str(tmp_path / "hub.key"))
    db_file = _file(tmp_path / "db", f"\n{dsn}\n")
    assert main(["hub", "init", "--db-file", str(db_file), "--title", "from a file"]) == 0
    assert main(["hub", "org", "add", "producer", f"--db-file={db_file}", "--country", "GB"]) == 0
    assert main(["hub", "audit", "verify", "--db-file", str(db_file)]) == 0
    assert os.environ["KIZUNA_DB"] == "unused"  # main() gives the caller its environment back
    out = capsys.readouterr()
    assert "s3cret" not in out.out + out.err
    # the same DSN on the command line is refused
    monkeypatch.setenv("KIZUNA_DB", "other")
    assert main(["hub", "audit", "verify", "--db", dsn]) == 2
    err = capsys.readouterr().err
    assert "refused on the command line" in err and "--db-file" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "mode", "extra", "message"),
    [
        ("postgresql://u:pw@h/db\n", 0o644, [], "readable by others (mode 0644)"),
        ("postgresql://u:pw@h/db\n", 0o640, [], "readable by others (mode 0640)"),
        ("", 0o600, [], "expected one line (the database), found 0"),
        ("a\nb\n", 0o600, [], "expected one line (the database), found 2"),
        ("x.db\n", 0o600, ["--db", "y.db"], "give --db or --db-file, not both"),
    ],
)
def test_db_file_refusals(
    text: str,
    mode: int,
    extra: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("KIZUNA_DB", raising=False)
    db_file = _file(tmp_path / "db", text, mode)
    assert main(["hub", "audit", "verify", "--db-file", str(db_file), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and (str(db_file) in err or "not both" in err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "KIZUNA_DB" not in os.environ  # nothing half-done


def test_take_db_file_leaves_other_arguments_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIZUNA_DB", "x")  # recorded, so that what take_db_file sets is undone at the end
    monkeypatch.delenv("KIZUNA_DB")
    assert take_db_file(["hub", "serve", "--port", "1"]) == ["hub", "serve", "--port", "1"]
    db_file = _file(tmp_path / "db", "hub.db\n")
    assert take_db_file(["hub", "serve", "--db-file", str(db_file), "--", "--db-file"]) == [
        "hub",
        "serve",
        "--",
        "--db-file",
    ]
    assert os.environ["KIZUNA_DB"] == "hub.db"
    missing = tmp_path / "missing"
    with pytest.raises(ValueError, match="missing"):
        take_db_file(["--db-file", str(missing)])
