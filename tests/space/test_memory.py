"""Events are streamed: the screen's memory does not grow with the number of events."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kizuna.space.catalog import write_tle
from kizuna.space.synthetic import synthetic_catalog

from .conftest import EPOCH

# The peak resident set of the command's own memory (VmHWM, KiB). Not getrusage's ru_maxrss: Linux folds
# the high-water mark of the memory a process had before exec into it, so a child forked from a large
# pytest worker would report the worker's size.
_RUN = (
    "import re, sys; from kizuna.cli import main; rc = main(sys.argv[1:]); "
    "status = open('/proc/self/status').read(); "
    "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1), rc)"
)


def _peak_rss_kib(args: list[str]) -> int:
    done = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=300)
    rss, rc = done.stdout.split()[-2:]
    assert rc == "0", done.stderr
    return int(rss)


def test_peak_rss_stays_flat_as_the_event_count_grows(tmp_path: Path) -> None:
    cat = tmp_path / "crowded.tle"
    with cat.open("w") as fh:
        write_tle(
            synthetic_catalog(100, epoch=EPOCH, seed=11, mix={"constellation_550": 0.5, "sso": 0.5}), fh
        )
    peaks, counts = [], []
    for days in ("0.2", "1.2"):
        out = tmp_path / f"events-{days}.csv"
        args = ["space", "screen", str(cat), "--start", "2026-01-01", "--days", days, "--threshold-km", "400"]
        peaks.append(_peak_rss_kib([*args, "--out", str(out), "--workers", "1", "--top", "5"]))
        counts.append(out.read_text().count("\n") - 1)
    # six times the window, six times the events (each held in memory would cost ~1-2 kB)...
    assert counts[1] >= 5 * counts[0] and counts[1] - counts[0] >= 4000, counts
    # ...and the same peak: nothing per event is kept
    assert peaks[1] - peaks[0] < 4 * 1024, (peaks, counts)
    assert peaks[1] < 400 * 1024
