"""Fixtures for kizuna.detect tests: indicators as a producer would publish them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from kizuna.detect.warninglists import WarningLists, load_warninglists
from kizuna.stix.markings import TLP, TLP2_IDS

DATA = Path(__file__).parent / "data"


def indicator(
    pattern: str,
    name: str = "",
    *,
    tlp: TLP | None = TLP.AMBER,
    n: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A STIX 2.1 indicator (deterministic id when ``n`` is given)."""
    ident = uuid.UUID(int=n, version=4) if n is not None else uuid.uuid4()
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{ident}",
        "created": "2026-01-15T00:00:00.000Z",
        "modified": "2026-01-15T00:00:00.000Z",
        "name": name or pattern,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-15T00:00:00Z",
        "indicator_types": ["malicious-activity"],
    }
    if tlp is not None:
        obj["object_marking_refs"] = [TLP2_IDS[tlp]]
    obj.update(extra)
    return obj


def write_bundle(path: Path, objects: list[dict[str, Any]]) -> Path:
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))
    return path


@pytest.fixture(autouse=True)
def _cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``kizuna match``'s compiled-indicator cache in a folder of the test's own, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def warninglists() -> WarningLists:
    return load_warninglists()
