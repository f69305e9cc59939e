"""``kizuna demo`` prints the next commands to try (issue 19), and each of them works against it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import free_port
from .conftest import BACKENDS


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_commands_the_demo_suggests_work(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """``kizuna demo``, and ``kizuna demo --db DSN`` on PostgreSQL."""
    port = free_port()
    db = ["--db", request.getfixturevalue("new_pg_dsn")()] if backend == "postgres" else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "kizuna", "demo", "--port", str(port), *db],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = proc.stdout.readline()
            assert line, "the demo exited early"
            lines.append(line.rstrip("\n"))
        text = "\n".join(lines)
        assert "Try next, in another terminal:" in text
        # the suggested commands, continuation lines joined
        suggested = re.sub(r"\\\n\s*", "", text.split("Try next, in another terminal:\n", 1)[1])
        commands = [
            c.strip() for c in suggested.splitlines() if c.startswith("  ") and not c.startswith("  open ")
        ]
        assert [c.split()[0] for c in commands] == ["curl", "kizuna", "kizuna", "kizuna"]
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/taxii2/", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KIZUNA_")},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for command in commands:
            if command.startswith("curl") and shutil.which("curl") is None:
                continue
            run = subprocess.run(
                ["bash", "-c", command.split("  #")[0]],
                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert run.returncode == 0, f"{command}\n{run.stderr}"
            assert "Traceback" not in run.stderr
            if command.startswith("curl"):
                assert "UK-Japan CNI threats" in run.stdout
            if command.startswith("kizuna match"):  # the samples match the demo's indicators
                assert "indicator--" in run.stdout and " 0 matches" not in run.stderr
            if command.startswith("kizuna minerals"):
                assert re.search(
                    r"published report--\S+ \(TLP:GREEN\) to \S+: 4 accepted, 0 failed", run.stderr
                )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        if proc.stdout:
            proc.stdout.close()
