"""The rising delay: its sequence, its reset, per profile, and surviving a restart."""

from __future__ import annotations

import json

import pytest

from features.auth._throttle import LoginThrottle, ThrottleBook, delay_after
from features.auth.errors import ThrottleStateError


def test_the_delay_sequence_doubles_and_is_capped_at_30_s():
    assert [delay_after(n) for n in range(0, 10)] == [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]
    assert delay_after(10**6) == 30.0
    assert delay_after(3, base_s=0.5, cap_s=1.5) == 1.0 and delay_after(5, base_s=0.5, cap_s=1.5) == 1.5


def test_retry_after_counts_down_and_success_resets():
    t = LoginThrottle()
    assert t.retry_after(0.0) == 0.0
    assert t.record_failure(100.0) == 0.0 and t.retry_after(100.0) == 0.0
    assert t.record_failure(100.0) == 1.0 and t.retry_after(100.4) == pytest.approx(0.6)
    assert t.record_failure(101.0) == 2.0 and t.retry_after(103.0) == 0.0
    assert t.failures == 3
    t.record_success()
    assert t.failures == 0 and t.retry_after(0.0) == 0.0
    assert t.record_failure(200.0) == 0.0  # the sequence starts again


def test_profiles_are_throttled_independently():
    book = ThrottleBook()
    for _ in range(4):
        book.for_profile("alice").record_failure(10.0)
    assert book.for_profile("alice").retry_after(10.0) == 4.0
    assert book.for_profile("bob").retry_after(10.0) == 0.0


def test_persisted_state_keeps_the_count_and_restarts_the_wait():
    book = ThrottleBook()
    for _ in range(5):
        book.for_profile("alice").record_failure(10.0)
    book.for_profile("bob")
    data = json.loads(json.dumps(book.to_dict()))
    assert data == {"alice": {"v": 1, "failures": 5}}  # bob had none: nothing to keep
    restored = ThrottleBook.from_dict(data, now=5000.0)
    assert restored.for_profile("alice").failures == 5
    assert restored.for_profile("alice").retry_after(5000.0) == 8.0  # a restart never shortens the wait
    assert restored.for_profile("bob").retry_after(5000.0) == 0.0


@pytest.mark.parametrize("bad", [None, {"v": 1}, {"v": 2, "failures": 1}, {"v": 1, "failures": -1},
                                 {"v": 1, "failures": True}])
def test_damaged_state_is_refused(bad):
    with pytest.raises(ThrottleStateError, match="unreadable login throttle state"):
        LoginThrottle.from_dict(bad, now=0.0)
    with pytest.raises(ThrottleStateError):
        ThrottleBook.from_dict({"alice": bad}, now=0.0)
