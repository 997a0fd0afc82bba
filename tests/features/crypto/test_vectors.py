"""Known-answer tests for every primitive the protocol core relies on, and libsignal's KATs.

Sources (vectors are published data, quoted as constants):
- X25519: RFC 7748 §5.2 (scalar multiplication) and §6.1 (Diffie-Hellman).
- Ed25519: RFC 8032 §7.1, TEST 1, TEST 2, TEST 3.
- HKDF-SHA256: RFC 5869 Appendix A, A.1-A.3.
- AES-256-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation", Test Case 16.
- Chain and message keys: libsignal rust/protocol/src/ratchet/keys.rs, test_chain_key_derivation.
- X3DH -> first chain key: libsignal rust/protocol/tests/ratchet.rs, test_ratcheting_session_as_bob and
  test_ratcheting_session_as_alice, at commit a280bc6555fcd3c93f566bb9cee5c2c27baa1ca9 (which fixed the
  Alice key inconsistency; both sides expect ab9be50e…) and its parent (Bob side, 9797caca…). Later
  commits made Kyber mandatory and removed these tests.

libsignal's labels differ from ours ("WhisperText", "WhisperMessageKeys" vs chatkernel/v1/...), and it
derives root ‖ chain from the X3DH secret directly, so the KATs run our KDF functions with libsignal's
labels and lengths; our labels are then covered by the round-trip and property tests.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from features.crypto._kdf import hkdf_sha256, kdf_ck, message_keys, x3dh_kdf
from features.crypto._x3dh import initiator_dh, responder_dh

h = bytes.fromhex


# RFC 7748 §5.2
@pytest.mark.parametrize(("scalar", "u", "out"), [
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
])
def test_x25519_rfc7748_scalar_mult(scalar: str, u: str, out: str) -> None:
    assert X25519PrivateKey.from_private_bytes(h(scalar)).exchange(X25519PublicKey.from_public_bytes(h(u))) == h(out)


def test_x25519_rfc7748_diffie_hellman() -> None:  # RFC 7748 §6.1
    alice = X25519PrivateKey.from_private_bytes(h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
    bob = X25519PrivateKey.from_private_bytes(h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
    alice_public = h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert alice.public_key().public_bytes_raw() == alice_public
    assert bob.public_key().public_bytes_raw() == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert alice.exchange(bob.public_key()) == shared == bob.exchange(alice.public_key())


# RFC 8032 §7.1
@pytest.mark.parametrize(("sk", "pk", "msg", "sig"), [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
     "d25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
     "4a7c15e9716ed28dc027beceea1ec40a"),
], ids=["TEST1", "TEST2", "TEST3"])
def test_ed25519_rfc8032(sk: str, pk: str, msg: str, sig: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(h(sk))
    assert key.public_key().public_bytes_raw() == h(pk)
    assert key.sign(h(msg)) == h(sig)
    key.public_key().verify(h(sig), h(msg))


# RFC 5869 Appendix A (SHA-256 cases)
@pytest.mark.parametrize(("ikm", "salt", "info", "length", "okm"), [
    ("0b" * 22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x00, 0x50)).hex(), bytes(range(0x60, 0xb0)).hex(), bytes(range(0xb0, 0x100)).hex(), 82,
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09"
     "da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    ("0b" * 22, "", "", 42,
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
], ids=["A.1", "A.2", "A.3"])
def test_hkdf_sha256_rfc5869(ikm: str, salt: str, info: str, length: int, okm: str) -> None:
    assert hkdf_sha256(h(ikm), salt=h(salt) or None, info=h(info), length=length) == h(okm)


def test_aes256_gcm_mcgrew_viega_test_case_16() -> None:
    key = h("feffe9928665731c6d6a8f9467308308" * 2)
    iv = h("cafebabefacedbaddecaf888")
    plaintext = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    expected = h("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                 "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                 "76fc6ece0f4e1768cddf8853bb2d551b")
    assert AESGCM(key).encrypt(iv, plaintext, aad) == expected
    assert AESGCM(key).decrypt(iv, expected, aad) == plaintext


def test_libsignal_chain_key_derivation() -> None:
    """keys.rs test_chain_key_derivation: our KDF_CK is libsignal's chain step, our message-key HKDF
    under its label gives its cipher key, and (HKDF output is a prefix stream) our nonce is the first
    12 bytes of its MAC key."""
    chain_key = h("8ab72d6f4cc5ac0d387eaf463378ddb28edd07385b1cb01250c715982e7ad48f")
    cipher_key = h("bf51e9d75e0e31031051f82a2491ffc084fa298b7793bd9db620056febf45217")
    mac_key = h("c6c77d6a73a354337a56435e34607dfe48e3ace14e77314dc6abc172e7a7030b")
    next_chain_key = h("28e8f8fee54b801eef7c5cfb2f17f32c7b334485bbb70fac6ec10342a246d15d")
    nxt, seed = kdf_ck(chain_key)
    assert nxt == next_chain_key
    assert hkdf_sha256(seed, salt=None, info=b"WhisperMessageKeys", length=80)[:64] == cipher_key + mac_key
    assert message_keys(seed, info=b"WhisperMessageKeys") == (cipher_key, mac_key[:12])


def _signal_key(hex_with_type: str) -> bytes:
    """libsignal serializes Curve25519 public keys with a 0x05 type byte; strip it."""
    raw = h(hex_with_type)
    assert raw[0] == 5 and len(raw) == 33
    return raw[1:]


_BOB_IDENTITY_PRIVATE = "4875cc69ddf8ea0719ec947d61081135868d5fd801f02c0225e516df2156605e"
_BOB_IDENTITY_PUBLIC = "05f1f43874f6966956c2dd473f8fa15adeb71d1cb991b2341692324cefb1c5e626"
_BOB_SPK_PRIVATE = "583900131fb727998b7803fe6ac22cc591f342e4e42a8c8d5d78194209b8d253"
_BOB_SPK_PUBLIC = "05ac248a8f263be6863576eb0362e28c828f0107a3379d34bab1586bf8c770cd67"
_ALICE_IDENTITY_PRIVATE = "9040f0d4e09cf38f6dc7c13779c908c015a1da4fa78737a080eb0a6f4f5f8f58"
_ALICE_IDENTITY_PUBLIC = "05b4a8455660ada65b401007f615e654041746432e3339c6875149bceefcb42b4a"
_ALICE_BASE_PRIVATE = "10ae7c64d1e61cd596b76a0db5012673391cae66edbfcf073b4da80516a47449"
_ALICE_BASE_PUBLIC = "05e2c05860f2ac6b2b57ba564b421ffe71e4b128c591e46e0491cc9b33dbf22a27"
_ALICE_BASE_PUBLIC_OLD = "05472d1fb1a9862c3af6beaca8920277e2b26f4a79213ec7c906aeb35e03cf8950"
_FIRST_CHAIN = "ab9be50e5cb22a925446ab90ee5670545f4fd32902459ec274b6ad0ae5d6031a"
_FIRST_CHAIN_OLD = "9797caca53c989bbe229a40ca7727010eb2604fc14945d77958a0aeda088b44d"


def _libsignal_chain(dh_outputs: list[bytes]) -> bytes:
    """libsignal: HKDF(salt=None, 0xFF*32 ‖ DHs, "WhisperText") -> root(32) ‖ chain(32)."""
    return x3dh_kdf(dh_outputs, info=b"WhisperText", length=64)[32:]


def _priv(hex_key: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(h(hex_key))


@pytest.mark.parametrize(("alice_base", "chain"), [(_ALICE_BASE_PUBLIC, _FIRST_CHAIN),
                                                    (_ALICE_BASE_PUBLIC_OLD, _FIRST_CHAIN_OLD)],
                         ids=["a280bc65", "a280bc65-parent"])
def test_libsignal_ratcheting_session_as_bob(alice_base: str, chain: str) -> None:
    assert _priv(_BOB_IDENTITY_PRIVATE).public_key().public_bytes_raw() == _signal_key(_BOB_IDENTITY_PUBLIC)
    assert _priv(_BOB_SPK_PRIVATE).public_key().public_bytes_raw() == _signal_key(_BOB_SPK_PUBLIC)
    outs = responder_dh(_priv(_BOB_IDENTITY_PRIVATE), _priv(_BOB_SPK_PRIVATE), None,
                        _signal_key(_ALICE_IDENTITY_PUBLIC), _signal_key(alice_base))
    assert _libsignal_chain(outs) == h(chain)


def test_libsignal_ratcheting_session_as_alice() -> None:
    assert _priv(_ALICE_BASE_PRIVATE).public_key().public_bytes_raw() == _signal_key(_ALICE_BASE_PUBLIC)
    assert _priv(_ALICE_IDENTITY_PRIVATE).public_key().public_bytes_raw() == _signal_key(_ALICE_IDENTITY_PUBLIC)
    outs = initiator_dh(_priv(_ALICE_IDENTITY_PRIVATE), _priv(_ALICE_BASE_PRIVATE), _signal_key(_BOB_IDENTITY_PUBLIC),
                        _signal_key(_BOB_SPK_PUBLIC), None)
    assert _libsignal_chain(outs) == h(_FIRST_CHAIN)
