"""The README's "Add a feature" walkthrough, built from its text exactly as printed and run."""

import asyncio
import importlib
import re
import sys
from pathlib import Path

import pytest

import features
import features.settings
import features.signaling
from chatkernel import Feature, MountResult, bootstrap, fire
from chatkernel.relay import EmbeddedRelay

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parents[1] / "README.md"


def walkthrough() -> dict[str, str]:
    """file name -> source, from the python blocks of the "Add a feature" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Add a feature\n", 1)[1].split("\n## ", 1)[0]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
        first = block.splitlines()[0]
        match = re.fullmatch(r"# features/echo/(\w+\.py)", first)
        assert match, f"a walkthrough block must start with its file name, got {first!r}"
        files[match.group(1)] = block
    return files


def test_the_walkthrough_covers_every_part_of_a_feature():
    assert {"__init__.py", "events.py", "machine.py", "service.py", "ui.py"} <= set(walkthrough())
    section = README.read_text(encoding="utf-8").split("\n## Add a feature\n", 1)[1]
    assert '`"features.echo",` to `FEATURES` in `features/__init__.py`' in section
    assert "features.settings" in features.FEATURES  # the list the text tells you to edit exists


@pytest.fixture
def echo_package(tmp_path, monkeypatch):
    package = tmp_path / "readme_echo"
    package.mkdir()
    for name, source in walkthrough().items():
        (package / name).write_text(source, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("readme_echo")
    yield module
    for name in [m for m in sys.modules if m == "readme_echo" or m.startswith("readme_echo.")]:
        del sys.modules[name]


async def until(predicate, timeout=10.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_the_feature_built_from_the_readme_echoes_through_a_real_relay(echo_package, identities):
    relay = await EmbeddedRelay.start()
    settings = identities.settings(settings={"default_signaling_url": relay.url})
    inbox = []
    listener = Feature(id="inbox", name="Inbox", on_mount=lambda ctx: MountResult(handler=inbox.append),
                       subscribed_events=["RELAY_MESSAGE_RECEIVED"])
    bot = await bootstrap([*identities.features, features.settings.feature, features.signaling.feature,
                           echo_package.feature], settings=settings, strict=True)
    person = await bootstrap([*identities.features, features.settings.feature, features.signaling.feature, listener],
                             settings=settings, strict=True)
    try:
        assert bot.report.mounted == ["persistence", "identity", "settings", "signaling", "echo"]
        assert not bot.report.failed
        await identities.sign_up(bot, "Echo bot")  # signaling connects as the signed-up identity
        await identities.sign_up(person, "Person")
        assert ("echo", "signaling") in bot.registry.graph().edges
        assert bot.registry.catalog.owner("ECHO_SENT") == "echo"
        echoed = []
        bot.bus.subscribe("ECHO_SENT", echoed.append)
        me = person.registry.mount_result("signaling").service
        them = bot.registry.mount_result("signaling").service
        await until(lambda: me.connected and them.connected)

        await me.send(them.user_id, {"text": "hello"})
        await until(lambda: inbox)
        assert inbox[0].payload["sender"] == them.user_id
        assert inbox[0].payload["payload"] == {"text": "echo: hello", "echo": True}
        await until(lambda: echoed)
        assert echoed[0].payload["to"] == me.user_id and echoed[0].source == "echo"

        toggle = echo_package.feature.ui["EchoToggle"]()(bot)
        toggle.value = True  # pause
        await bot.settle()
        assert bot.actors["echo"].state == ["paused"]
        await me.send(them.user_id, {"text": "anyone?"})
        await until(lambda: bot.metrics.counters.get("feature.echo.events.RELAY_MESSAGE_RECEIVED", 0) == 2)
        await bot.settle()
        assert len(echoed) == 1  # heard while paused, not answered
        fire(bot.actors["echo"], "RESUME")
        await bot.settle()
        assert bot.actors["echo"].state == ["listening"]
        assert not list(bot.bus.errors) and not list(person.bus.errors)
    finally:
        await bot.shutdown()
        await person.shutdown()
        await relay.stop()


async def test_the_readme_feature_is_refused_when_signaling_does_not_fit_its_protocol(echo_package):
    """The Protocol in _api.py is checked against whatever provides "signaling"."""
    fake = Feature(id="signaling", name="Not signaling", on_mount=lambda ctx: MountResult(service=object()))
    app = await bootstrap([fake, echo_package.feature], strict=True)
    try:
        reason = app.report.failed["echo"]
        assert "SignalingApi" in reason and "'send'" in reason and "'user_id'" in reason
    finally:
        await app.shutdown()
