"""Event specs: validation of the declaration, payload checks, JSON Schema export, the catalogue."""

import dataclasses
import json
import typing
from types import MappingProxyType
from typing import Any, Literal, NotRequired

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatkernel import (
    KERNEL_SPECS,
    EventSpec,
    EventSpecConflictError,
    InvalidEventError,
    PayloadError,
    Priority,
    SpecCatalog,
)

MESSAGE_SENT = EventSpec("MESSAGE_SENT", "MEDIUM", "a message left for a contact",
                         {"to": str, "text": str, "id": NotRequired[str | None]})
SAMPLE_SPECS = (
    MESSAGE_SENT,
    EventSpec("ROOM_JOINED", Priority.HIGH, "this user joined a room",
              {"room": str, "members": list[str], "unread": dict[str, int], "ts": float, "muted": bool}),
    EventSpec("THEME_CHANGED", "low", "the theme changed",
              {"theme": Literal["light", "dark"], "previous": NotRequired[Literal["light", "dark"] | None]}),
    EventSpec("BLOB_STORED", "MEDIUM", "something opaque was stored",
              {"key": str, "value": Any, "meta": dict, "tags": list, "size": int | None,
               "chunks": NotRequired[list[dict[str, int]]], "kind": Literal[1, 2, "other"], "nothing": None}),
    EventSpec("PING_SENT", "LOW", "a ping, no payload"),
)


# ---------------------------------------------------------------------- declaring
def test_a_spec_is_frozen_data_with_a_parsed_priority():
    spec = SAMPLE_SPECS[2]
    assert spec.priority is Priority.LOW and SAMPLE_SPECS[1].priority is Priority.HIGH
    assert isinstance(spec.fields, MappingProxyType)
    with pytest.raises(TypeError):
        spec.fields["theme"] = str  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.type = "OTHER_THING"  # type: ignore[misc]
    assert repr(MESSAGE_SENT) == "EventSpec(MESSAGE_SENT, MEDIUM, {to: str, text: str, id: str | None})"


@pytest.mark.parametrize("event_type", ["message-sent", "MessageSent", "SENT", "", 3, None, "A__B"])
def test_bad_type_name_is_refused(event_type):
    with pytest.raises(InvalidEventError, match="ENTITY_ACTION|must be a str") as info:
        EventSpec(event_type, "HIGH", "meaning")
    assert info.value.event_type == event_type


@pytest.mark.parametrize("priority", ["URGENT", "", 3, -1, True, None, 1.0])
def test_bad_priority_is_refused(priority):
    with pytest.raises(InvalidEventError, match="spec 'ITEM_QUEUED': priority must be one of HIGH, MEDIUM, LOW"):
        EventSpec("ITEM_QUEUED", priority, "meaning")


@pytest.mark.parametrize("doc", ["", "   ", "first line\nsecond line", None, 3])
def test_doc_must_be_one_non_empty_line(doc):
    with pytest.raises(InvalidEventError, match="ITEM_QUEUED: doc must be one line") as info:
        EventSpec("ITEM_QUEUED", "LOW", doc)
    assert info.value.event_type == "ITEM_QUEUED"


@pytest.mark.parametrize("annotation", [bytes, set, set[str], tuple[int, ...], dict[int, str], complex,
                                        list[bytes], dict[str, set], str | bytes, typing.Callable, object()])
def test_unsupported_annotation_is_refused_naming_the_field(annotation):
    with pytest.raises(InvalidEventError, match="ITEM_QUEUED: field 'payload'") as info:
        EventSpec("ITEM_QUEUED", "LOW", "meaning", {"ok": str, "payload": annotation})
    assert info.value.event_type == "ITEM_QUEUED"


@pytest.mark.parametrize("name", ["my-field", "1st", "", "two words", 3, None])
def test_field_names_must_be_identifiers(name):
    with pytest.raises(InvalidEventError, match="is not an identifier"):
        EventSpec("ITEM_QUEUED", "LOW", "meaning", {name: str})


def test_fields_must_be_a_mapping():
    with pytest.raises(InvalidEventError, match="fields must be a mapping"):
        EventSpec("ITEM_QUEUED", "LOW", "meaning", ["text"])  # type: ignore[arg-type]


def test_keyword_names_are_fine_as_fields():
    spec = EventSpec("LETTER_ARRIVED", "LOW", "a letter", {"from": str, "class": str, "state": str})
    spec.check({"from": "alice", "class": "x", "state": "y"})


# ---------------------------------------------------------------------- checking payloads
def test_check_accepts_good_payloads():
    MESSAGE_SENT.check({"to": "bob", "text": "hi"})
    MESSAGE_SENT.check({"to": "bob", "text": "hi", "id": None})
    MESSAGE_SENT.check(MappingProxyType({"to": "bob", "text": "hi", "id": "m-1"}))
    SAMPLE_SPECS[1].check({"room": "r", "members": ["a", "b"], "unread": {"a": 2}, "ts": 3, "muted": False})
    SAMPLE_SPECS[1].check({"room": "r", "members": [], "unread": {}, "ts": 1.5, "muted": True})
    SAMPLE_SPECS[4].check({})


@pytest.mark.parametrize("payload, field, expected, got", [
    ({"to": 3, "text": "hi"}, "to", "str", 3),
    ({"to": "bob", "text": None}, "text", "str", None),
    ({"to": "bob", "text": "hi", "id": 7}, "id", "str | None", 7),
    ({"to": "bob", "text": b"hi"}, "text", "str", b"hi"),
])
def test_check_refuses_a_wrong_type_naming_event_field_expected_and_got(payload, field, expected, got):
    with pytest.raises(PayloadError) as info:
        MESSAGE_SENT.check(payload)
    err = info.value
    assert (err.event_type, err.field, err.expected, err.got) == ("MESSAGE_SENT", field, expected, got)
    assert not err.missing and not err.unknown
    assert str(err) == f"payload of MESSAGE_SENT: field {field!r}: expected {expected}, got {type(got).__name__} {got!r}"


def test_check_refuses_a_missing_required_field():
    with pytest.raises(PayloadError) as info:
        MESSAGE_SENT.check({"to": "bob"})
    err = info.value
    assert err.missing and err.field == "text" and err.expected == "str"
    assert str(err) == "payload of MESSAGE_SENT: field 'text' is missing (expected str)"


def test_check_refuses_an_unknown_key_and_lists_the_declared_ones():
    with pytest.raises(PayloadError) as info:
        MESSAGE_SENT.check({"to": "bob", "text": "hi", "from": "alice"})
    err = info.value
    assert err.unknown and err.field == "from" and err.got == "alice"
    assert "MESSAGE_SENT" in str(err) and "'from'" in str(err) and "declared: to, text, id" in str(err)
    with pytest.raises(PayloadError, match="'x': no such field \\(declared: none\\)"):
        SAMPLE_SPECS[4].check({"x": 1})


def test_not_required_fields_may_be_left_out_but_are_checked_when_present():
    theme = SAMPLE_SPECS[2]
    theme.check({"theme": "dark"})
    theme.check({"theme": "dark", "previous": None})
    theme.check({"theme": "dark", "previous": "light"})
    with pytest.raises(PayloadError) as info:
        theme.check({"theme": "dark", "previous": "blue"})
    assert info.value.field == "previous" and info.value.expected == "one of 'light', 'dark' | None"
    with pytest.raises(PayloadError, match="'theme' is missing"):
        theme.check({"previous": "light"})


@pytest.mark.parametrize("payload, path, expected", [
    ({"members": ["a", 2]}, "members[1]", "str"),
    ({"members": "ab"}, "members", "list[str]"),
    ({"members": {"a": 1}}, "members", "list[str]"),
    ({"unread": {"a": 1, "b": "2"}}, "unread.b", "int"),
    ({"unread": {"a": True}}, "unread.a", "int"),
    ({"unread": {3: 1}}, "unread key", "str"),
    ({"unread": [("a", 1)]}, "unread", "dict[str, int]"),
    ({"ts": "now"}, "ts", "float"),
    ({"ts": True}, "ts", "float"),
    ({"muted": 0}, "muted", "bool"),
])
def test_nested_values_are_checked_with_their_path(payload, path, expected):
    good = {"room": "r", "members": ["a"], "unread": {"a": 1}, "ts": 1.0, "muted": False}
    with pytest.raises(PayloadError) as info:
        SAMPLE_SPECS[1].check({**good, **payload})
    assert (info.value.field, info.value.expected) == (path, expected)
    assert f"field {path!r}: expected {expected}" in str(info.value)


def test_nested_containers_of_containers():
    blob = SAMPLE_SPECS[3]
    good = {"key": "k", "value": object(), "meta": {"x": [1]}, "tags": [1, "a"], "size": None, "kind": "other",
            "nothing": None, "chunks": [{"a": 1}, {}]}
    blob.check(good)
    with pytest.raises(PayloadError) as info:
        blob.check({**good, "chunks": [{"a": 1}, {"b": 2.5}]})
    assert info.value.field == "chunks[1].b"
    for kind in (1, 2, "other"):
        blob.check({**good, "kind": kind})
    for kind in (3, True, 1.0, "1"):  # a Literal matches type and value: True is not 1
        with pytest.raises(PayloadError, match="'kind': expected one of 1, 2, 'other'"):
            blob.check({**good, "kind": kind})
    with pytest.raises(PayloadError, match="'nothing': expected None"):
        blob.check({**good, "nothing": 0})


# ---------------------------------------------------------------------- JSON Schema
def validator(spec):
    schema = spec.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("spec", [*KERNEL_SPECS, *SAMPLE_SPECS], ids=lambda s: s.type)
def test_every_schema_is_valid_draft_2020_12(spec):
    schema = spec.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["title"] == spec.type and schema["description"] == spec.doc
    assert schema["x-priority"] == spec.priority.name and schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(spec.fields)
    json.dumps(schema)  # plain JSON, nothing Python-only inside


def test_schema_shapes():
    schema = SAMPLE_SPECS[1].json_schema()
    assert schema["required"] == ["room", "members", "unread", "ts", "muted"]
    assert schema["properties"] == {
        "room": {"type": "string"}, "members": {"type": "array", "items": {"type": "string"}},
        "unread": {"type": "object", "additionalProperties": {"type": "integer"}},
        "ts": {"type": "number"}, "muted": {"type": "boolean"},
    }
    assert MESSAGE_SENT.json_schema()["required"] == ["to", "text"]
    assert MESSAGE_SENT.json_schema()["properties"]["id"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert SAMPLE_SPECS[2].json_schema()["properties"]["theme"] == {"enum": ["light", "dark"]}
    assert SAMPLE_SPECS[3].json_schema()["properties"]["value"] == {}


GOOD_AND_BAD = [
    (MESSAGE_SENT, {"to": "bob", "text": "hi"}, True),
    (MESSAGE_SENT, {"to": "bob", "text": "hi", "id": None}, True),
    (MESSAGE_SENT, {"to": "bob"}, False),
    (MESSAGE_SENT, {"to": "bob", "text": 1}, False),
    (MESSAGE_SENT, {"to": "bob", "text": "hi", "extra": 1}, False),
    (SAMPLE_SPECS[1], {"room": "r", "members": ["a"], "unread": {"a": 1}, "ts": 2, "muted": False}, True),
    (SAMPLE_SPECS[1], {"room": "r", "members": [1], "unread": {"a": 1}, "ts": 2, "muted": False}, False),
    (SAMPLE_SPECS[1], {"room": "r", "members": [], "unread": {"a": False}, "ts": 2, "muted": False}, False),
    (SAMPLE_SPECS[1], {"room": "r", "members": [], "unread": {}, "ts": 2, "muted": 1}, False),
    (SAMPLE_SPECS[2], {"theme": "dark", "previous": "light"}, True),
    (SAMPLE_SPECS[2], {"theme": "blue"}, False),
    (KERNEL_SPECS[0], {"startup_type": "cold", "degraded": False, "mounted": ["a"]}, True),
    (KERNEL_SPECS[0], {"startup_type": "cold", "degraded": "no", "mounted": ["a"]}, False),
    (KERNEL_SPECS[2], {"feature": None, "phase": "handler", "event_type": None, "event_id": None,
                       "error_type": "E", "error": "x"}, True),
    (KERNEL_SPECS[2], {"feature": "f", "phase": "handler", "event_type": "", "event_id": "1",
                       "error_type": "E", "error": "x"}, False),
]


@pytest.mark.parametrize("spec, payload, good", GOOD_AND_BAD)
def test_schema_and_check_agree_on_samples(spec, payload, good):
    assert validator(spec).is_valid(payload) is good
    if good:
        spec.check(payload)
    else:
        with pytest.raises(PayloadError):
            spec.check(payload)


# Where Python and JSON differ, the property sticks to JSON's data: lists (not tuples), str keys, and
# no float with an integral value (JSON Schema's "integer" accepts 1.0, the spec's exact int does not).
json_scalars = (st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=5)
                | st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)


def values_for(annotation):
    """Values that match ``annotation``."""
    if typing.get_origin(annotation) is NotRequired:
        annotation = typing.get_args(annotation)[0]
    if annotation is Any:
        return json_values
    if annotation is None:
        return st.none()
    simple = {str: st.text(max_size=5), int: st.integers(-10**6, 10**6), bool: st.booleans(),
              float: st.integers(-100, 100) | st.floats(allow_nan=False, allow_infinity=False),
              list: st.lists(json_values, max_size=3), dict: st.dictionaries(st.text(max_size=3), json_values,
                                                                             max_size=3)}
    if annotation in simple:
        return simple[annotation]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(values_for(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=3), values_for(args[1]), max_size=3)
    return st.one_of([values_for(a) for a in args])  # a union


@st.composite
def payloads(draw):
    spec = draw(st.sampled_from([*KERNEL_SPECS, *SAMPLE_SPECS]))
    payload = {}
    for name, annotation in spec.fields.items():
        if typing.get_origin(annotation) is NotRequired and draw(st.booleans()):
            continue
        payload[name] = draw(values_for(annotation))
    mutation = draw(st.sampled_from(["none", "retype", "drop", "add"]))
    if mutation == "retype" and spec.fields:
        payload[draw(st.sampled_from(sorted(spec.fields)))] = draw(json_values)
    elif mutation == "drop" and payload:
        del payload[draw(st.sampled_from(sorted(payload)))]
    elif mutation == "add":
        payload[draw(st.text(min_size=1, max_size=4))] = draw(json_values)
    return spec, payload, mutation


VALIDATORS = {spec.type: validator(spec) for spec in [*KERNEL_SPECS, *SAMPLE_SPECS]}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads())
def test_property_schema_and_check_agree(case):
    spec, payload, mutation = case
    try:
        spec.check(payload)
    except PayloadError as exc:
        accepted, error = False, exc
    else:
        accepted, error = True, None
    assert VALIDATORS[spec.type].is_valid(payload) is accepted, (payload, error)
    if mutation == "none":
        assert accepted, error  # generated to match: the generator and the checker agree too
    if error is not None:
        assert error.event_type == spec.type and error.field


# ---------------------------------------------------------------------- the catalogue
ALPHA = EventSpec("ALPHA_HAPPENED", "LOW", "alpha happened", {"n": int})
BETA = EventSpec("BETA_HAPPENED", "HIGH", "beta happened", {"tags": list[str], "note": NotRequired[str]})


def test_catalog_starts_with_the_kernel_types():
    catalog = SpecCatalog()
    assert len(catalog) == len(KERNEL_SPECS) == 5
    for spec in KERNEL_SPECS:
        assert catalog.get(spec.type) is spec and catalog.owner(spec.type) == "kernel" and spec.type in catalog
    assert catalog.get("ALPHA_HAPPENED") is None and catalog.owner("ALPHA_HAPPENED") is None
    assert repr(catalog).splitlines()[0] == "SpecCatalog(5 event types)" and len(repr(catalog).splitlines()) == 6
    assert "<td>APP_READY</td>" in catalog._repr_html_()


def test_catalog_conflict_names_both_declarers_and_adds_nothing():
    catalog = SpecCatalog()
    catalog.declare("alpha", [ALPHA])
    catalog.declare("alpha", [ALPHA])  # the same declarer again: fine
    other = EventSpec("ALPHA_HAPPENED", "HIGH", "alpha, as beta sees it")
    with pytest.raises(EventSpecConflictError) as info:
        catalog.declare("beta", [BETA, other])
    err = info.value
    assert (err.event_type, err.first, err.second) == ("ALPHA_HAPPENED", "alpha", "beta")
    assert str(err) == ("event ALPHA_HAPPENED is declared by both 'alpha' and 'beta'; a type has exactly one "
                        "emitter")
    assert "BETA_HAPPENED" not in catalog and catalog.get("ALPHA_HAPPENED") is ALPHA
    with pytest.raises(EventSpecConflictError) as kernel:
        catalog.declare("beta", [EventSpec("APP_READY", "HIGH", "ready, says beta")])
    assert kernel.value.first == "kernel"
    with pytest.raises(InvalidEventError, match="not an EventSpec"):
        catalog.declare("beta", ["BETA_HAPPENED"])  # type: ignore[list-item]


def test_catalog_withdraw_removes_only_that_declarer():
    catalog = SpecCatalog()
    catalog.declare("alpha", [ALPHA])
    catalog.declare("beta", [BETA])
    catalog.withdraw("alpha")
    assert "ALPHA_HAPPENED" not in catalog and catalog.owner("BETA_HAPPENED") == "beta"
    assert len(catalog) == 6
    catalog.withdraw("nobody")
    catalog.declare("beta", [ALPHA])  # free again
    assert catalog.owner("ALPHA_HAPPENED") == "beta"


def test_catalog_items_and_table():
    catalog = SpecCatalog()
    catalog.declare("beta", [BETA])
    catalog.declare("alpha", [ALPHA])
    assert [spec.type for _, spec in catalog.items()] == sorted(spec.type for _, spec in catalog.items())
    assert ("alpha", ALPHA) in catalog.items()
    rows = {row["type"]: row for row in catalog.table()}
    assert rows["BETA_HAPPENED"] == {"type": "BETA_HAPPENED", "priority": "HIGH", "declared_by": "beta",
                                     "fields": {"tags": "list[str]", "note?": "str"}, "doc": "beta happened"}
    assert rows["APP_SHUTDOWN"]["fields"] == {} and rows["APP_SHUTDOWN"]["declared_by"] == "kernel"
    assert list(rows) == sorted(rows)


def test_catalog_json_schema_is_one_valid_document_with_declarers():
    catalog = SpecCatalog()
    catalog.declare("alpha", [ALPHA])
    catalog.declare("beta", [BETA])
    doc = catalog.json_schema()
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(doc["$defs"]) == {s.type for s in KERNEL_SPECS} | {"ALPHA_HAPPENED", "BETA_HAPPENED"}
    assert doc["$defs"]["ALPHA_HAPPENED"]["x-declared-by"] == "alpha"
    assert doc["$defs"]["APP_READY"]["x-declared-by"] == "kernel"
    assert doc["$defs"]["BETA_HAPPENED"]["required"] == ["tags"]
    doc = json.loads(json.dumps(doc))
    # each definition validates payloads through the document, as a recording's reader would use it
    beta = jsonschema.Draft202012Validator({"$ref": "#/$defs/BETA_HAPPENED", "$defs": doc["$defs"]})
    assert beta.is_valid({"tags": ["a"], "note": "n"})
    assert not beta.is_valid({"tags": ["a"], "note": 1}) and not beta.is_valid({"tags": []} | {"x": 1})
