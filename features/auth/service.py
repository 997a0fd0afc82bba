"""Sign-up, log-in, log-out and the session timeout, over the persistence and identity services.

The service does the work and reports each step to ``listener`` (the feature's machine), which
turns them into events: ``CHECKED``, ``SIGNING_UP``, ``LOGGING_IN``, ``SUCCEEDED {profile,
user_id}``, ``FAILED {profile, reason, retry_after_s}``, ``LOGGING_OUT {profile}``, ``LOGGED_OUT
{profile, reason}``. It is driven that way round because the passphrase and the key must never
travel as an event or sit in an actor's mailbox, where inspection and snapshots would see them.

One operation at a time (an ``asyncio.Lock`` over sign-up, log-in, log-out and the session check),
so attempts on one profile are serialised and a throttle decision always sees the previous
attempt's failure. No key is kept here after a login: it goes to persistence and is dropped.
Nothing is lost or overwritten on a failure: a wrong passphrase changes only the failure count
(``auth.throttle.json``), and a sign-up that fails after creating the database removes exactly what
it created (it only starts on a missing or empty profile directory). A login whose stored Argon2
parameters are below the current ones raises them (:meth:`AuthService._upgrade`): the new record
as ``auth.json.next``, the database re-keyed to its key, then the rename over ``auth.json``; a
login that finds the database re-keyed but ``auth.json`` not yet replaced finishes the rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatkernel import spawn_task

from . import _profiles as files
from ._api import IdentityAPI, PersistenceAPI
from ._config import AuthConfig
from ._kdf import DerivedKeys, KdfRecord, derive_async, verify
from ._remember import KeyringStatus, RememberMe
from ._session import SessionTimeout
from ._throttle import LoginThrottle, ThrottleBook
from ._unlock import KeyedRecord, Unlocked, enrol, unlock
from .errors import (
    AuthError,
    ProfileAccessError,
    ProfileExistsError,
    RememberMeError,
    SessionStateError,
    ThrottleStateError,
    WrongPassphraseError,
)
from .events import LOGOUT_REASONS

__all__ = ["AuthService"]

Listener = Callable[[str, dict[str, Any]], None]
StartTask = Callable[..., "asyncio.Task[Any]"]


def _label(profile: object) -> str:
    return profile if isinstance(profile, str) else repr(profile)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", "") or exc) or type(exc).__name__


class AuthService:
    """``state``: ``checking_session``, ``unauthenticated``, ``signing_up``, ``logging_in``,
    ``authenticated`` or ``logging_out`` (the machine follows it). ``profile`` and ``user_id``
    name the unlocked profile. ``clock`` (monotonic seconds) times the login throttle."""

    def __init__(self, config: AuthConfig, persistence: PersistenceAPI, identity: IdentityAPI, *,
                 start_task: StartTask | None = None, remember: RememberMe | None = None,
                 clock: Callable[[], float] = time.monotonic, logger: logging.Logger | None = None,
                 listener: Listener | None = None):
        config.kdf_params  # noqa: B018 - refuse bad parameters at mount, naming the field
        SessionTimeout(config.session_timeout_s)  # likewise for the timeout
        self.config = config
        self.persistence = persistence
        self.identity = identity
        self.remember = remember if remember is not None else RememberMe()
        self.clock = clock
        self.log = logger or logging.getLogger("chatkernel.features.auth")
        self.listener = listener
        self.state = "checking_session"
        self.profile: str | None = None
        self.user_id: str | None = None
        self.session: SessionTimeout | None = None
        #: Profiles whose parameter upgrade failed at their last login (see :meth:`_upgrade`): the
        #: old record still opens them (or, after a failed final rename, the next login finishes it).
        self.upgrade_pending: set[str] = set()
        self._start_task: StartTask = start_task or spawn_task
        self._throttles = ThrottleBook(config.retry_delay_base_s, config.retry_delay_cap_s)
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ where
    @property
    def profiles_dir(self) -> Path:
        """Persistence's profiles directory: its database path is ``<profiles_dir>/<profile>/chat.db``."""
        return Path(self.persistence.path).parent.parent

    def directory(self, profile: str) -> Path:
        return self.profiles_dir / files.check_profile_name(profile)

    def list_profiles(self) -> list[str]:
        """The profiles on this machine (directories with an ``auth.json``), sorted."""
        return files.list_profiles(self.profiles_dir)

    @property
    def is_authenticated(self) -> bool:
        return self.state == "authenticated"

    def retry_after(self, profile: str) -> float:
        """Seconds before a login to ``profile`` is allowed (0.0: now), as far as this kernel knows."""
        throttle = self._throttles.profiles.get(profile)
        return throttle.retry_after(self.clock()) if throttle is not None else 0.0

    def remember_me_status(self) -> KeyringStatus:
        """Whether remember-me can be offered here (blocking: keyring may ask D-Bus)."""
        return self.remember.status()

    # ------------------------------------------------------------------ reporting
    def _notify(self, name: str, **info: Any) -> None:
        if self.listener is not None:
            try:
                self.listener(name, info)
            except Exception:  # noqa: BLE001 - a listener must not break the operation
                self.log.exception("auth listener failed on %s", name)

    def _failed(self, profile: str, exc: AuthError) -> None:
        retry = float(getattr(exc, "retry_after", 0.0) or 0.0)
        self.state = "unauthenticated"
        self.log.info("auth refused for profile %r: %s", profile, getattr(exc, "failure", "error"))
        self._notify("FAILED", profile=profile, reason=getattr(exc, "failure", "storage_error"),
                     retry_after_s=retry)

    # ------------------------------------------------------------------ session check
    async def check_session(self) -> str | None:
        """At mount: unlock a remembered profile (remember-me on, a secure keyring, a key for the
        profile's current record), else go to ``unauthenticated``. The user id, or None."""
        async with self._lock:
            if self.state != "checking_session":
                return None
            user_id = await self._try_remembered() if self.config.remember_me else None
            if user_id is None:
                self.state = "unauthenticated"
                self._notify("CHECKED")
            return user_id

    async def _try_remembered(self) -> str | None:
        status = await asyncio.to_thread(self.remember.status)
        if not status.available:
            self.log.info("remember-me unavailable: %s", status.reason)
            return None
        for profile in await asyncio.to_thread(self.list_profiles):
            directory = self.directory(profile)
            try:
                record = await asyncio.to_thread(files.read_record, directory, profile)
                remembered = await asyncio.to_thread(self.remember.load, profile, record)
            except AuthError as exc:
                self.log.warning("remember-me skipped profile %r: %s", profile, exc)
                continue
            if remembered is None:
                continue
            try:
                await self.persistence.open(remembered.db_key, profile)
                user_id = await self.identity.load()
            except Exception as exc:  # noqa: BLE001 - a stale or refused key: forget it, ask for the passphrase
                self.log.warning("remember-me key for profile %r did not open it: %s", profile, _reason(exc))
                await self._close_quietly()
                with contextlib.suppress(AuthError):
                    await asyncio.to_thread(self.remember.forget, profile)
                continue
            if user_id is None:
                await self._close_quietly()
                continue
            self._begin_session(profile, user_id)
            return user_id
        return None

    # ------------------------------------------------------------------ sign-up
    async def sign_up(self, profile: str, display_name: str, passphrase: str, *, remember: bool = False) -> str:
        """Create ``profile``: check the passphrase, derive its keys, create the database, create
        the identity, then write ``auth.json``. Its user id; on any failure an :class:`AuthError`
        (also announced as ``AUTH_FAILED``) and no trace of the attempt on disk."""
        async with self._lock:
            self._require_locked_out("sign up")
            label = _label(profile)
            self.state = "signing_up"
            self._notify("SIGNING_UP", profile=label)
            try:
                name = files.check_profile_name(profile)
                directory = self.directory(name)
                existed = directory.exists()
                if not await asyncio.to_thread(files.is_free, directory):
                    raise ProfileExistsError(name)
                keyed = await enrol(passphrase, params=self.config.kdf_params,
                                    min_length=self.config.min_passphrase_length)
            except AuthError as exc:
                self._failed(label, exc)
                raise
            except BaseException:
                self._failed(label, ProfileAccessError(label, "storage_error", "sign-up was interrupted"))
                raise
            try:
                user_id = await self._create(name, directory, display_name, keyed.keys, keyed.record)
            except BaseException as exc:
                await self._undo_sign_up(directory, existed)
                error = exc if isinstance(exc, AuthError) else ProfileAccessError(
                    name, "storage_error", f"sign-up failed: {type(exc).__name__}: {_reason(exc)}")
                self._failed(name, error)
                if isinstance(exc, AuthError) or not isinstance(exc, Exception):
                    raise
                raise error from None
            if remember:
                await self._remember(name, keyed.keys, keyed.record)
            self._begin_session(name, user_id)
            return user_id

    async def _create(self, name: str, directory: Path, display_name: str, keys: DerivedKeys,
                      record: KdfRecord) -> str:
        try:
            await self.persistence.open(keys.db_key, name)
        except Exception as exc:  # noqa: BLE001 - named and re-raised as ours
            raise ProfileAccessError(name, "storage_error", _reason(exc)) from None
        try:
            user_id = await self.identity.create(display_name)
        except Exception as exc:  # noqa: BLE001
            raise ProfileAccessError(name, "identity_error", _reason(exc)) from None
        await asyncio.to_thread(files.write_record, directory, record)
        return user_id

    async def _undo_sign_up(self, directory: Path, existed: bool) -> None:
        with contextlib.suppress(Exception):
            self.identity.forget()
        await self._close_quietly()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(files.remove_new_profile, directory, existed=existed)

    # ------------------------------------------------------------------ log-in
    async def log_in(self, profile: str, passphrase: str, *, remember: bool = False) -> str:
        """Unlock ``profile``: throttle, derive and verify, open the database, load the identity.
        Its user id; on failure an :class:`AuthError` (announced as ``AUTH_FAILED``; a wrong
        passphrase carries ``retry_after``), with the profile's files as they were."""
        async with self._lock:
            self._require_locked_out("log in")
            label = _label(profile)
            self.state = "logging_in"
            self._notify("LOGGING_IN", profile=label)
            try:
                user_id = await self._unlock(label, profile, passphrase, remember)
            except AuthError as exc:
                self._failed(label, exc)
                raise
            except BaseException as exc:
                error = ProfileAccessError(label, "storage_error", f"log-in failed: {type(exc).__name__}")
                self._failed(label, error)
                if not isinstance(exc, Exception):
                    raise
                raise error from exc
            return user_id

    async def _unlock(self, label: str, profile: str, passphrase: str, remember: bool) -> str:
        name = files.check_profile_name(profile)
        directory = self.directory(name)
        record = await asyncio.to_thread(files.read_record, directory, name)
        throttle = await self._throttle(name, directory)
        had_failures = throttle.failures > 0
        try:
            unlocked = await unlock(name, passphrase, record, throttle, current=self.config.kdf_params,
                                    clock=self.clock)
        except WrongPassphraseError:
            await self._save_throttle(directory, throttle)  # before anyone hears of it
            raise
        if had_failures:
            await self._save_throttle(directory, throttle)
        database = directory / Path(self.persistence.path).name
        if not await asyncio.to_thread(database.exists):  # opening would create an empty one
            raise ProfileAccessError(name, "storage_error", f"the profile database {database} is missing; nothing "
                                                            "was created in its place")
        try:
            await self.persistence.open(unlocked.keys.db_key, name)
        except Exception as exc:  # noqa: BLE001
            await self._close_quietly()
            recovered = await self._finish_upgrade(name, directory, passphrase, exc)
            if recovered is None:
                raise ProfileAccessError(name, "storage_error", _reason(exc)) from None
            unlocked, record = recovered
        else:
            with contextlib.suppress(OSError):
                if await asyncio.to_thread(files.remove_next_record, directory):
                    self.log.info("profile %r: removed the record of an upgrade that never re-keyed the database",
                                  name)
        try:
            user_id = await self.identity.load()
            if user_id is None:
                raise LookupError("the profile database holds no identity")
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.identity.forget()
            await self._close_quietly()
            raise ProfileAccessError(name, "identity_error", _reason(exc)) from None
        keys = unlocked.keys
        if unlocked.upgrade is not None:
            raised = await self._upgrade(name, directory, record, unlocked.upgrade)
            if raised is not None:
                keys, record = raised.keys, raised.record
        if remember:
            await self._remember(name, keys, record)
        self._begin_session(name, user_id)
        return user_id

    async def _upgrade(self, profile: str, directory: Path, stored: KdfRecord,
                       raised: KeyedRecord) -> KeyedRecord | None:
        """Raise the stored parameters: write the new record as ``auth.json.next``, re-key the
        open database to its key, rename ``auth.json.next`` over ``auth.json``. The new record and
        keys once the database is under them (None: the old record still rules). A failure before
        the re-key leaves the old record in force; a failed rename after it leaves
        ``auth.json.next`` for the next login to promote (see :meth:`_finish_upgrade`)."""
        try:
            await asyncio.to_thread(files.write_next_record, directory, raised.record)
        except OSError as exc:
            return self._upgrade_failed(profile, f"cannot write {files.NEXT_NAME}: {exc.strerror or exc}")
        try:
            await self.persistence.rekey(raised.keys.db_key)
        except Exception as exc:  # noqa: BLE001 - the database is still under the old key (rekey's contract)
            with contextlib.suppress(OSError):
                await asyncio.to_thread(files.remove_next_record, directory)
            return self._upgrade_failed(profile, f"the database re-key failed: {_reason(exc)}")
        try:
            await asyncio.to_thread(files.promote_next_record, directory)
        except OSError as exc:
            self.upgrade_pending.add(profile)
            self.log.warning("profile %r: the database is re-keyed but %s could not replace %s (%s); the next "
                             "login finishes the upgrade", profile, files.NEXT_NAME, files.AUTH_NAME,
                             exc.strerror or exc)
            return raised
        self.upgrade_pending.discard(profile)
        self.log.info("profile %r: key-derivation parameters raised (%r -> %r), database re-keyed", profile,
                      stored, raised.record)
        return raised

    def _upgrade_failed(self, profile: str, why: str) -> None:
        self.upgrade_pending.add(profile)
        self.log.warning("profile %r: the key-derivation upgrade failed (%s); the stored record was kept and "
                         "the upgrade is retried at the next login", profile, why)
        return None

    async def _finish_upgrade(self, profile: str, directory: Path, passphrase: str,
                              refused: Exception) -> tuple[Unlocked, KdfRecord] | None:
        """``auth.json``'s key was refused: if an upgrade re-keyed the database and did not get to
        replace ``auth.json`` (a crash, a failed rename), open with ``auth.json.next``'s key and
        promote it. The unlocked keys and the record now in force, or None."""
        if getattr(refused, "kind", None) != "wrong_key":
            return None
        pending = await asyncio.to_thread(files.read_next_record, directory)
        if pending is None:
            return None
        keys = await derive_async(passphrase, pending.params, pending.salt)
        if not verify(keys, pending):
            return None
        try:
            await self.persistence.open(keys.db_key, profile)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("profile %r: the pending upgrade's key did not open it either: %s", profile,
                             _reason(exc))
            await self._close_quietly()
            return None
        try:
            await asyncio.to_thread(files.promote_next_record, directory)
        except OSError as exc:
            self.upgrade_pending.add(profile)
            self.log.warning("profile %r: %s could not replace %s (%s); retried at the next login", profile,
                             files.NEXT_NAME, files.AUTH_NAME, exc.strerror or exc)
        else:
            self.upgrade_pending.discard(profile)
            self.log.info("profile %r: finished an interrupted key-derivation upgrade", profile)
        return Unlocked(keys), pending

    async def _throttle(self, name: str, directory: Path) -> LoginThrottle:
        throttle = self._throttles.profiles.get(name)
        if throttle is None:
            base, cap = self.config.retry_delay_base_s, self.config.retry_delay_cap_s
            try:
                throttle = await asyncio.to_thread(files.read_throttle, directory, now=self.clock(), base_s=base,
                                                   cap_s=cap)
            except ThrottleStateError as exc:
                # Never replaced by a fresh default: the longest delay applies until a success.
                self.log.warning("profile %r: %s; applying the longest delay", name, exc.reason)
                throttle = LoginThrottle(base, cap, failures=64, not_before=self.clock() + cap)
            self._throttles.profiles[name] = throttle
        return throttle

    async def _save_throttle(self, directory: Path, throttle: LoginThrottle) -> None:
        try:
            await asyncio.to_thread(files.write_throttle, directory, throttle)
        except OSError as exc:
            self.log.warning("could not save the login delay in %s: %s", directory, exc.strerror or exc)

    async def _remember(self, profile: str, keys: DerivedKeys, record: KdfRecord) -> None:
        if not self.config.remember_me:
            self.log.info("remember-me is off (AuthConfig.remember_me); the key was not stored")
            return
        try:
            await asyncio.to_thread(self.remember.store, profile, keys, record)
        except RememberMeError as exc:
            self.log.info("%s", exc)

    # ------------------------------------------------------------------ the session
    def _require_locked_out(self, operation: str) -> None:
        if self.state in ("authenticated", "logging_out"):
            raise SessionStateError(operation, f"profile {self.profile!r} is unlocked", "log out first")

    def _begin_session(self, profile: str, user_id: str) -> None:
        self.profile, self.user_id = profile, user_id
        self.session = SessionTimeout(self.config.session_timeout_s)
        self.state = "authenticated"
        if self.session.timeout_s:
            self._timer = self._start_task(self._expire(), name="auth:session-timeout")
        self._notify("SUCCEEDED", profile=profile, user_id=user_id)

    def touch(self) -> None:
        """User activity: the idle timeout starts again."""
        if self.session is not None:
            self.session.touch()

    async def _expire(self) -> None:
        try:
            while (session := self.session) is not None:
                remaining = session.remaining()
                if math.isinf(remaining):
                    return
                if remaining <= 0:
                    await self.log_out("timeout")
                    return
                await asyncio.sleep(remaining)
        except Exception:  # noqa: BLE001 - a background task reports, it does not raise into nothing
            self.log.exception("the session timeout failed")

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def log_out(self, reason: str = "user") -> bool:
        """Drop the identity's keys, close the database, announce ``AUTH_LOGOUT``. ``reason``:
        ``user``, ``timeout`` or ``shutdown``; a ``user`` log-out also forgets a remembered key.
        False when no profile was unlocked."""
        if reason not in LOGOUT_REASONS:
            raise ValueError(f"reason must be one of {LOGOUT_REASONS}, got {reason!r}")
        async with self._lock:
            if self.state != "authenticated":
                return False
            profile = self.profile or ""
            self.state = "logging_out"
            self._notify("LOGGING_OUT", profile=profile)
            self._stop_timer()
            try:
                self.identity.forget()
            except Exception:  # noqa: BLE001 - logging out always completes
                self.log.exception("identity.forget() failed at log-out")
            await self._close_quietly()
            if reason == "user" and self.config.remember_me:
                with contextlib.suppress(RememberMeError):
                    await asyncio.to_thread(self.remember.forget, profile)
            self.profile = self.user_id = None
            self.session = None
            self.state = "unauthenticated"
            self._notify("LOGGED_OUT", profile=profile, reason=reason)
            return True

    async def _close_quietly(self) -> None:
        try:
            await self.persistence.close()
        except Exception as exc:  # noqa: BLE001
            self.log.warning("closing the profile database failed: %s", _reason(exc))

    async def shutdown(self) -> None:
        """At unmount: log out (reason ``shutdown``) and stop the timeout."""
        await self.log_out("shutdown")
        self._stop_timer()

    def __repr__(self) -> str:
        return f"AuthService(state={self.state!r}, profile={self.profile!r}, dir={str(self.profiles_dir)!r})"
