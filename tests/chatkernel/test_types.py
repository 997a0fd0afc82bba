"""The annotation checker behind event payloads and settings: describe, compile, JSON Schema."""

from types import MappingProxyType
from typing import Any, Literal, NotRequired, Optional, Union

import jsonschema
import pytest

from chatkernel._types import TypeMismatch, compile_type, describe, is_not_required, json_schema, unwrap


@pytest.mark.parametrize("annotation, text", [
    (str, "str"), (int, "int"), (float, "float"), (bool, "bool"), (None, "None"), (type(None), "None"),
    (Any, "any value"), (object, "any value"), (list, "list"), (dict, "dict"),
    (list[int], "list[int]"), (dict[str, list[str]], "dict[str, list[str]]"),
    (str | None, "str | None"), (Optional[int], "int | None"), (Union[int, str], "int | str"),
    (Literal["a", 1], "one of 'a', 1"), (NotRequired[str | None], "str | None"),
])
def test_describe(annotation, text):
    assert describe(annotation) == text


def test_not_required_is_unwrapped():
    assert is_not_required(NotRequired[int]) and not is_not_required(int)
    assert unwrap(NotRequired[list[str]]) == list[str] and unwrap(int) is int


GOOD = [
    (str, "x"), (int, 3), (int, -0), (float, 1.5), (float, 2), (bool, False), (None, None),
    (Any, object()), (object, b"raw"), (list, [1, "a"]), (dict, {"a": 1}), (dict, MappingProxyType({})),
    (list[int], []), (list[int], [1, 2]), (list[int], (1, 2)), (dict[str, int], {"a": 1}),
    (dict[str, list[str]], {"a": ["b"]}), (str | None, None), (str | None, "s"), (Literal["a", 1], 1),
    (Literal["a", 1], "a"), (list[dict[str, float | None]], [{"a": None, "b": 1}]), (NotRequired[int], 4),
]
BAD = [
    (str, 3, "x", "str"), (int, True, "x", "int"), (int, 1.0, "x", "int"), (int, "1", "x", "int"),
    (float, "1.5", "x", "float"), (float, False, "x", "float"), (bool, 1, "x", "bool"), (None, 0, "x", "None"),
    (list, "ab", "x", "list"), (dict, [("a", 1)], "x", "dict"), (list[int], [1, "2"], "x[1]", "int"),
    (list[int], "12", "x", "list[int]"), (dict[str, int], {"a": "1"}, "x.a", "int"),
    (dict[str, int], {1: 1}, "x key", "str"), (dict[str, list[str]], {"a": ["b", 2]}, "x.a[1]", "str"),
    (str | None, 0, "x", "str | None"), (Literal["a", 1], True, "x", "one of 'a', 1"),
    (Literal["a", 1], "b", "x", "one of 'a', 1"), (Literal[1], 1.0, "x", "one of 1"),
    (list[dict[str, float | None]], [{"a": "no"}], "x[0].a", "float | None"),
]


@pytest.mark.parametrize("annotation, value", GOOD)
def test_compiled_checker_accepts(annotation, value):
    assert compile_type(annotation)(value, "x") is None


@pytest.mark.parametrize("annotation, value, path, expected", BAD)
def test_compiled_checker_refuses_with_path_and_expectation(annotation, value, path, expected):
    with pytest.raises(TypeMismatch) as info:
        compile_type(annotation)(value, "x")
    err = info.value
    assert (err.path, err.expected) == (path, expected)
    assert str(err).startswith(f"{path}: expected {expected}, got ")


def test_mismatch_message_shortens_long_values():
    with pytest.raises(TypeMismatch) as info:
        compile_type(int)("y" * 500, "x")
    message = str(info.value)
    assert message.startswith("x: expected int, got str 'yyy") and message.endswith("\u2026")
    assert len(message) < 100


@pytest.mark.parametrize("annotation", [bytes, set, tuple, tuple[int], set[str], frozenset, dict[int, str],
                                        list[bytes], int | bytes, complex, 3, "str"])
def test_unsupported_annotations_fail_at_compile_time(annotation):
    with pytest.raises(TypeError, match="unsupported annotation|dict keys must be str"):
        compile_type(annotation)
    if annotation != dict[int, str]:  # key types are compile_type's to refuse; the schema only shows values
        with pytest.raises(TypeError):
            json_schema(annotation)


@pytest.mark.parametrize("annotation, schema", [
    (str, {"type": "string"}), (int, {"type": "integer"}), (float, {"type": "number"}),
    (bool, {"type": "boolean"}), (None, {"type": "null"}), (Any, {}), (object, {}),
    (list, {"type": "array"}), (dict, {"type": "object"}),
    (list[str], {"type": "array", "items": {"type": "string"}}),
    (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
    (str | None, {"anyOf": [{"type": "string"}, {"type": "null"}]}),
    (Literal["a", 1], {"enum": ["a", 1]}),
    (NotRequired[bool], {"type": "boolean"}),
])
def test_json_schema(annotation, schema):
    assert json_schema(annotation) == schema
    jsonschema.Draft202012Validator.check_schema(schema)


def is_json(value):
    """A value JSON can carry exactly (tuples, bytes, proxies are Python's; 1.0 is an integer to JSON Schema)."""
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return not value.is_integer()
    if type(value) is list:
        return all(is_json(v) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and is_json(v) for k, v in value.items())
    return False


@pytest.mark.parametrize("annotation, value", [case for case in GOOD if is_json(case[1])])
def test_json_schema_accepts_what_the_checker_accepts_for_json_values(annotation, value):
    assert jsonschema.Draft202012Validator(json_schema(annotation)).is_valid(value)


@pytest.mark.parametrize("annotation, value, path, expected", [case for case in BAD if is_json(case[1])])
def test_json_schema_refuses_what_the_checker_refuses_for_json_values(annotation, value, path, expected):
    assert not jsonschema.Draft202012Validator(json_schema(annotation)).is_valid(value)


def test_where_python_and_json_schema_differ():
    """Documented, not hidden: an integral float passes JSON Schema's integer, not the exact int check."""
    assert jsonschema.Draft202012Validator(json_schema(int)).is_valid(1.0)
    with pytest.raises(TypeMismatch):
        compile_type(int)(1.0, "x")
