import dataclasses
from typing import Protocol

import pytest

from chatkernel import EventSpec, Feature, FeatureContractError, MountResult
from chatkernel._feature import as_feature


def mount(ctx):
    return MountResult()


WORD_SAID = EventSpec("WORD_SAID", "MEDIUM", "a word was said", {"word": str})


@dataclasses.dataclass(frozen=True)
class ChatSettings:
    a: int = 1


class CryptoApi(Protocol):
    def sign(self, data: bytes, /) -> bytes: ...


def test_minimal_contract_is_id_name_on_mount():
    f = Feature(id="my-feature", name="My Feature", on_mount=mount)
    assert f.dependencies == () and f.version == "0.0.0" and f.settings is None
    assert f.emitted_events == () and f.emitted_types == () and dict(f.requires) == {}


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
    # emitted events are specs now: a bare type name, even a well-formed one, is refused
    ({"id": "x", "name": "X", "on_mount": mount, "emitted_events": ["WORD_SAID"]}, "emitted_events",
     "is not an EventSpec"),
    ({"id": "x", "name": "X", "on_mount": mount, "emitted_events": "WORD_SAID"}, "emitted_events",
     "list of EventSpec"),
    ({"id": "x", "name": "X", "on_mount": mount, "emitted_events": WORD_SAID}, "emitted_events",
     "list of EventSpec"),
    ({"id": "x", "name": "X", "on_mount": mount, "emitted_events": [WORD_SAID, WORD_SAID]}, "emitted_events",
     "declares WORD_SAID twice"),
    ({"id": "x", "name": "X", "on_mount": mount, "subscribed_events": ["bad-name"]}, "subscribed_events",
     "ENTITY_ACTION"),
    ({"id": "x", "name": "X", "on_mount": mount, "subscribed_events": "APP_READY"}, "subscribed_events", "list"),
    ({"id": "x", "name": "X", "on_mount": mount, "ui": {"Panel": 3}}, "ui", "factory"),
    ({"id": "x", "name": "X", "on_mount": mount, "settings": [1]}, "settings", "frozen dataclass"),
    ({"id": "x", "name": "X", "on_mount": mount, "settings": {"a": 1}}, "settings", "frozen dataclass"),
    ({"id": "x", "name": "X", "on_mount": mount, "requires": {"crypto": CryptoApi}}, "requires",
     "not in its dependencies"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": ["crypto"], "requires": {"crypto": object}},
     "requires", "typing.Protocol"),
    ({"id": "x", "name": "X", "on_mount": mount, "dependencies": ["crypto"], "requires": [CryptoApi]},
     "requires", "map dependency ids"),
])
def test_contract_errors_name_feature_and_field(kwargs, field, fragment):
    with pytest.raises(FeatureContractError) as info:
        Feature(**kwargs)
    assert info.value.field == field
    assert fragment in str(info.value)
    if kwargs.get("id") == "x":
        assert "'x'" in str(info.value)


def test_contract_is_immutable_and_normalised():
    f = Feature(id="chat", name="Chat", on_mount=mount, dependencies=["crypto"], settings=ChatSettings(),
                subscribed_events=["APP_READY", "APP_READY"], emitted_events=[WORD_SAID],
                requires={"crypto": CryptoApi})
    assert f.dependencies == ("crypto",) and f.subscribed_events == ("APP_READY",)
    assert f.emitted_events == (WORD_SAID,) and f.emitted_types == ("WORD_SAID",)
    assert f.requires["crypto"] is CryptoApi
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.settings.a = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        f.requires["other"] = CryptoApi  # type: ignore[index]


def test_as_feature_accepts_a_mapping_and_rejects_unknown_fields():
    f = as_feature({"id": "auth", "name": "Auth", "on_mount": mount, "emitted_events": [WORD_SAID]})
    assert f.id == "auth" and f.emitted_types == ("WORD_SAID",)
    with pytest.raises(FeatureContractError, match="unknown fields: onMount"):
        as_feature({"id": "auth", "name": "Auth", "onMount": mount})
    with pytest.raises(FeatureContractError, match="expected a Feature"):
        as_feature(42)


@pytest.mark.parametrize("reserved", ["kernel", "user"])
def test_the_declarers_that_are_not_features_are_reserved_ids(reserved):
    """A feature named "kernel" could otherwise redeclare APP_READY as its own."""
    with pytest.raises(FeatureContractError, match="reserved") as info:
        Feature(id=reserved, name="Impostor", on_mount=lambda ctx: None)
    assert info.value.field == "id"
