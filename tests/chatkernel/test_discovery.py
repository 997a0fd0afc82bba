"""Installed third-party features are found through the chatkernel.features entry points."""

import sys
import textwrap

import pytest

from chatkernel import BootError, EventSpecConflictError, bootstrap, discover_features, load_feature


def write_dist(tmp_path, name, entry_points):
    dist = tmp_path / f"{name.replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[chatkernel.features]\n" + entry_points)


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    (tmp_path / "voice_plugin.py").write_text(textwrap.dedent("""
        from chatkernel import EventSpec, Feature, MountResult
        VOICE_RECORDED = EventSpec("VOICE_RECORDED", "LOW", "a voice message was recorded", {"seconds": float})
        feature = Feature(id="voice", name="Voice messages", version="0.1.0", emitted_events=[VOICE_RECORDED],
                          on_mount=lambda ctx: MountResult(service="recorder"))
        not_a_feature = 42
    """))
    (tmp_path / "legacy_plugin.py").write_text(textwrap.dedent("""
        from chatkernel import Feature
        feature = Feature(id="legacy", name="Legacy", emitted_events=["VOICE_PLAYED"], on_mount=lambda ctx: None)
    """))
    write_dist(tmp_path, "chat-voice",
               "voice = voice_plugin:feature\nbroken = voice_plugin:not_a_feature\n"
               "missing = no_such_module_here:feature\nlegacy = legacy_plugin:feature\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("voice_plugin", None)
    sys.modules.pop("legacy_plugin", None)


def test_discovery_collects_features_and_reports_broken_plugins(installed_plugin):
    found = {d.name: d for d in discover_features()}
    assert found["voice"].feature.id == "voice" and found["voice"].distribution == "chat-voice"
    assert found["voice"].feature.emitted_types == ("VOICE_RECORDED",)
    assert found["broken"].feature is None and "expected a Feature, got int" in found["broken"].error
    assert "ModuleNotFoundError" in found["missing"].error
    # a plugin still written against the old contract (bare type names) is reported, not raised
    assert found["legacy"].feature is None
    assert found["legacy"].error.startswith("FeatureContractError: feature 'legacy': emitted_events entry "
                                            "'VOICE_PLAYED' is not an EventSpec")


@pytest.mark.anyio
async def test_bootstrap_without_features_uses_installed_ones(installed_plugin):
    app = await bootstrap()
    assert "voice" in app.report.mounted
    assert app.registry.mount_result("voice").service == "recorder"
    assert app.registry.catalog.owner("VOICE_RECORDED") == "voice"
    assert set(app.discovery_errors) == {"broken", "missing", "legacy"}
    await app.shutdown()


@pytest.fixture
def installed_list(tmp_path, monkeypatch):
    pkg = tmp_path / "listed_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        'FEATURES = ("listed_pkg.alpha", "listed_pkg.beta:contract", 42, "listed_pkg.gone", "listed_pkg.alpha_again")\n')
    (pkg / "alpha.py").write_text(textwrap.dedent("""
        from chatkernel import EventSpec, Feature
        ALPHA_HAPPENED = EventSpec("ALPHA_HAPPENED", "MEDIUM", "alpha happened", {"n": int})
        feature = Feature(id="alpha", name="Alpha", emitted_events=[ALPHA_HAPPENED], on_mount=lambda ctx: None)
    """))
    (pkg / "beta.py").write_text(textwrap.dedent("""
        from chatkernel import Feature, MountResult
        seen = []
        contract = Feature(id="beta", name="Beta", dependencies=["alpha"], subscribed_events=["ALPHA_HAPPENED"],
                           on_mount=lambda ctx: MountResult(handler=seen.append))
    """))
    (pkg / "alpha_again.py").write_text(
        "from chatkernel import Feature\nfeature = Feature(id='alpha', name='Alpha 2', on_mount=lambda ctx: None)\n")
    (pkg / "clash.py").write_text(textwrap.dedent("""
        from chatkernel import EventSpec, Feature
        feature = Feature(id="clash", name="Clash", on_mount=lambda ctx: None,
                          emitted_events=[EventSpec("RELAY_MESSAGE_RECEIVED", "LOW", "a second declaration")])
    """))
    write_dist(tmp_path, "chat-listed", "listed = listed_pkg:FEATURES\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "listed_pkg" or m.startswith("listed_pkg.")]:
        sys.modules.pop(name)


def test_an_entry_point_may_name_a_feature_list(installed_list):
    found = [d for d in discover_features() if d.distribution == "chat-listed"]
    by_name = {d.name: d for d in found if d.name != "listed"}
    assert by_name["alpha"].feature.id == "alpha" and by_name["alpha"].value == "listed_pkg.alpha"
    assert by_name["beta"].feature.id == "beta" and by_name["beta"].value == "listed_pkg.beta:contract"
    assert "ModuleNotFoundError" in by_name["gone"].error
    assert by_name["alpha_again"].feature is None
    assert by_name["alpha_again"].error == "feature 'alpha' is already provided by listed_pkg.alpha"
    [bad] = [d for d in found if d.name == "listed"]
    assert bad.value == "42" and "feature list entries are module paths, got 42" in bad.error
    assert [d.name for d in discover_features()] == sorted(d.name for d in discover_features())


def test_load_feature_takes_module_or_module_attr(installed_list):
    assert load_feature("listed_pkg.alpha").id == "alpha"
    assert load_feature("listed_pkg.beta:contract").id == "beta"
    with pytest.raises(AttributeError):
        load_feature("listed_pkg.beta")  # no attribute named "feature"


@pytest.mark.anyio
async def test_bootstrap_mounts_a_listed_feature_with_the_app_ones(installed_list):
    app = await bootstrap()
    assert {"alpha", "beta", "settings", "signaling"} <= set(app.report.mounted)
    assert {"gone", "alpha_again", "listed"} <= set(app.discovery_errors)
    assert "beta" not in app.report.unheard
    app.registry.context("alpha").emit("ALPHA_HAPPENED", {"n": 1})
    await app.settle()
    beta = sys.modules["listed_pkg.beta"]
    assert [e.payload["n"] for e in beta.seen] == [1]
    await app.shutdown()


@pytest.mark.anyio
async def test_a_plugin_claiming_an_app_event_type_stops_boot_naming_both(installed_list):
    features = [d.feature for d in discover_features() if d.feature is not None and d.distribution != "chat-listed"]
    with pytest.raises(BootError, match="RELAY_MESSAGE_RECEIVED is declared by both 'signaling' and 'clash'") as info:
        await bootstrap([*features, load_feature("listed_pkg.clash")])
    assert isinstance(info.value.__cause__, EventSpecConflictError)
