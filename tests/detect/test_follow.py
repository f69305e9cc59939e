"""``kizuna match --follow`` with real processes: a ``kizuna hub serve`` on 127.0.0.1 and the follower as a
user runs it. Counts posted to the hub are checked against the log's own content (each line carries the
value of one indicator), which is what a clean run posts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from kizuna.hub.client import HubClient

from ..conftest import RunningHub, kizuna_cli, start_hub_process
from .conftest import indicator

pytestmark = pytest.mark.timeout(120)

FLUSH_S = "0.2"


def ip(i: int) -> str:
    return f"185.225.17.{i}"


def ecs_line(i: int, n: int = 0) -> bytes:
    """One ECS JSON record whose destination is indicator ``i``'s address (``n`` varies the source)."""
    record = {
        "@timestamp": f"2026-02-01T10:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
        "source": {"ip": f"10.0.{n // 250 % 250}.{n % 250}"},
        "destination": {"ip": ip(i)},
    }
    return orjson.dumps(record) + b"\n"


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


class Sensor:
    """``kizuna match --follow`` against the test hub's collection, restartable."""

    def __init__(self, hub: RunningHub, tmp: Path, *logs: Path) -> None:
        self.hub = hub
        self.token_file = tmp / "token"
        self.token_file.write_text(hub.token + "\n")
        self.token_file.chmod(0o600)
        self.state = tmp / "follow.state"
        self.logs = logs
        self.stderr = tmp / "follow.err"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.stderr.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kizuna", "match", "--follow", *map(str, self.logs), "--hub",
                 self.hub.api_root_url, "--token-file", str(self.token_file), "--collection",
                 self.hub.collection_id, "--state", str(self.state), "--flush-s", FLUSH_S,
                 "--org", "sensor-1"],
                stdout=subprocess.DEVNULL,
                stderr=err,
            )  # fmt: skip
        wait_for(lambda: b"following" in self.stderr.read_bytes(), "the follower to start", self)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_for(
    condition: Callable[[], bool], what: str, sensor: Sensor | None = None, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if sensor is not None and sensor.proc is not None and sensor.proc.poll() is not None:
            raise AssertionError(f"the follower exited: {sensor.stderr.read_text()}")
        time.sleep(0.05)
    detail = sensor.stderr.read_text() if sensor is not None else ""
    raise AssertionError(f"timed out waiting for {what}\n{detail}")


def counts(hub: RunningHub) -> Counter[str]:
    """Sum of sighting counts per indicator at the hub."""
    with HubClient(hub.api_root_url, hub.token) as client:
        out: Counter[str] = Counter()
        for s in client.iter_objects(hub.collection_id, match={"type": "sighting"}):
            out[s["sighting_of_ref"]] += s["count"]
        return out


def post(hub: RunningHub, *objects: dict[str, object]) -> None:
    with HubClient(hub.api_root_url, hub.token) as client:
        status = client.add_objects(hub.collection_id, list(objects), poll_interval_s=0.02)
    assert status["failure_count"] == 0, status


@pytest.fixture
def sensor(kizuna_hub: RunningHub, tmp_path: Path) -> Iterator[Sensor]:
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    s = Sensor(kizuna_hub, tmp_path, log)
    try:
        yield s
    finally:
        s.stop()


def test_new_indicator_matches_and_revoked_stops_within_a_second(
    kizuna_hub: RunningHub, sensor: Sensor
) -> None:
    log = sensor.logs[0]
    a, b = indicator(f"[ipv4-addr:value = '{ip(1)}']", n=1), indicator(f"[ipv4-addr:value = '{ip(2)}']", n=2)
    post(kizuna_hub, a)
    sensor.start()
    append(log, ecs_line(1) + ecs_line(2))
    wait_for(lambda: counts(kizuna_hub)[a["id"]] == 1, "the sighting of A", sensor)
    # a new indicator: matched from the next event, no restart (the follower is still the same process)
    assert sensor.proc is not None
    pid = sensor.proc.pid
    post(kizuna_hub, b)
    time.sleep(1.0)
    append(log, ecs_line(2, 1))
    wait_for(lambda: counts(kizuna_hub)[b["id"]] == 1, "the sighting of B", sensor)
    # revoked at the hub: one second later its value no longer matches
    post(kizuna_hub, {**a, "modified": "2026-01-16T00:00:00.000Z", "revoked": True})
    time.sleep(1.0)
    append(log, ecs_line(1, 2) + ecs_line(2, 3))
    wait_for(lambda: counts(kizuna_hub)[b["id"]] == 2, "the second sighting of B", sensor)
    time.sleep(2 * float(FLUSH_S))
    assert counts(kizuna_hub)[a["id"]] == 1
    assert sensor.proc.pid == pid and sensor.proc.poll() is None
    # the state file is the owner's only
    assert sensor.state.stat().st_mode & 0o777 == 0o600


def test_rotation_by_rename_and_by_copy_truncate(kizuna_hub: RunningHub, sensor: Sensor) -> None:
    log = sensor.logs[0]
    a = indicator(f"[ipv4-addr:value = '{ip(1)}']", n=1)
    post(kizuna_hub, a)
    sensor.start()
    append(log, b"".join(ecs_line(1, n) for n in range(3)))
    wait_for(lambda: counts(kizuna_hub)[a["id"]] == 3, "3 hits", sensor)
    # rename: the lines written to the old file after the last read still count, then the new file's
    append(log, b"".join(ecs_line(1, n) for n in range(2)))
    log.rename(log.with_name("app.log.1"))
    log.write_bytes(b"".join(ecs_line(1, n) for n in range(4)))
    wait_for(lambda: counts(kizuna_hub)[a["id"]] == 9, "9 hits after rename", sensor)
    # copy-truncate: the same file, shorter than where the follower was, read again from its start
    log.with_name("app.log.2").write_bytes(log.read_bytes())
    with log.open("r+b") as handle:
        handle.truncate(0)
    time.sleep(0.3)
    append(log, ecs_line(1, 7))
    wait_for(lambda: counts(kizuna_hub)[a["id"]] == 10, "10 hits after copy-truncate", sensor)
    time.sleep(3 * float(FLUSH_S))
    assert counts(kizuna_hub)[a["id"]] == 10


def test_kill_9_at_random_moments_counts_equal_a_clean_run(kizuna_hub: RunningHub, sensor: Sensor) -> None:
    log = sensor.logs[0]
    rng = random.Random(int(os.environ.get("KIZUNA_FOLLOW_SEED", "16")))
    inds = [indicator(f"[ipv4-addr:value = '{ip(i)}']", n=i) for i in range(1, 6)]
    post(kizuna_hub, *inds)
    expected: Counter[str] = Counter()
    lines = 0

    def write(n: int) -> None:
        nonlocal lines
        chunk = []
        for _ in range(n):
            i = rng.randrange(0, 40)  # 1-5 are indicators, the rest no match
            chunk.append(ecs_line(i, lines))
            lines += 1
            if 1 <= i <= 5:
                expected[inds[i - 1]["id"]] += 1
        append(log, b"".join(chunk))

    write(30_000)
    for _ in range(4):
        sensor.start()
        write(10_000)
        time.sleep(rng.uniform(0.1, 1.2))
        sensor.kill()
    sensor.start()
    write(5_000)
    want = {k: v for k, v in expected.items()}
    wait_for(lambda: dict(counts(kizuna_hub)) == want, "the counts of a clean run", sensor, timeout_s=60)
    time.sleep(3 * float(FLUSH_S))
    assert dict(counts(kizuna_hub)) == want


def test_bad_input_is_one_line_exit_2(kizuna_hub: RunningHub, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(kizuna_hub.token)
    token.chmod(0o600)
    base = ["match", "--follow", str(tmp_path / "x.log"), "--hub", kizuna_hub.api_root_url, "--token-file",
            str(token), "--collection", kizuna_hub.collection_id]  # fmt: skip
    for extra, words in (
        ([], "--state"),
        (["--state", str(tmp_path / "s"), "--flush-s", "0"], "--flush-s"),
        (["--state", str(tmp_path / "nowhere" / "s")], "folder not found"),
        (["--state", str(tmp_path / "s"), "--workers", "2"], "not of --follow"),
        (["--state", str(tmp_path / "s"), "--reader", "plain"], "not of --follow"),
    ):
        proc = kizuna_cli(*base, *extra, check=False)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    bad_state = tmp_path / "bad.state"
    bad_state.write_text("{not json")
    proc = kizuna_cli(*base, "--state", str(bad_state), check=False)
    assert proc.returncode == 2 and str(bad_state) in proc.stderr and "Traceback" not in proc.stderr
    proc = kizuna_cli("match", str(tmp_path / "x.log"), "--bundle", "b.json", "--state", "s", check=False)
    assert proc.returncode == 2 and "--follow" in proc.stderr


def test_sightings_wait_while_the_hub_is_down_and_go_when_it_is_back(
    kizuna_hub: RunningHub, sensor: Sensor
) -> None:
    log = sensor.logs[0]
    a = indicator(f"[ipv4-addr:value = '{ip(1)}']", n=1)
    post(kizuna_hub, a)
    sensor.start()
    kizuna_hub.process.terminate()
    kizuna_hub.process.wait(timeout=20)
    append(log, ecs_line(1) + ecs_line(1, 1))
    wait_for(lambda: b"sightings wait in" in sensor.stderr.read_bytes(), "the follower to keep them", sensor)
    assert orjson.loads(sensor.state.read_bytes())["unsent"]
    back = start_hub_process(kizuna_hub.db_path, kizuna_hub.port)
    try:
        wait_for(lambda: counts(kizuna_hub)[a["id"]] == 2, "the sightings that waited", sensor)
        wait_for(lambda: not orjson.loads(sensor.state.read_bytes())["unsent"], "the state to empty", sensor)
    finally:
        sensor.stop()
        back.terminate()
        back.wait(timeout=20)


def test_stdin_is_followed_until_it_closes(kizuna_hub: RunningHub, tmp_path: Path) -> None:
    a = indicator(f"[ipv4-addr:value = '{ip(1)}']", n=1)
    post(kizuna_hub, a)
    token = tmp_path / "token"
    token.write_text(kizuna_hub.token)
    token.chmod(0o600)
    proc = subprocess.run(
        [sys.executable, "-m", "kizuna", "match", "--follow", "-", "--hub", kizuna_hub.api_root_url,
         "--token-file", str(token), "--collection", kizuna_hub.collection_id, "--state",
         str(tmp_path / "s"), "--flush-s", FLUSH_S, "--json"],
        input=ecs_line(1) + ecs_line(2) + ecs_line(1, 1),
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [orjson.loads(line)["line"] for line in proc.stdout.splitlines()] == [1, 3]
    assert counts(kizuna_hub)[a["id"]] == 2
