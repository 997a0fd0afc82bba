"""Safety numbers against libsignal's own vectors, plus symmetry and the helpers.

Vectors: signalapp/libsignal, rust/protocol/src/fingerprint.rs (commit
b056faa6dd02961cff24064c54c089c52e1a0753), tests ``fingerprint_test_v1`` and
``fingerprint_test_v2`` (Java: ``testVectorsVersion1`` / ``testVectorsVersion2``): constants
ALICE_IDENTITY, BOB_IDENTITY, ALICE_STABLE_ID, BOB_STABLE_ID, DISPLAYABLE_FINGERPRINT_V1 and the
scannable protobufs, whose two 32-byte fields are the first 32 bytes of each side's hash.
libsignal's identity keys are its 33-byte serialization (0x05 type byte + Curve25519 key), hashed
as they are; the vectors are fed to safety_number byte for byte.
"""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.identity import _safety
from features.identity._safety import (
    FINGERPRINT_ITERATIONS,
    format_safety_number,
    safety_number,
    safety_number_between,
    safety_numbers_match,
)

ALICE_IDENTITY = bytes.fromhex("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868")
BOB_IDENTITY = bytes.fromhex("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b")
ALICE_STABLE_ID = b"+14152222222"
BOB_STABLE_ID = b"+14153333333"
DISPLAYABLE_FINGERPRINT_V1 = "300354477692869396892869876765458257569162576843440918079131"
ALICE_SCANNABLE_FINGERPRINT_V1 = (
    "080112220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df"
    "1a220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d")
BOB_SCANNABLE_FINGERPRINT_V2 = (
    "080212220a20d62cbf73a11592015b6b9f1682ac306fea3aaf3885b84d12bca631e9d4fb3a4d"
    "1a220a201e301a0353dce3dbe7684cb8336e85136cdc0ee96219494ada305d62a7bd61df")


def scannable_halves(protobuf_hex: str) -> tuple[int, bytes, bytes]:
    """CombinedFingerprints {1: version, 2: {1: local}, 3: {1: remote}}, 32-byte contents."""
    raw = bytes.fromhex(protobuf_hex)
    assert raw[0] == 0x08 and raw[2:6] == b"\x12\x22\x0a\x20" and raw[38:42] == b"\x1a\x22\x0a\x20"
    return raw[1], raw[6:38], raw[42:74]


def test_libsignal_displayable_fingerprint_v1_from_both_sides():
    """fingerprint.rs::fingerprint_test_v1: Alice's and Bob's display strings are the vector."""
    assert safety_number(ALICE_STABLE_ID, ALICE_IDENTITY, BOB_STABLE_ID, BOB_IDENTITY) == DISPLAYABLE_FINGERPRINT_V1
    assert safety_number(BOB_STABLE_ID, BOB_IDENTITY, ALICE_STABLE_ID, ALICE_IDENTITY) == DISPLAYABLE_FINGERPRINT_V1


def test_libsignal_scannable_contents_are_our_per_side_hashes():
    """fingerprint.rs::fingerprint_test_v1 and _v2: the protobufs carry hash[:32] of each side."""
    version, local, remote = scannable_halves(ALICE_SCANNABLE_FINGERPRINT_V1)
    assert version == 1
    assert _safety._iterated_hash(ALICE_STABLE_ID, ALICE_IDENTITY)[:32] == local
    assert _safety._iterated_hash(BOB_STABLE_ID, BOB_IDENTITY)[:32] == remote
    version, local, remote = scannable_halves(BOB_SCANNABLE_FINGERPRINT_V2)
    assert version == 2  # the scannable version changes the protobuf, not the hash or the digits
    assert _safety._iterated_hash(BOB_STABLE_ID, BOB_IDENTITY)[:32] == local
    assert _safety._iterated_hash(ALICE_STABLE_ID, ALICE_IDENTITY)[:32] == remote


def test_the_round_structure_is_libsignals():
    """5200 hashes: the first over 0x0000 || key || id || key, each next over previous || key."""
    import hashlib

    key, stable = b"\x05" + bytes(32), b"id"
    h = hashlib.sha512(b"\x00\x00" + key + stable + key).digest()
    for _ in range(FINGERPRINT_ITERATIONS - 1):
        h = hashlib.sha512(h + key).digest()
    assert FINGERPRINT_ITERATIONS == 5200
    assert _safety._iterated_hash(stable, key) == h
    digits = "".join(f"{int.from_bytes(h[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))
    assert _safety._thirty_digits(h) == digits


def test_the_33_byte_prefix_matters():
    """Dropping libsignal's 0x05 type byte gives other digits: keys are hashed exactly as given."""
    assert safety_number(ALICE_STABLE_ID, ALICE_IDENTITY[1:], BOB_STABLE_ID, BOB_IDENTITY[1:]) \
        != DISPLAYABLE_FINGERPRINT_V1


def test_a_different_stable_id_or_key_changes_the_number():
    """fingerprint.rs::fingerprint_mismatching_identifiers and _mismatching_fingerprints, with the fixed keys."""
    ours = safety_number(b"+141512222222", ALICE_IDENTITY, BOB_STABLE_ID, BOB_IDENTITY)
    assert ours != DISPLAYABLE_FINGERPRINT_V1
    mitm = bytes.fromhex("05" + "11" * 32)
    assert safety_number(ALICE_STABLE_ID, ALICE_IDENTITY, BOB_STABLE_ID, mitm) != DISPLAYABLE_FINGERPRINT_V1


@settings(max_examples=15, deadline=None)
@given(st.binary(max_size=40), st.binary(min_size=1, max_size=70), st.binary(max_size=40),
       st.binary(min_size=1, max_size=70))
def test_both_sides_get_the_same_sixty_digits(id_a, key_a, id_b, key_b):
    one = safety_number(id_a, key_a, id_b, key_b)
    assert one == safety_number(id_b, key_b, id_a, key_a)
    assert len(one) == 60 and one.isdigit()


def test_chatkernel_identities_use_user_id_and_both_keys(alice, bob, mallory):
    number = safety_number_between(alice.public, bob.public)
    assert number == safety_number_between(bob.public, alice.public)
    assert number == safety_number(alice.user_id.encode(), alice.public.signing_key + alice.public.exchange_key,
                                   bob.user_id.encode(), bob.public.signing_key + bob.public.exchange_key)
    assert number != safety_number_between(alice.public, mallory.public)


def test_inputs_are_checked():
    with pytest.raises(TypeError):
        safety_number("+1415", ALICE_IDENTITY, BOB_STABLE_ID, BOB_IDENTITY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        safety_number(ALICE_STABLE_ID, b"", BOB_STABLE_ID, BOB_IDENTITY)


def test_format_gives_twelve_groups_of_five():
    text = format_safety_number(DISPLAYABLE_FINGERPRINT_V1)
    assert text == ("30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131")
    assert format_safety_number(DISPLAYABLE_FINGERPRINT_V1, groups_per_line=4).splitlines() == [
        "30035 44776 92869 39689", "28698 76765 45825 75691", "62576 84344 09180 79131"]
    assert format_safety_number(text) == text  # already formatted: same
    for bad in ("123", DISPLAYABLE_FINGERPRINT_V1 + "1", "x" * 60, "٣" * 60):
        with pytest.raises(ValueError):
            format_safety_number(bad)


def test_match_ignores_whitespace_and_refuses_malformed():
    formatted = format_safety_number(DISPLAYABLE_FINGERPRINT_V1, groups_per_line=4)
    assert safety_numbers_match(DISPLAYABLE_FINGERPRINT_V1, formatted)
    other = DISPLAYABLE_FINGERPRINT_V1[:-1] + "2"
    assert not safety_numbers_match(DISPLAYABLE_FINGERPRINT_V1, other)
    assert not safety_numbers_match(DISPLAYABLE_FINGERPRINT_V1, DISPLAYABLE_FINGERPRINT_V1[:59])
    assert not safety_numbers_match("a" * 60, "a" * 60)
    assert not safety_numbers_match(None, None)  # type: ignore[arg-type]


def test_match_compares_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(_safety.hmac, "compare_digest", spy)
    assert safety_numbers_match(DISPLAYABLE_FINGERPRINT_V1, DISPLAYABLE_FINGERPRINT_V1)
    assert calls == [(DISPLAYABLE_FINGERPRINT_V1.encode(), DISPLAYABLE_FINGERPRINT_V1.encode())]
