"""One format each across features: an identity from the identity feature is a valid crypto
identity and runs X3DH over a bundle in the relay's format, and a crypto identity is a valid
identity record. (The features may not import each other; a test may import both.)"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import protocol
from features.crypto._keys import (
    IDENTITY_BINDING_CONTEXT,
    IdentityKeyPair,
    OneTimePreKey,
    PreKeyBundle,
    PublicIdentity,
    SignedPreKey,
)
from features.crypto._x3dh import InitialHeader, initiate, respond
from features.crypto.errors import BadSignatureError
from features.identity._record import EXCHANGE_KEY_TAG, Identity, IdentityPublic, exchange_key_message
from features.identity.errors import KeySignatureError


def _crypto_public(data: dict[str, object]) -> PublicIdentity:
    """A crypto identity from the identity feature's shareable form, raw bytes only."""
    return PublicIdentity(protocol.b64url_decode(data["signing"]), protocol.b64url_decode(data["exchange"]),  # type: ignore[arg-type]
                          protocol.b64url_decode(data["sig"]))  # type: ignore[arg-type]


def _crypto_pair(identity: Identity) -> IdentityKeyPair:
    """The same private keys as a crypto identity (the persistence layer's private bytes)."""
    raw = identity.private_bytes()
    return IdentityKeyPair(Ed25519PrivateKey.from_private_bytes(raw[1:33]), X25519PrivateKey.from_private_bytes(raw[33:65]))


def test_one_tag_and_one_message_everywhere() -> None:
    assert EXCHANGE_KEY_TAG == IDENTITY_BINDING_CONTEXT == protocol.IDENTITY_BINDING_TAG
    public = Identity.generate("Alice").public
    assert exchange_key_message(public.signing_key, public.exchange_key) == \
        protocol.identity_binding_message(public.signing_key, public.exchange_key)


def test_an_identity_record_is_a_valid_crypto_identity() -> None:
    public = Identity.generate("Alice").public
    crypto = _crypto_public(public.to_dict())
    crypto.verify()
    assert crypto.keys == public.identity_key
    assert protocol.verify_identity_binding(public.signing_key, public.exchange_key, public.signature)


def test_the_same_keys_sign_the_same_binding_in_both_features() -> None:
    identity = Identity.generate("Bob")
    pair = _crypto_pair(identity)
    assert pair.public.dh_signature == identity.public.signature  # Ed25519 is deterministic
    assert pair.public == _crypto_public(identity.public.to_dict())


def test_a_crypto_identity_is_a_valid_identity_record() -> None:
    public = IdentityKeyPair.generate().public
    record = IdentityPublic(public.signing_key, public.dh_key, public.dh_signature, "Carol")
    assert IdentityPublic.from_dict(record.to_dict()) == record
    assert record.user_id == protocol.derive_user_id(public.signing_key, public.dh_key)


def test_a_forged_binding_fails_in_both_features() -> None:
    alice, mallory = Identity.generate("Alice").public, Identity.generate("Mallory").public
    forged = {**alice.to_dict(), "signing": protocol.b64url_encode(mallory.signing_key)}
    with pytest.raises(BadSignatureError):
        _crypto_public(forged).verify()
    with pytest.raises(KeySignatureError):
        IdentityPublic(mallory.signing_key, alice.exchange_key, alice.signature, "Alice")


@pytest.mark.parametrize("one_time", [True, False])
def test_x3dh_between_identity_records_over_a_relay_bundle(one_time: bool) -> None:
    """Alice knows Bob only from his identity record (an invite) and the relay's bundle JSON."""
    alice, bob = Identity.generate("Alice"), Identity.generate("Bob")
    bob_pair = _crypto_pair(bob)
    prekey = X25519PrivateKey.generate()
    signed = protocol.signed_prekey(bob_pair.signing, 1_700_000_000, prekey.public_key())  # POST /keys
    opk = X25519PrivateKey.generate() if one_time else None
    bundle = PreKeyBundle(_crypto_public(bob.public.to_dict()), signed["id"], protocol.b64url_decode(signed["key"]),
                          protocol.b64url_decode(signed["sig"]), 9 if one_time else None,
                          None if opk is None else opk.public_key().public_bytes_raw())
    sent = initiate(_crypto_pair(alice), bundle)
    spk = SignedPreKey(signed["id"], prekey, protocol.b64url_decode(signed["sig"]))
    got = respond(bob_pair, InitialHeader.decode(sent.header.encode()), spk,
                  None if opk is None else OneTimePreKey(9, opk))
    assert sent.shared_key == got.shared_key
    assert sent.associated_data == alice.public.identity_key + bob.public.identity_key
