"""Which hosts count as this machine: one rule for the relay CLI, settings and signaling.

A URL or bind address passes as local only if it cannot leave the machine: a loopback IP
(127.0.0.0/8, ::1) or the name ``localhost``, which RFC 6761 reserves for loopback. Other
names that often map to loopback (``localhost.localdomain``, ``ip6-localhost``) depend on
/etc/hosts, so they do not count.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an IP literal, without brackets) is loopback by definition."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)
