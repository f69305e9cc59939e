"""Run a guide of ``docs/`` as a reader would: its shell blocks top to bottom, in a fresh temporary folder.

The convention (also in docs/README.md, "Guides that run")
-----------------------------------------------------------

* Fenced blocks marked ``sh`` or ``bash`` are run, in the order of the guide, by one ``bash`` process
  (so ``cd``, ``export``, ``umask`` and shell variables carry from one block to the next) with ``set -e``:
  a command that fails stops the guide and fails the test, naming the block's line. Other blocks
  (``text``, ``json``, ``toml``, ``python``, no language) are not run.
* An HTML comment right before a block (blank lines and other such comments may sit between) tells the
  runner what is special about it. One directive per comment:

  ``<!-- docs-test: skip REASON -->``      the block is not run; the reason is required.
  ``<!-- docs-test: output -->``           the block is output: its lines must appear, in order, in what
                                           the last block that ran printed (stdout and stderr together).
                                           Runs of spaces compare as one; ``...`` in a line matches any
                                           text, and a line that is only ``...`` is a visual gap.
  ``<!-- docs-test: exit N -->``           the block must end with exit status N (it runs in a subshell,
                                           so its variables do not carry on).
  ``<!-- docs-test: background -->``       the block runs in the background (a server), in a session of its
                                           own, seeing exported variables only; it is stopped when the
                                           guide ends.
  ``<!-- docs-test: run -->``              run a ``python`` block (with the same Python, in the same folder).
  ``<!-- docs-test: timeout SECONDS -->``  more time for the block (default 60 s).
  ``<!-- docs-test: setup``               hidden commands (the lines up to ``-->``) run right before the
  ``COMMANDS -->``                         block: waiting for a server, standing in for something done by
                                           hand or by a partner.

* ``<!-- docs-test: ports 8101 8102 -->`` anywhere in a guide: those port numbers are replaced by free
  ports on 127.0.0.1 in every block and every expected output, so guides can name fixed ports and still
  run beside each other. Every server a guide starts binds 127.0.0.1.
* Hidden commands may call five helpers: ``docs_wait_url URL [SECONDS]`` (wait until a server answers at
  URL), ``docs_background COMMAND...`` (start a server, stopped when the guide ends),
  ``docs_stop_background`` (what a reader's Ctrl-C does to the servers started so far) and
  ``docs_medallion PORT COLLECTION_ID USER PASSWORD`` (start medallion, the OASIS TAXII 2.1 server, as a
  partner hub on 127.0.0.1 with one empty collection) and ``docs_postgres`` (a private PostgreSQL server in
  a new directory, on a Unix socket only, stopped and removed when the guide ends; it exports ``PGHOST``
  and ``PGUSER``).

The runner uses the ``kizuna`` and ``python`` of the environment running the tests, a temporary ``HOME``,
and no ``KIZUNA_DB``; the guide must get everything else itself (``kizuna samples``, ``kizuna hub init``).
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

RUN_LANGS = {"sh", "bash"}
DEFAULT_TIMEOUT_S = 60.0
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_DIRECTIVE = re.compile(r"^<!--\s*docs-test:\s*(?P<body>.*?)\s*(?P<end>-->)?\s*$")
_KNOWN = {"skip", "output", "exit", "background", "run", "timeout", "setup", "ports"}


class GuideError(Exception):
    """The guide does not follow the convention (an unknown directive, a skip without a reason...)."""


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    skip: str | None = None
    output: bool = False
    exit: int = 0
    background: bool = False
    run: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    setup: list[str] = field(default_factory=list)

    @property
    def runs(self) -> bool:
        if self.skip is not None or self.output:
            return False
        return self.lang in RUN_LANGS or (self.lang == "python" and self.run)


@dataclass
class Guide:
    path: Path
    blocks: list[Block]
    ports: list[int]


def parse(path: Path) -> Guide:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    ports: list[int] = []
    pending: dict[str, object] = {}
    setup: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        d = _DIRECTIVE.match(line.strip())
        if d:
            body = d.group("body")
            word, _, arg = body.partition(" ")
            if word not in _KNOWN:
                raise GuideError(f"{path.name}:{i + 1}: unknown directive {word!r}")
            if word == "setup":
                if d.group("end"):
                    setup.extend(x for x in [arg.strip()] if x)
                else:
                    i += 1
                    while i < len(lines) and lines[i].strip() != "-->":
                        setup.append(lines[i])
                        i += 1
                    if i == len(lines):
                        raise GuideError(f"{path.name}: setup comment is not closed with '-->'")
            elif not d.group("end"):
                raise GuideError(f"{path.name}:{i + 1}: a '{word}' directive fits on one line")
            elif word == "ports":
                ports += [int(p) for p in arg.split()]
            elif word == "skip":
                if not arg.strip():
                    raise GuideError(f"{path.name}:{i + 1}: 'skip' needs a reason")
                pending["skip"] = arg.strip()
            elif word == "exit":
                pending["exit"] = int(arg)
            elif word == "timeout":
                pending["timeout_s"] = float(arg)
            else:
                if arg.strip():
                    raise GuideError(f"{path.name}:{i + 1}: '{word}' takes no argument")
                pending[word] = True
            i += 1
            continue
        f = _FENCE.match(line)
        if f:
            fence, start = f.group("fence"), i
            body_lines = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body_lines.append(lines[i])
                i += 1
            block = Block(start + 1, f.group("info").lower(), "\n".join(body_lines) + "\n", setup=setup)
            for key, value in pending.items():
                setattr(block, key, value)
            if (block.run or block.background) and block.lang not in RUN_LANGS | {"python"}:
                raise GuideError(f"{path.name}:{block.line}: only sh, bash and python blocks run")
            blocks.append(block)
            pending, setup = {}, []
            i += 1
            continue
        if line.strip() and (pending or setup):
            raise GuideError(f"{path.name}:{i + 1}: a docs-test directive must come right before a block")
        i += 1
    return Guide(path, blocks, ports)


#: Where a guide's ports are drawn from: below the kernel's ephemeral range (32768-60999 on Linux), from which
#: every other test's port 0 and every client connection takes its port. A guide holds its ports from its
#: first block to its last (minutes): drawn from the ephemeral range, one was once taken by another test's
#: server in between, and the guide's medallion could not listen on it.
_GUIDE_PORTS = range(20_000, 32_000)


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range where it can be had."""
    rng = random.Random()
    for _ in range(50):
        port = rng.choice(_GUIDE_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ports(text: str, mapping: dict[int, int]) -> str:
    for old, new in mapping.items():
        text = re.sub(rf"(?<![\d.]){old}(?!\d)", str(new), text)
    return text


_PREAMBLE = r"""
docs_wait_url() {
  python - "$1" "${2:-30}" <<'PY'
import sys, time, urllib.error, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
while True:
    try:
        urllib.request.urlopen(url, timeout=2)
        break
    except urllib.error.HTTPError:
        break  # it answered
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"docs_wait_url: nothing answers at {url} after {limit:g} s")
        time.sleep(0.1)
PY
}
docs_medallion() {
  python - "$@" <<'PY'
import json, subprocess, sys
port, collection, user, password = sys.argv[1:5]
base = f"http://127.0.0.1:{port}/"
data = {"/discovery": {"title": "partner", "default": f"{base}api1/", "api_roots": [f"{base}api1/"]},
        "api1": {"information": {"title": "api1", "versions": ["application/taxii+json;version=2.1"],
                                 "max_content_length": 10000000},
                 "status": [],
                 "collections": [{"id": collection, "title": "partner exchange", "can_read": True,
                                  "can_write": True, "media_types": ["application/stix+json;version=2.1"],
                                  "objects": [], "manifest": []}]}}
json.dump(data, open("medallion-data.json", "w"))
json.dump({"backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                       "filename": "medallion-data.json"},
           "users": {user: password}, "taxii": {"max_page_size": 100}}, open("medallion.json", "w"))
launch = "import sys; from medallion.scripts.run import main; sys.argv[0] = 'medallion'; main()"
subprocess.Popen([sys.executable, "-c", launch, "--host", "127.0.0.1", "--port", port, "medallion.json"],
                 stdout=open("medallion.log", "wb"), stderr=subprocess.STDOUT)
PY
  docs_wait_url "http://127.0.0.1:$1/taxii2/"
}
docs_postgres() {
  # a private PostgreSQL server for this guide (never a system one): initdb in a new directory of /tmp (as
  # the postgres user when root: PostgreSQL refuses root), listening only on a Unix socket there; stopped
  # and removed when the guide ends. Exports PGHOST (that directory) and PGUSER=postgres (its superuser).
  local bin dir as=""
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -z "$bin" ]; then
    echo "docs_postgres: no PostgreSQL server (apt-get install postgresql)" >&2; return 1
  fi
  dir=$(mktemp -d /tmp/kizuna-docs-pg-XXXXXX)
  echo "remove $dir" >&9
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; as="runuser -u postgres --"; fi
  $as "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
  docs_background $as "$bin/postgres" -D "$dir/data" -k "$dir" -c listen_addresses=''
  for _ in $(seq 300); do [ -S "$dir/.s.PGSQL.5432" ] && break; sleep 0.1; done
  export PGHOST="$dir" PGUSER=postgres
}
docs_background() {
  # start a server from hidden commands: in a session of its own, stopped when the guide ends
  setsid "$@" >> docs-background.log 2>&1 &
  echo "bg setup $!" >&9
}
docs_stop_background() {
  # what a reader's Ctrl-C does to the servers started so far: SIGINT to each, then wait until they are gone
  for pid in $(jobs -p); do kill -INT -- "-$pid" 2>/dev/null || true; done
  for pid in $(jobs -p); do wait "$pid" 2>/dev/null || true; done
}
"""


@dataclass
class Result:
    guide: Guide
    workdir: Path
    outputs: dict[int, str]  # block index -> what it printed
    finished: set[int]  # indexes of blocks that ran to the end as expected
    failure: str | None  # why the guide stopped, if it did
    port_map: dict[int, int]


def run(guide: Guide, workdir: Path) -> Result:
    """Run the guide's blocks in ``workdir`` (a fresh folder); background processes are stopped at the end."""
    state = workdir / ".docs-test"
    state.mkdir()
    home = workdir / "home"
    home.mkdir()
    run_dir = workdir / "work"
    run_dir.mkdir()
    port_map = {p: free_port() for p in guide.ports}
    script = ["set -e", _PREAMBLE, f"exec 9>>{shlex.quote(str(state / 'status'))}"]
    limit_s = 30.0
    for k, b in enumerate(guide.blocks):
        if not b.runs:
            continue
        limit_s += b.timeout_s
        out = shlex.quote(str(state / f"{k}.out"))
        script.append(f"exec >{out} 2>&1")
        script.append(f"echo 'start {k}' >&9")
        script.extend(_ports(cmd, port_map) for cmd in b.setup)
        text = _ports(b.text, port_map)
        if b.lang == "python":
            py = state / f"{k}.py"
            py.write_text(text, encoding="utf-8")
            text = f"python {shlex.quote(str(py))}\n"
        if b.background:  # its own session, so it can be stopped alone (docs_stop_background) and at the end
            script.append(f"setsid bash --noprofile --norc -c {shlex.quote(text)} &")
            script.append(f'echo "bg {k} $!" >&9')
        elif b.exit != 0:
            script.append(f"set +e\n(\n{text})\n__rc=$?\nset -e")
            script.append(f'if [ $__rc -ne {b.exit} ]; then echo "exit {k} $__rc" >&9; exit 97; fi')
        else:
            script.append(text)
        script.append(f"echo 'ok {k}' >&9")
    (state / "guide.sh").write_text("\n".join(script) + "\n", encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KIZUNA_", "PYTEST_", "COV_")) and key not in ("COLUMNS", "LINES")
    }
    env.update(
        HOME=str(home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
        NO_COLOR="1",
    )
    failure = None
    with open(state / "bash.log", "wb") as log:
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", str(state / "guide.sh")],
            cwd=run_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            failure = f"timed out after {limit_s:g} s"
        finally:
            _stop_group(proc, proc.pid)
    status = (state / "status").read_text().splitlines() if (state / "status").exists() else []
    for line in reversed(status):  # background blocks run in sessions of their own: stop what is left of
        if line.startswith("bg "):  # them, the last started first (a server before the database it uses)
            _stop_group(None, int(line.split()[2]))
    for line in status:
        if line.startswith("remove /tmp/kizuna-docs-"):  # what docs_postgres made
            shutil.rmtree(line.split(" ", 1)[1], ignore_errors=True)
    started = [int(s.split()[1]) for s in status if s.startswith("start ")]
    finished = {int(s.split()[1]) for s in status if s.startswith("ok ")}
    outputs = {
        k: (state / f"{k}.out").read_text(encoding="utf-8", errors="replace")
        for k in range(len(guide.blocks))
        if (state / f"{k}.out").exists()
    }
    if failure is None and started and started[-1] not in finished:
        k = started[-1]
        wrong = [s for s in status if s.startswith(f"exit {k} ")]
        why = (
            f"exit status {wrong[0].split()[2]}"
            if wrong
            else f"a command failed (bash exit {proc.returncode})"
        )
        failure = f"{why}\n--- output ---\n{outputs.get(k, '')[-3000:]}"
    if failure is not None and started:
        failure = f"block at {guide.path.name}:{guide.blocks[started[-1]].line}: {failure}"
    return Result(guide, run_dir, outputs, finished, failure, port_map)


def _stop_group(proc: subprocess.Popen[bytes] | None, pgid: int) -> None:
    """Stop a process group (the guide's shell and what it started, or a background block), politely
    first."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    if proc is not None:
        proc.wait(timeout=5)


def _norm(line: str) -> str:
    return " ".join(line.split())


def expected_lines(block: Block, port_map: dict[int, int]) -> list[str]:
    return [_norm(x) for x in _ports(block.text, port_map).splitlines() if _norm(x) and _norm(x) != "..."]


def missing_output(expected: list[str], printed: str) -> str | None:
    """The first expected line not found (in order) in ``printed``, or None when all are there."""
    lines = [_norm(x) for x in printed.splitlines()]
    pos = 0
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")) + "$")
        while pos < len(lines) and not pattern.match(lines[pos]):
            pos += 1
        if pos == len(lines):
            return want
        pos += 1
    return None


def check(result: Result) -> list[str]:
    """Every problem of a run: the failure that stopped it, and each output block that does not match."""
    problems = [result.failure] if result.failure else []
    last_run: int | None = None
    for k, b in enumerate(result.guide.blocks):
        if b.runs:
            last_run = k
            continue
        if not b.output:
            continue
        if last_run is None:
            problems.append(f"{result.guide.path.name}:{b.line}: output block before any block that runs")
            continue
        if last_run not in result.finished:
            continue  # the failure above says why
        missing = missing_output(expected_lines(b, result.port_map), result.outputs.get(last_run, ""))
        if missing is not None:
            printed = result.outputs.get(last_run, "")
            problems.append(
                f"{result.guide.path.name}:{b.line}: the guide shows {missing!r}, which the block at line"
                f" {result.guide.blocks[last_run].line} did not print; it printed:\n{printed[-3000:]}"
            )
    return problems


def summary(guide: Guide) -> str:
    """What the runner will do with a guide, for test ids and reports."""
    counts = {
        "runs": sum(b.runs for b in guide.blocks),
        "skipped": sum(b.skip is not None for b in guide.blocks),
        "outputs": sum(b.output for b in guide.blocks),
    }
    return json.dumps(counts)
