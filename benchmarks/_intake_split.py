"""``python benchmarks/_intake_split.py ARGS``: ``kizuna ARGS`` as ``python -m kizuna`` runs it, with a timer
around each :func:`kizuna.hub.intake.accept` call (the hub's intake, one call a unit: validation, policy,
SQLite, provenance, audit, the commit). The last line on stderr is ``intake: WALL_S CPU_S OWN_KB CHILD_KB
OWN_CPU_S CHILD_CPU_S`` (wall seconds and this thread's CPU seconds inside ``accept``; the peak RSS of this
process and of its largest child, the converter process or a check helper; the CPU seconds of this process
and of its children), so ``ingest_bench.py`` can split a run's CPU time
into the intake and everything before it (reading, parsing, converting: the ingest side; with the converter
process, also the checks it makes) and add the two peaks."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kizuna.cli import main
from kizuna.hub import intake

_spent = [0.0, 0.0]
_accept = intake.accept


def _timed(*args: Any, **kwargs: Any) -> Any:
    wall, cpu = time.perf_counter(), time.thread_time()
    try:
        return _accept(*args, **kwargs)
    finally:
        _spent[0] += time.perf_counter() - wall
        _spent[1] += time.thread_time() - cpu


intake.accept = _timed  # type: ignore[assignment]  # the runner looks it up on the module at each call

if __name__ == "__main__":
    import resource

    code = main(sys.argv[1:])
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the converter process, check helpers
    print(
        f"intake: {_spent[0]:.3f} {_spent[1]:.3f} {own.ru_maxrss} {kids.ru_maxrss}"
        f" {own.ru_utime + own.ru_stime:.3f} {kids.ru_utime + kids.ru_stime:.3f}",
        file=sys.stderr,
    )
    raise SystemExit(code)
