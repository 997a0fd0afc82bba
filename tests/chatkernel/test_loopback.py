"""is_loopback_host: the one rule the relay CLI, settings and signaling share."""

import pytest

from chatkernel import is_loopback_host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "::1", "::ffff:127.0.0.1", "localhost", "LOCALHOST",
                                  "localhost."])
def test_loopback_addresses_and_localhost_count(host):
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["::ffff:8.8.8.8", "10.0.0.1", "0.0.0.0", "localhost.example.org",
                                  "localhost.localdomain", "ip6-localhost", "relay.example.org", ""])
def test_everything_else_does_not(host):
    """Names that only /etc/hosts maps to loopback do not count: the rule must not depend on it."""
    assert not is_loopback_host(host)
