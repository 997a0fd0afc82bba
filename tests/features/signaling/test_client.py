import pytest

from features.signaling.client import check_url
from features.signaling.errors import InsecureURLError, InvalidURLError


@pytest.mark.parametrize("url", ["http://127.0.0.1:8765", "http://localhost:1/", "http://[::1]:80",
                                 "https://relay.example.org", "http://127.5.6.7"])
def test_acceptable_urls(url):
    assert check_url(url) == url.rstrip("/")


def test_plain_http_to_a_remote_host_needs_explicit_permission():
    with pytest.raises(InsecureURLError, match="non-loopback"):
        check_url("http://relay.example.org")
    assert check_url("http://relay.example.org", allow_insecure=True) == "http://relay.example.org"


@pytest.mark.parametrize("url, reason", [
    ("", "is empty"), ("  ", "is empty"), (None, "must be a string, got NoneType"), ("ftp://x", "scheme"),
    ("http://", "no host"), ("https://u:p@x.org", "credentials"), ("https://x.org/?a=1", "query"),
    ("http://h/?", "query"), ("http://127.0.0.1/?", "query"), ("http://h/#", "fragment"),
    ("http://127.0.0.1:99999", "out of range"), ("https://relay example.org", "whitespace"),
])
def test_invalid_urls_say_why(url, reason):
    with pytest.raises(InvalidURLError, match=reason) as info:
        check_url(url)
    assert reason in info.value.reason


@pytest.mark.parametrize("url", ["http://h/?", "http://h/#", "https://u:p@x.org"])
def test_permission_for_plain_http_does_not_excuse_a_malformed_url(url):
    with pytest.raises(InvalidURLError):
        check_url(url, allow_insecure=True)
