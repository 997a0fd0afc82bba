"""The wire protocol in one client-safe module: self-certifying user ids, the signed /connect
proof, error codes, and the one rule for which relay URLs a client may use."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel import relay
from chatkernel.relay import protocol
from chatkernel.relay.protocol import (
    ERROR_CODES,
    SERVICE_NAME,
    USER_ID_TAG,
    RelayURLError,
    b64url_decode,
    b64url_encode,
    check_relay_url,
    connect_message,
    connect_request,
    derive_user_id,
    is_message_id,
    is_user_id,
    verify_connect_signature,
)

SERVER_ONLY = ("starlette", "uvicorn", "redis", "httptools", "anyio", "httpx")


# A client never loads the server -----------------------------------------------------------
def test_importing_the_protocol_loads_nothing_of_the_server() -> None:
    code = textwrap.dedent(f"""
        import sys, threading
        threads = threading.active_count()
        import chatkernel.relay.protocol
        from chatkernel.relay.protocol import check_relay_url, connect_request, SERVICE_NAME
        from chatkernel.relay import derive_user_id, RelayURLError  # lazy names of the package too
        external = sorted(m for m in sys.modules if m.split(".")[0] in {SERVER_ONLY!r})
        relay = sorted(m for m in sys.modules if m.startswith("chatkernel.relay"))
        assert threading.active_count() == threads
        print(external, relay)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[] ['chatkernel.relay', 'chatkernel.relay._errors', 'chatkernel.relay.protocol']"


def test_server_names_still_import_from_the_package() -> None:
    proc = subprocess.run([sys.executable, "-c", "from chatkernel.relay import EmbeddedRelay, create_app, open_store; "
                           "import sys; print('starlette' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_package_reexports_are_the_protocol_objects() -> None:
    for name in ("SERVICE_NAME", "RelayURLError", "check_relay_url", "connect_request", "derive_user_id",
                 "is_user_id"):
        assert getattr(relay, name) is getattr(protocol, name), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        relay.nope  # noqa: B018


def test_all_is_sorted_and_every_name_exists() -> None:
    assert protocol.__all__ == sorted(protocol.__all__)
    """The rule tests/architecture applies to packages: classes and functions count where they
    were defined (anywhere in chatkernel), other objects where they live."""

    def public(value: object) -> bool:
        if isinstance(value, type) or callable(value):
            return str(getattr(value, "__module__", "")).startswith("chatkernel")
        return not isinstance(value, type(sys))

    names = {n for n, v in vars(protocol).items() if not n.startswith("_") and public(v)}
    assert names == set(protocol.__all__)


# Constants the two sides share --------------------------------------------------------------
def test_health_service_name_and_error_codes() -> None:
    assert SERVICE_NAME == "chat-signaling"
    codes = {getattr(protocol, n) for n in protocol.__all__ if n.isupper() and isinstance(getattr(protocol, n), str)}
    codes -= {SERVICE_NAME, protocol.MESSAGE_ID_PATTERN, protocol.USER_ID_PATTERN, protocol.CURSOR_AHEAD}
    assert codes == ERROR_CODES
    assert {"body_too_large", "invalid_json", "invalid_field", "rate_limited", "mailbox_full", "missing_token",
            "bad_signature"} <= ERROR_CODES
    assert protocol.CURSOR_AHEAD == "cursor_ahead" and protocol.CURSOR_AHEAD not in ERROR_CODES


def test_every_request_error_class_answers_a_listed_code() -> None:
    from chatkernel.relay import _errors

    classes = [getattr(_errors, n) for n in _errors.__all__ if n.endswith("Error")]
    wire = [c for c in classes if issubclass(c, (_errors.RequestError, _errors.StoreError))]
    fixed = [c for c in wire if "code" in vars(c)]  # AuthenticationError and ConflictError take theirs
    assert fixed and all(c.code in ERROR_CODES for c in fixed)


@pytest.mark.parametrize("value", ["a", "m-1", "A.b_c:d-9", "x" * 128])
def test_message_ids(value: str) -> None:
    assert is_message_id(value)


@pytest.mark.parametrize("value", ["", "x" * 129, "a b", "a/b", "é", "a\n", None, 7])
def test_message_ids_refused(value: object) -> None:
    assert not is_message_id(value)


# User ids and the /connect proof --------------------------------------------------------------
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


def test_connect_request_round_trips_through_verification() -> None:
    signing, exchange = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    body = connect_request(signing, exchange.public_key(), now_ms=1_700_000_000_000)
    assert set(body) == {"userId", "publicKey", "ts", "sig"} and body["ts"] == 1_700_000_000_000
    pub = b64url_decode(body["publicKey"]["signing"])
    assert pub == signing.public_key().public_bytes_raw()
    assert body["userId"] == derive_user_id(pub, b64url_decode(body["publicKey"]["exchange"]))
    assert is_user_id(body["userId"])
    sig = b64url_decode(body["sig"])
    assert verify_connect_signature(pub, body["userId"], body["ts"], sig)
    assert not verify_connect_signature(pub, body["userId"], body["ts"] + 1, sig)
    assert not verify_connect_signature(pub, "a" * 32, body["ts"], sig)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verify_connect_signature(other, body["userId"], body["ts"], sig)


def test_connect_request_accepts_raw_key_bytes() -> None:
    signing, exchange = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    raw = connect_request(signing.private_bytes_raw(), exchange.public_key().public_bytes_raw(), now_ms=5)
    assert raw == connect_request(signing, exchange.public_key(), now_ms=5)


def test_connect_request_refuses_other_key_types() -> None:
    with pytest.raises(TypeError, match="X25519PublicKey or raw bytes"):
        connect_request(Ed25519PrivateKey.generate(), "not a key")  # type: ignore[arg-type]


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


@pytest.mark.parametrize(("bad", "rule"), [
    ("a+b/", "only A-Z"), ("ab cd", "only A-Z"), ("é", "only A-Z"), ("a", "cannot be base64url"),
    ("abc===", "unpadded"), ("AA==", "unpadded"), ("AAE=", "unpadded"),
    ("AB", "not canonical"), ("AAF", "not canonical"),  # the same bytes as "AA" and "AAE"
])
def test_b64url_accepts_one_spelling_only(bad: str, rule: str) -> None:
    """Unpadded and canonical, as b64url_encode writes it: one string per byte string."""
    with pytest.raises(ValueError, match=rule):
        b64url_decode(bad)


@pytest.mark.parametrize("length", [1, 2, 3, 32, 64])
def test_b64url_pattern_matches_exactly_the_decodable_strings(length: int) -> None:
    import itertools
    import re

    pattern = re.compile(protocol.b64url_pattern(length))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    prefix = b64url_encode(bytes(range(7, 7 + length)))[:-1]
    # Every last character, every neighbouring length, and padding: the pattern and the decoder agree.
    for text in itertools.chain((prefix + c for c in alphabet + "=+/"), (prefix, prefix + "AA", prefix + "A=")):
        try:
            decodes = len(b64url_decode(text)) == length
        except ValueError:
            decodes = False
        assert bool(pattern.match(text)) == decodes, text


@pytest.mark.parametrize("value", ["A" * 32, "a" * 31, "a" * 33, "1" * 32, None, 5, "a" * 31 + "\n"])
def test_is_user_id_rejects(value: object) -> None:
    assert not is_user_id(value)


# Which relay URLs a client may use -------------------------------------------------------------
@pytest.mark.parametrize(("url", "expected"), [
    ("https://relay.example.org", "https://relay.example.org"),
    ("  https://relay.example.org/chat/ ", "https://relay.example.org/chat"),
    ("https://relay.example.org/", "https://relay.example.org"),
    ("https://203.0.113.7:443/relay", "https://203.0.113.7:443/relay"),
    ("HTTPS://Relay.Example.org", "HTTPS://Relay.Example.org"),
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://127.0.0.2", "http://127.0.0.2"),
    ("http://127.9.9.9/", "http://127.9.9.9"),
    ("http://localhost:1", "http://localhost:1"),
    ("http://LOCALHOST", "http://LOCALHOST"),
    ("http://localhost.", "http://localhost."),
    ("http://[::1]:8765", "http://[::1]:8765"),
    ("http://[::1]", "http://[::1]"),
])
def test_accepted_urls_come_back_normalised(url: str, expected: str) -> None:
    assert check_relay_url(url) == expected


@pytest.mark.parametrize(("url", "reason"), [
    (42, "must be a string, got int"),
    (None, "must be a string, got NoneType"),
    ("", "is empty (reset to use the default relay)"),
    ("   ", "is empty (reset to use the default relay)"),
    ("https://relay example.org", "'https://relay example.org' contains whitespace"),
    ("https://relay.example.org/\tx", "'https://relay.example.org/\\tx' contains whitespace"),
    ("relay.example.org", "'relay.example.org' has no scheme; start it with https:// or http://"),
    ("localhost:8765", "'localhost:8765' has no scheme; start it with https:// or http://"),
    ("ftp://relay.example.org", "scheme must be http or https, got 'ftp'"),
    ("ws://relay.example.org", "scheme must be http or https, got 'ws'"),
    ("https://bob:secret@relay.example.org", "must not contain credentials (user:password@)"),
    ("https://bob@relay.example.org", "must not contain credentials (user:password@)"),
    ("https://@relay.example.org", "must not contain credentials (user:password@)"),
    ("https://", "'https://' has no host"),
    ("https://:8765", "'https://:8765' has no host"),
    ("https://relay.example.org/?x=1", "must not have a query (?...)"),
    ("https://relay.example.org/?", "must not have a query (?...)"),
    ("http://h/?", "must not have a query (?...)"),
    ("https://relay.example.org/#top", "must not have a fragment (#...)"),
    ("https://relay.example.org#", "must not have a fragment (#...)"),
    ("https://relay.example.org:99999", "has an invalid port: Port out of range 0-65535"),
    ("https://relay.example.org:http", "has an invalid port: Port could not be cast to integer value as 'http'"),
    ("http://[::1", "'http://[::1' is not a valid URL: Invalid IPv6 URL"),
    ("http://relay.example.org", "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost), "
                                 "not 'relay.example.org'; use https:// or set allow_insecure_remote"),
    ("http://10.0.0.1:8765", "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost), "
                             "not '10.0.0.1'; use https:// or set allow_insecure_remote"),
    ("http://[::2]", "plain http:// is only allowed to a loopback host"),
    ("http://localhost.localdomain", "plain http:// is only allowed to a loopback host"),
    ("http://0.0.0.0:8765", "plain http:// is only allowed to a loopback host"),
])
def test_refused_urls_say_why(url: object, reason: str) -> None:
    with pytest.raises(RelayURLError) as info:
        check_relay_url(url)
    error = info.value
    assert error.reason.startswith(reason)
    assert error.url == url
    assert error.insecure is reason.startswith("plain http://")
    assert str(error) == error.detail == f"invalid relay URL {url!r}: {error.reason}"


def test_url_error_is_a_value_error_and_a_relay_error() -> None:
    with pytest.raises(ValueError):
        check_relay_url("ftp://x")
    with pytest.raises(relay.RelayError):
        check_relay_url("ftp://x")


def test_allow_insecure_remote_permits_plain_http_anywhere_and_nothing_else() -> None:
    assert check_relay_url("http://relay.example.org/", allow_insecure_remote=True) == "http://relay.example.org"
    assert check_relay_url("http://10.0.0.1:8765", allow_insecure_remote=True) == "http://10.0.0.1:8765"
    with pytest.raises(RelayURLError) as info:
        check_relay_url("http://relay.example.org/?", allow_insecure_remote=True)
    assert info.value.reason == "must not have a query (?...)" and not info.value.insecure
