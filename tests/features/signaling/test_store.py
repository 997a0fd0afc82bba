"""What signaling keeps in the profile database, on a real SQLCipher file."""

from __future__ import annotations

import os

import pytest

from features.persistence._config import PersistenceConfig
from features.persistence.service import PersistenceService
from features.signaling import _store

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(tmp_path):
    service = PersistenceService(PersistenceConfig(profiles_dir=str(tmp_path / "profiles")))
    await service.open(os.urandom(32), "me")
    yield service
    await service.close()


async def test_version_2_keeps_the_seen_ids_under_the_relay_of_the_cursor(db):
    await db.migrate(_store.MIGRATIONS[:1])
    await db.execute("INSERT INTO signaling_state VALUES ('cursor', '7'), ('cursor_url', 'http://127.0.0.1:1')")
    async with db.transaction() as tx:
        await tx.executemany("INSERT INTO signaling_seen (relay_id, seq) VALUES (?, ?)", [("6", 1), ("7", 2)])
    await db.migrate(_store.MIGRATIONS)
    assert await db.fetchall("SELECT url, relay_id, seq FROM signaling_seen ORDER BY seq") == \
        [("http://127.0.0.1:1", "6", 1), ("http://127.0.0.1:1", "7", 2)]
    async with db.transaction() as tx:  # the same id from another relay is another message
        assert await _store.save_seen(tx, "7", cursor="7", url="http://127.0.0.1:2", seen_history=10)
        assert not await _store.save_seen(tx, "7", cursor="7", url="http://127.0.0.1:1", seen_history=10)
        await _store.forget_relay(tx, "http://127.0.0.1:1")
    assert await db.fetchall("SELECT url, relay_id, seq FROM signaling_seen") == [("http://127.0.0.1:2", "7", 3)]


async def test_version_2_on_a_profile_that_never_connected(db):
    await db.migrate(_store.MIGRATIONS[:1])
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO signaling_seen (relay_id, seq) VALUES ('1', 1)")
    await db.migrate(_store.MIGRATIONS)
    assert await db.fetchall("SELECT url, relay_id FROM signaling_seen") == [("", "1")]


async def test_the_seen_window_is_pruned_to_its_history(db):
    await db.migrate(_store.MIGRATIONS)
    async with db.transaction() as tx:
        for n in range(1, 257):
            assert await _store.save_seen(tx, str(n), cursor=None, url="u", seen_history=100)
    rows = await db.fetchall("SELECT min(seq), max(seq), count(*) FROM signaling_seen")
    assert rows == [(157, 256, 100)]  # pruned at seq 256 to the newest 100
