"""Crypto signs and checks exactly the relay protocol's bytes: a signed prekey the relay accepted
verifies here and one made here passes the relay's check; the identity binding is the protocol's."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import protocol
from features.crypto._keys import (
    IDENTITY_BINDING_CONTEXT,
    SIGNED_PREKEY_CONTEXT,
    IdentityKeyPair,
    OneTimePreKey,
    PreKeyBundle,
    PublicIdentity,
    SignedPreKey,
    identity_binding_message,
    signed_prekey_message,
)
from features.crypto._x3dh import InitialHeader, initiate, respond
from features.crypto.errors import BadSignatureError, InvalidKeyError

SEED = bytes(range(32))  # the fixed keys of docs/protocol.md's test vectors
X25519_PRIVATE = bytes(range(32, 64))
PREKEY_PRIVATE = bytes(range(64, 96))
DOC_SIGNED_PREKEY_SIG = "JSo1_m8R_22UlFFtZAbZb5Xxjw_sm2CzdEsLE8mOBB1-v5cJPwRgKsMWEG1hos1WXJMBDa-PkfE-mCTZhxcxBw"


def _fixed_identity() -> IdentityKeyPair:
    return IdentityKeyPair(Ed25519PrivateKey.from_private_bytes(SEED), X25519PrivateKey.from_private_bytes(X25519_PRIVATE))


def _bundle_from_relay_json(identity: PublicIdentity, signed: dict[str, object]) -> PreKeyBundle:
    """What an initiator builds from the ``signedPrekey`` object of ``GET /keys/{userId}``."""
    return PreKeyBundle(identity, signed["id"], protocol.b64url_decode(signed["key"]),  # type: ignore[arg-type]
                        protocol.b64url_decode(signed["sig"]))  # type: ignore[arg-type]


# Signed prekey ----------------------------------------------------------------------------------
def test_the_tags_are_the_protocols() -> None:
    assert SIGNED_PREKEY_CONTEXT == protocol.SIGNED_PREKEY_TAG == b"chatkernel/relay/signed-prekey/v1\x00"
    assert IDENTITY_BINDING_CONTEXT == protocol.IDENTITY_BINDING_TAG == b"chatkernel/identity/exchange-key/v1\x00"


@pytest.mark.parametrize("key_id", [0, 1, 7, 2**31, protocol.PREKEY_ID_MAX])
def test_signed_prekey_message_is_the_protocols(key_id: int) -> None:
    public = X25519PrivateKey.generate().public_key().public_bytes_raw()
    assert signed_prekey_message(key_id, public) == protocol.signed_prekey_message(key_id, public)


@pytest.mark.parametrize("key_id", [1, 1_700_000_000, protocol.PREKEY_ID_MAX])
def test_a_signed_prekey_made_by_crypto_passes_the_relays_check(key_id: int) -> None:
    identity = IdentityKeyPair.generate()
    spk = SignedPreKey.generate(identity, key_id)
    assert protocol.verify_signed_prekey(identity.public.signing_key, key_id, spk.public, spk.signature)
    if key_id < protocol.PREKEY_ID_MAX:  # and the id is bound: relabelled, it fails the relay too
        assert not protocol.verify_signed_prekey(identity.public.signing_key, key_id + 1, spk.public, spk.signature)
    PreKeyBundle.of(identity, spk).verify()


def test_a_bundle_signed_by_the_protocol_passes_crypto_and_runs_x3dh() -> None:
    alice, bob = IdentityKeyPair.generate(), _fixed_identity()
    prekey, opk = X25519PrivateKey.from_private_bytes(PREKEY_PRIVATE), OneTimePreKey.generate(3)
    signed = protocol.signed_prekey(SEED, 1, prekey.public_key())
    assert signed["sig"] == DOC_SIGNED_PREKEY_SIG  # the documented vector, as the relay builds it
    bundle = PreKeyBundle(bob.public, signed["id"], protocol.b64url_decode(signed["key"]),
                          protocol.b64url_decode(signed["sig"]), opk.key_id, opk.public)
    bundle.verify()
    sent = initiate(alice, bundle)
    spk = SignedPreKey(1, prekey, protocol.b64url_decode(signed["sig"]))
    got = respond(bob, InitialHeader.decode(sent.header.encode()), spk, opk)
    assert sent.shared_key == got.shared_key


def test_crypto_reproduces_the_documented_signed_prekey_vector() -> None:
    identity = _fixed_identity()
    prekey = X25519PrivateKey.from_private_bytes(PREKEY_PRIVATE)
    signature = identity.sign(signed_prekey_message(1, prekey.public_key().public_bytes_raw()))
    assert protocol.b64url_encode(signature) == DOC_SIGNED_PREKEY_SIG


def test_a_relabelled_or_foreign_bundle_fails_crypto() -> None:
    bob, mallory = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    prekey = X25519PrivateKey.generate().public_key()
    signed = protocol.signed_prekey(bob.signing, 5, prekey)
    with pytest.raises(BadSignatureError):
        _bundle_from_relay_json(bob.public, {**signed, "id": 6}).verify()
    with pytest.raises(BadSignatureError):
        _bundle_from_relay_json(mallory.public, signed).verify()
    old_format = bob.sign(b"chatkernel/v1/signed-prekey\x00" + (5).to_bytes(4, "big") + prekey.public_bytes_raw())
    with pytest.raises(BadSignatureError):
        _bundle_from_relay_json(bob.public, {**signed, "sig": protocol.b64url_encode(old_format)}).verify()


@pytest.mark.parametrize("key_id", [-1, protocol.PREKEY_ID_MAX + 1])
def test_a_prekey_id_outside_32_bits_is_an_invalid_key(key_id: int) -> None:
    identity = IdentityKeyPair.generate()
    with pytest.raises(InvalidKeyError):
        SignedPreKey.generate(identity, key_id)
    spk = SignedPreKey.generate(identity, 1)
    with pytest.raises(InvalidKeyError):
        PreKeyBundle(identity.public, key_id, spk.public, spk.signature).verify()


# Identity binding -------------------------------------------------------------------------------
def test_identity_binding_message_is_the_protocols() -> None:
    public = IdentityKeyPair.generate().public
    message = identity_binding_message(public.signing_key, public.dh_key)
    assert message == protocol.identity_binding_message(public.signing_key, public.dh_key)
    assert message == b"chatkernel/identity/exchange-key/v1\x00" + public.signing_key + public.dh_key
    assert len(message) == 100


def test_crypto_binding_passes_the_protocols_check_and_back() -> None:
    identity = IdentityKeyPair.generate()
    public = identity.public
    assert protocol.verify_identity_binding(public.signing_key, public.dh_key, public.dh_signature)
    dh_key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    signature = identity.sign(protocol.identity_binding_message(public.signing_key, dh_key))
    PublicIdentity(public.signing_key, dh_key, signature).verify()


def test_the_binding_covers_both_keys() -> None:
    alice, mallory = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    # Alice's X25519 key and signature under Mallory's signing key: the signing key is signed too.
    with pytest.raises(BadSignatureError):
        PublicIdentity(mallory.public.signing_key, alice.public.dh_key, alice.public.dh_signature).verify()
    old_format = alice.sign(b"chatkernel/v1/identity-dh\x00" + alice.public.dh_key)
    with pytest.raises(BadSignatureError):
        PublicIdentity(alice.public.signing_key, alice.public.dh_key, old_format).verify()
    assert not protocol.verify_identity_binding(alice.public.signing_key, alice.public.dh_key, old_format)


def test_verify_identity_binding_refuses_malformed_input() -> None:
    public = IdentityKeyPair.generate().public
    assert not protocol.verify_identity_binding(public.signing_key[:31], public.dh_key, public.dh_signature)
    assert not protocol.verify_identity_binding(public.signing_key, public.dh_key + b"\0", public.dh_signature)
    assert not protocol.verify_identity_binding(public.signing_key, public.dh_key, public.dh_signature[:63])
    with pytest.raises(ValueError):
        protocol.identity_binding_message(public.signing_key, public.dh_key[:31])
    with pytest.raises(InvalidKeyError):
        identity_binding_message(public.signing_key, public.dh_key[:31])
