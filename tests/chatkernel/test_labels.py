import pytest

from chatkernel import ChatKernelError, LabelError, normalize_label


@pytest.mark.parametrize("value, expected", [
    ("  Alice ", "Alice"), ("Cafe\u0301", "Caf\u00e9"), ("\U0001F469\u200d\U0001F4BB dev", "\U0001F469\u200d\U0001F4BB dev"),
    ("x" * 64, "x" * 64),
])
def test_labels_are_normalized_and_trimmed(value, expected):
    assert normalize_label(value, max_chars=64) == expected


@pytest.mark.parametrize("value, reason", [
    (None, "must be a string, not NoneType"), ("", "is empty"), ("   ", "is empty"),
    ("x" * 65, "is 65 characters; at most 64"), ("a\u202eb", "U+202E at position 1"),
    ("a\u200bb", "U+200B at position 1"), ("a\nb", "U+000A at position 1"), ("a\u2028b", "U+2028"),
    ("\ud800", "U+D800"),
])
def test_labels_that_could_pass_for_another_are_refused(value, reason):
    with pytest.raises(LabelError, match=reason.replace("+", r"\+")) as info:
        normalize_label(value, max_chars=64)
    assert reason in info.value.reason
    assert isinstance(info.value, ChatKernelError) and isinstance(info.value, ValueError)
