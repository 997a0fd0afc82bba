"""Settings and signaling together: one URL policy, the insecure-remote switch travelling in
SIGNALING_URL_CHANGED, and a full session whose every event matches its spec (strict mode)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatkernel import App, Event, Feature, MountResult, bootstrap
from chatkernel.relay import EmbeddedRelay
from chatkernel.relay.protocol import RelayURLError, check_relay_url

import features.settings as settings_pkg
import features.signaling as signaling
from features.settings._validation import check_url as settings_check_url
from features.settings.errors import InvalidSettingError
from features.settings.service import SettingsService
from features.signaling.client import check_url as signaling_check_url
from features.signaling.errors import InsecureURLError, InvalidURLError
from features.signaling.service import SignalingService

from .conftest import FAST, RELAY_SEND_REQUESTED

# ---------------------------------------------------------------------------------- one URL policy

#: url, accepted without allow_insecure_remote, accepted with it
URL_TABLE = [
    ("http://127.0.0.1:8765", True, True),
    ("http://127.9.9.9", True, True),
    ("http://localhost:1/", True, True),
    ("http://[::1]:80", True, True),
    ("https://relay.example.org", True, True),
    ("  https://relay.example.org/chat/ ", True, True),
    ("HTTPS://relay.example.org", True, True),
    # remote plain http: only with the switch
    ("http://relay.example.org", False, True),
    ("http://10.0.0.1:8765", False, True),
    ("http://h/", False, True),
    # an empty query or fragment is still a query or fragment
    ("http://h/?", False, False),
    ("http://h/#", False, False),
    ("http://127.0.0.1/?", False, False),
    ("http://127.0.0.1:8765/#", False, False),
    ("https://relay.example.org/?x=1", False, False),
    ("https://relay.example.org/#top", False, False),
    # whitespace
    ("", False, False),
    ("   ", False, False),
    ("https://relay example.org", False, False),
    ("https://relay.example.org/\tx", False, False),
    ("http://127.0.0.1\n:8765", False, False),
    # credentials
    ("https://bob:secret@relay.example.org", False, False),
    ("http://bob@127.0.0.1:8765", False, False),
    ("http://:pw@h", False, False),
    # not an http(s) URL with a host
    ("relay.example.org", False, False),
    ("ftp://relay.example.org", False, False),
    ("https://", False, False),
    ("https://:8765", False, False),
    ("https://relay.example.org:99999", False, False),
    ("http://[::1", False, False),
    (42, False, False),
    (None, False, False),
]


def _outcome(check: Any) -> tuple[str, Any]:
    try:
        return "accepted", check()
    except (RelayURLError, InvalidSettingError, InvalidURLError, InsecureURLError) as exc:
        return "refused", exc


@pytest.mark.parametrize("allow", [False, True], ids=["strict", "allow_insecure_remote"])
@pytest.mark.parametrize(("url", "without", "with_"), URL_TABLE, ids=[repr(row[0]) for row in URL_TABLE])
def test_settings_and_signaling_accept_and_refuse_the_same_urls(url, without, with_, allow):
    expected = with_ if allow else without
    relay = _outcome(lambda: check_relay_url(url, allow_insecure_remote=allow))
    sides = {
        "settings.check_url": _outcome(lambda: settings_check_url(url, allow_insecure_remote=allow)),
        "signaling.check_url": _outcome(lambda: signaling_check_url(url, allow_insecure=allow)),
    }
    if url is not None:  # None means "the default relay" to the settings, not a URL
        sides["SettingsService.validate"] = _outcome(
            lambda: SettingsService(None, allow_insecure_remote=allow).validate("signaling_url", url))
    sides["SignalingService.set_url"] = _outcome(
        lambda: SignalingService(lambda *a, **k: None, None).set_url(url, allow_insecure_remote=allow))  # no identity needed

    assert relay[0] == ("accepted" if expected else "refused")
    for where, (verdict, value) in sides.items():
        assert verdict == relay[0], f"{where} {verdict} {url!r} but the relay policy {relay[0]} it"
        if verdict == "accepted":
            assert value == relay[1], where  # the same normalised URL
        elif isinstance(value, InsecureURLError):  # signaling's own error for that one rule
            assert relay[1].insecure, where
        else:  # the same rule, in the same words
            assert value.reason == relay[1].reason, where
            assert not (isinstance(value, InvalidURLError) and relay[1].insecure), where


# ---------------------------------------------------------------------------------- two features, one app

ALL_TYPES = sorted({*settings_pkg.feature.emitted_types, *signaling.feature.emitted_types,
                    "APP_READY", "FEATURE_ERROR"})


class Both:
    """An app running settings and signaling, recording everything either says."""

    def __init__(self, app: App, events: list[Event]):
        self.app = app
        self.events = events

    @property
    def signaling(self) -> Any:
        return self.app.registry.mount_result("signaling").service

    @property
    def settings(self) -> Any:
        return self.app.actors["settings"]

    @property
    def state(self) -> list[str]:
        return self.app.actors["signaling"].state

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [dict(e.payload) for e in self.events if e.type == event_type]

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> None:
        """Until ``predicate()`` holds; fails the test after ``timeout`` seconds (a bound, not a measure)."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.005)


async def boot_both(identities: Any, settings: dict[str, Any], **signaling_settings: Any) -> Both:
    """Settings and signaling, with persistence and identity; signed up, so signaling connects."""
    events: list[Event] = []
    recorder = Feature(id="recorder", name="Recorder", subscribed_events=ALL_TYPES,
                       on_mount=lambda ctx: MountResult(handler=events.append))
    app = await bootstrap([recorder, *identities.features, settings_pkg.feature, signaling.feature],
                          settings=identities.settings(settings=settings,
                                                       signaling={**FAST, **signaling_settings}),
                          events=[RELAY_SEND_REQUESTED])
    assert app.bus.strict
    await identities.sign_up(app, "Alice")
    return Both(app, events)


@pytest.fixture
async def both(identities):
    made: list[Both] = []

    async def factory(settings: dict[str, Any], **signaling_settings: Any) -> Both:
        made.append(await boot_both(identities, settings, **signaling_settings))
        return made[-1]

    yield factory
    for b in made:
        await b.app.shutdown()


@pytest.mark.anyio
async def test_url_changed_carries_the_switch_and_signaling_follows_it(relay, remote_relay_url, both):
    remote = remote_relay_url
    allowed = await both({"default_signaling_url": remote, "allow_insecure_remote": True})
    await allowed.wait_for(lambda: allowed.state == ["connected"] and allowed.of("SIGNALING_CONNECTED"))
    assert allowed.of("SIGNALING_URL_CHANGED") == [{"url": remote, "custom": False, "allow_insecure_remote": True}]
    assert allowed.of("SIGNALING_CONNECTED")[0]["url"] == remote and not allowed.of("SIGNALING_URL_REJECTED")

    # Without the switch the settings refuse that URL themselves, and signaling never hears of it.
    strict = await both({"default_signaling_url": relay.url})
    await strict.wait_for(lambda: strict.state == ["connected"])
    strict.settings.send("SET_SIGNALING_URL", url=remote)
    await strict.wait_for(lambda: strict.of("SETTINGS_SAVE_FAILED"))
    await strict.app.settle()
    assert "plain http://" in strict.of("SETTINGS_SAVE_FAILED")[0]["reason"]
    assert strict.of("SIGNALING_URL_CHANGED") == [{"url": relay.url, "custom": False, "allow_insecure_remote": False}]
    assert strict.signaling.url == relay.url and strict.state == ["connected"]

    # If someone else announced it without the switch, signaling refuses it too.
    strict.app.dispatch("SIGNALING_URL_CHANGED", {"url": remote, "custom": True, "allow_insecure_remote": False})
    await strict.wait_for(lambda: strict.of("SIGNALING_URL_REJECTED"))
    assert "non-loopback" in strict.of("SIGNALING_URL_REJECTED")[0]["reason"]
    assert strict.signaling.url == relay.url
    for b in (allowed, strict):
        assert not b.of("FEATURE_ERROR") and not b.app.bus.errors


@pytest.mark.anyio
async def test_a_full_session_emits_only_events_that_match_their_specs(both):
    """Strict mode refuses a bad payload at dispatch (a FEATURE_ERROR, or a hang for work that
    never reports); afterwards every recorded event is checked against its spec once more."""
    async with EmbeddedRelay.start() as one, EmbeddedRelay.start() as two:
        alice = await both({"default_signaling_url": one.url})
        bob = await both({"default_signaling_url": one.url})
        await alice.wait_for(lambda: alice.state == ["connected"] and bob.state == ["connected"])

        # send and receive both ways, a duplicate, a refused send
        alice.app.dispatch(RELAY_SEND_REQUESTED, {"to": bob.signaling.user_id, "payload": {"text": "hi"},
                                                    "id": "m-1"})
        await bob.signaling.send(alice.signaling.user_id, ["hello", 1, None], message_id="m-2")
        await alice.signaling.send(bob.signaling.user_id, {"text": "hi"}, message_id="m-1")
        alice.app.dispatch(RELAY_SEND_REQUESTED, {"to": "not a user id", "payload": "x"})
        await alice.wait_for(lambda: alice.of("RELAY_MESSAGE_RECEIVED") and bob.of("RELAY_MESSAGE_RECEIVED")
                             and alice.of("RELAY_SEND_FAILED") and len(alice.of("RELAY_MESSAGE_SENT")) == 2)
        assert bob.of("RELAY_MESSAGE_RECEIVED")[0]["sender"] == alice.signaling.user_id
        assert alice.of("RELAY_MESSAGE_RECEIVED")[0]["sender"] == bob.signaling.user_id
        assert [m["duplicate"] for m in alice.of("RELAY_MESSAGE_SENT")] == [False, True]

        # the key directory: a count-only upload answers PREKEY_COUNT
        assert (await alice.signaling.upload_keys({}))["oneTimePrekeys"] == 0

        # settings: a change, a refused change, a test, a switch of relays and back
        alice.settings.send("SET_THEME", theme="dark")
        alice.settings.send("SET_THEME", theme="mauve")
        alice.settings.send("TEST_SIGNALING_URL")
        alice.settings.send("SET_SIGNALING_URL", url=two.url)
        await alice.wait_for(lambda: alice.of("SIGNALING_URL_TESTED") and len(alice.of("SIGNALING_CONNECTED")) == 2)
        assert alice.signaling.url == two.url
        alice.settings.send("RESET_SIGNALING_URL")
        await alice.wait_for(lambda: len(alice.of("SIGNALING_CONNECTED")) == 3)
        assert alice.signaling.url == one.url
        alice.app.dispatch("SIGNALING_URL_CHANGED", {"url": "gopher://x", "custom": True,
                                                     "allow_insecure_remote": False})
        await alice.wait_for(lambda: alice.of("SIGNALING_URL_REJECTED"))

        # the relay goes away, then each user disconnects
        await one.stop()
        await alice.wait_for(lambda: alice.of("CONNECTION_LOST") and bob.of("CONNECTION_LOST"))
        for b in (alice, bob):
            b.app.actors["signaling"].send("DISCONNECT")
        await alice.wait_for(lambda: alice.of("SIGNALING_DISCONNECTED") and bob.of("SIGNALING_DISCONNECTED"))
        await alice.app.settle()
        await bob.app.settle()

    said = {e.type for b in (alice, bob) for e in b.events}
    assert set(settings_pkg.feature.emitted_types) <= said and set(signaling.feature.emitted_types) <= said
    for b in (alice, bob):
        assert not b.of("FEATURE_ERROR") and not b.app.bus.errors, b.app.bus.errors
        catalog = b.app.registry.catalog
        for event in b.events:
            spec = catalog.get(event.type)
            assert spec is not None, event.type
            spec.check(event.payload)
            assert event.priority == spec.priority, event
            if event.source != "user":  # the test itself said the gopher:// URL
                assert event.source == catalog.owner(event.type) or event.type == "APP_READY", event
