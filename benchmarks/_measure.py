"""What the benchmarks measure about a process: resident memory, CPU time, and py-spy profiles."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RssSampler:
    """Peak resident set size of one process and its children (a server's helper processes), sampled every
    ``interval_s`` in a background thread; CPU time of them all."""

    def __init__(self, pid: int, interval_s: float = 0.05) -> None:
        self.proc = psutil.Process(pid)
        self.interval_s = interval_s
        self.peak = 0
        self.first: int | None = None  # RSS when sampling began
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> int:
        """The RSS now (bytes); the peak so far when the process is gone."""
        try:
            rss = int(self.proc.memory_info().rss)
        except psutil.Error:
            return self.peak
        for child in self._children():
            with suppress(psutil.Error):
                rss += int(child.memory_info().rss)
        self.peak = max(self.peak, rss)
        if self.first is None:
            self.first = rss
        return rss

    def _children(self) -> list[psutil.Process]:
        try:
            return list(self.proc.children(recursive=True))
        except psutil.Error:
            return []

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the process and its live children have used so far."""
        total = 0.0
        for p in (self.proc, *self._children()):
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += float(t.user + t.system)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.now()

    def __enter__(self) -> RssSampler:
        self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.now()


@contextmanager
def py_spy(
    pid: int, out: Path | None, label: str, *, rate: int = 100, threads: bool = False
) -> Iterator[None]:
    """``py-spy record`` (raw collapsed stacks, ``out/label.txt``) on ``pid`` while the body runs."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile-dir needs py-spy (pip install py-spy)")
    out.mkdir(parents=True, exist_ok=True)
    cmd = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
    if threads:
        cmd.append("--threads")
    proc = subprocess.Popen(
        [*cmd, "--output", str(out / f"{label}.txt")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(0.4)
    try:
        yield
    finally:
        proc.send_signal(2)  # SIGINT: py-spy writes its output and exits
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def machine() -> str:
    """The CPU model (from ``lscpu``), core count and Python version, for the benchmark records."""
    model = platform.processor() or platform.machine()
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{model} (`lscpu`), {os.cpu_count()} cores, Python {platform.python_version()}"
