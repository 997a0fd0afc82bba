"""Auth's files beside each profile's database, outside the encrypted database (they are needed
before it can be opened). Blocking: the service calls these through ``asyncio.to_thread``.

``<profiles_dir>/<profile>/auth.json``
    the profile's :class:`KdfRecord` as ``KdfRecord.to_dict()``: ``{"v": 1, "kdf": "argon2id",
    "m": <KiB>, "t": <passes>, "p": <lanes>, "salt": <base64url>, "check": <base64url verifier>}``.
    Written at sign-up, atomically, mode 0600; replaced only by a completed parameter upgrade
    (renaming ``auth.json.next`` over it); never overwritten by a failed operation.
``<profiles_dir>/<profile>/auth.json.next``
    during a parameter upgrade, the raised record, written before the database is re-keyed to its
    key. Left behind only by a crash or a failed rename after the re-key: the next login that
    finds the database refusing ``auth.json``'s key tries this record and promotes it; when
    ``auth.json``'s key still opens the database it is stale and removed.
``<profiles_dir>/<profile>/auth.throttle.json``
    the failure count after wrong passphrases, ``{"v": 1, "failures": <n>}`` (``LoginThrottle``),
    rewritten after every counted failure and after the success that resets it, so restarting the
    kernel never shortens the wait.

A profile on this machine is a directory of the profiles directory that holds ``auth.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

from chatkernel import write_atomic

from ._kdf import KdfRecord
from ._throttle import LoginThrottle
from .errors import InvalidProfileNameError, KdfRecordError, ThrottleStateError, UnknownProfileError

__all__ = ["AUTH_NAME", "NEXT_NAME", "THROTTLE_NAME", "check_profile_name", "is_free", "list_profiles",
           "promote_next_record", "read_next_record", "read_record", "read_throttle", "remove_new_profile",
           "remove_next_record", "write_next_record", "write_record", "write_throttle"]

AUTH_NAME = "auth.json"
NEXT_NAME = "auth.json.next"
THROTTLE_NAME = "auth.throttle.json"
# The persistence feature's rule, checked here first so no path is ever built from a bad name.
_PROFILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_profile_name(profile: object) -> str:
    if not isinstance(profile, str) or not _PROFILE.match(profile):
        raise InvalidProfileNameError(profile, "use 1-64 letters, digits, '.', '_' or '-', starting with a letter "
                                               "or digit")
    return profile


def list_profiles(profiles_dir: Path) -> list[str]:
    """Sorted names of the directories that hold an auth record."""
    try:
        entries = list(profiles_dir.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(p.name for p in entries if _PROFILE.match(p.name) and (p / AUTH_NAME).is_file())


def is_free(directory: Path) -> bool:
    """True when sign-up may use ``directory``: it does not exist, or it is an empty directory."""
    if not directory.exists():
        return True
    return directory.is_dir() and not any(directory.iterdir())


def read_record(directory: Path, profile: str) -> KdfRecord:
    path = directory / AUTH_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UnknownProfileError(profile) from None
    except OSError as exc:
        raise KdfRecordError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise KdfRecordError(f"{path} is not JSON ({exc}); it was left as it is") from None
    return KdfRecord.from_dict(data)


def write_record(directory: Path, record: KdfRecord) -> None:
    """Only for a new profile: refuses to replace an existing record."""
    path = directory / AUTH_NAME
    if path.exists():
        raise FileExistsError(f"{path} exists; an auth record is never overwritten")
    write_atomic(path, (json.dumps(record.to_dict(), sort_keys=True) + "\n").encode())
    os.chmod(path, 0o600)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_next_record(directory: Path, record: KdfRecord) -> None:
    """The raised record of an upgrade, beside ``auth.json`` (temp file, fsync, rename, dir fsync)."""
    path = directory / NEXT_NAME
    write_atomic(path, (json.dumps(record.to_dict(), sort_keys=True) + "\n").encode())
    os.chmod(path, 0o600)
    _fsync_dir(directory)


def read_next_record(directory: Path) -> KdfRecord | None:
    """The pending upgrade's record; None when there is none or it cannot be read."""
    try:
        return KdfRecord.from_dict(json.loads((directory / NEXT_NAME).read_bytes()))
    except (OSError, ValueError, KdfRecordError):
        return None


def promote_next_record(directory: Path) -> None:
    """The upgrade's last step: ``auth.json.next`` replaces ``auth.json`` (atomic rename)."""
    os.replace(directory / NEXT_NAME, directory / AUTH_NAME)
    _fsync_dir(directory)


def remove_next_record(directory: Path) -> bool:
    """Drop a stale pending record; True if there was one."""
    try:
        (directory / NEXT_NAME).unlink()
    except FileNotFoundError:
        return False
    _fsync_dir(directory)
    return True


def read_throttle(directory: Path, *, now: float, base_s: float, cap_s: float) -> LoginThrottle:
    """The saved count, its wait starting again at ``now``; no file: no failures. A damaged file
    raises :class:`ThrottleStateError` (the caller applies the longest delay instead)."""
    path = directory / THROTTLE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoginThrottle(base_s, cap_s)
    except OSError as exc:
        raise ThrottleStateError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ThrottleStateError(f"{path} is not JSON ({exc})") from None
    return LoginThrottle.from_dict(data, now=now, base_s=base_s, cap_s=cap_s)


def write_throttle(directory: Path, throttle: LoginThrottle) -> None:
    path = directory / THROTTLE_NAME
    write_atomic(path, (json.dumps(throttle.to_dict(), sort_keys=True) + "\n").encode())
    os.chmod(path, 0o600)


def remove_new_profile(directory: Path, *, existed: bool) -> None:
    """Undo a sign-up that failed: everything in ``directory`` was made by it (sign-up only starts
    on a missing or empty directory), so remove it all, and the directory if sign-up made it."""
    if not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                child.unlink()
    if not existed:
        with contextlib.suppress(OSError):
            directory.rmdir()
