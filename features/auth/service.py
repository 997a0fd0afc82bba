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
it created (it only starts on a missing or empty profile directory).
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
from ._kdf import DerivedKeys, KdfRecord
from ._remember import KeyringStatus, RememberMe
from ._session import SessionTimeout
from ._throttle import LoginThrottle, ThrottleBook
from ._unlock import enrol, unlock
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
        #: Profiles whose stored KDF parameters are below the current ones; the upgrade waits for a
        #: re-key operation in persistence (see :meth:`_upgrade_skipped`).
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
            raise ProfileAccessError(name, "storage_error", _reason(exc)) from None
        try:
            user_id = await self.identity.load()
            if user_id is None:
                raise LookupError("the profile database holds no identity")
        except Exception as exc:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.identity.forget()
            await self._close_quietly()
            raise ProfileAccessError(name, "identity_error", _reason(exc)) from None
        if unlocked.upgrade is not None:
            self._upgrade_skipped(name, record, unlocked.upgrade.record)
        if remember:
            await self._remember(name, unlocked.keys, record)
        self._begin_session(name, user_id)
        return user_id

    def _upgrade_skipped(self, profile: str, stored: KdfRecord, raised: KdfRecord) -> None:
        """Raising the parameters means a new key, so the database must be re-keyed (``PRAGMA
        rekey``) and persistence's key-check sidecar rewritten with it, before the new record
        replaces ``auth.json``. The persistence service offers no re-key, and ``PRAGMA rekey``
        through ``run_in_transaction`` would leave the sidecar on the old key (the profile would
        then refuse to open): the stored record is kept, and the upgrade is retried at each login."""
        self.upgrade_pending.add(profile)
        self.log.info("profile %r: key-derivation parameters below the current ones (%r -> %r); the upgrade "
                      "needs a database re-key, which persistence does not offer yet: the stored record was "
                      "kept", profile, stored, raised)

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
