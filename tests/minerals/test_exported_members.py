"""The public surface of kizuna.minerals is what __all__ says, and its docstring example runs."""

from __future__ import annotations

import doctest

import kizuna.minerals


def test_all_names_exist_and_are_public() -> None:
    for name in kizuna.minerals.__all__:
        assert hasattr(kizuna.minerals, name), name
    assert sorted(kizuna.minerals.__all__, key=str.lower) == sorted(
        set(kizuna.minerals.__all__), key=str.lower
    )


def test_module_docstring_example() -> None:
    result = doctest.testmod(kizuna.minerals, verbose=False)
    assert result.attempted >= 3 and result.failed == 0
