"""Typed settings: one frozen dataclass of defaults per feature, overrides checked at registration."""

import dataclasses
from typing import Literal

import jsonschema
import pytest

from chatkernel import (
    BootError,
    Feature,
    FeatureContractError,
    FeatureRegistry,
    KernelConfig,
    MountResult,
    bootstrap,
    save_kernel_config,
    settings_schema,
)

pytestmark = pytest.mark.anyio


@dataclasses.dataclass(frozen=True)
class ChatSettings:
    page_size: int = 50
    theme: Literal["light", "dark"] = "light"
    relay_url: str | None = None
    timeout_s: float = 2.5
    sounds: bool = True
    tags: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Mutable:
    page_size: int = 50


@dataclasses.dataclass(frozen=True)
class WrongDefault:
    page_size: int = "fifty"  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True)
class StringAnnotations:
    page_size: "int" = 5


@dataclasses.dataclass(frozen=True)
class Unresolvable:
    page_size: "NoSuchType" = 5  # type: ignore[name-defined]  # noqa: F821


@dataclasses.dataclass(frozen=True)
class Unsupported:
    blob: bytes = b""


def chat(settings=ChatSettings(), seen=None):
    def on_mount(ctx):
        if seen is not None:
            seen.append(ctx.settings)
        return MountResult()

    return Feature(id="chat", name="Chat", settings=settings, on_mount=on_mount)


# ---------------------------------------------------------------------- the record
@pytest.mark.parametrize("record, fragment", [
    ({"page_size": 50}, "must be a frozen dataclass instance holding the defaults, got dict"),
    (ChatSettings, "must be a frozen dataclass instance holding the defaults, got type"),
    (Mutable(), "the settings dataclass must be frozen"),
    ([("page_size", 50)], "got list"),
    (50, "got int"),
])
def test_settings_record_must_be_a_frozen_dataclass_instance(record, fragment):
    with pytest.raises(FeatureContractError) as info:
        chat(record)
    err = info.value
    assert fragment in str(err) and "feature 'chat'" in str(err)
    assert (err.feature_id, err.field) == ("chat", "settings")


@pytest.mark.parametrize("record, fragment", [
    (WrongDefault(), "setting 'page_size' expects int, got str 'fifty'"),
    (ChatSettings(page_size=True), "setting 'page_size' expects int, got bool True"),
    (ChatSettings(tags=["a", 2]), "setting 'tags' expects str"),  # nested: the element's type
    (ChatSettings(theme="blue"), "setting 'theme' expects one of 'light', 'dark'"),
    (Unresolvable(), "settings annotations cannot be resolved"),
    (Unsupported(), "setting 'blob': unsupported annotation"),
])
def test_defaults_of_the_wrong_type_are_refused(record, fragment):
    with pytest.raises(FeatureContractError) as info:
        chat(record)
    assert fragment in str(info.value) and "feature 'chat'" in str(info.value)
    assert info.value.field == "settings"


def test_string_annotations_are_resolved():
    assert chat(StringAnnotations()).settings == StringAnnotations()
    with pytest.raises(FeatureContractError, match="'page_size' expects int"):
        chat(StringAnnotations(page_size="5"))


# ---------------------------------------------------------------------- overrides
@pytest.mark.parametrize("overrides, key, fragment", [
    ({"page_sise": 10}, "page_sise", "feature 'chat' has no setting 'page_sise' (known: page_size, theme"),
    ({"page_size": "10"}, "page_size", "setting 'page_size' expects int, got str '10'"),
    ({"page_size": 10.0}, "page_size", "setting 'page_size' expects int, got float 10.0"),
    ({"sounds": "yes"}, "sounds", "setting 'sounds' expects bool"),
    ({"theme": "blue"}, "theme", "setting 'theme' expects one of 'light', 'dark'"),
    ({"relay_url": 8000}, "relay_url", "setting 'relay_url' expects str | None"),
    ({"tags": "a,b"}, "tags", "setting 'tags' expects list[str]"),
])
def test_bad_overrides_are_refused_at_registration_naming_feature_and_key(overrides, key, fragment):
    reg = FeatureRegistry(settings={"chat": overrides})
    with pytest.raises(FeatureContractError) as info:
        reg.register(chat())
    err = info.value
    assert fragment in str(err) and "feature 'chat'" in str(err)
    assert (err.feature_id, err.field, err.key) == ("chat", "settings", key)
    assert "chat" not in reg and len(reg) == 0


def test_overrides_for_a_feature_without_settings_are_refused():
    reg = FeatureRegistry(settings={"chat": {"page_size": 10}})
    with pytest.raises(FeatureContractError, match="feature 'chat' has no settings, but got page_size"):
        reg.register(chat(None))


@pytest.mark.parametrize("overrides, message", [
    ({"chat": {"page_sise": 10}}, "feature 'chat' has no setting 'page_sise'"),
    ({"chat": {"page_size": "many"}}, "feature 'chat': setting 'page_size' expects int"),
])
async def test_bootstrap_raises_boot_error_naming_feature_and_key(overrides, message):
    with pytest.raises(BootError) as info:
        await bootstrap([chat()], settings=overrides)
    assert message in str(info.value)
    assert isinstance(info.value.__cause__, FeatureContractError)
    assert info.value.__cause__.key == next(iter(overrides["chat"]))


async def test_bad_overrides_in_the_kernel_config_are_a_boot_error_too(tmp_path):
    save_kernel_config(tmp_path, KernelConfig(settings={"chat": {"theme": "sepia"}}))
    with pytest.raises(BootError, match="feature 'chat': setting 'theme' expects one of 'light', 'dark'"):
        await bootstrap([chat()], state_dir=tmp_path)


async def test_ctx_settings_is_the_record_with_overrides_applied(tmp_path):
    seen = []
    save_kernel_config(tmp_path, KernelConfig(settings={"chat": {"theme": "dark", "page_size": 20}}))
    app = await bootstrap([chat(seen=seen)], state_dir=tmp_path, settings={"chat": {"page_size": 10, "timeout_s": 3}})
    [record] = seen
    # bootstrap's overrides win over the config file's; everything else keeps its default
    assert record == ChatSettings(page_size=10, theme="dark", timeout_s=3)
    assert isinstance(record, ChatSettings) and record is app.registry.settings_for("chat")
    assert app.registry.context("chat").settings is record
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.page_size = 1  # type: ignore[misc]
    assert app.registry.get("chat").settings == ChatSettings()  # the contract's defaults are untouched
    await app.shutdown()


async def test_without_overrides_ctx_settings_is_the_contract_record():
    seen = []
    defaults = ChatSettings(page_size=7)
    reg = FeatureRegistry()
    reg.register(chat(defaults, seen))
    reg.register(Feature(id="plain", name="Plain", on_mount=lambda ctx: seen.append(ctx.settings)))
    await reg.mount_all()
    assert seen == [defaults, None] and seen[0] is defaults
    assert reg.settings_for("plain") is None


# ---------------------------------------------------------------------- schema
def test_settings_schema_describes_types_and_defaults():
    schema = settings_schema("chat", ChatSettings())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == "chat settings" and schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["page_size", "theme", "relay_url", "timeout_s", "sounds", "tags"]
    assert props["page_size"] == {"type": "integer", "default": 50, "description": "int"}
    assert props["theme"]["enum"] == ["light", "dark"] and props["theme"]["default"] == "light"
    assert props["relay_url"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "default": [], "description": "list[str]"}
    assert settings_schema("chat", ChatSettings(page_size=9))["properties"]["page_size"]["default"] == 9


@pytest.mark.parametrize("overrides, good", [
    ({"page_size": 10}, True),
    ({"theme": "dark", "relay_url": None, "tags": ["x"]}, True),
    ({"page_size": "10"}, False),
    ({"theme": "blue"}, False),
    ({"page_sise": 1}, False),
    ({"tags": [1]}, False),
])
def test_settings_schema_agrees_with_registration(overrides, good):
    validator = jsonschema.Draft202012Validator(settings_schema("chat", ChatSettings()))
    assert validator.is_valid(overrides) is good
    reg = FeatureRegistry(settings={"chat": overrides})
    if good:
        reg.register(chat())
    else:
        with pytest.raises(FeatureContractError):
            reg.register(chat())
