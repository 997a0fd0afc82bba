"""The kernel config, ``<state_dir>/kernel.json``: feature flags and settings overrides, read
before the registry is built. Its presence makes a start warm; a damaged one stops the boot."""

import json
from dataclasses import dataclass

import pytest

from chatkernel import (
    BootError,
    Feature,
    FeatureContractError,
    KernelConfig,
    bootstrap,
    load_kernel_config,
    save_kernel_config,
)

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class FSettings:
    k: int = 1
    label: str = "default"


def features(seen):
    def register(ctx):
        seen["registered"] = ctx.settings

    def mount(ctx):
        seen["mounted"] = ctx.settings

    f = Feature(id="f", name="F", settings=FSettings(), on_register=register, on_mount=mount)
    x = Feature(id="x", name="X", on_mount=lambda ctx: None)
    return [f, x]


def test_save_and_load_round_trip(tmp_path):
    assert load_kernel_config(tmp_path) is None
    config = KernelConfig(flags={"x": False}, settings={"f": {"k": 2}})
    path = save_kernel_config(tmp_path, config)
    assert path == tmp_path / "kernel.json"
    assert json.loads(path.read_text()) == {"version": 1, "flags": {"x": False}, "settings": {"f": {"k": 2}}}
    assert load_kernel_config(tmp_path) == config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kernel.json"]  # no temp file left behind
    save_kernel_config(tmp_path / "new" / "dir", KernelConfig())
    assert load_kernel_config(tmp_path / "new" / "dir") == KernelConfig()


async def test_warm_start_applies_flags_and_settings_before_registration(tmp_path):
    config = KernelConfig(flags={"x": False}, settings={"f": {"k": 2}})
    save_kernel_config(tmp_path, config)
    seen = {}
    app = await bootstrap(features(seen), state_dir=tmp_path)
    assert app.startup_type == "warm" and app.config == config
    assert seen["registered"] == FSettings(k=2)  # on_register already sees the override
    assert seen["mounted"] == FSettings(k=2) and app.registry.settings_for("f").k == 2
    assert app.report.disabled == ["x"] and app.report.mounted == ["f"]
    await app.shutdown()
    assert load_kernel_config(tmp_path) == config  # the kernel never rewrites it on its own


async def test_explicit_settings_and_flags_override_the_config(tmp_path):
    save_kernel_config(tmp_path, KernelConfig(flags={"x": False}, settings={"f": {"k": 2, "label": "cfg"}}))
    seen = {}
    app = await bootstrap(features(seen), state_dir=tmp_path, settings={"f": {"k": 3}}, flags={"x": True})
    assert app.startup_type == "warm"
    assert seen["registered"] == FSettings(k=3, label="cfg")  # merged key by key
    assert app.report.mounted == ["f", "x"] and app.report.disabled == []
    await app.shutdown()


@pytest.mark.parametrize("content, message", [
    (b"{not json", "is not readable JSON"),
    (b"[1, 2]", "must hold a JSON object, got list"),
    (b'"warm"', "must hold a JSON object, got str"),
    (b'{"version": 1, "flagz": {}}', "unknown key 'flagz'"),
    (b'{"version": 2, "flags": {}}', "version 2 is not supported"),
    (b'{"version": "1"}', "version '1' is not supported"),
    (b'{"flags": {"x": "no"}}', "flags must map feature ids to true or false"),
    (b'{"flags": ["x"]}', "flags must map feature ids to true or false"),
    (b'{"settings": {"f": 3}}', "settings must map feature ids to objects"),
    (b'\xff\xfe{}', "cannot be read"),
])
async def test_damaged_config_is_a_boot_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "kernel.json"
    path.write_bytes(content)
    seen = {}
    with pytest.raises(BootError, match=message) as info:
        await bootstrap(features(seen), state_dir=tmp_path)
    assert str(path) in str(info.value)
    assert seen == {}  # nothing was registered from a damaged config


@pytest.mark.parametrize("source", ["config", "bootstrap"])
async def test_unknown_setting_is_a_boot_error_naming_feature_and_key(tmp_path, source):
    overrides = {"f": {"colour": "red"}}
    if source == "config":
        save_kernel_config(tmp_path, KernelConfig(settings=overrides))
        kwargs = {}
    else:
        kwargs = {"settings": overrides}
    with pytest.raises(BootError, match=r"feature 'f' has no setting 'colour'") as info:
        await bootstrap(features({}), state_dir=tmp_path, **kwargs)
    cause = info.value.__cause__
    assert isinstance(cause, FeatureContractError) and cause.feature_id == "f" and cause.key == "colour"


async def test_wrong_setting_type_is_a_boot_error_naming_the_key(tmp_path):
    save_kernel_config(tmp_path, KernelConfig(settings={"f": {"k": "two"}}))
    with pytest.raises(BootError, match=r"setting 'k' expects int") as info:
        await bootstrap(features({}), state_dir=tmp_path)
    assert info.value.__cause__.key == "k"


async def test_settings_for_a_feature_without_settings_are_refused(tmp_path):
    save_kernel_config(tmp_path, KernelConfig(settings={"x": {"k": 1}}))
    with pytest.raises(BootError, match="feature 'x' has no settings"):
        await bootstrap(features({}), state_dir=tmp_path)


async def test_settings_json_is_not_read_by_the_kernel(tmp_path):
    # the old file, in its old shape: the kernel ignores it (it belongs to the settings feature)
    (tmp_path / "settings.json").write_text(json.dumps({"flags": {"x": False}, "features": {"f": {"k": 9}}}))
    seen = {}
    app = await bootstrap(features(seen), state_dir=tmp_path)
    assert app.startup_type == "cold" and app.config is None
    assert seen["mounted"] == FSettings() and app.report.mounted == ["f", "x"]
    await app.shutdown()
    (tmp_path / "settings.json").write_text("{not json")
    app = await bootstrap(features({}), state_dir=tmp_path)
    assert app.startup_type == "cold"
    await app.shutdown()


async def test_flag_naming_an_invalid_feature_id_stops_the_boot(tmp_path):
    save_kernel_config(tmp_path, KernelConfig(flags={"Not An Id": False}))
    with pytest.raises(BootError, match=r"kernel\.json: 'Not An Id' is not a feature id"):
        await bootstrap(features({}), state_dir=tmp_path)
