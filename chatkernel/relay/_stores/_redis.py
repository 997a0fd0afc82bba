"""The Redis store: several relay processes share mailboxes.

One Redis Stream per mailbox (the stream id is the relay id and the cursor), deduplication
and insertion in one Lua script (after Signal-Server's ``insert_item.lua``), and one pub/sub
channel per store that wakes parked polls on every node. Each node keeps a single pub/sub
connection and fans wake-ups out to its local listeners. Rate limits are shared too (one GCRA
key per user or address, one script call per request), so a client's burst is counted once
across all nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .._errors import CursorAheadError, MailboxFullError, StoreError, TooManyPrekeysError
from .._limiter import RateLimiter, SharedLimiter
from ._base import (
    AppendResult,
    Bundle,
    MailboxStore,
    OneTimePrekey,
    PrekeyState,
    SignedPrekey,
    StoredEvent,
    stale_prekey,
    take_within,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["RedisStore"]

log = logging.getLogger("chatkernel.relay.redis")

_STREAM_ID = re.compile(r"(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})\Z")
_U64 = 2**64 - 1

# KEYS: mailbox stream, dedup key. ARGV: sender, ts, payload, max_len, dedup expiry (unix ms),
# recipient, wake channel. Returns {0, id} new, {1, "to id"} duplicate, {2, ""} full.
_APPEND = """
local seen = redis.call('GET', KEYS[2])
if seen then return {1, seen} end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {2, ''} end
local id = redis.call('XADD', KEYS[1], '*', 'from', ARGV[1], 'ts', ARGV[2], 'payload', ARGV[3])
redis.call('SET', KEYS[2], ARGV[6] .. ' ' .. id, 'PXAT', ARGV[5])
redis.call('PUBLISH', ARGV[7], ARGV[6] .. ' message')
return {0, id}
"""

# KEYS: mailbox stream. ARGV: cutoff (unix ms). Trims old entries and drops a stream that is
# empty and idle since before the cutoff, atomically so a concurrent XADD is never lost.
_PURGE = """
local removed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
if redis.call('XLEN', KEYS[1]) == 0 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      local ms = tonumber(string.match(info[i + 1], '^(%d+)-'))
      if ms < tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) end
    end
  end
end
return removed
"""

# GCRA, as _limiter.gcra, in whole microseconds on Redis's own clock (TIME), so nodes with
# skewed clocks agree. KEYS: the limit's key. ARGV: interval (1/rate), tolerance (burst *
# interval). Returns 0 when allowed (and charged), else microseconds to wait. The key expires
# when its TAT passes, which is when a fresh key would behave the same.
_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat > now + tolerance then
  tat = now + tolerance
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil(tolerance / 1000))
end
local new_tat = tat + interval
local wait = new_tat - now - tolerance
if wait > 0 then return wait end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
"""


# KEYS: signed prekey (hash), one-time prekeys (sorted set, score = id, member "id.key"), the
# highest one-time id ever uploaded. ARGV: max total, signed id ('' for none), key, sig, then
# id, key pairs. Returns {1, current id} stale, {2, stock} too many, {0, signed id, stock, added}.
_PUT_PREKEYS = """
local cur = redis.call('HMGET', KEYS[1], 'id', 'key', 'sig')
if ARGV[2] ~= '' and cur[1] then
  local old, new = tonumber(cur[1]), tonumber(ARGV[2])
  if new < old or (new == old and (cur[2] ~= ARGV[3] or cur[3] ~= ARGV[4])) then return {'1', cur[1]} end
end
local high = tonumber(redis.call('GET', KEYS[3]) or '-1')
local stock = redis.call('ZCARD', KEYS[2])
local add, top = {}, high
for i = 5, #ARGV, 2 do
  local id = tonumber(ARGV[i])
  if id > high then
    add[#add + 1] = id
    add[#add + 1] = ARGV[i] .. '.' .. ARGV[i + 1]
    if id > top then top = id end
  end
end
local n = #add / 2
if stock + n > tonumber(ARGV[1]) then return {'2', tostring(stock)} end
local signed = cur[1] or ''
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'key', ARGV[3], 'sig', ARGV[4])
  signed = ARGV[2]
end
if n > 0 then
  redis.call('ZADD', KEYS[2], unpack(add))
  redis.call('SET', KEYS[3], string.format('%d', top))
end
return {'0', signed, tostring(stock + n), tostring(n)}
"""

# KEYS: as _PUT_PREKEYS. Returns {} without a signed prekey, else {id, key, sig, "id.key" or ''}:
# the lowest one-time prekey is popped in the same script, so no two callers get it.
_TAKE_PREKEYS = """
local spk = redis.call('HMGET', KEYS[1], 'id', 'key', 'sig')
if not spk[1] then return {} end
local otk = redis.call('ZPOPMIN', KEYS[2])
return {spk[1], spk[2], spk[3], otk[1] or ''}
"""


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class RedisStore(MailboxStore):
    backend = "redis"

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "chatkernel:relay:", shared_limits: bool = True
    ):
        """``shared_limits=False`` counts rate limits in each process instead (a benchmark's
        baseline; with several nodes a client would get its burst once per node)."""
        super().__init__()
        self.url = url
        self.prefix = prefix
        self.shared_limits = shared_limits
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._pump_task: asyncio.Task[None] | None = None
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        # The URL may carry a password: show only where the keys live.
        return f"RedisStore(prefix={self.prefix!r})"

    @property
    def _channel(self) -> str:
        return self.prefix + "wake"

    def _mbox(self, user: str) -> str:
        return f"{self.prefix}mbox:{user}"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        import redis.exceptions

        try:
            yield
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StoreError(f"Redis failed: {type(exc).__name__}: {exc}", backend=self.backend) from exc

    @property
    def _r(self) -> aioredis.Redis:
        if self._redis is None:
            raise StoreError("the Redis store is not open", backend=self.backend)
        return self._redis

    # Lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._redis is not None:
            return
        import redis.asyncio as aioredis

        # A dead host fails the connect in seconds, not at the OS's TCP timeout.
        client = aioredis.from_url(self.url, decode_responses=True, socket_connect_timeout=5)
        try:
            with self._guard():
                await client.ping()
                pubsub = client.pubsub()
                await pubsub.subscribe(self._channel)
                # Wait for the confirmation: from here on no wake-up can be missed.
                async with asyncio.timeout(10):
                    while (msg := await pubsub.get_message(timeout=1.0)) is None or msg["type"] != "subscribe":
                        pass
        except BaseException:
            await client.aclose()
            raise
        self._redis, self._pubsub = client, pubsub
        self._scripts = {
            "append": client.register_script(_APPEND),
            "purge": client.register_script(_PURGE),
            "limit": client.register_script(_LIMIT),
            "put_prekeys": client.register_script(_PUT_PREKEYS),
            "take_prekeys": client.register_script(_TAKE_PREKEYS),
        }
        self._pump_task = asyncio.get_running_loop().create_task(self._pump(), name="relay-redis-wakeups")

    async def close(self) -> None:
        client, self._redis = self._redis, None
        if client is None:
            return
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump_task
            self._pump_task = None
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(2.0):  # a hung server must not hang the probe
                with self._guard():
                    await self._r.ping()
        except TimeoutError as exc:
            raise StoreError("Redis did not answer PING within 2 s", backend=self.backend) from exc

    async def _pump(self) -> None:
        while True:
            try:
                msg = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: wake-ups may be lost
                log.warning("Redis wake-up channel failed (%s); polls will re-read", type(exc).__name__)
                self._hub.dispatch_all("resync")
                await asyncio.sleep(0.5)
                continue
            if msg is not None and msg.get("type") == "message":
                user, _, reason = str(msg["data"]).partition(" ")
                self._hub.dispatch(user, reason)

    # Mailboxes ---------------------------------------------------------------------------
    def cursor_key(self, cursor: str) -> tuple[int, int]:
        match = _STREAM_ID.match(cursor) if isinstance(cursor, str) else None
        if match is None or int(match[1]) > _U64 or int(match[2]) > _U64:
            raise ValueError(f"not a relay id: {cursor!r}")
        return (int(match[1]), int(match[2]))

    async def append(
        self, *, to: str, sender: str, msg_id: str, payload: str, ts: int, max_len: int, dedup_until: int
    ) -> AppendResult:
        with self._guard():
            status, value = await self._scripts["append"](
                keys=[self._mbox(to), f"{self.prefix}dedup:{sender}:{msg_id}"],
                args=[sender, ts, payload, max_len, dedup_until, to, self._channel],
                client=self._r,
            )
        if status == 2:
            raise MailboxFullError(to, max_len)
        if status == 1:
            first_to, _, relay_id = value.partition(" ")
            return AppendResult(relay_id, True, first_to)
        return AppendResult(value, False, to)

    async def read(self, user: str, after: str | None, *, limit: int, max_bytes: int) -> list[StoredEvent]:
        start = "-" if after is None else "(" + "-".join(map(str, self.cursor_key(after)))
        with self._guard():
            entries = await self._r.xrange(self._mbox(user), min=start, max="+", count=limit)
        events = (StoredEvent(eid, f["from"], int(f["ts"]), f["payload"]) for eid, f in entries)
        return take_within(events, limit, max_bytes)

    async def _last_id(self, user: str) -> tuple[int, int]:
        import redis.exceptions

        try:
            info = await self._r.xinfo_stream(self._mbox(user))
        except redis.exceptions.ResponseError:  # no such key: nothing was ever sent here
            return (0, 0)
        return self.cursor_key(info["last-generated-id"])

    async def ack(self, user: str, upto: str) -> int:
        ms, seq = self.cursor_key(upto)
        with self._guard():
            # Ids only grow, so a cursor not ahead now stays valid when XTRIM runs.
            if (ms, seq) > await self._last_id(user):
                raise CursorAheadError(upto)
            threshold = f"{ms}-{seq + 1}" if seq < _U64 else f"{ms + 1}-0"
            return int(await self._r.xtrim(self._mbox(user), minid=threshold, approximate=False))

    async def length(self, user: str) -> int:
        with self._guard():
            return int(await self._r.xlen(self._mbox(user)))

    async def purge(self, *, before: int, now: int) -> int:
        removed = 0
        with self._guard():
            pattern = _glob_escape(self.prefix) + "mbox:*"
            async for key in self._r.scan_iter(match=pattern, count=1000, _type="stream"):
                removed += int(await self._scripts["purge"](keys=[key], args=[before], client=self._r))
        return removed  # tokens, proofs and dedup records expire by themselves (PXAT)

    # Identity ----------------------------------------------------------------------------
    async def bind_key(self, user: str, public_key: str) -> bool:
        key = f"{self.prefix}key:{user}"
        with self._guard():
            await self._r.set(key, public_key, nx=True)
            return bool(await self._r.get(key) == public_key)

    async def get_key(self, user: str) -> str | None:
        with self._guard():
            return await self._r.get(f"{self.prefix}key:{user}")  # type: ignore[no-any-return]

    async def put_token(self, token_hash: str, user: str, expires_at: int) -> None:
        with self._guard():
            await self._r.set(f"{self.prefix}tok:{token_hash}", user, pxat=expires_at)

    async def token_user(self, token_hash: str, now: int) -> str | None:
        with self._guard():
            return await self._r.get(f"{self.prefix}tok:{token_hash}")  # type: ignore[no-any-return]

    async def revoke_token(self, token_hash: str) -> bool:
        with self._guard():
            return bool(await self._r.delete(f"{self.prefix}tok:{token_hash}"))

    async def remember_proof(self, digest: str, expires_at: int, now: int) -> bool:
        with self._guard():
            return bool(await self._r.set(f"{self.prefix}proof:{digest}", "1", nx=True, pxat=max(expires_at, now + 1)))

    # Key directory -----------------------------------------------------------------------
    def _prekey_keys(self, user: str) -> list[str]:
        return [f"{self.prefix}spk:{user}", f"{self.prefix}otk:{user}", f"{self.prefix}otkhigh:{user}"]

    async def put_prekeys(
        self, user: str, signed: SignedPrekey | None, one_time: Sequence[OneTimePrekey], *, max_total: int
    ) -> PrekeyState:
        args: list[Any] = [max_total, *((signed.id, signed.key, signed.sig) if signed else ("", "", ""))]
        for key in one_time:
            args += [key.id, key.key]
        with self._guard():
            answer = await self._scripts["put_prekeys"](keys=self._prekey_keys(user), args=args, client=self._r)
        status = answer[0]
        if status == "1":
            raise stale_prekey(int(answer[1]))
        if status == "2":
            raise TooManyPrekeysError(max_total, int(answer[1]))
        return PrekeyState(int(answer[1]) if answer[1] else None, int(answer[2]), int(answer[3]))

    async def take_prekeys(self, user: str) -> Bundle | None:
        with self._guard():
            answer = await self._scripts["take_prekeys"](keys=self._prekey_keys(user), args=[], client=self._r)
        if not answer:
            return None
        signed = SignedPrekey(int(answer[0]), answer[1], answer[2])
        otk_id, _, otk_key = answer[3].partition(".")
        return Bundle(signed, OneTimePrekey(int(otk_id), otk_key) if otk_key else None)

    # Rate limits -------------------------------------------------------------------------
    def rate_limiter(self, name: str, rate: float, burst: float, *, max_keys: int) -> RateLimiter:
        if not self.shared_limits:
            return super().rate_limiter(name, rate, burst, max_keys=max_keys)
        return SharedLimiter(name, rate, burst, self._take)  # keys expire: no table to bound

    async def _take(self, key: str, interval_us: int, tolerance_us: int) -> float | None:
        client = self._r
        with self._guard():
            wait = await self._scripts["limit"](
                keys=[f"{self.prefix}rl:{key}"], args=[interval_us, tolerance_us], client=client
            )
        return int(wait) / 1e6 or None

    # Wake-ups ----------------------------------------------------------------------------
    async def notify(self, user: str, reason: str) -> None:
        with self._guard():
            await self._r.publish(self._channel, f"{user} {reason}")
