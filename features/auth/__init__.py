"""Auth: profiles on this machine, unlocked with a passphrase (or a remembered key), and the
session timeout.

Sign-up derives the profile's database key from the passphrase (Argon2id, ``_kdf``), creates the
encrypted database (persistence) and the identity (identity), and writes the key-derivation record
beside the database (``<profile>/auth.json``); log-in checks the passphrase against that record
before the database is touched, with a rising delay after wrong ones (``<profile>/auth.throttle.json``).
The machine (``machine.py``) announces ``AUTH_SUCCESS``, ``AUTH_FAILED`` and ``AUTH_LOGOUT``;
``LoginForm`` and ``SignupForm`` are its widgets. The pure parts are private modules: ``_passphrase``,
``_params``, ``_kdf``, ``_throttle``, ``_unlock``, ``_remember``, ``_session``, ``_profiles``,
``_config``, with ``errors`` and ``events``; ``_api`` holds what auth needs of its dependencies.
"""

from chatkernel import Feature

from . import events as _events
from ._api import IdentityAPI as _IdentityAPI
from ._api import PersistenceAPI as _PersistenceAPI
from ._config import AuthConfig as _AuthConfig
from ._mount import login_form as _login_form
from ._mount import mount as _mount
from ._mount import signup_form as _signup_form
from ._mount import unmount as _unmount

__all__ = ["feature"]

feature = Feature(
    id="auth",
    name="Authentication",
    version="1.0.0",
    description="Profiles unlocked by passphrase (Argon2id), login throttling, remember-me, session timeout",
    on_mount=_mount,
    on_unmount=_unmount,
    dependencies=["persistence", "identity"],
    requires={"persistence": _PersistenceAPI, "identity": _IdentityAPI},
    emitted_events=_events.EMITTED,
    ui={"LoginForm": _login_form, "SignupForm": _signup_form},
    settings=_AuthConfig(),
)
