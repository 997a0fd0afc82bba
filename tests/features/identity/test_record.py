"""The identity record: a signed X25519 key anyone can check, the derived user id, names,
serialization, and no secret in any repr."""

from __future__ import annotations

import base64
import copy
import logging
import pickle

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chatkernel.relay.protocol import b64url_encode, derive_user_id
from features.identity._record import (
    MAX_DISPLAY_NAME,
    Identity,
    IdentityPublic,
    exchange_key_message,
    identity_fingerprint,
    validate_display_name,
    verify_exchange_key,
)
from features.identity.errors import (
    DisplayNameError,
    IdentityError,
    IdentityFormatError,
    KeyFormatError,
    KeySignatureError,
)


def test_the_exchange_key_is_signed_and_anyone_can_verify(alice):
    p = alice.public
    Ed25519PublicKey.from_public_bytes(p.signing_key).verify(p.signature, exchange_key_message(p.signing_key, p.exchange_key))
    verify_exchange_key(p.signing_key, p.exchange_key, p.signature)
    assert exchange_key_message(p.signing_key, p.exchange_key) == \
        b"chatkernel/identity/exchange-key/v1\x00" + p.signing_key + p.exchange_key


def test_a_bad_signature_or_a_swapped_key_is_refused(alice, mallory):
    p = alice.public
    bad = bytes([p.signature[0] ^ 1]) + p.signature[1:]
    with pytest.raises(KeySignatureError):
        verify_exchange_key(p.signing_key, p.exchange_key, bad)
    with pytest.raises(KeySignatureError):
        IdentityPublic(p.signing_key, mallory.public.exchange_key, p.signature, "Alice")
    with pytest.raises(KeyFormatError):
        verify_exchange_key(p.signing_key[:31], p.exchange_key, p.signature)
    with pytest.raises(KeyFormatError):
        verify_exchange_key(p.signing_key, p.exchange_key, p.signature[:63])


def test_user_id_and_fingerprint_come_from_both_keys(alice):
    p = alice.public
    assert alice.user_id == p.user_id == derive_user_id(p.signing_key, p.exchange_key)
    import hashlib

    assert p.fingerprint == identity_fingerprint(p.signing_key, p.exchange_key) == hashlib.sha256(
        b"chatkernel/identity/fingerprint/v1\x00" + p.signing_key + p.exchange_key).digest()
    assert p.identity_key == p.signing_key + p.exchange_key and len(p.identity_key) == 64


def test_public_part_round_trips_and_every_field_is_checked(alice, mallory):
    data = alice.public.to_dict()
    assert set(data) == {"v", "userId", "name", "signing", "exchange", "sig"}
    assert IdentityPublic.from_dict(data) == alice.public
    with pytest.raises(IdentityFormatError, match="userId"):
        IdentityPublic.from_dict({**data, "userId": mallory.user_id})
    with pytest.raises(IdentityFormatError):
        IdentityPublic.from_dict({**data, "extra": 1})
    with pytest.raises(IdentityFormatError):
        IdentityPublic.from_dict({**data, "v": 2})
    with pytest.raises(IdentityFormatError):
        IdentityPublic.from_dict({**data, "sig": data["sig"] + "="})
    with pytest.raises(KeySignatureError):
        IdentityPublic.from_dict({**data, "exchange": mallory.public.to_dict()["exchange"]})
    with pytest.raises(DisplayNameError):
        IdentityPublic.from_dict({**data, "name": "bad\nname"})
    with pytest.raises(IdentityFormatError):
        IdentityPublic.from_dict([])


def test_private_part_round_trips_as_bytes(alice):
    raw = alice.private_bytes()
    assert raw[0] == 1 and len(raw) == 65 + len("Alice") and raw[65:] == b"Alice"
    again = Identity.from_private_bytes(raw)
    assert again == alice and again.public == alice.public
    assert again.sign(b"m") == alice.sign(b"m")  # Ed25519 is deterministic
    for bad in (raw[:64], b"\x02" + raw[1:], raw[:65] + b"\xff", "text"):
        with pytest.raises(IdentityFormatError):
            Identity.from_private_bytes(bad)  # type: ignore[arg-type]


def test_key_agreement_and_renaming(alice, bob):
    assert alice.exchange(bob.public.exchange_key) == bob.exchange(alice.public.exchange_key)
    with pytest.raises(ValueError):
        alice.exchange(bytes(32))  # all-zero (low-order) shared secret
    renamed = alice.with_display_name("Alice B.")
    assert renamed.user_id == alice.user_id and renamed.display_name == "Alice B."


def test_no_secret_in_repr_str_logs_or_pickle(alice, caplog):
    raw = alice.private_bytes()
    secrets = [raw[1:33], raw[33:65]]
    spellings = []
    for s in secrets:
        spellings += [s.hex(), s.hex().upper(), b64url_encode(s), base64.b64encode(s).decode(), repr(s)]
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("identity %r %s", alice, alice)
    shown = [repr(alice), str(alice), f"{alice}", repr(alice.public), str(alice.public.to_dict()), caplog.text]
    for text in shown:
        for spelling in spellings:
            assert spelling not in text
    assert "private keys hidden" in repr(alice)
    with pytest.raises(TypeError):
        pickle.dumps(alice)
    with pytest.raises(TypeError):
        copy.deepcopy(alice)


@pytest.mark.parametrize("name, expected", [
    ("Alice", "Alice"),
    ("  Zoë  ", "Zoë"),
    ("Zoe\u0308", "Zoë"),  # NFC
    ("👩\u200d💻 dev", "👩\u200d💻 dev"),  # ZWJ emoji sequences stay allowed
    ("x" * MAX_DISPLAY_NAME, "x" * MAX_DISPLAY_NAME),
])
def test_valid_display_names(name, expected):
    assert validate_display_name(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "x" * (MAX_DISPLAY_NAME + 1), "a\nb", "a\x00b", "a\x1bb", "\x7f",
                                  "evil\u202etxt.exe", "zero\u200bwidth", "a\u2028b", "a\u2029b", "\ud800", 42, None])
def test_invalid_display_names(name):
    with pytest.raises(DisplayNameError) as info:
        validate_display_name(name)
    assert isinstance(info.value, IdentityError) and info.value.reason


def test_generated_identities_differ():
    a, b = Identity.generate("A"), Identity.generate("B")
    assert a.user_id != b.user_id and a != b
    with pytest.raises(KeyFormatError):
        Identity(b"x", b"y", "A")  # type: ignore[arg-type]
