"""Invite strings: exact format, round trips, and a precise error for every tampering."""

from __future__ import annotations

import base64
import hashlib
import string

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chatkernel.relay.protocol import b64url_decode, b64url_encode
from features.identity._invite import Invite, check_bundle, make_invite, parse_invite
from features.identity._record import Identity
from features.identity.errors import (
    BundleMismatchError,
    InviteChecksumError,
    InviteEncodingError,
    InviteError,
    InviteFormatError,
    InviteRelayURLError,
    InviteTruncatedError,
    InviteUserIdError,
    InviteVersionError,
    KeySignatureError,
)

URL = "https://relay.example.org"
B64URL = string.ascii_letters + string.digits + "-_"
PREFIX = "chatkernel:invite:v1:"


def build(user_id: str, signing: bytes, exchange: bytes, url: str, *, version: str = "v1",
          url_length: int | None = None) -> str:
    """The documented format, written out independently of the code under test."""
    raw_url = url.encode()
    payload = (base64.b32decode(user_id.upper()) + signing + exchange
               + bytes([len(raw_url) if url_length is None else url_length]) + raw_url)
    check = hashlib.sha256(b"chatkernel/identity/invite/v1\x00" + payload).digest()[:6]
    return f"chatkernel:invite:{version}:{b64url_encode(payload)}:{b64url_encode(check)}"


@pytest.fixture
def invite(alice):
    return make_invite(alice.public, URL + "/")


def test_the_string_is_exactly_the_documented_format(alice, invite):
    p = alice.public
    text = invite.to_string()
    assert text == str(invite) == build(p.user_id, p.signing_key, p.exchange_key, URL)
    assert invite.relay_url == URL  # normalized: no trailing slash
    assert text.startswith(PREFIX) and set(text[len(PREFIX):]) <= set(B64URL + ":")
    assert len(text) == len(PREFIX) + -(-(85 + len(URL)) * 4 // 3) + 1 + 8 == 177  # compact: fits a QR code
    assert parse_invite(text) == invite and parse_invite(f"  {text}\n") == invite
    assert invite.fingerprint == p.fingerprint


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,15}(\.[a-z]{2,8}){1,2}", fullmatch=True)
_urls = st.one_of(
    st.builds(lambda h, port, path: f"https://{h}{port}{path}", _hosts,
              st.sampled_from(["", ":443", ":8443"]), st.sampled_from(["", "/relay", "/a/b"])),
    st.builds(lambda port: f"http://127.0.0.1:{port}", st.integers(1, 65535)),
    st.just("http://localhost:8765"), st.just("https://[2001:db8::1]:9000"), st.just("https://bücher.example"),
)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32), _urls)
def test_round_trip(seed, dh, url):
    identity = Identity(Ed25519PrivateKey.from_private_bytes(seed), X25519PrivateKey.from_private_bytes(dh), "X")
    invite = make_invite(identity.public, url)
    text = invite.to_string()
    assert text.isascii() and " " not in text
    decoded = parse_invite(text)
    assert decoded == invite and decoded.user_id == identity.user_id and decoded.relay_url == url
    assert decoded.to_string() == text  # one spelling per invite


def expected_flip_error(original: str, mutated: str, position: int) -> type[InviteError]:
    payload_start = len(PREFIX)
    payload_end = original.rindex(":")
    if position < len("chatkernel:invite:"):
        return InviteFormatError
    if position == len("chatkernel:invite:"):  # the 'v'
        return InviteFormatError
    if position == len("chatkernel:invite:v"):  # the '1'
        return InviteVersionError if mutated[position].isdigit() else InviteFormatError
    if position == payload_start - 1:  # ':' after the version joins it to the payload
        return InviteFormatError
    if position == payload_end:  # ':' before the checksum: the checksum segment is gone
        return InviteTruncatedError
    segment = mutated[payload_start:mutated.rindex(":")] if position < payload_end else mutated[payload_end + 1:]
    try:
        b64url_decode(segment)
    except ValueError:
        return InviteEncodingError
    return InviteChecksumError


def test_flipping_any_character_gives_its_precise_error(invite):
    text = invite.to_string()
    for position, ch in enumerate(text):
        for replacement in {B64URL[(B64URL.index(ch) + 1) % 64] if ch in B64URL else "x", "7", "!"} - {ch}:
            mutated = text[:position] + replacement + text[position + 1:]
            expected = expected_flip_error(text, mutated, position)
            with pytest.raises(InviteError) as info:
                parse_invite(mutated)
            assert type(info.value) is expected, (position, ch, replacement, info.value)


def test_every_truncation_says_truncated(invite):
    text = invite.to_string()
    for length in range(1, len(text)):
        with pytest.raises(InviteTruncatedError):
            parse_invite(text[:length])
    with pytest.raises(InviteFormatError):
        parse_invite("")
    with pytest.raises(InviteFormatError):
        parse_invite(text + "A")  # a checksum of 9 characters
    with pytest.raises(InviteFormatError):
        parse_invite(text + ":A")


@pytest.mark.parametrize("version", ["v2", "v0", "v10", "v01"])
def test_wrong_version(invite, version):
    with pytest.raises(InviteVersionError) as info:
        parse_invite(invite.to_string().replace("v1:", version + ":", 1))
    assert info.value.version == version and info.value.supported == ("v1",)


@pytest.mark.parametrize("bad", ["V1", "1", "version1", ""])
def test_malformed_version(invite, bad):
    with pytest.raises(InviteFormatError):
        parse_invite(invite.to_string().replace("v1:", bad + ":", 1))


def test_wrong_checksum(invite):
    text = invite.to_string()
    with pytest.raises(InviteChecksumError):
        parse_invite(text[:-8] + b64url_encode(bytes(6)))
    other = make_invite(Identity.generate("Other").public, URL).to_string()
    with pytest.raises(InviteChecksumError):  # one invite's payload with another's checksum
        parse_invite(text[:-8] + other[-8:])


def test_mismatched_user_id_with_a_valid_checksum(alice, mallory):
    p = alice.public
    text = build(mallory.user_id, p.signing_key, p.exchange_key, URL)
    with pytest.raises(InviteUserIdError) as info:
        parse_invite(text)
    assert info.value.user_id == mallory.user_id and info.value.derived == alice.user_id


def test_a_plain_http_relay_must_be_loopback(alice):
    p = alice.public
    text = build(p.user_id, p.signing_key, p.exchange_key, "http://relay.example.org")
    with pytest.raises(InviteRelayURLError) as info:
        parse_invite(text)
    assert info.value.insecure and info.value.url == "http://relay.example.org"
    assert parse_invite(text, allow_insecure_remote=True).relay_url == "http://relay.example.org"
    with pytest.raises(InviteRelayURLError):
        make_invite(p, "http://relay.example.org")
    assert make_invite(p, "http://127.0.0.1:8765/").relay_url == "http://127.0.0.1:8765"


@pytest.mark.parametrize("url", ["https://relay.example.org/", "ftp://relay.example.org", "https://u:p@h.example",
                                 "https://h.example/?q=1", " https://h.example"])
def test_relay_urls_must_be_valid_and_normal(alice, url):
    p = alice.public
    with pytest.raises(InviteRelayURLError):
        parse_invite(build(p.user_id, p.signing_key, p.exchange_key, url))


def test_layout_errors_behind_a_valid_checksum(alice):
    p = alice.public
    for url_length in (0, len(URL) - 1, len(URL) + 1):
        with pytest.raises(InviteFormatError, match="payload"):
            parse_invite(build(p.user_id, p.signing_key, p.exchange_key, URL, url_length=url_length))
    short = b"\x00" * 40
    check = hashlib.sha256(b"chatkernel/identity/invite/v1\x00" + short).digest()[:6]
    with pytest.raises(InviteFormatError, match="payload"):
        parse_invite(f"{PREFIX}{b64url_encode(short)}:{b64url_encode(check)}")
    raw = base64.b32decode(p.user_id.upper()) + p.signing_key + p.exchange_key + b"\x02\xff\xfe"
    check = hashlib.sha256(b"chatkernel/identity/invite/v1\x00" + raw).digest()[:6]
    with pytest.raises(InviteFormatError, match="UTF-8"):
        parse_invite(f"{PREFIX}{b64url_encode(raw)}:{b64url_encode(check)}")


def test_non_strings_and_other_prefixes(invite):
    for bad in (None, b"chatkernel:invite:v1:", 42):
        with pytest.raises(InviteFormatError):
            parse_invite(bad)
    with pytest.raises(InviteFormatError):
        parse_invite("https://example.org/" + invite.to_string())
    with pytest.raises(InviteEncodingError):
        parse_invite(PREFIX + "=" + invite.to_string()[len(PREFIX) + 1:])


def test_invites_check_their_fields_on_construction(alice, mallory):
    p = alice.public
    with pytest.raises(InviteUserIdError):
        Invite(mallory.user_id, p.signing_key, p.exchange_key, URL)
    with pytest.raises(InviteFormatError):
        Invite(p.user_id, p.signing_key[:31], p.exchange_key, URL)
    with pytest.raises(InviteRelayURLError):
        Invite(p.user_id, p.signing_key, p.exchange_key, URL + "/")


def test_a_bundle_must_carry_the_invites_keys(alice, mallory, invite):
    p, m = alice.public, mallory.public
    check_bundle(invite, p.signing_key, p.exchange_key)
    check_bundle(invite, p.signing_key, p.exchange_key, signature=p.signature)
    for signing, exchange in ((m.signing_key, m.exchange_key), (p.signing_key, m.exchange_key),
                              (m.signing_key, p.exchange_key)):
        with pytest.raises(BundleMismatchError) as info:
            check_bundle(invite, signing, exchange)
        assert info.value.user_id == alice.user_id
        assert info.value.expected == p.fingerprint.hex() and info.value.got != info.value.expected
    with pytest.raises(KeySignatureError):
        check_bundle(invite, p.signing_key, p.exchange_key, signature=m.signature)
