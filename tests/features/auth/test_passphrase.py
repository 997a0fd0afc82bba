"""The passphrase policy: NFKC, clear refusals for new passphrases, none at unlock."""

from __future__ import annotations

import pytest

from features.auth._passphrase import MIN_PASSPHRASE_LENGTH, check_new_passphrase, passphrase_bytes
from features.auth.errors import PassphrasePolicyError


@pytest.mark.parametrize(("typed", "plain"), [
    ("caf\u00e9 au lait ok", "cafe\u0301 au lait ok"),           # precomposed vs combining accent
    ("\uff50\uff41\uff53\uff53 word four", "pass word four"),     # full-width (IME) vs ASCII
    ("correct\u00a0horse\u3000battery", "correct horse battery"),  # no-break, ideographic space
    ("\ufb01sh and chips!", "fish and chips!"),                     # ligature
])
def test_the_same_passphrase_typed_differently_gives_the_same_bytes(typed, plain):
    assert passphrase_bytes(typed) == passphrase_bytes(plain)
    assert check_new_passphrase(typed) == check_new_passphrase(plain)


def test_nothing_else_is_changed():
    assert passphrase_bytes(" Secret ") != passphrase_bytes("Secret")
    assert passphrase_bytes("Secret") != passphrase_bytes("secret")


@pytest.mark.parametrize(("value", "rule", "words"), [
    (b"bytes", "type", "must be text"),
    ("", "empty", "is empty"),
    (" " * 20, "whitespace", "only spaces"),
    ("\u3000" * 20, "whitespace", "only spaces"),
    ("short", "too_short", f"is 5 characters; use at least {MIN_PASSPHRASE_LENGTH}"),
    ("x" * 1025, "too_long", "at most 1024"),
    ("twelve chars\tplus tab", "control", "control character U+0009 at position 13"),
    ("twelve chars \ud800", "encoding", "unpaired surrogate"),
])
def test_new_passphrases_are_refused_with_a_rule_and_a_reason(value, rule, words):
    with pytest.raises(PassphrasePolicyError) as info:
        check_new_passphrase(value)
    assert info.value.rule == rule
    assert words in info.value.reason
    assert str(info.value).startswith("passphrase refused: ")


def test_length_is_counted_after_normalisation_and_the_minimum_is_configurable():
    assert check_new_passphrase("abcd", min_length=4) == "abcd"
    with pytest.raises(PassphrasePolicyError, match="use at least 20"):
        check_new_passphrase("a" * 19, min_length=20)
    assert check_new_passphrase("\ufb01" * 6) == "fi" * 6  # six ligatures are twelve characters


def test_an_unlock_attempt_is_not_held_to_the_policy():
    assert passphrase_bytes("short") == b"short"
    assert passphrase_bytes("   ") == b"   "
