"""A login, end to end but without storage: throttle check, derivation off the loop, constant-time
verification, failure counting, and the parameter upgrade.

Nothing is written here, and a failure changes nothing but the profile's failure count: the
record passed in is never modified. When the stored parameters are below the current ones a
successful unlock also returns :attr:`Unlocked.upgrade`, a fresh salt and record at the raised
parameters with the keys they give; the caller re-keys the database (``PRAGMA rekey``) and only
then replaces the stored record (writing the new record aside first, so a crash in between leaves
one of the two records able to open the database). Attempts on one profile must be serialised by
the caller (the auth machine handles one login at a time).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._kdf import (DEFAULT_PARAMS, SALT_LEN, DerivedKeys, KdfParams, KdfRecord, derive_async, needs_upgrade,
                   upgraded_params, verify)
from ._passphrase import MIN_PASSPHRASE_LENGTH, check_new_passphrase
from ._throttle import LoginThrottle
from .errors import LoginThrottledError, WrongPassphraseError

__all__ = ["KeyedRecord", "Unlocked", "enrol", "unlock"]


@dataclass(frozen=True)
class KeyedRecord:
    """A record to store and the keys it checks (``repr`` hides both secrets)."""

    record: KdfRecord
    keys: DerivedKeys


@dataclass(frozen=True)
class Unlocked:
    """The keys of a successful login, and the re-keyed record when the parameters were raised."""

    keys: DerivedKeys
    upgrade: KeyedRecord | None = None


async def _new(passphrase: str, params: KdfParams) -> KeyedRecord:
    salt = secrets.token_bytes(SALT_LEN)
    keys = await derive_async(passphrase, params, salt)
    return KeyedRecord(KdfRecord(params, salt, keys.verifier), keys)


async def enrol(passphrase: str, *, params: KdfParams = DEFAULT_PARAMS,
                min_length: int = MIN_PASSPHRASE_LENGTH) -> KeyedRecord:
    """A new profile's (or a changed passphrase's) record and keys; the policy is checked first."""
    return await _new(check_new_passphrase(passphrase, min_length=min_length), params)


async def unlock(profile: str, passphrase: str, record: KdfRecord, throttle: LoginThrottle, *,
                 current: KdfParams = DEFAULT_PARAMS, clock: Callable[[], float] = time.monotonic) -> Unlocked:
    """The profile's keys, or :class:`LoginThrottledError` (nothing tried) or
    :class:`WrongPassphraseError` (counted; ``retry_after`` is the wait before the next try)."""
    wait = throttle.retry_after(clock())
    if wait > 0:
        raise LoginThrottledError(profile, retry_after=wait)
    keys = await derive_async(passphrase, record.params, record.salt)
    if not verify(keys, record):
        delay = throttle.record_failure(clock())
        raise WrongPassphraseError(profile, retry_after=delay, failures=throttle.failures)
    throttle.record_success()
    upgrade = None
    if needs_upgrade(record.params, current):
        upgrade = await _new(passphrase, upgraded_params(record.params, current))
    return Unlocked(keys, upgrade)
