"""docs/protocol.md is enough to implement a client: its reference client runs, exactly as
printed, against a real relay, and its byte-level claims, defaults and error tables match the
code (chatkernel.relay.protocol, RelayConfig, the OpenAPI table)."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import EmbeddedRelay, RelayConfig, openapi_document
from chatkernel.relay import _errors as errors
from chatkernel.relay._openapi import ENDPOINT_CODES
from chatkernel.relay.protocol import (
    CONNECT_TAG,
    CURSOR_AHEAD,
    ERROR_CODES,
    IDENTITY_BINDING_TAG,
    SIGNED_PREKEY_TAG,
    MESSAGE_ID_PATTERN,
    USER_ID_PATTERN,
    USER_ID_TAG,
    b64url_encode,
    connect_message,
    connect_request,
    derive_user_id,
    identity_binding_message,
    signed_prekey,
    signed_prekey_message,
    verify_identity_binding,
    verify_signed_prekey,
)

DOC = Path(__file__).resolve().parents[3] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")
CONNECTION = {errors.HEADERS_TOO_LARGE, errors.REQUEST_TIMEOUT, errors.TOO_MANY_CONNECTIONS}
ALLOWED_IMPORTS = {"base64", "hashlib", "os", "time", "httpx", "cryptography"}


def _fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", TEXT, flags=re.S | re.M)


def _section(heading: str) -> str:
    """The text under a ``## `` or ``### `` heading, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", TEXT, flags=re.S | re.M)
    assert match, f"no section {heading!r} in {DOC.name}"
    return match.group(1)


def _table_rows(text: str) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows[2:] if row] if rows else []  # skip the header and its rule


def _error_rows(text: str) -> list[tuple[int, str]]:
    """(status, code) of each row of a ``| Status | error | When |`` table."""
    found = []
    for line in text.splitlines():
        match = re.match(r"\| (\d{3}) \| `([a-z_]+)` \|", line)
        if match:
            found.append((int(match[1]), match[2]))
    return found


@pytest.fixture(scope="module")
def relay() -> Iterator[EmbeddedRelay]:
    with EmbeddedRelay.start_background() as running:
        yield running


# The reference client ---------------------------------------------------------------------------
def test_there_is_exactly_one_reference_client() -> None:
    assert len(_fenced("python")) == 1


def test_reference_client_uses_only_httpx_and_cryptography() -> None:
    tree = ast.parse(_fenced("python")[0])
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= ALLOWED_IMPORTS, imported - ALLOWED_IMPORTS


def test_reference_client_tags_are_the_protocols() -> None:
    tree = ast.parse(_fenced("python")[0])
    constants = {target.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)}
    assert constants["USER_ID_TAG"] == USER_ID_TAG == b"chatkernel/relay/user-id/v1\x00"
    assert constants["CONNECT_TAG"] == CONNECT_TAG == b"chatkernel/relay/connect/v1\x00"
    assert constants["SIGNED_PREKEY_TAG"] == SIGNED_PREKEY_TAG == b"chatkernel/relay/signed-prekey/v1\x00"


def test_reference_client_runs_against_a_real_relay(relay: EmbeddedRelay, tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(_fenced("python")[0], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["RELAY_URL"] = relay.url
    # -X importtime lists every module the client imported: proof it never loads chatkernel.
    proc = subprocess.run([sys.executable, "-X", "importtime", str(script)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "httpx" in imported and not any(name.split(".")[0] == "chatkernel" for name in imported)
    lines = proc.stdout.splitlines()
    assert len(lines) == 5, proc.stdout
    prekeys, sent, received, acknowledged, done = lines
    assert prekeys == "one-time prekeys [1, 2, None]"
    relay_id = sent.removeprefix("sent ")
    assert re.fullmatch(r"\S+", relay_id)
    assert received == "received hello, bob"
    assert acknowledged == f"acknowledged {relay_id}"
    assert done == "disconnected"


# Byte-level claims ------------------------------------------------------------------------------
def _vectors() -> dict[str, str]:
    block = re.search(r"^```text\n(.*?)^```$", _section("Test vectors"), flags=re.S | re.M)
    assert block
    pairs = (line.split("=", 1) for line in block.group(1).splitlines() if line.strip())
    return {name.strip(): value.strip() for name, value in pairs}


def test_vectors_are_what_the_protocol_module_computes() -> None:
    v = _vectors()
    signing = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["ed25519_seed"]))
    exchange = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["x25519_private"]))
    assert bytes.fromhex(v["ed25519_seed"]) == bytes(range(32))
    assert bytes.fromhex(v["x25519_private"]) == bytes(range(32, 64))
    signing_pub = signing.public_key().public_bytes_raw()
    exchange_pub = exchange.public_key().public_bytes_raw()
    assert bytes.fromhex(v["user_id_tag"]) == USER_ID_TAG and len(USER_ID_TAG) == 28
    assert bytes.fromhex(v["connect_tag"]) == CONNECT_TAG and len(CONNECT_TAG) == 28
    assert v["signing_pub"] == signing_pub.hex() and v["exchange_pub"] == exchange_pub.hex()
    assert v["sha256"] == hashlib.sha256(USER_ID_TAG + signing_pub + exchange_pub).hexdigest()
    assert v["user_id"] == derive_user_id(signing_pub, exchange_pub)
    assert re.match(USER_ID_PATTERN, v["user_id"])
    ts = int(v["ts"])
    assert bytes.fromhex(v["connect_message"]) == connect_message(v["user_id"], ts)
    body = connect_request(signing, exchange.public_key(), now_ms=ts)
    assert body == {"userId": v["user_id"], "ts": ts, "sig": v["sig"],
                    "publicKey": {"signing": v["publicKey.signing"], "exchange": v["publicKey.exchange"]}}
    assert v["publicKey.signing"] == b64url_encode(signing_pub)


def test_signed_prekey_vector_is_what_the_protocol_module_computes() -> None:
    v = _vectors()
    signing = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["ed25519_seed"]))
    prekey = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["prekey_private"]))
    assert bytes.fromhex(v["prekey_private"]) == bytes(range(64, 96))
    assert bytes.fromhex(v["signed_prekey_tag"]) == SIGNED_PREKEY_TAG and len(SIGNED_PREKEY_TAG) == 34
    prekey_pub = prekey.public_key().public_bytes_raw()
    assert v["prekey_pub"] == prekey_pub.hex()
    prekey_id = int(v["prekey_id"])
    message = bytes.fromhex(v["prekey_message"])
    assert message == signed_prekey_message(prekey_id, prekey_pub) and len(message) == 70
    # The prose recipe, literally: tag, the id as 4 bytes big-endian, the raw key.
    assert message == b"chatkernel/relay/signed-prekey/v1" + b"\x00" + prekey_id.to_bytes(4, "big") + prekey_pub
    assert signed_prekey(signing, prekey_id, prekey.public_key()) == {
        "id": prekey_id, "key": v["signedPrekey.key"], "sig": v["signedPrekey.sig"]}
    signing_pub = signing.public_key().public_bytes_raw()
    sig = signing.sign(message)
    assert verify_signed_prekey(signing_pub, prekey_id, prekey_pub, sig)
    assert not verify_signed_prekey(signing_pub, prekey_id + 1, prekey_pub, sig)  # the id is signed


def test_identity_binding_vector_is_what_the_protocol_module_computes() -> None:
    v = _vectors()
    signing = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(v["ed25519_seed"]))
    signing_pub, exchange_pub = bytes.fromhex(v["signing_pub"]), bytes.fromhex(v["exchange_pub"])
    assert bytes.fromhex(v["identity_binding_tag"]) == IDENTITY_BINDING_TAG and len(IDENTITY_BINDING_TAG) == 36
    message = bytes.fromhex(v["identity_binding_message"])
    assert message == identity_binding_message(signing_pub, exchange_pub) and len(message) == 100
    # The prose recipe, literally: tag, the raw Ed25519 key, the raw X25519 key.
    assert message == b"chatkernel/identity/exchange-key/v1" + b"\x00" + signing_pub + exchange_pub
    sig = bytes.fromhex(v["identity_binding_sig"])
    assert sig == signing.sign(message)
    assert verify_identity_binding(signing_pub, exchange_pub, sig)
    assert not verify_identity_binding(signing_pub, bytes.fromhex(v["prekey_pub"]), sig)
    section = _section("Identity binding (used by clients, not checked by the relay)")
    assert "`chatkernel/identity/exchange-key/v1`" in section and "(36 bytes)" in section


def test_the_user_id_recipe_in_prose_is_the_code() -> None:
    """Follow the numbered steps literally, with the standard library only."""
    import base64

    v = _vectors()
    digest = hashlib.sha256(b"chatkernel/relay/user-id/v1" + b"\x00" + bytes.fromhex(v["signing_pub"])
                            + bytes.fromhex(v["exchange_pub"])).digest()
    encoded = base64.b32encode(digest).decode("ascii")
    assert len(encoded) == 56 and encoded.endswith("====")
    assert encoded.lower()[:32] == v["user_id"]


def test_patterns_in_the_encodings_table_are_the_code() -> None:
    encodings = _section("Encodings")
    assert f"`{USER_ID_PATTERN}`" in encodings and f"`{MESSAGE_ID_PATTERN}`" in encodings


# Defaults and error tables ----------------------------------------------------------------------
def test_limits_table_lists_every_setting_with_its_default() -> None:
    defaults = RelayConfig()
    rows = {row[0].strip("`"): row[1] for row in _table_rows(_section("Limits"))}
    assert set(rows) == {field.name for field in dataclasses.fields(RelayConfig)}
    for name, shown in rows.items():
        value = getattr(defaults, name)
        if isinstance(value, tuple):
            assert shown == "none" and value == (), name
        else:
            assert float(shown) == value, (name, shown, value)


def test_limits_table_names_the_cli_option_of_each_setting() -> None:
    from chatkernel.relay._cli import _LIMITS

    shown = {row[0].strip("`"): re.findall(r"`(--[a-z-]+)`", row[3]) for row in _table_rows(_section("Limits"))}
    expected = {field: [option] for option, (field, _kind, _help) in _LIMITS.items()}
    expected["trusted_proxies"] = ["--trusted-proxy"]
    assert {name: options for name, options in shown.items() if options} == expected


@pytest.mark.parametrize(("path", "method"), sorted(ENDPOINT_CODES))
def test_each_endpoint_lists_its_own_codes_with_their_status(path: str, method: str) -> None:
    rows = _error_rows(_section(f"{method.upper()} {path}"))
    assert len(rows) == len(set(rows))
    assert {code for _, code in rows} | CONNECTION == set(ENDPOINT_CODES[(path, method)])
    responses = openapi_document()["paths"][path][method]["responses"]
    for status, code in rows:
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        assert code in schema["properties"]["error"]["enum"], (path, status, code)


def test_connection_refusals_are_documented_once_for_every_endpoint() -> None:
    rows = _error_rows(_section("Refusals before the app"))
    assert {code for _, code in rows} == CONNECTION
    assert set(rows) == {(431, errors.HEADERS_TOO_LARGE), (408, errors.REQUEST_TIMEOUT),
                         (503, errors.TOO_MANY_CONNECTIONS)}


def test_every_error_code_and_reason_is_named() -> None:
    for code in ERROR_CODES | {CURSOR_AHEAD, "user", "address"}:
        assert f"`{code}`" in TEXT, code


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"payload": "\\ud800"}', "lone_surrogate"),
    (b'{"payload": 1, "payload": 2}', "duplicate_key"),
    (b'{"payload": 9007199254740993}', "unsafe_integer"),
    (b'{"payload": 1e400}', "non_finite_number"),
    (b'\xff{}', "invalid_utf8"),
    (b'\xef\xbb\xbf{}', "bom"),
])
def test_every_invalid_json_reason_the_relay_answers_is_documented(relay: EmbeddedRelay, raw: bytes,
                                                                    reason: str) -> None:
    r = httpx.post(relay.url + "/connect", content=raw, timeout=10)
    assert r.status_code == 422 and r.json()["error"] == errors.INVALID_JSON
    assert r.json()["reason"] == reason
    assert f"`{reason}`" in _section("Order of checks")


def test_documented_clock_window_and_poll_defaults_are_the_configs() -> None:
    defaults = RelayConfig()
    assert f"({defaults.connect_window:g} s by default)" in _section("The `/connect` proof")
    poll = _section("POST /poll")
    assert f"`poll_default_timeout` ({defaults.poll_default_timeout:g} s)" in poll
    assert f"`poll_max_timeout` ({defaults.poll_max_timeout:g} s)" in poll
    assert "clamped, not refused" in poll
