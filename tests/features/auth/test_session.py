"""The idle timeout over an injected monotonic clock."""

from __future__ import annotations

import pytest

from features.auth._session import SessionTimeout


def test_expires_after_the_timeout_and_touch_restarts_it(clock):
    session = SessionTimeout(60, clock=clock)
    clock.advance(59.9)
    assert not session.is_expired() and session.remaining() == pytest.approx(0.1)
    session.touch()
    clock.advance(59)
    assert not session.is_expired()
    clock.advance(1)
    assert session.is_expired() and session.remaining() == 0.0


def test_explicit_times_and_no_going_back():
    session = SessionTimeout(10, clock=lambda: 0.0, now=100.0)
    assert session.is_expired(110.0) and not session.is_expired(109.9)
    session.touch(105.0)
    session.touch(50.0)  # an older timestamp never moves the last activity back
    assert session.last_activity == 105.0


def test_zero_means_never(clock):
    session = SessionTimeout(0, clock=clock)
    clock.advance(10**9)
    assert not session.is_expired() and session.remaining() == float("inf")


@pytest.mark.parametrize("bad", [-1, "60", True, None])
def test_a_bad_timeout_is_refused(bad):
    with pytest.raises(ValueError, match="timeout_s must be a number"):
        SessionTimeout(bad)
