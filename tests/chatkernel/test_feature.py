import pytest

from chatkernel import Feature, FeatureContractError, MountResult
from chatkernel._feature import as_feature


def mount(ctx):
    return MountResult()


def test_minimal_contract_is_id_name_on_mount():
    f = Feature(id="my-feature", name="My Feature", on_mount=mount)
    assert f.dependencies == () and f.version == "0.0.0" and dict(f.settings) == {}


@pytest.mark.parametrize("kwargs, field, fragment", [
    ({"name": "X", "on_mount": mount}, "id", "missing 'id'"),
    ({"id": "x", "on_mount": mount}, "name", "missing 'name'"),
    ({"id": "x", "name": "X"}, "on_mount", "missing 'on_mount'"),
    ({"id": "X Bad", "name": "X", "on_mount": mount}, "id", "lower case"),
    ({"id": "x", "name": "X", "on_mount": 3}, "on_mount", "callable"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": "crypto"}, "dependencies", "list of feature ids"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": ["a", "a"]}, "dependencies", "twice"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": ["x"]}, "dependencies", "itself"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": [3]}, "dependencies", "not a valid feature id"),
    ({"id": "x", "name": "X", "on_mount": mount, "emitted_events": ["bad-name"]}, "emitted_events", "ENTITY_ACTION"),
    ({"id": "x", "name": "X", "on_mount": mount, "subscribed_events": "APP_READY"}, "subscribed_events", "list"),
    ({"id": "x", "name": "X", "on_mount": mount, "ui": {"Panel": 3}}, "ui", "factory"),
    ({"id": "x", "name": "X", "on_mount": mount, "settings": [1]}, "settings", "mapping"),
])
def test_contract_errors_name_feature_and_field(kwargs, field, fragment):
    with pytest.raises(FeatureContractError) as info:
        Feature(**kwargs)
    assert info.value.field == field
    assert fragment in str(info.value)
    if kwargs.get("id") == "x":
        assert "'x'" in str(info.value)


def test_contract_is_immutable_and_normalised():
    f = Feature(id="chat", name="Chat", on_mount=mount, dependencies=["crypto"], settings={"a": 1},
                subscribed_events=["APP_READY", "APP_READY"])
    assert f.dependencies == ("crypto",) and f.subscribed_events == ("APP_READY",)
    with pytest.raises(Exception):
        f.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.settings["a"] = 2  # type: ignore[index]


def test_as_feature_accepts_a_mapping_and_rejects_unknown_fields():
    f = as_feature({"id": "auth", "name": "Auth", "on_mount": mount})
    assert f.id == "auth"
    with pytest.raises(FeatureContractError, match="unknown fields: onMount"):
        as_feature({"id": "auth", "name": "Auth", "onMount": mount})
    with pytest.raises(FeatureContractError, match="expected a Feature"):
        as_feature(42)
