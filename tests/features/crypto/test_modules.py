"""The crypto package's own hygiene: sorted, honest ``__all__`` in every private module."""

from __future__ import annotations

import importlib
import types

import pytest

MODULES = ["_api", "_config", "_directory", "_envelope", "_groups", "_kdf", "_keys", "_ratchet", "_sender_keys",
           "_state",
           "_store", "_x3dh", "errors", "events", "machine", "service", "ui"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(f"features.crypto.{name}")
    exported = module.__all__
    assert list(exported) == sorted(exported)
    defined = {
        n for n, v in vars(module).items()
        if not n.startswith("_") and n != "annotations" and not isinstance(v, types.ModuleType)
        and (not isinstance(v, type) and not callable(v) or getattr(v, "__module__", None) == module.__name__)
    }
    assert defined <= set(exported), defined - set(exported)
    assert all(hasattr(module, n) for n in exported)


def test_every_error_shares_the_base() -> None:
    from features.crypto import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(issubclass(c, errors.CryptoError) for c in classes)
    for c in classes:
        assert c.__name__ in errors.__doc__
