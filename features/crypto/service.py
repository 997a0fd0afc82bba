"""The crypto service: prekeys, pairwise sessions and groups over the profile database.

Every operation that changes a ratchet runs in one persistence transaction, and the caller's own
rows can join it, so *a ratchet step and the message it protects commit together*::

    async with crypto.sealing(peer, bundle=fetched) as sealer:     # bundle: only for a first message
        envelope = sealer.encrypt(plaintext)
        await sealer.tx.execute("INSERT INTO outbox (id, peer, envelope) VALUES (?, ?, ?)", (...))
    # committed here: the new chain key and the outbox row, or (if the block raised) neither

    async with crypto.opening(peer, envelope) as opened:
        await opened.tx.execute("INSERT INTO message (id, body) VALUES (?, ?)", (..., opened.plaintext))

``encrypt`` / ``decrypt`` are the one-call forms; their ``on_commit(tx, result)`` runs inside the
transaction just before it commits (if it raises, nothing commits). Sessions are read from the
database inside each transaction and written back before it commits; no session is cached (the
identity's key objects are, while it is loaded, and dropped when the database locks).
A refused envelope raises (a ``CryptoError``), emits ``DECRYPTION_FAILED`` and changes no table.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import protocol

from . import events as ev
from ._api import IdentityAPI, PersistenceAPI, TransactionAPI
from ._config import CryptoConfig
from ._directory import (
    DirectoryBundle,
    base_key_hash,
    header_hash,
    initiate_from_directory,
    one_time_prekey_json,
    parse_bundle,
    remote_keys,
)
from ._envelope import PREKEY as _PREKEY
from ._groups import GroupsMixin, OnCommit, check_peer
from ._envelope import accept, header_bytes, initial_header, kind, open_envelope, seal
from ._keys import IdentityKeyPair, OneTimePreKey, SignedPreKey
from ._ratchet import Session
from ._state import Limits
from ._x3dh import InitialHeader
from .errors import (
    AuthenticationError,
    CryptoError,
    DecryptionError,
    IdentityRefusedError,
    KeyAgreementError,
    MessageFormatError,
    NoSessionError,
    NotReadyError,
    ReplayedPrekeyError,
)

__all__ = ["CryptoService", "Opened", "Sealer"]

Listener = Callable[[str, dict[str, Any]], None]
Emit = Callable[..., Any]
_BATCH_MAX = 100  # one-time prekeys per POST /keys (the relay's prekey_batch_max)
_REASONS = {
    "AuthenticationError": "authentication", "DuplicateMessageError": "duplicate",
    "ReplayedPrekeyError": "replayed_prekey", "NoSessionError": "no_session", "MessageFormatError": "malformed",
    "TooManySkippedError": "too_many_skipped", "UnknownSenderKeyError": "unknown_sender_key",
    "ForgedMessageError": "forged", "BadSignatureError": "bad_signature",
    "StateFormatError": "bad_state", "InvalidKeyError": "invalid_key", "GroupError": "unknown_group",
}
_UPSERT_SESSION = ("INSERT INTO crypto_sessions (peer, state, base_key, role, updated_at) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT(peer) DO UPDATE SET state = excluded.state, base_key = excluded.base_key, "
                   "role = excluded.role, updated_at = excluded.updated_at")


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, IdentityRefusedError):
        return "identity_changed" if exc.status == "changed" else "identity_refused"
    if name == "KeyAgreementError" and "prekey" in str(exc):
        return "unknown_prekey"
    if name == "KeyAgreementError" and "identity" in str(exc):
        return "identity_mismatch"
    return _REASONS.get(name, "refused")


class Sealer:
    """Inside ``sealing(peer)``: ``encrypt`` (any number of times) and ``tx``, the transaction
    the new ratchet state is written in. Valid only inside its block."""

    def __init__(self, tx: TransactionAPI, peer: str, session: Session, started: bool):
        self.tx = tx
        self.peer = peer
        self.started = started
        self._session = session
        self._used = False
        self._closed = False

    def encrypt(self, plaintext: bytes) -> bytes:
        if self._closed:
            raise CryptoError("a Sealer is used only inside its sealing() block")
        if not isinstance(plaintext, (bytes, bytearray)):
            raise TypeError("plaintext must be bytes")
        self._used = True
        return seal(self._session, bytes(plaintext))

    def __repr__(self) -> str:
        return f"Sealer(peer={self.peer!r}, started={self.started}, closed={self._closed})"


class Opened:
    """Inside ``opening(peer, envelope)``: the ``plaintext`` and the transaction ``tx``."""

    def __init__(self, tx: TransactionAPI, peer: str, plaintext: bytes, started: bool, service: CryptoService):
        self.tx = tx
        self.peer = peer
        self.plaintext = plaintext
        self.started = started
        self._service = service

    async def accept_distribution(self, group_id: str) -> None:
        """The plaintext is ``peer``'s sender-key distribution for ``group_id``: remember it in
        this same transaction, so the member is the one whose session decrypted it and the
        ratchet step and the new sender key commit together."""
        await self._service._accept_distribution(self.tx, group_id, self.peer, self.plaintext)

    def __repr__(self) -> str:  # never the plaintext
        return f"Opened(peer={self.peer!r}, started={self.started}, plaintext=<{len(self.plaintext)} bytes>)"


class CryptoService(GroupsMixin):
    """Prekey uploads, pairwise sessions (X3DH + Double Ratchet) and Sender-Key groups."""

    def __init__(self, db: PersistenceAPI, identity: IdentityAPI, config: CryptoConfig | None = None,
                 emit: Emit | None = None, *, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.identity = identity
        self.config = config or CryptoConfig()
        self._emit = emit
        self.log = logger or logging.getLogger("chatkernel.features.crypto")
        self._clock = clock
        self.limits = Limits(max_skip=self.config.max_skip, max_skipped_keys=self.config.max_skipped_keys)
        self.listener: Listener | None = None
        self.relay_prekeys: int | None = None  # the relay's count in the last POST /keys answer
        self.counts: dict[str, int] = {}
        self._announced_ready = False
        self._key_cache: tuple[tuple[bytes, ...], IdentityKeyPair] | None = None
        # Peers known to have a stored session, per loaded identity: sessions are never deleted
        # (a replaced one moves to crypto_previous_sessions), so a hit needs no query.
        self._with_session: tuple[str, set[str]] = ("", set())

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        return self.db.state == "open" and self.identity.user_id is not None

    def _require_ready(self) -> str:
        if self.db.state != "open":
            raise NotReadyError("the profile database is not open")
        user_id = self.identity.user_id
        if user_id is None:
            raise NotReadyError("no identity is loaded")
        if not self._announced_ready:
            self._announced_ready = True
            self._notify("READY")
        return user_id

    def locked(self) -> None:
        """The database closed or the identity was forgotten (the machine calls this): the key
        objects go, and the next operation announces READY again."""
        self._announced_ready = False
        self._key_cache = None
        self._with_session = ("", set())

    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            self.listener(name, info)

    def _say(self, spec: Any, payload: dict[str, Any]) -> None:
        if self._emit is not None:
            self._emit(spec, payload)

    def _keys(self) -> IdentityKeyPair:
        """The loaded identity's key objects, built once per identity (0.18 ms each time) and
        dropped when the database locks or the identity is forgotten; the identity is asked
        for its public keys on every call, so a forgotten one is never used from here."""
        public = tuple(self.identity.public_keys())
        if self._key_cache is not None and self._key_cache[0] == public:
            return self._key_cache[1]
        seed, exchange = self.identity.private_keys()
        pair = IdentityKeyPair(Ed25519PrivateKey.from_private_bytes(seed),
                               X25519PrivateKey.from_private_bytes(exchange))
        if (pair.public.signing_key, pair.public.dh_key) != public:
            raise NotReadyError("the identity's private and public keys do not match")
        self._key_cache = (public, pair)
        return pair

    def _now(self) -> int:
        return int(self._clock())

    # ------------------------------------------------------------------ prekeys
    async def prekey_upload(self) -> dict[str, Any]:
        """The ``POST /keys`` body: the current signed prekey (made, or rotated once older than
        ``signed_prekey_max_age_s``) and the one-time prekeys not yet confirmed uploaded (made
        as needed to bring the relay to ``one_time_prekeys``). Private keys are stored first,
        in one transaction; until :meth:`confirm_upload`, the same body comes back (a failed
        request is simply retried)."""
        user_id = self._require_ready()
        keys = self._keys()
        now = self._now()
        async with self.db.transaction() as tx:
            spk_id, spk_private = await self._current_signed_prekey(tx, now)
            pending = await tx.fetchall("SELECT id, private FROM crypto_one_time_prekeys WHERE uploaded = 0 "
                                        "ORDER BY id LIMIT ?", (_BATCH_MAX,))
            if not pending:
                pending = await self._make_one_time_prekeys(tx)
            await self._bound_one_time_prekeys(tx)
        spk_public = X25519PrivateKey.from_private_bytes(spk_private).public_key().public_bytes_raw()
        await self.refresh_counts()
        return {"userId": user_id,
                "signedPrekey": protocol.signed_prekey(keys.signing, spk_id, spk_public),
                "oneTimePrekeys": [one_time_prekey_json(i, X25519PrivateKey.from_private_bytes(p).public_key()
                                                        .public_bytes_raw()) for i, p in pending]}

    async def _current_signed_prekey(self, tx: TransactionAPI, now: int) -> tuple[int, bytes]:
        row = await tx.fetchone("SELECT id, private, created_at FROM crypto_signed_prekeys WHERE status = 'current'")
        if row is not None and now - int(row[2]) < self.config.signed_prekey_max_age_s:
            return int(row[0]), bytes(row[1])
        new_id = max(now, int(row[0]) + 1 if row is not None else 0)
        if new_id > protocol.PREKEY_ID_MAX:
            raise KeyAgreementError("signed prekey ids exhausted")
        retired = [r[0] for r in await tx.fetchall("SELECT id FROM crypto_signed_prekeys WHERE status = 'previous'")]
        for old in retired:  # envelopes naming a retired prekey are refused anyway: its guard rows can go
            await tx.execute("DELETE FROM crypto_prekey_replay WHERE signed_prekey_id = ?", (old,))
        await tx.execute("DELETE FROM crypto_signed_prekeys WHERE status = 'previous'")
        await tx.execute("UPDATE crypto_signed_prekeys SET status = 'previous' WHERE status = 'current'")
        private = X25519PrivateKey.generate().private_bytes_raw()
        await tx.execute("INSERT INTO crypto_signed_prekeys (id, private, created_at, status) "
                         "VALUES (?, ?, ?, 'current')", (new_id, private, now))
        return new_id, private

    async def _make_one_time_prekeys(self, tx: TransactionAPI) -> list[tuple[int, bytes]]:
        if self.relay_prekeys is not None:
            known = self.relay_prekeys
        else:
            row = await tx.fetchone("SELECT count(*) FROM crypto_one_time_prekeys WHERE uploaded = 1")
            known = int(row[0]) if row else 0
        count = max(0, min(_BATCH_MAX, self.config.one_time_prekeys - known))
        if not count:
            return []
        row = await tx.fetchone("SELECT value FROM crypto_counters WHERE name = 'next_one_time_prekey_id'")
        first = int(row[0]) if row else 1
        if first + count - 1 > protocol.PREKEY_ID_MAX:
            raise KeyAgreementError("one-time prekey ids exhausted")
        made = [(first + i, X25519PrivateKey.generate().private_bytes_raw()) for i in range(count)]
        await tx.executemany("INSERT INTO crypto_one_time_prekeys (id, private, uploaded) VALUES (?, ?, 0)", made)
        await tx.execute("INSERT INTO crypto_counters (name, value) VALUES ('next_one_time_prekey_id', ?) "
                         "ON CONFLICT(name) DO UPDATE SET value = excluded.value", (first + count,))
        return made

    async def _bound_one_time_prekeys(self, tx: TransactionAPI) -> None:
        await tx.execute("DELETE FROM crypto_one_time_prekeys WHERE uploaded = 1 AND id NOT IN (SELECT id FROM "
                         "crypto_one_time_prekeys ORDER BY id DESC LIMIT ?)",
                         (self.config.max_stored_one_time_prekeys,))

    async def confirm_upload(self, body: dict[str, Any], answer: dict[str, Any]) -> bool:
        """After the relay accepted ``body`` (``POST /keys`` answered ``answer``): mark its
        one-time prekeys uploaded and note the relay's count; True if it is low."""
        self._require_ready()
        ids = [item["id"] for item in body.get("oneTimePrekeys", ())]
        if ids:
            async with self.db.transaction() as tx:
                await tx.executemany("UPDATE crypto_one_time_prekeys SET uploaded = 1 WHERE id = ?",
                                     [(i,) for i in ids])
        remaining = answer.get("oneTimePrekeys")
        counted = isinstance(remaining, int) and not isinstance(remaining, bool)
        low = self.note_prekey_count(remaining) if counted else False
        await self.refresh_counts()
        return low

    def note_prekey_count(self, remaining: int) -> bool:
        """The relay's one-time prekey count (any ``POST /keys`` answer); ``PREKEYS_LOW`` and
        True when below ``refill_below``."""
        if isinstance(remaining, bool) or not isinstance(remaining, int) or remaining < 0:
            raise ValueError(f"a prekey count is an integer >= 0, got {remaining!r}")
        self.relay_prekeys = remaining
        low = remaining < self.config.refill_below
        if low:
            self._say(ev.PREKEYS_LOW, {"remaining": remaining, "refill_below": self.config.refill_below})
        self._notify("COUNTS")
        return low

    # ------------------------------------------------------------------ identity checks
    async def _check_identity(self, peer: str, signing: bytes, exchange: bytes) -> None:
        try:
            status = await self.identity.observe_key(peer, signing, exchange)
        except CryptoError:
            raise
        except Exception as exc:
            raise IdentityRefusedError(peer, f"refused ({type(exc).__name__})") from None
        if status not in ("pinned", "verified"):
            raise IdentityRefusedError(peer, str(status))

    # ------------------------------------------------------------------ pairwise: sending
    @contextlib.asynccontextmanager
    async def sealing(self, peer: str, *, bundle: dict[str, Any] | None = None) -> AsyncIterator[Sealer]:
        """A transaction with ``peer``'s session: the stored one, or (with ``bundle``, a
        ``GET /keys/{peer}`` answer, and no session yet or one with other identity keys) a new one
        by X3DH, after the signed prekey and the identity keys (``identity.observe_key``) check.
        The ratchet state is written when the block ends, in the same transaction as anything
        the block wrote through ``sealer.tx``; if the block raises, nothing is kept, and the
        envelopes made in it must be dropped, never sent: the next ``encrypt`` uses their message
        keys again. So send only what committed (an outbox row written in the block)."""
        self._require_ready()
        check_peer(peer)
        keys = self._keys()
        parsed: DirectoryBundle | None = None
        if bundle is not None:
            parsed = parse_bundle(bundle, peer)
            await self._check_identity(peer, parsed.signing_key, parsed.exchange_key)
        if not self.identity.sending_allowed(peer):
            raise IdentityRefusedError(peer, "blocked (its key changed)")
        started: dict[str, Any] | None = None
        async with self.db.transaction() as tx:
            row = await tx.fetchone("SELECT state, base_key, role FROM crypto_sessions WHERE peer = ?", (peer,))
            session = None if row is None else Session.from_bytes(bytes(row[0]), limits=self.limits)
            base_key, role = (bytes(row[1]), row[2]) if row is not None else (b"", "")
            if parsed is not None and (session is None or remote_keys(session.associated_data, keys.public.keys)
                                       != parsed.signing_key + parsed.exchange_key):
                x3dh = initiate_from_directory(keys, parsed)
                session, base_key, role = Session.initiator(x3dh, limits=self.limits), x3dh.header.ephemeral_key, \
                    "initiator"
                started = {"peer": peer, "role": "initiator", "one_time_prekey": parsed.one_time_prekey_id is not None}
            if session is None:
                raise NoSessionError(peer)
            sealer = Sealer(tx, peer, session, started is not None)
            try:
                yield sealer
            finally:
                sealer._closed = True
            if started is not None and row is not None:
                await self._archive_current(tx, peer)
            if sealer._used or started is not None:  # goes with the COMMIT: no trip of its own
                tx.write(_UPSERT_SESSION, (peer, session.to_bytes(), base_key, role, self._now()))
            if started is not None and session.initial_header is not None:
                tx.write("UPDATE crypto_sessions SET header_hash = ? WHERE peer = ?",
                         (header_hash(session.initial_header), peer))
        if started is not None:
            self._say(ev.CRYPTO_SESSION_STARTED, started)
            await self.refresh_counts()

    async def encrypt(self, peer: str, plaintext: bytes, *, bundle: dict[str, Any] | None = None,
                      on_commit: OnCommit | None = None) -> bytes:
        """One envelope for ``peer``; ``on_commit(tx, envelope)`` writes the caller's rows in the
        transaction that commits the ratchet step (it runs just before COMMIT)."""
        async with self.sealing(peer, bundle=bundle) as sealer:
            envelope = sealer.encrypt(plaintext)
            if on_commit is not None:
                await on_commit(sealer.tx, envelope)
        return envelope

    # ------------------------------------------------------------------ pairwise: receiving
    @contextlib.asynccontextmanager
    async def opening(self, peer: str, envelope: bytes) -> AsyncIterator[Opened]:
        """Decrypt ``envelope`` from ``peer`` in a transaction: the new ratchet state (and, for a
        prekey envelope that starts a session, the used one-time prekey's deletion and the replay
        guard's row) commit with whatever the block writes through ``opened.tx``. A refused
        envelope raises before the block runs, emits ``DECRYPTION_FAILED`` and changes nothing."""
        self._require_ready()
        check_peer(peer)
        keys = self._keys()
        started: dict[str, Any] | None = None
        try:
            envelope = bytes(envelope)
            header = initial_header(envelope) if kind(envelope) == _PREKEY else None
            if header is not None:
                if protocol.derive_user_id(header.identity.signing_key, header.identity.dh_key) != peer:
                    raise KeyAgreementError("the envelope's identity is not the sender's")
                row = await self.db.fetchone(
                    "SELECT 1 FROM crypto_sessions WHERE peer = ? AND base_key = ? UNION ALL "
                    "SELECT 1 FROM crypto_previous_sessions WHERE peer = ? AND base_key = ?",
                    (peer, header.ephemeral_key, peer, header.ephemeral_key))
                if row is None:
                    # A new session: authenticate it on locals first (rolled back), then ask the
                    # identity feature (which may pin the key), then redo it in the transaction.
                    async with self.db.transaction() as probe:
                        await self._accept(probe, keys, peer, envelope, header)
                        raise _Probe()
        except _Probe:
            await self._check_identity_safely(peer, header)
        except CryptoError as exc:
            self._failed(peer, exc)
            raise
        async with self.db.transaction() as tx:
            try:
                plaintext, started = await self._open(tx, keys, peer, envelope, header)
            except CryptoError as exc:
                self._failed(peer, exc)
                raise
            yield Opened(tx, peer, plaintext, started is not None, self)
        if started is not None:
            self._say(ev.CRYPTO_SESSION_STARTED, started)
            await self.refresh_counts()

    async def _check_identity_safely(self, peer: str, header: InitialHeader | None) -> None:
        assert header is not None
        try:
            await self._check_identity(peer, header.identity.signing_key, header.identity.dh_key)
        except CryptoError as exc:
            self._failed(peer, exc)
            raise

    async def decrypt(self, peer: str, envelope: bytes, *, on_commit: OnCommit | None = None) -> bytes:
        """The plaintext of ``envelope`` from ``peer``; ``on_commit(tx, plaintext)`` writes the
        caller's rows in the transaction that commits the ratchet step."""
        async with self.opening(peer, envelope) as opened:
            if on_commit is not None:
                await on_commit(opened.tx, opened.plaintext)
        return opened.plaintext

    async def _open(self, tx: TransactionAPI, keys: IdentityKeyPair, peer: str, envelope: bytes,
                    header: InitialHeader | None) -> tuple[bytes, dict[str, Any] | None]:
        row = await tx.fetchone("SELECT state, base_key, role, header_hash FROM crypto_sessions WHERE peer = ?",
                                (peer,))
        # A prekey envelope's base key names its session, if one exists; a ratchet envelope is
        # tried with the current session, then (only if that fails) with the replaced ones.
        base_key = header.ephemeral_key if header is not None else None
        first: DecryptionError | None = None
        async for candidate in self._candidates(tx, peer, row, base_key):
            if header is not None and candidate[3] is not None and \
                    bytes(candidate[3]) != header_hash(header_bytes(envelope)):
                raise AuthenticationError()  # the session's base key under an altered header
            session = Session.from_bytes(bytes(candidate[0]), limits=self.limits)
            try:
                plaintext = open_envelope(session, envelope)
            except MessageFormatError:
                raise
            except DecryptionError as exc:  # maybe another of this peer's sessions: try the next
                first = first or exc
                continue
            if candidate is not row:  # a replaced session opened it: the peer uses that one
                await self._promote(tx, peer, candidate)
            tx.write(_UPSERT_SESSION, (peer, session.to_bytes(), bytes(candidate[1]), candidate[2], self._now()))
            return plaintext, None
        if first is not None:
            raise first
        if header is not None:
            return await self._accept(tx, keys, peer, envelope, header)
        raise NoSessionError(peer)

    @staticmethod
    async def _candidates(tx: TransactionAPI, peer: str, row: tuple[Any, ...] | None,
                          base_key: bytes | None) -> AsyncIterator[tuple[Any, ...]]:
        """The sessions that may open an envelope, the current one first; the replaced ones are
        read only when the current one is not it (or failed), so the usual message costs no query."""
        if row is not None and (base_key is None or bytes(row[1]) == base_key):
            yield row
            if base_key is not None:
                return
        where, params = ("peer = ?", (peer,)) if base_key is None else ("peer = ? AND base_key = ?", (peer, base_key))
        for previous in await tx.fetchall(f"SELECT state, base_key, role, header_hash FROM crypto_previous_sessions "
                                          f"WHERE {where} ORDER BY archived_at DESC, rowid DESC", params):
            yield previous

    async def _archive_current(self, tx: TransactionAPI, peer: str) -> None:
        """Keep the current session among the previous ones (a new X3DH is replacing it)."""
        await tx.execute("INSERT OR REPLACE INTO crypto_previous_sessions (peer, base_key, state, role, header_hash, "
                         "archived_at) SELECT peer, base_key, state, role, header_hash, ? FROM crypto_sessions "
                         "WHERE peer = ?", (self._now(), peer))
        await tx.execute("DELETE FROM crypto_previous_sessions WHERE peer = ? AND base_key NOT IN (SELECT base_key "
                         "FROM crypto_previous_sessions WHERE peer = ? ORDER BY archived_at DESC, rowid DESC "
                         "LIMIT ?)", (peer, peer, max(0, self.config.previous_sessions)))

    async def _promote(self, tx: TransactionAPI, peer: str, candidate: tuple[Any, ...]) -> None:
        """Make a previous session current again (the caller then writes its new state)."""
        await self._archive_current(tx, peer)
        await tx.execute("DELETE FROM crypto_previous_sessions WHERE peer = ? AND base_key = ?",
                         (peer, bytes(candidate[1])))
        await tx.execute(_UPSERT_SESSION, (peer, bytes(candidate[0]), bytes(candidate[1]), candidate[2], self._now()))
        await tx.execute("UPDATE crypto_sessions SET header_hash = ? WHERE peer = ?", (candidate[3], peer))

    async def _accept(self, tx: TransactionAPI, keys: IdentityKeyPair, peer: str, envelope: bytes,
                      header: InitialHeader) -> tuple[bytes, dict[str, Any]]:
        guard = base_key_hash(header.ephemeral_key)
        if await tx.fetchone("SELECT 1 FROM crypto_prekey_replay WHERE base_key_hash = ?", (guard,)):
            raise ReplayedPrekeyError(peer)
        spk_row = await tx.fetchone("SELECT id, private FROM crypto_signed_prekeys WHERE id = ?",
                                    (header.signed_prekey_id,))
        opk_row = None if header.one_time_prekey_id is None else await tx.fetchone(
            "SELECT id, private FROM crypto_one_time_prekeys WHERE id = ?", (header.one_time_prekey_id,))
        spk = None if spk_row is None else SignedPreKey(int(spk_row[0]), X25519PrivateKey.from_private_bytes(
            bytes(spk_row[1])), b"")
        opk = None if opk_row is None else OneTimePreKey(int(opk_row[0]), X25519PrivateKey.from_private_bytes(
            bytes(opk_row[1])))
        session, plaintext, _ = accept(keys, envelope, lambda i: spk if spk is not None and spk.key_id == i else None,
                                       lambda i: opk if opk is not None and opk.key_id == i else None,
                                       limits=self.limits)
        now = self._now()
        await self._archive_current(tx, peer)
        await tx.execute(_UPSERT_SESSION, (peer, session.to_bytes(), header.ephemeral_key, "responder", now))
        await tx.execute("UPDATE crypto_sessions SET header_hash = ? WHERE peer = ?",
                         (header_hash(header_bytes(envelope)), peer))
        await tx.execute("INSERT INTO crypto_prekey_replay (base_key_hash, peer, signed_prekey_id, seen_at) "
                         "VALUES (?, ?, ?, ?)", (guard, peer, header.signed_prekey_id, now))
        if opk is not None:
            await tx.execute("DELETE FROM crypto_one_time_prekeys WHERE id = ?", (opk.key_id,))
        return plaintext, {"peer": peer, "role": "responder", "one_time_prekey": opk is not None}

    def _failed(self, peer: str, exc: BaseException, group: str | None = None) -> None:
        payload: dict[str, Any] = {"peer": peer, "reason": _reason(exc)}
        if group is not None:
            payload["group"] = group
        self.log.info("envelope from %s refused: %s", peer, payload["reason"])
        self._say(ev.DECRYPTION_FAILED, payload)

    # ------------------------------------------------------------------ for callers
    async def has_session(self, peer: str) -> bool:
        """Whether a pairwise session with ``peer`` is stored (else a first message needs a bundle)."""
        me = self._require_ready()
        check_peer(peer)
        owner, known = self._with_session
        if owner == me and peer in known:
            return True
        found = await self.db.fetchone("SELECT 1 FROM crypto_sessions WHERE peer = ?", (peer,)) is not None
        if found:
            if self._with_session[0] != me:
                self._with_session = (me, set())
            self._with_session[1].add(peer)
        return found

    @staticmethod
    def refusal_reason(exc: BaseException) -> str | None:
        """The ``DECRYPTION_FAILED`` reason if ``exc`` is crypto refusing an envelope for good
        (drop the message); None for anything else (a closed database: try again later)."""
        if isinstance(exc, NotReadyError) or not isinstance(exc, CryptoError):
            return None
        return _reason(exc)

    # ------------------------------------------------------------------ what the UI shows
    async def refresh_counts(self) -> dict[str, int]:
        """Sessions, groups and local one-time prekeys (no secret); the panel reads ``counts``."""
        if self.db.state != "open":
            return self.counts
        counts = {}
        for name, sql in (("sessions", "SELECT count(*) FROM crypto_sessions"),
                          ("groups", "SELECT count(*) FROM crypto_group_sessions"),
                          ("one_time_prekeys", "SELECT count(*) FROM crypto_one_time_prekeys")):
            try:
                row = await self.db.fetchone(sql)
            except Exception:
                if self.db.state != "open":  # locked (log-out, shutdown) meanwhile: nothing to count
                    return self.counts
                raise
            counts[name] = int(row[0]) if row else 0
        self.counts = counts
        self._notify("COUNTS")
        return counts

    def __repr__(self) -> str:
        return (f"CryptoService(ready={self.ready}, sessions={self.counts.get('sessions')}, "
                f"relay_prekeys={self.relay_prekeys})")


class _Probe(Exception):
    """Raised to roll back the authenticate-only pass over a new session's prekey envelope."""
