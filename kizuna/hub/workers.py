"""``kizuna hub serve --workers N``: one listening socket, N worker processes that accept on it.

The supervisor binds the socket (so every worker serves the same address), starts N ``kizuna hub serve``
processes that inherit it (``--listen-fd``), restarts a worker that dies (at most ``MAX_RESTARTS`` in
``RESTART_WINDOW_S``; beyond that something is wrong with every worker, and the supervisor stops), and on
SIGTERM or SIGINT passes SIGTERM to every worker, each of which stops accepting, finishes its in-flight
requests and exits; a worker still running after ``DRAIN_S`` is killed.

A worker holds nothing that matters: TAXII status resources, web sessions, failed-login counters, sync and
feed cursors and the audit chain head are in the database, so any worker may answer any request. The
database is handed to the workers in their environment (``KIZUNA_DB``), never on their command line.
Background work that must run once per hub (``--sync-every``, ``--follow-peers``) runs in every worker
under a lease in the database: one worker at a time does it, and another takes over when that one dies.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from kizuna.clikit import err

#: How long workers have to finish their in-flight requests after SIGTERM before they are killed.
DRAIN_S = 15.0
MAX_RESTARTS, RESTART_WINDOW_S = 10, 60.0


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def supervise(worker_args: Sequence[str], db: str, host: str, port: int, workers: int) -> int:
    """Run ``workers`` copies of ``kizuna hub serve WORKER_ARGS --listen-fd FD`` until SIGTERM or SIGINT;
    returns the exit status."""
    sock = listen(host, port)
    fd = sock.fileno()
    env = {**os.environ, "KIZUNA_DB": db}
    cmd = [sys.executable, "-m", "kizuna", "hub", "serve", *worker_args, "--listen-fd", str(fd)]
    stopping: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, env=env, pass_fds=(fd,))

    procs = [start() for _ in range(workers)]
    err.print(f"supervisor {os.getpid()}: {workers} workers on {host}:{port}", markup=False, soft_wrap=True)
    restarts: list[float] = []
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                code = p.poll()
                if code is None or stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
                if len(restarts) > MAX_RESTARTS:
                    err.print(f"kizuna: error: workers keep dying (last exit {code}); stopping")
                    stopping.append(0)
                    status = 1
                    break
                err.print(f"worker {p.pid} exited ({code}); starting another", markup=False)
                procs[i] = start()
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_S
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        sock.close()
        for s, h in previous.items():
            signal.signal(s, h)
    return status
