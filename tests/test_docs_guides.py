"""Every guide in ``docs/`` runs top to bottom, as a reader runs it, and prints what it shows.

The runner and the Markdown convention it reads are in ``tests/docs_runner.py`` (and docs/README.md). The
runner itself is checked first, on small guides written here, so a broken runner cannot pass a guide.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .docs_runner import GuideError, check, missing_output, parse, run

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("path", GUIDES, ids=lambda p: p.name)
def test_guide_runs_and_prints_what_it_shows(path: Path, tmp_path: Path) -> None:
    guide = parse(path)
    if not any(b.runs for b in guide.blocks):
        assert not any(b.output for b in guide.blocks), f"{path.name} checks output but runs nothing"
        pytest.skip(f"{path.name} has no shell block")
    result = run(guide, tmp_path)
    problems = check(result)
    assert not problems, "\n\n".join(problems)


def test_every_skipped_block_says_why() -> None:
    for path in GUIDES:
        for block in parse(path).blocks:
            if block.skip is not None:
                assert len(block.skip.split()) >= 3, f"{path.name}:{block.line}: say why it is skipped"


# -- the runner itself -----------------------------------------------------------------------------------
def _guide(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


def _run(tmp_path: Path, text: str) -> list[str]:
    work = tmp_path / "run"
    work.mkdir()
    return check(run(parse(_guide(tmp_path, text)), work))


def test_runner_carries_state_and_checks_output(tmp_path: Path) -> None:
    guide = (
        "# g\n\n```sh\ncd ..\nexport GREETING=hello\nNAME=world\numask 077\n```\n\n"
        '```bash\necho "$GREETING $NAME"; umask; kizuna --version\n```\n\n'
        "<!-- docs-test: output -->\n```text\nhello   world\n...\nkizuna ...\n```\n"
    )
    assert _run(tmp_path, guide) == []


def test_runner_names_the_failing_block_and_stops(tmp_path: Path) -> None:
    guide = (
        "```sh\ntrue\n```\n\ntext\n\n```sh\necho before\nfalse\necho after\n```\n\n```sh\ntouch never\n```\n"
    )
    (problem,) = _run(tmp_path, guide)
    assert "guide.md:7" in problem and "before" in problem and "after" not in problem
    assert not (tmp_path / "run" / "work" / "never").exists()


def test_runner_reports_output_the_guide_shows_but_the_command_did_not_print(tmp_path: Path) -> None:
    guide = "```sh\necho one; echo two\n```\n<!-- docs-test: output -->\n```\ntwo\none\n```\n"
    (problem,) = _run(tmp_path, guide)
    assert "'one'" in problem and "guide.md:5" in problem


def test_runner_exit_skip_python_and_hidden_setup(tmp_path: Path) -> None:
    guide = (
        "<!-- docs-test: exit 2 -->\n```sh\nkizuna hub org list --db missing.db\n```\n"
        "<!-- docs-test: output -->\n```text\nkizuna: error: missing.db: no hub database here ...\n```\n"
        "<!-- docs-test: skip it would take an hour -->\n```sh\nexit 1\n```\n"
        "<!-- docs-test: setup\necho hidden > hidden.txt\n-->\n<!-- docs-test: run -->\n"
        "```python\nprint(open('hidden.txt').read().strip() * 2)\n```\n"
        "<!-- docs-test: output -->\n```\nhiddenhidden\n```\n"
        "```python\nraise SystemExit(1)  # not run without the directive\n```\n"
    )
    assert _run(tmp_path, guide) == []
    wrong = "<!-- docs-test: exit 3 -->\n```sh\nexit 2\n```\n"
    (tmp_path / "x").mkdir()
    (problem,) = _run(tmp_path / "x", wrong)
    assert "exit status 2" in problem


def test_runner_replaces_ports_and_stops_background_servers(tmp_path: Path) -> None:
    guide = (
        "<!-- docs-test: ports 8123 -->\n"
        "<!-- docs-test: background -->\n```sh\npython -m http.server --bind 127.0.0.1 8123\n```\n"
        "<!-- docs-test: setup\ndocs_wait_url http://127.0.0.1:8123/\n-->\n"
        "```sh\ncurl -s -o /dev/null -w '%{http_code} on 8123\\n' http://127.0.0.1:8123/\n```\n"
        "<!-- docs-test: output -->\n```\n200 on 8123\n```\n"
    )
    work = tmp_path / "run"
    work.mkdir()
    result = run(parse(_guide(tmp_path, guide)), work)
    assert check(result) == []
    (port,) = result.port_map.values()
    assert port != 8123 and f"200 on {port}" in result.outputs[1]
    import socket

    deadline = time.monotonic() + 10
    while True:  # the server is gone: nothing accepts on its port any more
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                break
        assert time.monotonic() < deadline, "the background server was not stopped"
        time.sleep(0.2)


@pytest.mark.parametrize(
    "text",
    [
        "<!-- docs-test: skip -->\n```sh\ntrue\n```\n",
        "<!-- docs-test: frobnicate -->\n```sh\ntrue\n```\n",
        "<!-- docs-test: output -->\nsome prose\n```sh\ntrue\n```\n",
        "<!-- docs-test: setup\ntrue\n```sh\ntrue\n```\n",
    ],
)
def test_runner_refuses_directives_it_does_not_know_or_misplaced(tmp_path: Path, text: str) -> None:
    with pytest.raises(GuideError):
        parse(_guide(tmp_path, text))


def test_output_matching_is_in_order_with_wildcards() -> None:
    printed = "a  b\nnoise\nkizuna: 3 objects moved\nend\n"
    assert missing_output(["a b", "kizuna: ... moved", "end"], printed) is None
    assert missing_output(["end", "a b"], printed) == "a b"
    assert missing_output(["kizuna: 4 ... moved"], printed) == "kizuna: 4 ... moved"
