"""The compiled-indicator cache of ``kizuna match --bundle``: reused only when it holds exactly these
bundles, ``--now`` applied after loading, corrupt or foreign files ignored and rebuilt."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kizuna.cli import main
from kizuna.detect import cache

from .conftest import DATA, indicator, write_bundle

C2 = indicator("[ipv4-addr:value = '185.225.17.44']", "grid C2 address", n=1)
HASH = indicator(
    "[file:hashes.'SHA-256' = 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb']",
    "stage2 payload",
    n=3,
)
# matches in conn.log (as C2 does); valid until 2026-01-25: active at --now 2026-01-20, expired at 2026-02-01
SHORT = indicator(
    "[ipv4-addr:value = '185.225.17.44']", "short-lived", n=4, valid_until="2026-01-25T00:00:00Z"
)
LOGS = [str(DATA / n) for n in ("conn.log", "dns.log", "http.log", "files.log", "eve.json")]


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["match", "--json", *args, *LOGS])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _entries() -> list[Path]:
    return sorted(cache.cache_dir().glob("*.kzc"))


def test_second_run_uses_the_cache_and_gives_the_same_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_bundle(tmp_path / "b.json", [C2, HASH, SHORT])
    args = ("--bundle", str(bundle), "--now", "2026-02-01T00:00:00Z")
    cold = _run(capsys, *args, "--no-cache")
    assert _entries() == []
    first = _run(capsys, *args)
    assert first == cold and first[0] == 0
    assert C2["id"] in first[1]
    [entry] = _entries()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(entry.parent.stat().st_mode) == 0o700

    # the second run loads it: with preparing made impossible, it still gives the same answer
    def fail(*_args: object) -> None:
        raise AssertionError("prepared again")

    monkeypatch.setattr("kizuna.detect.cli._prepare", fail)
    assert _run(capsys, *args) == cold


def test_now_is_applied_after_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = write_bundle(tmp_path / "b.json", [C2, SHORT])
    before = ("--bundle", str(bundle), "--now", "2026-01-20T00:00:00Z")
    after = ("--bundle", str(bundle), "--now", "2026-02-01T00:00:00Z")
    fresh_before, fresh_after = _run(capsys, *before, "--no-cache"), _run(capsys, *after, "--no-cache")
    assert SHORT["id"] in fresh_before[1] and SHORT["id"] not in fresh_after[1]
    for _ in range(2):  # each --now from the one entry (its matcher recompiled when the ids change)
        assert _run(capsys, *before) == fresh_before
        assert _run(capsys, *after) == fresh_after
    assert len(_entries()) == 1


def test_a_changed_bundle_is_a_new_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "b.json"
    args = ("--bundle", str(path), "--now", "2026-02-01T00:00:00Z")
    write_bundle(path, [HASH])
    assert C2["id"] not in _run(capsys, *args)[1]
    write_bundle(path, [HASH, C2])  # same file name, new content
    code, out, _err = _run(capsys, *args)
    assert code == 0 and C2["id"] in out
    assert len(_entries()) == 2


def test_refusals_are_reported_from_the_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = dict(C2, id="indicator--not-a-uuid")
    bundle = write_bundle(tmp_path / "b.json", [bad, HASH])
    args = ("--bundle", str(bundle), "--now", "2026-02-01T00:00:00Z")
    cold = _run(capsys, *args, "--no-cache")
    assert cold[0] == 3 and "refused" in cold[2]
    assert _run(capsys, *args) == cold
    assert _run(capsys, *args) == cold  # from the cache: same messages, same exit status


@pytest.mark.parametrize("damage", ["truncate", "flip", "group-writable", "garbage"])
def test_a_corrupt_or_foreign_entry_is_ignored_and_rebuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    bundle = write_bundle(tmp_path / "b.json", [C2, HASH])
    args = ("--bundle", str(bundle), "--now", "2026-02-01T00:00:00Z")
    cold = _run(capsys, *args, "--no-cache")
    _run(capsys, *args)
    [entry] = _entries()
    data = entry.read_bytes()
    if damage == "truncate":
        entry.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        entry.write_bytes(data[:-10] + bytes([data[-10] ^ 1]) + data[-9:])
    elif damage == "garbage":
        entry.write_bytes(b"not a cache file")
    else:
        os.chmod(entry, 0o620)
    assert cache.load(entry.stem) is None
    assert _run(capsys, *args) == cold
    [rebuilt] = _entries()
    assert cache.load(rebuilt.stem) is not None


def test_few_entries_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(cache.KEEP + 2):
        bundle = write_bundle(tmp_path / f"b{n}.json", [indicator(f"[ipv4-addr:value = '10.9.9.{n}']", n=n)])
        assert _run(capsys, "--bundle", str(bundle))[0] == 0
    assert len(_entries()) == cache.KEEP


@pytest.mark.parametrize(
    "text",
    [
        "[ipv4-addr:value = '1.2.3.4' AND network-traffic:dst_port = 502]",
        "[ipv4-addr:value IN ('a', 'b') OR domain-name:value NOT LIKE '%.example']",
        "([domain-name:value = 'a'] FOLLOWEDBY [url:value MATCHES '^x']) WITHIN 300 SECONDS",
        "([file:size > 5] AND [file:name = 'x']) REPEATS 3 TIMES",
        "[file:size > 5] OR [x-custom:flag = true]"
        " START t'2026-01-01T00:00:00Z' STOP t'2026-02-01T00:00:00Z'",
    ],
)
def test_pattern_nodes_survive_pickling(text: str) -> None:
    import pickle

    from kizuna.detect.pattern import parse_pattern

    expr = parse_pattern(text)
    again = pickle.loads(pickle.dumps(expr, protocol=pickle.HIGHEST_PROTOCOL))
    # equal and of equal hash (their reprs may list a frozenset's members in another order)
    assert again == expr and hash(again) == hash(expr) and type(again) is type(expr)


def test_the_folder_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "kizuna" / "match"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for relative_or_empty in ("relative/dir", ""):
        monkeypatch.setenv("XDG_CACHE_HOME", relative_or_empty)
        assert cache.cache_dir() == tmp_path / "home" / ".cache" / "kizuna" / "match"


def test_a_loaded_entry_equals_the_stored_one(tmp_path: Path) -> None:
    """Indicators come back whole (their expression and STIX object made when first read), the matcher
    finds the same brackets, and its index still takes new expressions under the same leaf ids."""
    from kizuna.detect.cache import Compiled
    from kizuna.detect.indicators import build_matcher, prepare_indicators
    from kizuna.detect.matcher import Event
    from kizuna.detect.pattern import parse_pattern
    from kizuna.stix.ids import parse_timestamp

    texts = [
        "[ipv4-addr:value = '10.0.0.1']",
        "[file:hashes.MD5 = 'AABB' AND file:name = 'x.exe']",  # not exact: evaluated on an anchor hit
        "[domain-name:value LIKE '%.evil.example']",  # no anchor: evaluated on every domain name
        "[ipv4-addr:value ISSUBSET '10.1.0.0/16']",
        "([domain-name:value = 'a.example'] FOLLOWEDBY [ipv4-addr:value = '10.0.0.1']) WITHIN 300 SECONDS",
    ]
    objects = [indicator(text, f"n{i}", n=i + 1) for i, text in enumerate(texts)]
    prepared = prepare_indicators(objects, warninglists=None)
    indicators = [p.indicator for p in prepared if p.indicator is not None]
    matcher = build_matcher(indicators)
    assert cache.store("k", Compiled(prepared, [], ("x",), matcher), tmp_path)
    entry = cache.load("k", tmp_path)
    assert entry is not None and entry.matcher is not None and entry.active_ids == ("x",)
    again = [p.indicator for p in entry.prepared if p.indicator is not None]
    assert again == indicators and [i.raw for i in again] == objects
    when = parse_timestamp("2026-01-20T00:00:00Z")
    events = [
        {"0": {"type": "ipv4-addr", "value": "10.0.0.1"}},
        {"0": {"type": "ipv4-addr", "value": "10.1.2.3"}},
        {"0": {"type": "file", "hashes": {"MD5": "aabb"}, "name": "x.exe"}},
        {"0": {"type": "file", "hashes": {"MD5": "aabb"}, "name": "y.exe"}},
        {"0": {"type": "domain-name", "value": "a.evil.example"}},
        {"0": {"type": "domain-name", "value": "a.example"}},
    ]
    for n, objs in enumerate(events):
        event = Event("log", n, when, objs)
        assert entry.matcher.leaves(event) == matcher.leaves(event)
    index, fresh = entry.matcher.index, matcher.index
    assert index.expressions == fresh.expressions and len(index) == len(fresh)
    new = parse_pattern("[url:value = 'http://x.example/']").comparison  # type: ignore[union-attr]
    assert index.add(new) == fresh.add(new) == len(fresh) - 1
    assert index.add(fresh.expressions[0]) == 0
