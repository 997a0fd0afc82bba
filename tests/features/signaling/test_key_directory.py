"""The key directory through signaling: upload_keys and fetch_bundle against a real relay.

Signed prekeys are signed through the connected identity (the identity feature's ``sign`` over
``protocol.signed_prekey_message``), the way the crypto feature builds them; a relay that serves
a bad bundle is simulated by writing its store directly, past the relay's own upload check.
Tests of the service alone connect it as a :class:`KeyHolder`, a stand-in for the identity.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import textwrap
from typing import Any, Protocol

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel import check_service
from chatkernel.relay import EmbeddedRelay, RelayConfig
from chatkernel.relay._stores._base import SignedPrekey
from chatkernel.relay.protocol import b64url_encode, derive_user_id, signed_prekey, signed_prekey_message

from features.signaling.client import Answer, RelayClient, check_bundle
from features.signaling.errors import (
    InvalidBundleError,
    KeyUploadError,
    NoBundleError,
    NotConnectedError,
    RelayRequestError,
    RelayTransportError,
    SignalingError,
)
from features.signaling.events import PREKEY_COUNT
from features.signaling.service import SignalingService

pytestmark = pytest.mark.anyio


class KeyHolder:
    """What signaling's ``_api.IdentityAPI`` asks (user_id, public_keys, sign) over raw keys:
    the identity of a service booted without an app, or of a bundle a test forges."""

    def __init__(self) -> None:
        self.signing_key = Ed25519PrivateKey.generate()
        self.exchange_public = x25519()
        self.user_id: str | None = derive_user_id(self.public_keys()[0], self.exchange_public)

    def public_keys(self) -> tuple[bytes, bytes]:
        return self.signing_key.public_key().public_bytes_raw(), self.exchange_public

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)


def identity_signed_prekey(identity: Any, prekey_id: int, key: bytes) -> dict[str, Any]:
    """``protocol.signed_prekey``'s object, signed through an IdentityAPI (no private key here)."""
    signature = identity.sign(signed_prekey_message(prekey_id, key))
    return {"id": prekey_id, "key": b64url_encode(key), "sig": b64url_encode(signature)}


def x25519() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes_raw()


def upload_body(service: Any, signed_id: int | None = 1, one_time_ids: tuple[int, ...] = (1,),
                signer: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """What crypto uploads: a signed prekey by the identity's signing key, and one-time prekeys."""
    body: dict[str, Any] = {}
    if signed_id is not None:
        body["signedPrekey"] = (signed_prekey(signer, signed_id, x25519()) if signer is not None
                                else identity_signed_prekey(service.identity, signed_id, x25519()))
    if one_time_ids:
        body["oneTimePrekeys"] = [{"id": i, "key": b64url_encode(x25519())} for i in one_time_ids]
    return body


def a_user_id() -> str:
    return derive_user_id(Ed25519PrivateKey.generate().public_key().public_bytes_raw(), x25519())


async def connected_pair(relay: Any, peers: Any, **settings: Any) -> tuple[Any, Any]:
    alice = await peers(url=relay.url, **settings)
    bob = await peers(url=relay.url, **settings)
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    return alice, bob


def prekey_events(peer: Any) -> list[Any]:
    return [e for e in peer.events if e.type == "PREKEY_COUNT"]


# ---------------------------------------------------------------------------------- the happy path

async def test_upload_then_fetch_one_time_prekey_then_signed_prekey_alone(relay, peers):
    alice, bob = await connected_pair(relay, peers)
    body = upload_body(alice.service, signed_id=7, one_time_ids=(1,))
    answer = await alice.service.upload_keys(body)
    assert answer == {"oneTimePrekeys": 1, "accepted": 1, "signedPrekeyId": 7}

    bundle = await bob.service.fetch_bundle(alice.service.user_id)
    signing, exchange = alice.identity.public_keys()  # the identity feature's keys, not throwaway ones
    assert alice.service.user_id == alice.identity.user_id
    assert bundle == {
        "userId": alice.service.user_id,
        "publicKey": {"signing": b64url_encode(signing), "exchange": b64url_encode(exchange)},
        "signedPrekey": body["signedPrekey"],
        "oneTimePrekey": body["oneTimePrekeys"][0],
    }
    # The one-time prekey is gone for good: the next bundle has the signed prekey alone.
    again = await bob.service.fetch_bundle(alice.service.user_id)
    assert "oneTimePrekey" not in again and again["signedPrekey"] == body["signedPrekey"]
    assert await alice.service.upload_keys({}) == {"oneTimePrekeys": 0, "accepted": 0, "signedPrekeyId": 7}

    # PREKEY_COUNT after each upload answer: the count crypto refills from.
    await alice.app.settle()
    events = prekey_events(alice)
    assert [dict(e.payload) for e in events] == [{"remaining": 1, "accepted": 1, "signed_prekey_id": 7},
                                                 {"remaining": 0, "accepted": 0, "signed_prekey_id": 7}]
    for event in events:
        PREKEY_COUNT.check(event.payload)
        assert (event.source, event.priority) == ("signaling", PREKEY_COUNT.priority)
        assert alice.app.registry.catalog.owner("PREKEY_COUNT") == "signaling"
    assert not prekey_events(bob) and not alice.of("FEATURE_ERROR") and not alice.app.bus.errors


async def test_a_count_only_upload_before_any_signed_prekey_reports_none(relay, peers):
    alice = await peers(url=relay.url)
    await alice.wait_for(lambda: alice.service.connected)
    assert await alice.service.upload_keys({"oneTimePrekeys": []}) == {"oneTimePrekeys": 0, "accepted": 0}
    await alice.app.settle()
    [event] = prekey_events(alice)
    assert dict(event.payload) == {"remaining": 0, "accepted": 0, "signed_prekey_id": None}


# ---------------------------------------------------------------------------------- refusals

async def test_a_bad_signature_is_a_key_upload_error_with_the_relays_code_and_nothing_is_stored(relay, peers):
    alice, bob = await connected_pair(relay, peers)
    body = upload_body(alice.service, signer=Ed25519PrivateKey.generate(), one_time_ids=(1, 2))
    with pytest.raises(KeyUploadError) as info:
        await alice.service.upload_keys(body)
    error = info.value
    assert (error.status, error.code, error.field) == (422, "bad_prekey_signature", "signedPrekey.sig")
    assert "does not verify" in error.detail and "refused the key upload" in str(error)
    assert isinstance(error, RelayRequestError) and not error.transient
    with pytest.raises(NoBundleError) as nothing:
        await bob.service.fetch_bundle(alice.service.user_id)
    assert nothing.value.code == "no_prekeys"  # all or nothing: no one-time prekey was kept either
    await alice.app.settle()
    assert not prekey_events(alice)


async def test_an_older_signed_prekey_is_a_stale_prekey_upload_error(relay, peers):
    alice, _ = await connected_pair(relay, peers)
    await alice.service.upload_keys(upload_body(alice.service, signed_id=5, one_time_ids=()))
    with pytest.raises(KeyUploadError) as info:
        await alice.service.upload_keys(upload_body(alice.service, signed_id=4, one_time_ids=()))
    assert (info.value.status, info.value.code, info.value.field) == (409, "stale_prekey", "signedPrekey.id")


async def test_too_many_one_time_prekeys_is_an_upload_error_and_keeps_the_stock(peers):
    async with EmbeddedRelay.start(config=RelayConfig(prekey_max_per_user=2, prekey_batch_max=2)) as relay:
        alice, _ = await connected_pair(relay, peers)
        await alice.service.upload_keys(upload_body(alice.service, one_time_ids=(1, 2)))
        with pytest.raises(KeyUploadError) as info:
            await alice.service.upload_keys(upload_body(alice.service, signed_id=None, one_time_ids=(3,)))
        assert (info.value.status, info.value.code) == (422, "too_many_prekeys")
        assert (await alice.service.upload_keys({}))["oneTimePrekeys"] == 2


async def test_a_malformed_upload_is_refused_for_good_naming_the_field(relay, peers):
    alice, _ = await connected_pair(relay, peers)
    with pytest.raises(KeyUploadError) as info:
        await alice.service.upload_keys({"oneTimePrekeys": [{"id": 1, "key": "not base64url!"}]})
    assert (info.value.code, info.value.field) == ("invalid_field", "oneTimePrekeys[0].key")
    with pytest.raises(KeyUploadError) as other:  # the body names someone else
        await alice.service.upload_keys({"userId": a_user_id()})
    assert (other.value.status, other.value.code) == (403, "forbidden")
    with pytest.raises(SignalingError, match="JSON object"):
        await alice.service.upload_keys([])  # type: ignore[arg-type]


async def test_an_unknown_user_or_one_without_keys_is_no_bundle_error(relay, peers):
    alice, bob = await connected_pair(relay, peers)
    stranger = a_user_id()
    with pytest.raises(NoBundleError) as info:
        await alice.service.fetch_bundle(stranger)
    assert (info.value.status, info.value.code, info.value.user_id) == (404, "unknown_user", stranger)
    assert stranger in str(info.value)
    with pytest.raises(NoBundleError) as none_yet:
        await alice.service.fetch_bundle(bob.service.user_id)
    assert (none_yet.value.code, none_yet.value.user_id) == ("no_prekeys", bob.service.user_id)


async def test_fetching_by_something_that_is_not_a_user_id_or_our_own_is_refused_locally(relay, peers):
    alice, _ = await connected_pair(relay, peers)
    for bad in ("../connect", "ABC", "", 42):
        with pytest.raises(SignalingError, match="user id"):
            await alice.service.fetch_bundle(bad)  # type: ignore[arg-type]
    with pytest.raises(SignalingError, match="our own bundle"):
        await alice.service.fetch_bundle(alice.service.user_id)


# ---------------------------------------------------------------------------------- not connected

async def test_fetching_or_uploading_while_disconnected_waits_a_bounded_time_then_says_so(relay, peers):
    alice = await peers(url=relay.url, auto_connect=False, key_wait_s=0.05)
    await alice.app.settle()
    assert alice.state == ["disconnected"] and alice.service.key_wait_s == 0.05
    with pytest.raises(NotConnectedError, match=r"cannot fetch the bundle of .*: not connected to .*waited 0.05 s"):
        await alice.service.fetch_bundle(a_user_id())
    with pytest.raises(NotConnectedError, match="cannot upload keys"):
        await alice.service.upload_keys({}, timeout=0)
    nowhere = await peers(auto_connect=False)
    with pytest.raises(NotConnectedError, match="no relay URL is set"):
        await nowhere.service.upload_keys({})
    await alice.app.settle()
    assert not prekey_events(alice)


async def test_a_call_made_before_the_connection_goes_through_once_it_is_up(relay, peers):
    alice = await peers(url=relay.url, auto_connect=False)
    await alice.app.settle()
    call = asyncio.ensure_future(alice.service.upload_keys({}))
    await alice.app.settle()
    assert not call.done()
    alice.actor.send("CONNECT")
    assert (await call)["accepted"] == 0


# ---------------------------------------------------------------------------------- a relay not to trust

async def test_a_bundle_whose_signature_does_not_verify_is_refused_by_the_client(relay, peers):
    alice, bob = await connected_pair(relay, peers)
    key = x25519()
    forged = signed_prekey(Ed25519PrivateKey.generate(), 1, key)  # well formed, wrong signer
    await relay.store.put_prekeys(alice.service.user_id, SignedPrekey(1, forged["key"], forged["sig"]), [],
                                  max_total=1000)
    with pytest.raises(InvalidBundleError) as info:
        await bob.service.fetch_bundle(alice.service.user_id)
    assert (info.value.user_id, info.value.field) == (alice.service.user_id, "signedPrekey.sig")
    assert "does not verify" in str(info.value)


async def test_a_signed_prekey_relabelled_with_another_id_is_refused(relay, peers):
    alice, bob = await connected_pair(relay, peers)
    genuine = identity_signed_prekey(alice.identity, 1, x25519())
    await relay.store.put_prekeys(alice.service.user_id, SignedPrekey(2, genuine["key"], genuine["sig"]), [],
                                  max_total=1000)
    with pytest.raises(InvalidBundleError, match="signedPrekey.sig"):
        await bob.service.fetch_bundle(alice.service.user_id)


def _good_bundle() -> tuple[dict[str, Any], str]:
    identity = KeyHolder()
    signing = identity.signing_key.public_key().public_bytes_raw()
    assert identity.user_id is not None
    bundle = {
        "userId": identity.user_id,
        "publicKey": {"signing": b64url_encode(signing), "exchange": b64url_encode(identity.exchange_public)},
        "signedPrekey": signed_prekey(identity.signing_key, 3, x25519()),
        "oneTimePrekey": {"id": 9, "key": b64url_encode(x25519())},
    }
    return bundle, identity.user_id


def _broken(change: Any) -> tuple[dict[str, Any], str]:
    bundle, user_id = _good_bundle()
    change(bundle)
    return bundle, user_id


BROKEN = {
    "not an object": (lambda b: b.clear() or b.update({"x": 1}), "userId"),
    "another user": (lambda b: b.update(userId=a_user_id()), "userId"),
    "no publicKey": (lambda b: b.pop("publicKey"), "publicKey"),
    "publicKey a string": (lambda b: b.update(publicKey="k"), "publicKey"),
    "signing missing": (lambda b: b["publicKey"].pop("signing"), "publicKey.signing"),
    "signing padded": (lambda b: b["publicKey"].update(signing=b["publicKey"]["signing"] + "="), "publicKey.signing"),
    "exchange short": (lambda b: b["publicKey"].update(exchange=b64url_encode(b"x" * 31)), "publicKey.exchange"),
    "keys of someone else": (lambda b: b["publicKey"].update(exchange=b64url_encode(x25519())), "publicKey"),
    "no signedPrekey": (lambda b: b.pop("signedPrekey"), "signedPrekey"),
    "signed id a string": (lambda b: b["signedPrekey"].update(id="3"), "signedPrekey.id"),
    "signed id a bool": (lambda b: b["signedPrekey"].update(id=True), "signedPrekey.id"),
    "signed id too big": (lambda b: b["signedPrekey"].update(id=2**32), "signedPrekey.id"),
    "signed key null": (lambda b: b["signedPrekey"].update(key=None), "signedPrekey.key"),
    "sig short": (lambda b: b["signedPrekey"].update(sig=b64url_encode(b"s" * 63)), "signedPrekey.sig"),
    "sig flipped": (lambda b: b["signedPrekey"].update(sig=b64url_encode(b"\x00" * 64)), "signedPrekey.sig"),
    "one-time null": (lambda b: b.update(oneTimePrekey=None), "oneTimePrekey"),
    "one-time id missing": (lambda b: b["oneTimePrekey"].pop("id"), "oneTimePrekey.id"),
    "one-time key long": (lambda b: b["oneTimePrekey"].update(key=b64url_encode(b"k" * 33)), "oneTimePrekey.key"),
}


@pytest.mark.parametrize("change, field", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_bundle_is_a_clear_error_never_a_key_error(change, field):
    bundle, user_id = _broken(change)
    with pytest.raises(InvalidBundleError) as info:
        check_bundle(bundle, user_id)
    assert info.value.field == field and info.value.user_id == user_id


@pytest.mark.parametrize("answer", [None, [], "bundle", 3])
def test_an_answer_that_is_not_an_object_is_a_clear_error(answer):
    with pytest.raises(InvalidBundleError, match="must be an object"):
        check_bundle(answer, a_user_id())


def test_a_good_bundle_comes_back_with_exactly_the_checked_fields():
    bundle, user_id = _good_bundle()
    assert check_bundle({**bundle, "addedLater": True}, user_id) == bundle
    del bundle["oneTimePrekey"]
    assert check_bundle(bundle, user_id) == bundle


# ---------------------------------------------------------------------------------- 401, 429, network

async def test_a_rejected_token_reconnects_and_the_upload_goes_through(relay, peers):
    alice, _ = await connected_pair(relay, peers)
    alice.service._client.token = "x" * 43  # the relay no longer knows this token
    answer = await alice.service.upload_keys(upload_body(alice.service))
    assert answer["accepted"] == 1
    assert len(alice.of("SIGNALING_CONNECTED")) == 2 and alice.service.connected


async def test_rate_limited_uploads_wait_out_retry_after(peers):
    async with EmbeddedRelay.start(config=RelayConfig(rate_per_user=5, burst_per_user=2)) as relay:
        alice = await peers(url=relay.url, poll_timeout_s=5.0)
        await alice.wait_for(lambda: alice.service.connected)
        refused: list[RelayRequestError] = []
        original = RelayClient.upload_keys

        async def spy(self: RelayClient, body: dict[str, Any]) -> dict[str, Any]:
            try:
                return await original(self, body)
            except RelayRequestError as exc:
                refused.append(exc)
                raise

        RelayClient.upload_keys = spy  # type: ignore[method-assign]
        try:
            answers = [await alice.service.upload_keys({}) for _ in range(5)]
        finally:
            RelayClient.upload_keys = original  # type: ignore[method-assign]
        assert len(answers) == 5
        assert refused and all(e.status == 429 and e.code == "rate_limited" and e.retry_after for e in refused)


async def test_network_errors_are_retried_until_the_deadline_then_raised_as_transport_errors():
    async with EmbeddedRelay.start() as relay:
        service = SignalingService(lambda *a, **k: None, KeyHolder(), key_wait_s=0.3)
        service.set_url(relay.url)
        await service.connect()
    # The relay is gone but nothing told the service (no poll loop runs here).
    try:
        assert service.connected
        with pytest.raises(RelayTransportError, match="no answer from the relay"):
            await service.upload_keys({})
        with pytest.raises(RelayTransportError) as info:
            await service.fetch_bundle(a_user_id(), timeout=0)
        assert info.value.sent is False and info.value.path.startswith("/keys/")
    finally:
        await service.drop_connection("test over", notify_relay=False)


# ---------------------------------------------------------------------------------- the seam

def test_the_seam_in_the_docstring_fits_the_service():
    """The two lines other features copy into their _api.py Protocol are checked at mount."""
    doc = inspect.getdoc(SignalingService) or ""
    lines = [line.strip() for line in doc.splitlines() if line.strip().startswith("async def ")]
    assert [line.split("(")[0] for line in lines] == ["async def upload_keys", "async def fetch_bundle"]
    namespace: dict[str, Any] = {"Any": Any, "Protocol": Protocol}
    exec("class KeysApi(Protocol):\n" + textwrap.indent("\n".join(lines), "    "), namespace)
    check_service("crypto", "signaling", SignalingService(lambda *a, **k: None, KeyHolder()), namespace["KeysApi"])


# ---------------------------------------------------------------------------------- what is retried

def _reply(status: int, body: Any = None, *, text: str | None = None, retry_after: str | None = None) -> Any:
    """A scripted relay answer: JSON ``body`` (or raw ``text``) with ``status``."""
    raw = (text if text is not None else json.dumps(body)).encode()
    return lambda method, path: Answer(method, path, status, "scripted", raw, retry_after)


def _lost(sent: bool) -> Any:
    """A scripted network failure: the answer lost (``sent``), or the connection refused."""
    return lambda method, path: RelayTransportError(method, path, "scripted", sent=sent)


def _scripted_service(script: list[Any]) -> tuple[SignalingService, list[dict[str, str]]]:
    """A connected service whose relay answers from ``script`` (answers, or failures to raise):
    only for the retry rules, which a real relay cannot be made to break on cue."""
    seen: list[dict[str, str]] = []

    async def answer(method: str, path: str, body: bytes | None, headers: dict[str, str],
                     timeout: float) -> Answer:
        seen.append(headers)
        step = script.pop(0)(method, path)
        if isinstance(step, Exception):
            raise step
        return step  # type: ignore[no-any-return]

    identity = KeyHolder()
    service = SignalingService(lambda *a, **k: None, identity, key_wait_s=5.0)
    service.set_url("http://127.0.0.1:9")
    client = RelayClient(service.url)
    client.transport = answer
    client.token = "t"
    service._client = client
    service._session_user = identity.user_id
    service._connected.set()
    return service, seen


def _bundle_response() -> tuple[Any, str]:
    bundle, user_id = _good_bundle()
    return _reply(200, bundle), user_id


async def test_an_upload_is_retried_after_server_errors_and_lost_answers():
    service, seen = _scripted_service([
        _reply(500, {"error": "internal_error", "detail": "oops"}),
        _lost(sent=True),
        _reply(200, {"oneTimePrekeys": 0, "accepted": 0}),
    ])
    assert await service.upload_keys({}) == {"oneTimePrekeys": 0, "accepted": 0}
    assert len(seen) == 3 and all(h["Authorization"] == "Bearer t" for h in seen)


@pytest.mark.parametrize("failure", [
    _reply(500, {"error": "internal_error", "detail": "oops"}),
    _reply(200, text="not json"),
    _lost(sent=True),
], ids=["500", "not json", "read error"])
async def test_a_fetch_that_may_have_taken_a_one_time_prekey_is_not_repeated(failure):
    good, user_id = _bundle_response()
    service, seen = _scripted_service([failure, good])
    with pytest.raises((RelayRequestError, RelayTransportError)):
        await service.fetch_bundle(user_id)
    assert len(seen) == 1


@pytest.mark.parametrize("failure", [
    _reply(429, {"error": "rate_limited", "detail": "slow down"}, retry_after="0.01"),
    _reply(503, {"error": "store_unavailable", "detail": "later"}),
    _lost(sent=False),
], ids=["429", "503", "connect error"])
async def test_a_fetch_the_relay_surely_did_not_serve_is_retried(failure):
    good, user_id = _bundle_response()
    service, seen = _scripted_service([failure, good])
    assert (await service.fetch_bundle(user_id))["userId"] == user_id
    assert len(seen) == 2


async def test_a_malformed_upload_answer_is_a_clear_error():
    service, _ = _scripted_service([_reply(200, {"oneTimePrekeys": "many", "accepted": 0})])
    with pytest.raises(RelayRequestError, match="oneTimePrekeys='many', not a count") as info:
        await service.upload_keys({}, timeout=0)
    assert info.value.code == "bad_response"
