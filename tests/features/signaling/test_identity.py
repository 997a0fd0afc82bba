"""Signaling connects as the identity feature's identity, only once one is loaded, and log-out
(``IDENTITY_FORGOTTEN``) ends the session for good: the relay revokes the token."""

from __future__ import annotations

import asyncio

import pytest

from chatkernel.relay.protocol import b64url_encode, signed_prekey_message

import features.signaling as signaling
from features.signaling._api import IdentityAPI, PersistenceAPI
from features.signaling.client import RelayClient
from features.signaling.errors import NoIdentityError, RelayRequestError

pytestmark = pytest.mark.anyio


async def test_the_relay_binds_the_identity_and_serves_its_public_keys(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url, name="Bob")
    await alice.wait_for(lambda: alice.state == ["connected"] and bob.state == ["connected"])
    assert alice.service.user_id == alice.identity.user_id
    assert alice.of("SIGNALING_CONNECTED") == [{"url": relay.url, "user_id": alice.identity.user_id}]

    # A signed prekey signed through the identity (signaling holds no private key to sign it).
    prekey = bytes(range(32))
    signature = alice.identity.sign(signed_prekey_message(1, prekey))
    await alice.service.upload_keys({"signedPrekey": {"id": 1, "key": b64url_encode(prekey),
                                                      "sig": b64url_encode(signature)}})
    served = await bob.service.fetch_bundle(alice.identity.user_id)  # GET /keys/{userId}, checked
    signing, exchange = alice.identity.public_keys()
    assert served["userId"] == alice.identity.user_id
    assert served["publicKey"] == {"signing": b64url_encode(signing), "exchange": b64url_encode(exchange)}


def test_signaling_requires_the_identity_and_persistence_members_it_uses():
    assert list(signaling.feature.dependencies) == ["persistence", "identity"]
    assert signaling.feature.requires == {"persistence": PersistenceAPI, "identity": IdentityAPI}
    assert {"IDENTITY_LOADED", "IDENTITY_CREATED", "IDENTITY_FORGOTTEN"} <= set(signaling.feature.subscribed_events)


async def test_without_an_identity_it_does_not_connect_and_a_connect_waits_for_one(relay, peers):
    alice = await peers(url=relay.url, signed_up=False)
    await alice.app.settle()
    assert alice.state == ["disconnected"] and alice.service.user_id is None
    with pytest.raises(NoIdentityError, match="sign up or log in first"):
        alice.service.connect_body()

    alice.actor.send("CONNECT")
    await alice.app.settle()
    assert alice.state == ["waiting_for_identity"]
    assert alice.actor.machine.last_reason == "no identity is loaded: sign up or log in first"
    assert not alice.of("SIGNALING_CONNECTED") and not alice.of("FEATURE_ERROR") and not alice.app.bus.errors

    user_id = await alice.sign_up("Alice")
    await alice.wait_for(lambda: alice.state == ["connected"] and alice.of("SIGNALING_CONNECTED"))
    assert alice.of("SIGNALING_CONNECTED") == [{"url": relay.url, "user_id": user_id}]


async def test_signing_up_connects_when_auto_connect_is_on_and_only_then(relay, peers):
    eager = await peers(url=relay.url, signed_up=False)
    lazy = await peers(url=relay.url, signed_up=False, auto_connect=False)
    await eager.sign_up("Eager")
    await lazy.sign_up("Lazy")
    await eager.wait_for(lambda: eager.state == ["connected"])
    await lazy.app.settle()
    assert lazy.state == ["disconnected"]
    lazy.actor.send("CONNECT")
    await lazy.wait_for(lambda: lazy.state == ["connected"])
    assert lazy.service.user_id == lazy.identity.user_id != eager.service.user_id


async def test_log_out_disconnects_revokes_the_token_and_stays_disconnected(relay, peers):
    alice = await peers(url=relay.url)
    bob = await peers(url=relay.url, name="Bob")
    await alice.wait_for(lambda: alice.service.connected and bob.service.connected)
    user_id = alice.service.user_id
    token = alice.service._client.token
    assert token

    alice.identity.forget()  # what auth's log-out does first; IDENTITY_FORGOTTEN follows
    await alice.wait_for(lambda: alice.of("SIGNALING_DISCONNECTED"))
    assert alice.state == ["disconnected"] and not alice.service.connected
    assert alice.of("SIGNALING_DISCONNECTED") == [{"url": relay.url, "reason": "logged out"}]
    assert alice.service.user_id is None and alice.service._client is None

    stale = RelayClient(relay.url)
    stale.token = token
    try:
        with pytest.raises(RelayRequestError) as info:
            await stale.poll(user_id, None, 0)
        assert info.value.status == 401
    finally:
        await stale.aclose()

    await asyncio.sleep(0.3)  # longer than the test backoff cap: nothing reconnects by itself
    assert alice.state == ["disconnected"]
    alice.actor.send("CONNECT")
    await alice.app.settle()
    assert alice.state == ["waiting_for_identity"]
    assert not alice.of("FEATURE_ERROR") and not alice.app.bus.errors


async def test_sends_queued_at_log_out_fail_instead_of_going_out_as_the_next_identity(relay, peers):
    alice = await peers(url=relay.url, auto_connect=False)
    pending = alice.service.enqueue("someone", {"text": "not yet"}, "m1")
    alice.identity.forget()
    await alice.wait_for(lambda: alice.of("RELAY_SEND_FAILED"))
    assert alice.of("RELAY_SEND_FAILED") == [{"id": "m1", "to": "someone",
                                               "reason": "logged out: the identity was forgotten"}]
    assert alice.service.pending_sends == 0
    with pytest.raises(NoIdentityError.__mro__[1]):  # NotConnectedError
        await pending.future
