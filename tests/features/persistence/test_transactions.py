"""Transactions through the service: all or nothing, one at a time, and the kernel's loop keeps
running while the database thread works."""

from __future__ import annotations

import asyncio

import pytest

from features.persistence import errors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def db(service):
    await service.execute("CREATE TABLE ratchet (peer TEXT PRIMARY KEY, step INTEGER NOT NULL)")
    await service.execute("CREATE TABLE message (id TEXT PRIMARY KEY, peer TEXT NOT NULL)")
    await service.execute("INSERT INTO ratchet VALUES ('bob', 0)")
    return service


@pytest.fixture
def jobs(db, monkeypatch) -> list:
    """Every job the service hands to its database thread through ``_call``, in order."""
    seen: list = []
    call = db._call

    async def counted(fn, *args):
        seen.append(fn)
        return await call(fn, *args)

    monkeypatch.setattr(db, "_call", counted)
    return seen


async def state(db):
    return (await db.fetchall("SELECT step FROM ratchet"), await db.fetchall("SELECT id FROM message"))


async def test_a_transaction_commits_everything_together(db):
    async with db.transaction() as tx:
        assert await tx.execute("UPDATE ratchet SET step = step + 1 WHERE peer = ?", ("bob",)) == 1
        await tx.execute("INSERT INTO message VALUES (?, ?)", ("m1", "bob"))
        assert await tx.fetchone("SELECT step FROM ratchet") == (1,)  # its own writes are visible inside
    assert await state(db) == ([(1,)], [("m1",)])


async def test_the_first_statement_begins_the_transaction_and_an_empty_block_commits_nothing(db, jobs):
    async with db.transaction() as tx:
        assert not tx.begun and not db._db.in_transaction
    assert jobs == []  # no BEGIN, no COMMIT: nothing went to the thread
    async with db.transaction() as tx:
        await tx.execute("UPDATE ratchet SET step = 7")
        assert tx.begun and db._db.in_transaction
        await tx.execute("INSERT INTO message VALUES ('m1', 'bob')")
    assert len(jobs) == 2  # BEGIN went with the first statement; the COMMIT is not a _call
    with pytest.raises(RuntimeError):
        async with db.transaction():
            raise RuntimeError("before any statement")  # nothing to roll back
    assert len(jobs) == 2 and not db._db.in_transaction
    assert await state(db) == ([(7,)], [("m1",)])


async def test_a_failing_first_statement_still_rolls_back(db):
    with pytest.raises(errors.ConstraintError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO ratchet VALUES ('bob', 1)")  # begins, then fails
    assert not db._db.in_transaction
    assert await state(db) == ([(0,)], [])


async def test_a_write_goes_with_the_next_statement_or_the_commit(db, jobs):
    async with db.transaction() as tx:
        tx.write("UPDATE ratchet SET step = 1")
        tx.write("INSERT INTO message VALUES ('m1', 'bob')")
        assert jobs == [] and not tx.begun  # nothing went to the thread yet
        assert await tx.fetchone("SELECT step FROM ratchet") == (1,)  # ran first, in order
        assert len(jobs) == 1 and tx.begun
        tx.write("INSERT INTO message VALUES ('m2', 'bob')")  # runs with the COMMIT
    assert len(jobs) == 1
    async with db.transaction() as tx:  # only writes: BEGIN, the writes and COMMIT in one job
        tx.write("UPDATE ratchet SET step = 2")
    assert await state(db) == ([(2,)], [("m1",), ("m2",)])


async def test_a_failing_write_fails_the_commit_and_keeps_nothing(db):
    with pytest.raises(errors.ConstraintError, match="UNIQUE"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE ratchet SET step = 1")
            tx.write("INSERT INTO message VALUES ('m1', 'bob')")
            tx.write("INSERT INTO message VALUES ('m1', 'bob')")
    assert not db._db.in_transaction
    with pytest.raises(errors.ConstraintError):
        async with db.transaction() as tx:  # never begun before the commit: still all or nothing
            tx.write("UPDATE ratchet SET step = 5")
            tx.write("INSERT INTO ratchet VALUES ('bob', 1)")
    assert await state(db) == ([(0,)], [])
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            tx.write("UPDATE ratchet SET step = 9")
            raise RuntimeError("the block failed: its writes never run")
    assert await state(db) == ([(0,)], [])
    with pytest.raises(errors.TransactionError, match="after its block"):
        tx.write("UPDATE ratchet SET step = 9")


async def test_a_failure_mid_transaction_leaves_nothing_behind(db):
    with pytest.raises(RuntimeError, match="network down"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE ratchet SET step = 1")
            await tx.execute("INSERT INTO message VALUES ('m1', 'bob')")
            raise RuntimeError("network down")
    assert await state(db) == ([(0,)], [])


async def test_a_failing_statement_rolls_back_the_whole_transaction(db):
    with pytest.raises(errors.ConstraintError, match="UNIQUE"):
        async with db.transaction() as tx:
            await tx.execute("UPDATE ratchet SET step = 1")
            await tx.executemany("INSERT INTO message VALUES (?, 'bob')", [("m1",), ("m1",)])
    assert await state(db) == ([(0,)], [])


async def test_a_cancelled_transaction_leaves_nothing_behind(db):
    inside = asyncio.Event()

    async def work():
        async with db.transaction() as tx:
            await tx.execute("UPDATE ratchet SET step = 1")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await state(db) == ([(0,)], [])


async def test_run_in_transaction_runs_a_function_on_the_database_thread(db):
    def step(conn, peer):
        conn.execute("UPDATE ratchet SET step = step + 1 WHERE peer = ?", (peer,))
        conn.execute("INSERT INTO message VALUES ('m1', ?)", (peer,))
        return conn.execute("SELECT step FROM ratchet WHERE peer = ?", (peer,)).fetchone()[0]

    assert await db.run_in_transaction(step, "bob") == 1

    def broken(conn):
        conn.execute("UPDATE ratchet SET step = 99")
        conn.execute("INSERT INTO message VALUES ('m2', 'bob')")
        raise ValueError("decryption failed")

    with pytest.raises(ValueError, match="decryption failed"):
        await db.run_in_transaction(broken)
    assert await state(db) == ([(1,)], [("m1",)])


async def test_tx_run_and_reads_inside_a_transaction(db):
    async with db.transaction() as tx:
        assert await tx.run(lambda conn: conn.execute("SELECT count(*) FROM ratchet").fetchone()[0]) == 1
        assert await tx.fetchall("SELECT peer FROM ratchet") == [("bob",)]


async def test_transactions_from_two_tasks_do_not_interleave(db):
    order = []

    async def writer(name, pause):
        async with db.transaction() as tx:
            order.append(f"{name} begin")
            await tx.execute("UPDATE ratchet SET step = step + 1")
            await asyncio.sleep(pause)
            await tx.execute("INSERT INTO message VALUES (?, 'bob')", (name,))
            order.append(f"{name} end")

    await asyncio.gather(writer("a", 0.02), writer("b", 0))
    assert order == ["a begin", "a end", "b begin", "b end"]
    assert await state(db) == ([(2,)], [("a",), ("b",)])


async def test_nesting_in_the_same_task_is_refused_instead_of_deadlocking(db):
    async with db.transaction():
        with pytest.raises(errors.TransactionError, match="same task would wait for itself"):
            await db.execute("UPDATE ratchet SET step = 5")
        with pytest.raises(errors.TransactionError):
            async with db.transaction():
                pass  # pragma: no cover
    assert await state(db) == ([(0,)], [])


async def test_a_transaction_cannot_be_used_after_its_block(db):
    async with db.transaction() as tx:
        pass
    with pytest.raises(errors.TransactionError, match="used after its block ended"):
        await tx.execute("UPDATE ratchet SET step = 1")


async def test_close_waits_for_the_transaction_in_flight(db):
    inside, release = asyncio.Event(), asyncio.Event()

    async def work():
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO message VALUES ('m1', 'bob')")
            inside.set()
            await release.wait()
            await tx.execute("INSERT INTO message VALUES ('m2', 'bob')")

    task = asyncio.create_task(work())
    await inside.wait()
    closing = asyncio.create_task(db.close())
    await asyncio.sleep(0)
    assert db.state == "locking" and not closing.done()
    release.set()
    await asyncio.gather(task, closing)
    assert db.state == "closed"


async def test_the_event_loop_stays_responsive_during_a_slow_query(db):
    """A concurrent task keeps ticking while a slow statement runs on the database thread."""
    ticks = 0
    running = asyncio.Event()
    stop = False

    async def ticker():
        nonlocal ticks
        running.set()
        while not stop:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await running.wait()
    slow = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) "
            "SELECT count(*), sum(i % 7) FROM n")
    query = asyncio.create_task(db.fetchone(slow))
    await asyncio.sleep(0)
    at_start = ticks
    result = await query
    during = ticks - at_start
    stop = True
    await task
    assert result[0] == 3000000
    assert during >= 10, f"the loop ran only {during} times while the query ran"


async def test_an_async_function_cannot_run_on_the_database_thread(db):
    async def wrong(conn):  # pragma: no cover - refused before it could be called
        conn.execute("UPDATE ratchet SET step = 1")

    with pytest.raises(errors.TransactionError, match="must be a plain def"):
        await db.run_in_transaction(wrong)
    with pytest.raises(errors.TransactionError, match="must be a plain def"):
        async with db.transaction() as tx:
            await tx.run(wrong)
    assert await state(db) == ([(0,)], [])
