"""One conformance suite, run against every mailbox store (memory, SQLite, Redis)."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatkernel.relay import ConflictError, CursorAheadError, MailboxFullError, MailboxStore, open_store
from chatkernel.relay._errors import STALE_PREKEY, TooManyPrekeysError
from chatkernel.relay._stores._base import Bundle, OneTimePrekey, PrekeyState, SignedPrekey

pytestmark = pytest.mark.anyio

ALICE = "a" * 32
BOB = "b" * 32
CAROL = "c" * 32
BIG = 10_000
MiB = 1024 * 1024


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def put(store: MailboxStore, msg_id: str, *, to: str = BOB, sender: str = ALICE, payload: str = '"x"',
              max_len: int = BIG, ts: int | None = None):
    ts = now_ms() if ts is None else ts
    return await store.append(to=to, sender=sender, msg_id=msg_id, payload=payload, ts=ts, max_len=max_len,
                              dedup_until=ts + 60_000)


async def read_all(store: MailboxStore, user: str = BOB, after: str | None = None):
    return await store.read(user, after, limit=1000, max_bytes=MiB)


async def test_append_then_read_in_order(store: MailboxStore) -> None:
    ids = [(await put(store, f"m{i}", payload=f'"p{i}"')).relay_id for i in range(5)]
    events = await read_all(store)
    assert [e.id for e in events] == ids
    assert [e.payload for e in events] == [f'"p{i}"' for i in range(5)]
    assert all(e.sender == ALICE for e in events)
    keys = [store.cursor_key(i) for i in ids]
    assert keys == sorted(keys) and len(set(keys)) == 5


async def test_append_is_idempotent_per_sender_and_id(store: MailboxStore) -> None:
    first = await put(store, "same")
    again = await put(store, "same", payload='"changed"')
    assert not first.duplicate and again.duplicate
    assert again.relay_id == first.relay_id and again.to == BOB
    assert await store.length(BOB) == 1
    other_sender = await put(store, "same", sender=CAROL)  # the key is (sender, id)
    assert not other_sender.duplicate
    assert await store.length(BOB) == 2


async def test_duplicate_reports_the_first_recipient(store: MailboxStore) -> None:
    await put(store, "m", to=BOB)
    again = await put(store, "m", to=CAROL)
    assert again.duplicate and again.to == BOB
    assert await store.length(CAROL) == 0


async def test_duplicate_after_ack_is_still_a_duplicate(store: MailboxStore) -> None:
    first = await put(store, "m")
    await store.ack(BOB, first.relay_id)
    again = await put(store, "m")
    assert again.duplicate and again.relay_id == first.relay_id
    assert await store.length(BOB) == 0


async def test_dedup_expires(store: MailboxStore) -> None:
    ts = now_ms()
    first = await store.append(to=BOB, sender=ALICE, msg_id="m", payload="1", ts=ts, max_len=BIG, dedup_until=ts + 50)
    await asyncio.sleep(0.1)
    later = now_ms()
    again = await store.append(to=BOB, sender=ALICE, msg_id="m", payload="1", ts=later, max_len=BIG,
                               dedup_until=later + 50)
    assert not again.duplicate and again.relay_id != first.relay_id


async def test_read_after_cursor(store: MailboxStore) -> None:
    ids = [(await put(store, f"m{i}")).relay_id for i in range(4)]
    assert [e.id for e in await read_all(store, after=ids[1])] == ids[2:]
    assert await read_all(store, after=ids[3]) == []
    assert await read_all(store, user=CAROL) == []


async def test_read_limits_count_and_bytes(store: MailboxStore) -> None:
    for i in range(6):
        await put(store, f"m{i}", payload='"' + "x" * 98 + '"')  # 100 bytes each
    assert len(await store.read(BOB, None, limit=4, max_bytes=MiB)) == 4
    assert len(await store.read(BOB, None, limit=100, max_bytes=250)) == 2
    # An event larger than the byte cap still comes out alone, or the mailbox would jam.
    assert len(await store.read(BOB, None, limit=100, max_bytes=10)) == 1


async def test_ack_deletes_up_to_and_including_cursor(store: MailboxStore) -> None:
    ids = [(await put(store, f"m{i}")).relay_id for i in range(5)]
    assert await store.ack(BOB, ids[2]) == 3
    assert [e.id for e in await read_all(store)] == ids[3:]
    assert await store.ack(BOB, ids[2]) == 0  # acknowledging twice is harmless
    assert await store.length(BOB) == 2


async def test_ack_refuses_a_cursor_ahead_of_the_mailbox(store: MailboxStore) -> None:
    last = (await put(store, "m")).relay_id
    ms, seq = store.cursor_key(last)
    ahead = f"{ms + 1000}-0" if "-" in last else str(ms + 1000)
    with pytest.raises(CursorAheadError) as info:
        await store.ack(BOB, ahead)
    assert info.value.field == "since"
    assert await store.length(BOB) == 1
    with pytest.raises(CursorAheadError):
        await store.ack(CAROL, last)  # nothing was ever sent to CAROL


async def test_ids_keep_growing_after_everything_is_acked(store: MailboxStore) -> None:
    first = (await put(store, "m1")).relay_id
    await store.ack(BOB, first)
    second = (await put(store, "m2")).relay_id
    assert store.cursor_key(second) > store.cursor_key(first)
    assert [e.id for e in await read_all(store, after=first)] == [second]


async def test_mailbox_cap(store: MailboxStore) -> None:
    for i in range(3):
        await put(store, f"m{i}", max_len=3)
    with pytest.raises(MailboxFullError) as info:
        await put(store, "m3", max_len=3)
    assert info.value.limit == 3 and info.value.status == 507
    assert await store.length(BOB) == 3
    assert (await put(store, "m0", max_len=3)).duplicate  # a resend is still answered
    await put(store, "x", to=CAROL, max_len=3)  # the cap is per mailbox


async def test_cursor_key_rejects_foreign_ids(store: MailboxStore) -> None:
    for bad in ["", "abc", "-1", "1.5", "01", "1-2-3", "9" * 40, " 1"]:
        with pytest.raises(ValueError):
            store.cursor_key(bad)


async def test_purge_by_age(store: MailboxStore) -> None:
    await put(store, "m1")
    await put(store, "m2", to=CAROL)
    now = now_ms()
    assert await store.purge(before=now - 60_000, now=now) == 0
    assert await store.length(BOB) == 1
    assert await store.purge(before=now_ms() + 1000, now=now) == 2
    assert await store.length(BOB) == 0 and await store.length(CAROL) == 0
    assert (await put(store, "m3")).relay_id  # the mailbox works after a purge


async def test_key_binding_first_wins(store: MailboxStore) -> None:
    assert await store.get_key(ALICE) is None
    assert await store.bind_key(ALICE, "key-1")
    assert await store.bind_key(ALICE, "key-1")  # the same key again is fine
    assert not await store.bind_key(ALICE, "key-2")
    assert await store.get_key(ALICE) == "key-1"


async def test_tokens_by_hash_with_expiry_and_revocation(store: MailboxStore) -> None:
    now = now_ms()
    await store.put_token("h1", ALICE, now + 60_000)
    await store.put_token("h2", ALICE, now + 100)
    assert await store.token_user("h1", now) == ALICE
    assert await store.token_user("nope", now) is None
    await asyncio.sleep(0.25)
    assert await store.token_user("h2", now_ms()) is None
    assert await store.revoke_token("h1")
    assert await store.token_user("h1", now_ms()) is None
    assert not await store.revoke_token("h1")


async def test_connect_proofs_are_remembered_until_they_expire(store: MailboxStore) -> None:
    now = now_ms()
    assert await store.remember_proof("d1", now + 100, now)
    assert not await store.remember_proof("d1", now + 100, now)
    await asyncio.sleep(0.25)
    assert await store.remember_proof("d1", now_ms() + 100, now_ms())


async def test_append_wakes_a_listener(store: MailboxStore) -> None:
    with store.listen(BOB) as listener, store.listen(CAROL) as other:
        await put(store, "m")
        assert await listener.wait(5) == "message"
        assert await other.wait(0.05) is None


async def test_notify_reaches_every_listener_of_the_user(store: MailboxStore) -> None:
    with store.listen(BOB) as first, store.listen(BOB) as second:
        await store.notify(BOB, "revoke")
        assert await first.wait(5) == "revoke"
        assert await second.wait(5) == "revoke"


async def test_wait_times_out_with_none(store: MailboxStore) -> None:
    with store.listen(BOB) as listener:
        assert await listener.wait(0.05) is None


async def test_payload_round_trips_exactly(store: MailboxStore) -> None:
    payload = '{"ct":"AAEC","n":[1,2.5,null,true],"u":"\\u00e9\\ud83d\\ude00"}'
    await put(store, "m", payload=payload)
    (event,) = await read_all(store)
    assert event.payload == payload and event.size == len(payload)


async def test_open_and_close_are_idempotent(store_spec: str) -> None:
    store = open_store(store_spec)
    await store.open()
    await store.open()
    await store.close()
    await store.close()


# The key directory (X3DH prekeys) ----------------------------------------------------------------
SPK1 = SignedPrekey(1, "k" * 43, "s" * 86)


def otks(*ids: int) -> list[OneTimePrekey]:
    return [OneTimePrekey(i, f"otk{i:040d}") for i in ids]


async def test_prekeys_upload_then_fetch_consumes_one_one_time_key(store: MailboxStore) -> None:
    assert await store.take_prekeys(ALICE) is None
    state = await store.put_prekeys(ALICE, SPK1, otks(1, 2, 3), max_total=100)
    assert state == PrekeyState(signed_prekey_id=1, one_time=3, accepted=3)
    first = await store.take_prekeys(ALICE)
    assert first == Bundle(SPK1, otks(1)[0])  # lowest id first
    assert (await store.take_prekeys(ALICE)).one_time == otks(2)[0]
    assert (await store.put_prekeys(ALICE, None, [], max_total=100)) == PrekeyState(1, 1, 0)
    assert await store.take_prekeys(BOB) is None  # per user


async def test_prekeys_exhausted_fall_back_to_the_signed_prekey(store: MailboxStore) -> None:
    await store.put_prekeys(ALICE, SPK1, otks(7), max_total=100)
    assert (await store.take_prekeys(ALICE)).one_time == otks(7)[0]
    for _ in range(3):
        assert await store.take_prekeys(ALICE) == Bundle(SPK1, None)


async def test_one_time_prekeys_without_a_signed_prekey_are_kept_but_not_handed_out(store: MailboxStore) -> None:
    assert await store.put_prekeys(ALICE, None, otks(1, 2), max_total=100) == PrekeyState(None, 2, 2)
    assert await store.take_prekeys(ALICE) is None  # nothing consumed
    await store.put_prekeys(ALICE, SPK1, [], max_total=100)
    assert (await store.take_prekeys(ALICE)).one_time == otks(1)[0]


async def test_signed_prekey_is_replaced_by_a_higher_id_only(store: MailboxStore) -> None:
    await store.put_prekeys(ALICE, SPK1, [], max_total=100)
    assert (await store.put_prekeys(ALICE, SPK1, [], max_total=100)).signed_prekey_id == 1  # an exact retry
    newer = SignedPrekey(5, "n" * 43, "t" * 86)
    assert (await store.put_prekeys(ALICE, newer, [], max_total=100)).signed_prekey_id == 5
    assert (await store.take_prekeys(ALICE)).signed == newer
    for stale in (SPK1, SignedPrekey(5, "x" * 43, "t" * 86), SignedPrekey(5, "n" * 43, "u" * 86)):
        with pytest.raises(ConflictError) as info:
            await store.put_prekeys(ALICE, stale, otks(1), max_total=100)
        assert info.value.code == STALE_PREKEY and info.value.field == "signedPrekey.id"
    assert (await store.take_prekeys(ALICE)) == Bundle(newer, None)  # the refused uploads stored nothing


async def test_one_time_prekey_ids_at_or_below_the_highest_uploaded_are_skipped(store: MailboxStore) -> None:
    await store.put_prekeys(ALICE, SPK1, otks(1, 2, 3), max_total=100)
    assert (await store.take_prekeys(ALICE)).one_time == otks(1)[0]
    # A replay of the first upload: key 1 was handed out and must never come back; 2, 3 stay once.
    assert await store.put_prekeys(ALICE, SPK1, otks(1, 2, 3), max_total=100) == PrekeyState(1, 2, 0)
    assert await store.put_prekeys(ALICE, None, otks(2, 4), max_total=100) == PrekeyState(1, 3, 1)
    taken = [(await store.take_prekeys(ALICE)).one_time for _ in range(4)]
    assert taken == [*otks(2, 3, 4), None]


async def test_one_time_prekey_total_is_bounded_all_or_nothing(store: MailboxStore) -> None:
    await store.put_prekeys(ALICE, SPK1, otks(1, 2, 3), max_total=4)
    with pytest.raises(TooManyPrekeysError) as info:
        await store.put_prekeys(ALICE, SignedPrekey(2, "k" * 43, "s" * 86), otks(4, 5), max_total=4)
    assert info.value.limit == 4 and info.value.field == "oneTimePrekeys" and info.value.status == 422
    assert await store.put_prekeys(ALICE, None, [], max_total=4) == PrekeyState(1, 3, 0)  # nothing stored
    assert await store.put_prekeys(ALICE, None, otks(4), max_total=4) == PrekeyState(1, 4, 1)
    await store.take_prekeys(ALICE)
    assert (await store.put_prekeys(ALICE, None, otks(5), max_total=4)).one_time == 4


async def test_prekey_ids_span_the_32_bit_range(store: MailboxStore) -> None:
    top = SignedPrekey(2**32 - 1, "k" * 43, "s" * 86)
    await store.put_prekeys(ALICE, top, otks(0, 2**32 - 1), max_total=100)
    assert await store.take_prekeys(ALICE) == Bundle(top, otks(0)[0])
    assert await store.take_prekeys(ALICE) == Bundle(top, otks(2**32 - 1)[0])


async def _hand_out_concurrently(stores: list[MailboxStore], fetches: int, stock: int) -> None:
    await stores[0].put_prekeys(ALICE, SPK1, otks(*range(1, stock + 1)), max_total=1000)
    bundles = await asyncio.gather(*(stores[i % len(stores)].take_prekeys(ALICE) for i in range(fetches)))
    handed = [b.one_time.id for b in bundles if b is not None and b.one_time is not None]
    assert all(b is not None and b.signed == SPK1 for b in bundles)
    assert len(handed) == len(set(handed)) == min(fetches, stock)
    assert (await stores[0].put_prekeys(ALICE, None, [], max_total=1000)).one_time == max(0, stock - fetches)


@pytest.mark.parametrize(("fetches", "stock"), [(40, 25), (25, 40)])
async def test_concurrent_fetches_hand_out_each_one_time_prekey_once(store: MailboxStore, fetches: int,
                                                                     stock: int) -> None:
    await _hand_out_concurrently([store], fetches, stock)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def two_stores(request: pytest.FixtureRequest, tmp_path, anyio_backend: str):
    """Two store instances on one SQLite file (two connections, two threads) or one Redis, as
    two relay processes would hold them."""
    spec = f"sqlite:{tmp_path / 'shared.db'}" if request.param == "sqlite" else request.getfixturevalue("redis_url")
    stores = [open_store(spec), open_store(spec)]
    for opened in stores:
        await opened.open()
    try:
        yield stores
    finally:
        for opened in stores:
            await opened.close()


@pytest.mark.parametrize(("fetches", "stock"), [(60, 30), (30, 60)])
async def test_concurrent_fetches_on_two_instances_hand_out_each_key_once(two_stores, fetches: int,
                                                                          stock: int) -> None:
    await _hand_out_concurrently(two_stores, fetches, stock)


async def test_concurrent_uploads_on_two_instances_respect_the_total(two_stores) -> None:
    first, second = two_stores
    batches = [otks(*range(i * 10 + 1, i * 10 + 11)) for i in range(6)]
    results = await asyncio.gather(*(s.put_prekeys(ALICE, None, b, max_total=30)
                                     for s, b in zip([first, second] * 3, batches, strict=True)),
                                   return_exceptions=True)
    stored = (await first.put_prekeys(ALICE, None, [], max_total=30)).one_time
    assert stored <= 30
    assert stored == 10 * sum(1 for r in results if isinstance(r, PrekeyState) and r.accepted)


async def test_sqlite_keeps_the_key_directory_across_a_restart(tmp_path, anyio_backend: str) -> None:
    spec = f"sqlite:{tmp_path / 'durable.db'}"
    async with open_store(spec) as first:
        await first.put_prekeys(ALICE, SPK1, otks(1, 2), max_total=100)
        await first.take_prekeys(ALICE)
    async with open_store(spec) as second:
        assert await second.take_prekeys(ALICE) == Bundle(SPK1, otks(2)[0])
        assert (await second.put_prekeys(ALICE, None, otks(1), max_total=100)).accepted == 0  # the high mark too
