"""``--store`` values: memory, sqlite:PATH, redis://... ; anything else is a StoreSpecError."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatkernel.relay import MemoryStore, RedisStore, SQLiteStore, StoreSpecError, open_store


def test_memory() -> None:
    assert isinstance(open_store("memory"), MemoryStore)
    assert isinstance(open_store(" memory "), MemoryStore)


@pytest.mark.parametrize(("spec", "path"), [("sqlite:relay.db", "relay.db"), ("sqlite:/tmp/r.db", "/tmp/r.db"),
                                            ("sqlite:///tmp/r.db", "/tmp/r.db")])
def test_sqlite(spec: str, path: str) -> None:
    store = open_store(spec)
    assert isinstance(store, SQLiteStore) and store.path == Path(path)


def test_redis_with_and_without_prefix() -> None:
    plain = open_store("redis://127.0.0.1:6379/0")
    assert isinstance(plain, RedisStore) and plain.prefix == "chatkernel:relay:"
    custom = open_store("redis://:secret@127.0.0.1:6379/2?prefix=node:&socket_timeout=5")
    assert isinstance(custom, RedisStore) and custom.prefix == "node:"
    assert custom.url == "redis://:secret@127.0.0.1:6379/2?socket_timeout=5"
    assert "secret" not in repr(custom)


@pytest.mark.parametrize("spec", ["", "  ", "mem", "sqlite:", "sqlite::memory:", "redis://", "redis://h:99999/0",
                                  "postgres://x", "file:relay.db"])
def test_invalid_specs(spec: str) -> None:
    with pytest.raises(StoreSpecError) as info:
        open_store(spec)
    assert info.value.spec == spec.strip() or info.value.spec == spec


def test_nothing_is_created_before_open(tmp_path: Path) -> None:
    open_store(f"sqlite:{tmp_path / 'sub' / 'relay.db'}")
    assert not (tmp_path / "sub").exists()
