"""Migrations: each feature's steps run once, in order, each in its own transaction, recorded by
(owner, version); a database newer than the code is refused before anything runs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from features.persistence import errors
from features.persistence.migrations import MIGRATIONS_TABLE, Migration, plan

pytestmark = pytest.mark.anyio

CHAT_1 = Migration("chat", 1, sql="CREATE TABLE message (id TEXT PRIMARY KEY, body TEXT NOT NULL);"
                                  "CREATE INDEX message_body ON message (body);", description="messages")
CHAT_2 = Migration("chat", 2, sql="ALTER TABLE message ADD COLUMN sent_at INTEGER")


async def recorded(service) -> list[tuple[str, int]]:
    return await service.fetchall(f"SELECT owner, version FROM {MIGRATIONS_TABLE} ORDER BY rowid")


async def test_registered_migrations_run_at_open_in_order(make_service, key):
    seen = []
    s = make_service(listener=lambda name, info: seen.append(info))
    s.add_migrations([CHAT_2, CHAT_1, Migration("signaling", 1, sql="CREATE TABLE cursor (since TEXT)")])
    await s.open(key, "alice")
    assert await recorded(s) == [("chat", 1), ("chat", 2), ("signaling", 1)]
    assert seen[-1]["migrations_applied"] == 3
    await s.execute("INSERT INTO message (id, body, sent_at) VALUES ('m1', 'hi', 1)")


async def test_a_migration_never_runs_twice(make_service, key):
    calls = []

    def seed(db):
        calls.append(1)
        db.execute("INSERT INTO message (id, body) VALUES ('welcome', 'hello')")

    steps = [CHAT_1, Migration("chat", 2, apply=seed)]
    s = make_service()
    s.add_migrations(steps)
    await s.open(key, "alice")
    assert await s.migrate() == []
    await s.close()
    again = make_service()
    again.add_migrations(steps)
    await again.open(key, "alice")
    assert calls == [1]
    assert await again.fetchall("SELECT id FROM message") == [("welcome",)]


async def test_migrate_on_an_open_database_applies_only_the_new_steps(service):
    assert await service.migrate([CHAT_1]) == [("chat", 1)]
    assert await service.migrate([CHAT_1, CHAT_2]) == [("chat", 2)]
    assert await service.migrate() == []
    assert await recorded(service) == [("chat", 1), ("chat", 2)]


async def test_objects_and_mappings_with_the_same_fields_are_migrations(service):
    """Features cannot import Migration; they hand in their own record or a dict."""
    mine = SimpleNamespace(owner="contacts", version=1, sql="CREATE TABLE contact (id TEXT)")
    assert await service.migrate([mine, {"owner": "groups", "version": 1, "sql": "CREATE TABLE grp (id TEXT)"}]) \
        == [("contacts", 1), ("groups", 1)]


async def test_a_database_newer_than_the_code_is_refused(make_service, service, key):
    await service.migrate([CHAT_1, CHAT_2])
    await service.close()
    old = make_service()
    old.add_migrations([CHAT_1, Migration("signaling", 1, sql="CREATE TABLE cursor (since TEXT)")])
    with pytest.raises(errors.DowngradeError) as caught:
        await old.open(key, "alice")
    assert (caught.value.owner, caught.value.db_version, caught.value.code_version) == ("chat", 2, 1)
    assert "refusing to downgrade" in str(caught.value) and caught.value.kind == "downgrade"
    assert old.state == "error"
    newer = make_service()
    await newer.open(key, "alice")
    assert await recorded(newer) == [("chat", 1), ("chat", 2)]  # nothing else ran, not even signaling's


async def test_a_failing_migration_is_rolled_back_and_stops_the_open(make_service, key):
    broken = Migration("chat", 2, sql="CREATE TABLE extra (x); INSERT INTO nowhere VALUES (1)")
    s = make_service()
    s.add_migrations([CHAT_1, broken])
    with pytest.raises(errors.MigrationError, match=r"migration chat/2: failed and was rolled back: no such table"):
        await s.open(key, "alice")
    fixed = make_service()
    await fixed.open(key, "alice")
    assert await recorded(fixed) == [("chat", 1)]
    assert await fixed.fetchall("SELECT name FROM sqlite_master WHERE name = 'extra'") == []


async def test_a_step_inserted_below_applied_ones_is_refused(service):
    await service.migrate([CHAT_1, Migration("chat", 3, sql="CREATE TABLE c3 (x)")])
    with pytest.raises(errors.MigrationError, match="not applied but version 3 is"):
        await service.migrate([CHAT_2])


def test_declarations_are_checked():
    with pytest.raises(errors.MigrationError, match="exactly one of sql= and apply="):
        Migration("chat", 1)
    with pytest.raises(errors.MigrationError, match="version must be an integer >= 1"):
        Migration("chat", 0, sql="SELECT 1")
    with pytest.raises(errors.MigrationError, match="owner must be a feature id"):
        Migration("Chat!", 1, sql="SELECT 1")


async def test_the_same_version_declared_twice_differently_is_refused(make_service):
    s = make_service()
    s.add_migrations([CHAT_1, CHAT_1])  # the same step twice is harmless
    with pytest.raises(errors.MigrationError, match="declared twice, differently"):
        s.add_migrations([Migration("chat", 1, sql="CREATE TABLE other (x)")])


def test_plan_orders_owners_as_declared_and_versions_ascending():
    a2, a1, b1 = Migration("a", 2, sql="x"), Migration("a", 1, sql="x"), Migration("b", 1, sql="x")
    assert plan({}, [b1, a2, a1]) == [b1, a1, a2]
    assert plan({"a": {1}}, [a1, a2, b1]) == [a2, b1]


async def test_a_callable_step_that_raises_is_rolled_back_with_its_reason(service):
    def half(db):
        db.execute("CREATE TABLE half (x)")
        raise ValueError("bad data in row 7")

    with pytest.raises(errors.MigrationError, match=r"chat/1: failed and was rolled back: ValueError: bad data"):
        await service.migrate([Migration("chat", 1, apply=half)])
    assert await service.fetchall("SELECT name FROM sqlite_master WHERE name = 'half'") == []
    assert await recorded(service) == []
