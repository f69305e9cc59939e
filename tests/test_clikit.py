"""The CLI's shared helpers: one unwrapped message line, and output files never overwritten silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from kizuna.cli import main
from kizuna.clikit import err, output_dir, output_file, say, write_output, write_text_output
from kizuna.errors import Conflict, InputError, KizunaError, NotFound


def test_messages_are_one_line_whatever_their_length(capsys: pytest.CaptureFixture[str]) -> None:
    long = "kizuna: error: " + "/tmp/" + "x" * 200 + " [bold]not markup[/bold] :smile: match[version]=all"
    say(long)
    err.print(long)
    assert capsys.readouterr().err == f"{long}\n{long}\n"


def test_write_output_refuses_an_existing_file_unless_forced(tmp_path: Path) -> None:
    target = tmp_path / "events.csv"
    target.write_text("earlier results\n")
    with pytest.raises(Conflict, match="refusing to overwrite it"):
        write_text_output(target, "new", force=False)
    assert target.read_text() == "earlier results\n"
    write_text_output(target, "new\n", force=True)
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv"]


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise KizunaError("the writer failed")

    with pytest.raises(KizunaError):
        write_output(tmp_path / "chart.png", broken, force=False)
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_appears_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"

    def racing(tmp: Path) -> None:
        target.write_text("someone else's\n")  # another process wins the race
        tmp.write_text("ours\n")

    with pytest.raises(Conflict):
        write_output(target, racing, force=False)
    assert target.read_text() == "someone else's\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


@pytest.mark.parametrize(
    ("where", "error"),
    [("not-a-folder/out.png", InputError), ("missing/out.png", NotFound), ("a-folder", InputError)],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(
    tmp_path: Path, where: str, error: type[Exception]
) -> None:
    (tmp_path / "not-a-folder").write_text("a file\n")
    (tmp_path / "a-folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    called = []
    with pytest.raises(error):
        write_output(tmp_path / where, called.append, force=True)
    with pytest.raises(error):
        output_file(tmp_path / where, force=True)
    assert called == [] and sorted(tmp_path.rglob("*")) == before
    with pytest.raises((InputError, NotFound)):
        output_dir(tmp_path / "not-a-folder" / "x")


def test_minerals_charts_and_samples_never_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chart = tmp_path / "ga.png"
    chart.write_bytes(b"an earlier chart")
    assert main(["minerals", "profile", "gallium", "--chart", str(chart)]) == 2
    assert (
        "ga.png: chart already exists; refusing to overwrite it (--force replaces it)"
        in capsys.readouterr().err
    )
    assert chart.read_bytes() == b"an earlier chart"
    assert main(["minerals", "profile", "gallium", "--chart", str(chart), "--force"]) == 0
    assert f"kizuna: wrote chart {chart}" in capsys.readouterr().err
    assert chart.read_bytes().startswith(b"\x89PNG")
    folder = tmp_path / "samples"
    folder.mkdir()
    (folder / "eve.json").write_text("mine\n")
    assert main(["samples", str(folder)]) == 2
    assert "eve.json: sample file already exists" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["eve.json"]  # all or nothing
    assert main(["samples", str(folder), "--force"]) == 0
    assert (folder / "eve.json").read_text() != "mine\n"
