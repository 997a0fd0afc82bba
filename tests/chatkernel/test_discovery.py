"""Installed third-party features are found through the chatkernel.features entry points."""

import sys
import textwrap

import pytest

from chatkernel import bootstrap, discover_features


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    (tmp_path / "voice_plugin.py").write_text(textwrap.dedent("""
        from chatkernel import Feature, MountResult
        feature = Feature(id="voice", name="Voice messages", version="0.1.0",
                          on_mount=lambda ctx: MountResult(service="recorder"))
        not_a_feature = 42
    """))
    dist = tmp_path / "chat_voice-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: chat-voice\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        "[chatkernel.features]\nvoice = voice_plugin:feature\nbroken = voice_plugin:not_a_feature\n"
        "missing = no_such_module_here:feature\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("voice_plugin", None)


def test_discovery_collects_features_and_reports_broken_plugins(installed_plugin):
    found = {d.name: d for d in discover_features()}
    assert found["voice"].feature.id == "voice" and found["voice"].distribution == "chat-voice"
    assert found["broken"].feature is None and "expected a Feature, got int" in found["broken"].error
    assert "ModuleNotFoundError" in found["missing"].error


@pytest.mark.anyio
async def test_bootstrap_without_features_uses_installed_ones(installed_plugin):
    app = await bootstrap()
    assert "voice" in app.report.mounted
    assert app.registry.mount_result("voice").service == "recorder"
    assert set(app.discovery_errors) == {"broken", "missing"}
    await app.shutdown()
