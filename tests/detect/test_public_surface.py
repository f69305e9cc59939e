"""The public surface of kizuna.detect is what __all__ says, and its doctest runs."""

from __future__ import annotations

import doctest

import kizuna.detect


def test_exported_members() -> None:
    assert sorted(kizuna.detect.__all__) == kizuna.detect.__all__
    for name in kizuna.detect.__all__:
        assert getattr(kizuna.detect, name) is not None


def test_docstring_example_runs() -> None:
    result = doctest.testmod(kizuna.detect, verbose=False)
    assert result.attempted >= 6 and result.failed == 0
