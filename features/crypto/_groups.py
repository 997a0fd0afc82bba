"""Sender-Key groups for the crypto service: each group's state is one row, read and written
inside one transaction per operation, so a group message and the caller's row commit together.

A distribution carries a chain key: it is secret, and travels only inside pairwise sessions
(``encrypt(member, distribution)``; on the other side ``opened.accept_distribution(group)``
inside ``opening``, which binds the member to the session that decrypted it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from chatkernel.relay import protocol

from ._api import TransactionAPI
from ._sender_keys import GroupSession
from .errors import BundleError, CryptoError, GroupError

__all__ = ["GroupsMixin", "OnCommit", "check_group", "check_peer"]

OnCommit = Callable[[TransactionAPI, bytes], Awaitable[Any]]


class GroupsMixin:
    """The group half of :class:`~features.crypto.service.CryptoService` (which provides
    ``db``, ``config``, ``_require_ready``, ``_failed``, ``_now`` and ``refresh_counts``)."""

    db: Any
    config: Any

    def _require_ready(self) -> str: ...  # pragma: no cover - provided by the service

    def _failed(self, peer: str, exc: BaseException, group: str | None = None) -> None: ...  # pragma: no cover

    def _now(self) -> int: ...  # pragma: no cover

    async def refresh_counts(self) -> dict[str, int]: ...  # pragma: no cover

    async def _group(self, tx: TransactionAPI, group_id: str) -> tuple[GroupSession, list[str]] | None:
        row = await tx.fetchone("SELECT state, members FROM crypto_group_sessions WHERE group_id = ?", (group_id,))
        if row is None:
            return None
        session = GroupSession.from_bytes(bytes(row[0]), max_skip=self.config.max_skip,
                                          max_skipped_keys=self.config.max_skipped_keys)
        return session, list(json.loads(row[1]))

    async def _save_group(self, tx: TransactionAPI, group_id: str, session: GroupSession, members: list[str]) -> None:
        await tx.execute("INSERT INTO crypto_group_sessions (group_id, state, members, updated_at) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT(group_id) DO UPDATE SET state = excluded.state, members = excluded.members, "
                         "updated_at = excluded.updated_at",
                         (group_id, session.to_bytes(), json.dumps(sorted(set(members))), self._now()))

    @contextlib.asynccontextmanager
    async def _within(self, tx: TransactionAPI | None) -> AsyncIterator[TransactionAPI]:
        """The caller's transaction (so a group step commits with the caller's rows), or our own."""
        if tx is not None:
            yield tx
            return
        async with self.db.transaction() as own:
            yield own

    async def create_group(self, group_id: str, members: list[str], *, tx: TransactionAPI | None = None) -> bytes:
        """A new group with our fresh sender key; returns our distribution, which is secret:
        send it to each member only inside the pairwise session (``encrypt(member, ...)``).
        With ``tx``, the group is written in the caller's transaction."""
        self._require_ready()
        check_group(group_id)
        for m in members:
            check_peer(m)
        async with self._within(tx) as within:
            if await self._group(within, group_id) is not None:
                raise GroupError(group_id, "already exists")
            session = GroupSession(group_id.encode("utf-8"), max_skip=self.config.max_skip,
                                   max_skipped_keys=self.config.max_skipped_keys)
            await self._save_group(within, group_id, session, list(members))
        if tx is None:
            await self.refresh_counts()
        return session.distribution()

    async def group_distribution(self, group_id: str, *, tx: TransactionAPI | None = None) -> bytes:
        """Our current distribution for ``group_id`` (for a member added later); secret, as above."""
        self._require_ready()
        async with self._within(tx) as within:
            found = await self._group(within, group_id)
        if found is None:
            raise GroupError(group_id, "unknown group")
        return found[0].distribution()

    async def accept_distribution(self, group_id: str, member: str, distribution: bytes, *,
                                  tx: TransactionAPI | None = None) -> None:
        """Remember ``member``'s sender key; pass only what ``member``'s pairwise session
        decrypted (or use ``opened.accept_distribution(group_id)`` inside ``opening``, which
        binds the member to that session). A group not seen before is created, with our own
        fresh sender key. With ``tx`` (the transaction that decrypted it), it commits with the
        ratchet step that opened it."""
        self._require_ready()
        async with self._within(tx) as within:
            await self._accept_distribution(within, group_id, member, distribution)
        if tx is None:
            await self.refresh_counts()

    async def _accept_distribution(self, tx: TransactionAPI, group_id: str, member: str, distribution: bytes) -> None:
        check_group(group_id)
        check_peer(member)
        found = await self._group(tx, group_id)
        session, members = found if found is not None else (
            GroupSession(group_id.encode("utf-8"), max_skip=self.config.max_skip,
                         max_skipped_keys=self.config.max_skipped_keys), [])
        session.process_distribution(member, bytes(distribution))
        await self._save_group(tx, group_id, session, [*members, member])

    async def encrypt_group(self, group_id: str, plaintext: bytes, *, on_commit: OnCommit | None = None) -> bytes:
        self._require_ready()
        async with self.db.transaction() as tx:
            found = await self._group(tx, group_id)
            if found is None:
                raise GroupError(group_id, "unknown group")
            session, members = found
            message = session.encrypt(bytes(plaintext))
            await self._save_group(tx, group_id, session, members)
            if on_commit is not None:
                await on_commit(tx, message)
        return message

    async def decrypt_group(self, group_id: str, member: str, message: bytes, *,
                            on_commit: OnCommit | None = None) -> bytes:
        """``member``'s group message; refused (``DECRYPTION_FAILED`` with ``group``) unless
        signed by a sender key ``member`` distributed and not removed since."""
        self._require_ready()
        async with self.db.transaction() as tx:
            try:
                found = await self._group(tx, group_id)
                if found is None:
                    raise GroupError(group_id, "unknown group")
                session, members = found
                plaintext = session.decrypt(member, bytes(message))
            except CryptoError as exc:
                self._failed(member, exc, group_id)
                raise
            await self._save_group(tx, group_id, session, members)
            if on_commit is not None:
                await on_commit(tx, plaintext)
        return plaintext

    async def remove_member(self, group_id: str, member: str, *, tx: TransactionAPI | None = None) -> bytes:
        """Forget ``member``'s sender keys and rotate ours; returns the new distribution, to send
        to the remaining members only (inside their pairwise sessions)."""
        self._require_ready()
        async with self._within(tx) as within:
            found = await self._group(within, group_id)
            if found is None:
                raise GroupError(group_id, "unknown group")
            session, members = found
            distribution = session.remove_member(member)
            await self._save_group(within, group_id, session, [m for m in members if m != member])
        if tx is None:
            await self.refresh_counts()
        return distribution


def check_peer(peer: object) -> None:
    if not protocol.is_user_id(peer):
        raise BundleError("peer", f"{peer!r} is not a user id")


def check_group(group_id: object) -> None:
    if not isinstance(group_id, str) or not 1 <= len(group_id.encode("utf-8")) <= 256:
        raise GroupError(str(group_id), "a group id is 1-256 bytes of text")
