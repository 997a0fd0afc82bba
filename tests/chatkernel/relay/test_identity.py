"""User ids are self-certifying and the /connect proof is built and checked by one module."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import connect_request, derive_user_id
from chatkernel.relay._identity import (
    USER_ID_TAG,
    b64url_decode,
    b64url_encode,
    connect_message,
    is_user_id,
    verify_connect_signature,
)


def test_user_id_known_answer() -> None:
    signing, exchange = bytes(range(32)), bytes(range(32, 64))
    digest = hashlib.sha256(USER_ID_TAG + signing + exchange).digest()
    expected = base64.b32encode(digest).decode().lower()[:32]
    assert derive_user_id(signing, exchange) == expected
    assert is_user_id(expected)


def test_user_id_depends_on_both_keys_and_their_order() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    ids = {derive_user_id(a, b), derive_user_id(b, a), derive_user_id(a, a), derive_user_id(b, b)}
    assert len(ids) == 4


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33])
def test_user_id_needs_raw_32_byte_keys(bad: bytes) -> None:
    with pytest.raises(ValueError):
        derive_user_id(bad, b"\x00" * 32)


def test_connect_request_is_valid_and_self_consistent() -> None:
    signing, exchange = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    body = connect_request(signing, exchange.public_key(), now_ms=1_700_000_000_000)
    assert set(body) == {"userId", "publicKey", "ts", "sig"} and body["ts"] == 1_700_000_000_000
    pub = b64url_decode(body["publicKey"]["signing"])
    assert pub == signing.public_key().public_bytes_raw()
    assert body["userId"] == derive_user_id(pub, b64url_decode(body["publicKey"]["exchange"]))
    sig = b64url_decode(body["sig"])
    assert verify_connect_signature(pub, body["userId"], body["ts"], sig)
    assert not verify_connect_signature(pub, body["userId"], body["ts"] + 1, sig)
    assert not verify_connect_signature(pub, "a" * 32, body["ts"], sig)


def test_connect_request_accepts_raw_key_bytes() -> None:
    signing, exchange = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    raw = connect_request(signing.private_bytes_raw(), exchange.public_key().public_bytes_raw(), now_ms=5)
    assert raw == connect_request(signing, exchange.public_key(), now_ms=5)


def test_signature_is_domain_separated() -> None:
    assert connect_message("a" * 32, 12).startswith(b"chatkernel/relay/connect/v1\x00")
    assert connect_message("a" * 32, 12) != connect_message("a" * 32, 120)


def test_invalid_public_key_never_verifies() -> None:
    assert not verify_connect_signature(b"\xff" * 32, "a" * 32, 1, b"\x00" * 64)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 31, bytes(range(64))])
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data
    assert b64url_decode(text + "=" * (-len(text) % 4)) == data  # padding is optional


@pytest.mark.parametrize("bad", ["a+b/", "ab cd", "a", "abc===", "é"])
def test_b64url_rejects_other_alphabets(bad: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(bad)


@pytest.mark.parametrize("value", ["A" * 32, "a" * 31, "a" * 33, "1" * 32, None, 5, "a" * 31 + "\n"])
def test_is_user_id_rejects(value: object) -> None:
    assert not is_user_id(value)
