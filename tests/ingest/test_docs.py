"""docs/ingest.md is generated from the mapping table; it fails here when stale, and its CSV example runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kizuna.ingest.docs import EXAMPLE_CSV, EXAMPLE_MAPPING, render
from kizuna.ingest.mapping import ATTRIBUTES
from tests.ingest.conftest import LocalHub, kizuna

DOC = Path(__file__).resolve().parents[2] / "docs" / "ingest.md"


def test_docs_ingest_md_is_generated_from_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/ingest.md is stale: run `python -m kizuna.ingest.docs > docs/ingest.md`"
    )
    for misp_type in ATTRIBUTES:
        assert f"| `{misp_type}` |" in render()


def test_the_worked_csv_example_does_what_the_doc_says(
    tmp_path: Path, local_hub: LocalHub, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "iocs.csv").write_text(EXAMPLE_CSV, encoding="utf-8")
    (tmp_path / "mapping.toml").write_text(EXAMPLE_MAPPING, encoding="utf-8")
    args = ["ingest", "csv", tmp_path / "iocs.csv", "--mapping", tmp_path / "mapping.toml"]
    args += ["--db", local_hub.db, "--collection", "shared", "--org", "uk"]
    dry = kizuna(capsys, *args, "--dry-run")
    assert dry.rc == 0 and dry.err.strip() == "read 4, stored new 4, new versions 0, duplicates 0, rejected 0"
    assert len(dry.out.splitlines()) == 4 and '"description":"line one\\nline two"' in dry.out
    assert '"description":"seen in the \\"March\\" campaign, twice"' in dry.out
    assert "[url:value = 'http://evil.example.com/a,b']" in dry.out
    before = local_hub.counts()
    assert before["objects"] == 0
    real = kizuna(capsys, *args)  # the same code path, stored this time
    assert real.rc == 0 and real.err.strip() == dry.err.strip()
    assert local_hub.counts()["objects"] == 4
