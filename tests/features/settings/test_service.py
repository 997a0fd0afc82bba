"""SettingsService: validation, atomic persistence, and the relay health probe against real peers."""

import asyncio
import json

import pytest

from chatkernel import ChatKernelError

import features.settings.service as service_module
from features.settings._config import SettingsConfig
from features.settings._validation import check_url, validate
from features.settings.errors import InvalidSettingError, SettingsError, SettingsFileError, SettingsSaveError
from features.settings.service import SettingsService, UrlTestResult

# ---------------------------------------------------------------------------------- validation


def test_error_hierarchy_has_one_base():
    assert issubclass(SettingsError, ChatKernelError)
    for error in (InvalidSettingError, SettingsFileError, SettingsSaveError):
        assert issubclass(error, SettingsError)
    exc = InvalidSettingError("theme", "nope", value=3)
    assert (exc.key, exc.reason, exc.value, str(exc)) == ("theme", "nope", 3, "invalid theme: nope")


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("theme", "blue", "'blue' is not one of 'light', 'dark', 'system'"),
    ("theme", None, "None is not one of 'light', 'dark', 'system'"),
    ("theme", ["dark"], "['dark'] is not one of 'light', 'dark', 'system'"),
    ("notifications", 1, "must be true or false, got 1 (int)"),
    ("notifications", "yes", "must be true or false, got 'yes' (str)"),
    ("volume", 3, "unknown setting; known: theme, notifications, signaling_url"),
])
def test_invalid_values_are_refused_with_the_rule_broken(key, value, reason):
    with pytest.raises(InvalidSettingError) as info:
        validate(key, value)
    assert info.value.key == key and info.value.reason == reason


def test_valid_values_pass_normalised():
    assert validate("theme", "dark") == "dark"
    assert validate("notifications", False) is False
    assert validate("signaling_url", None) is None
    assert validate("signaling_url", "  https://relay.example.org/chat/ ") == "https://relay.example.org/chat"


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8765", "http://127.9.9.9", "http://localhost:1", "http://LOCALHOST", "http://[::1]:8765",
    "https://relay.example.org", "https://203.0.113.7:443/relay",
])
def test_accepted_urls(url):
    assert check_url(url) == url


@pytest.mark.parametrize(("url", "reason"), [
    (42, "must be a string, got int"),
    ("", "is empty (reset to use the default relay)"),
    ("   ", "is empty (reset to use the default relay)"),
    ("https://relay example.org", "'https://relay example.org' contains whitespace"),
    ("relay.example.org", "'relay.example.org' has no scheme; start it with https:// or http://"),
    ("ftp://relay.example.org", "scheme must be http or https, got 'ftp'"),
    ("https://", "'https://' has no host"),
    ("https://:8765", "'https://:8765' has no host"),
    ("https://bob:secret@relay.example.org", "must not contain credentials (user:password@)"),
    ("https://relay.example.org/?x=1", "must not have a query (?...)"),
    ("https://relay.example.org/?", "must not have a query (?...)"),
    ("https://relay.example.org/#top", "must not have a fragment (#...)"),
    ("https://relay.example.org:99999", "has an invalid port: Port out of range 0-65535"),
    ("http://relay.example.org", "plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost), "
                                 "not 'relay.example.org'; use https:// or set allow_insecure_remote"),
    ("http://10.0.0.1:8765", "plain http:// is only allowed to a loopback host"),
])
def test_refused_urls_say_why(url, reason):
    with pytest.raises(InvalidSettingError) as info:
        check_url(url)
    assert info.value.key == "signaling_url"
    assert info.value.reason.startswith(reason)


def test_allow_insecure_remote_permits_plain_http_anywhere():
    assert check_url("http://relay.example.org", allow_insecure_remote=True) == "http://relay.example.org"


def test_service_refuses_a_bad_default_url_or_timeout(tmp_path):
    with pytest.raises(InvalidSettingError, match="invalid default_signaling_url: plain http://"):
        SettingsService(tmp_path, default_signaling_url="http://relay.example.org")
    assert SettingsService(tmp_path, default_signaling_url="http://relay.example.org",
                           allow_insecure_remote=True).effective_signaling_url == "http://relay.example.org"
    for timeout in (0, -1, "3", True):
        with pytest.raises(InvalidSettingError, match="test_timeout_s: must be a positive number"):
            SettingsService(tmp_path, test_timeout_s=timeout)


def test_service_takes_the_feature_record_and_overrides_of_single_fields(tmp_path):
    record = SettingsConfig(default_signaling_url="http://relay.example.org", allow_insecure_remote=True)
    service = SettingsService(tmp_path, config=record)
    assert service.config == record and service.allow_insecure_remote is True
    assert service.effective_signaling_url == "http://relay.example.org"
    assert service.validate("signaling_url", "http://other.example.org") == "http://other.example.org"
    tighter = SettingsService(tmp_path, config=record, default_signaling_url="https://relay.example.org",
                              allow_insecure_remote=False, test_timeout_s=1)
    assert tighter.config == SettingsConfig("https://relay.example.org", 1, False) and tighter.test_timeout_s == 1.0
    with pytest.raises(InvalidSettingError, match="plain http://"):
        tighter.validate("signaling_url", "http://other.example.org")
    assert SettingsService(None).config == SettingsConfig()
    with pytest.raises(TypeError):
        SettingsService(None, poll_timeout_s=1.0)  # not a field of the record


# ---------------------------------------------------------------------------------- persistence

@pytest.mark.anyio
async def test_missing_file_gives_defaults_and_save_writes_atomically(tmp_path):
    service = SettingsService(tmp_path / "settings")
    assert await service.load() == {"theme": "system", "notifications": True, "signaling_url": None}
    assert service.persisted and service.effective_signaling_url == "http://127.0.0.1:8765"
    assert not service.custom_signaling_url
    written = await service.save({**service.settings, "theme": "dark"})
    assert written is True
    assert service.settings["theme"] == "system"  # the caller adopts the value once written
    on_disk = json.loads((tmp_path / "settings" / "settings.json").read_text())
    assert on_disk == {"version": 1, "settings": {"theme": "dark", "notifications": True, "signaling_url": None}}
    assert sorted(p.name for p in (tmp_path / "settings").iterdir()) == ["settings.json"]  # no temp file left

    again = SettingsService(tmp_path / "settings")
    assert (await again.load())["theme"] == "dark"


@pytest.mark.anyio
async def test_keys_from_a_newer_version_are_kept_on_save(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "settings": {"theme": "light", "font_size": 14}}))
    service = SettingsService(tmp_path)
    assert await service.load() == {"theme": "light", "notifications": True, "signaling_url": None}
    await service.save({**service.settings, "notifications": False})
    assert json.loads(path.read_text())["settings"] == {
        "theme": "light", "notifications": False, "signaling_url": None, "font_size": 14}


@pytest.mark.anyio
@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b"\xff\xfe\x00", "is not UTF-8 text"),
    (b"[1, 2]", "holds a JSON array, expected an object"),
    (b'{"settings": {}}', "has no format version; this version reads format 1"),
    (b'{"version": 7, "settings": {}}', "has format version 7; this version reads format 1"),
    (b'{"version": 1, "settings": "dark"}', "'settings' holds a JSON string, expected an object"),
    (b'{"version": 1, "settings": {"theme": "blue"}}',
     "has an invalid theme: 'blue' is not one of 'light', 'dark', 'system'"),
    (b'{"version": 1, "settings": {"signaling_url": "http://relay.example.org"}}',
     "has an invalid signaling_url: plain http:// is only allowed to a loopback host"),
])
async def test_a_file_that_cannot_be_trusted_is_reported_and_left_alone(tmp_path, content, reason):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    service = SettingsService(tmp_path)
    with pytest.raises(SettingsFileError) as info:
        await service.load()
    assert info.value.path == path and info.value.reason.startswith(reason)
    assert str(info.value).startswith(f"settings file {path} ")
    assert path.read_bytes() == content


@pytest.mark.anyio
async def test_a_failed_write_raises_keeps_values_and_leaves_no_temp_file(tmp_path):
    service = SettingsService(tmp_path)
    await service.load()
    (tmp_path / "settings.json").mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(SettingsSaveError) as info:
        await service.save({**service.settings, "theme": "dark"})
    assert info.value.reason == "Is a directory"
    assert str(info.value) == f"cannot write {tmp_path / 'settings.json'}: Is a directory"
    assert service.settings["theme"] == "system"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


@pytest.mark.anyio
async def test_a_state_dir_under_a_file_cannot_be_read(tmp_path):
    (tmp_path / "blocker").write_text("not a directory")
    service = SettingsService(tmp_path / "blocker")
    with pytest.raises(SettingsFileError, match="cannot be read: Not a directory"):
        await service.load()


@pytest.mark.anyio
async def test_memory_only_without_a_state_dir():
    service = SettingsService(None)
    assert not service.persisted and service.path is None
    await service.load()
    assert await service.save({"theme": "dark"}) is False
    service.apply("theme", "dark")
    assert service.settings["theme"] == "dark"
    with pytest.raises(InvalidSettingError):
        service.replace({"theme": "dark", "notifications": "on"})
    assert service.settings["notifications"] is True
    assert repr(service) == ("SettingsService({'theme': 'dark', 'notifications': True, 'signaling_url': None}, "
                             "memory only)")


# ---------------------------------------------------------------------------------- relay probe


class FakeClock:
    """``perf_counter`` for the probe: the request takes exactly ``step_s`` seconds."""

    def __init__(self, step_s: float):
        self.now = 1000.0
        self.step_s = step_s

    def perf_counter(self) -> float:
        now, self.now = self.now, self.now + self.step_s
        return now


@pytest.mark.anyio
async def test_probe_of_the_real_relay_succeeds_with_latency_and_version(relay, monkeypatch):
    monkeypatch.setattr(service_module, "time", FakeClock(0.0125))  # latency is measured, not asserted on
    service = SettingsService(None)
    result = await service.test_signaling_url(relay.url + "/")
    assert result.ok and result.reason is None and result.url == relay.url
    assert result.latency_ms == 12.5
    assert result.version
    assert result.as_payload() == {"url": relay.url, "ok": True, "latency_ms": result.latency_ms,
                                   "reason": None, "version": result.version}


@pytest.mark.anyio
async def test_probe_tests_the_effective_url_by_default(relay):
    service = SettingsService(None, default_signaling_url=relay.url)
    result = await service.test_signaling_url()
    assert result.ok and result.url == relay.url


@pytest.mark.anyio
async def test_probe_of_a_closed_port_is_refused(closed_port_url):
    result = await SettingsService(None).test_signaling_url(closed_port_url)
    host_port = closed_port_url.removeprefix("http://")
    assert result == UrlTestResult(closed_port_url, False, None, f"connection refused by {host_port}")


@pytest.mark.anyio
@pytest.mark.parametrize(("mode", "reason", "answered"), [
    ("wrong", "service is 'web-shop', expected 'chat-signaling'", True),
    ("missing", "service is missing, expected 'chat-signaling'", True),
    ("array", "response is a JSON array, expected an object", True),
    ("html", "response body is not JSON", True),
    ("notfound", "HTTP 404 Not Found from {url}/health", True),
])
async def test_probe_explains_a_server_that_is_not_a_relay(odd_server, mode, reason, answered):
    url = odd_server.url(mode)
    result = await SettingsService(None).test_signaling_url(url)
    assert not result.ok and result.reason == reason.format(url=url) and result.version is None
    assert (result.latency_ms is not None) is answered
    assert odd_server.requests[-1] == f"/{mode}/health"


async def _hung_up(odd_server, count: int) -> None:
    async with asyncio.timeout(10):  # a bound on the test, not a measurement
        while len(odd_server.hung_up) < count:
            await asyncio.sleep(0.005)


@pytest.mark.anyio
async def test_probe_gives_up_after_the_timeout(odd_server):
    # The slow server never answers; only the probe's own timeout can end the request, and the
    # server then sees the client hang up.
    result = await SettingsService(None, test_timeout_s=0.3).test_signaling_url(odd_server.url("slow"))
    assert result.reason == "timed out after 0.3 s" and not result.ok and result.latency_ms is None
    await _hung_up(odd_server, 1)
    result = await SettingsService(None).test_signaling_url(odd_server.url("slow"), timeout=0.25)
    assert result.reason == "timed out after 0.25 s"
    await _hung_up(odd_server, 2)
    assert odd_server.hung_up == odd_server.requests == ["/slow/health", "/slow/health"]


@pytest.mark.anyio
async def test_probe_refuses_an_invalid_url_without_a_request(odd_server):
    result = await SettingsService(None).test_signaling_url("ftp://relay.example.org")
    assert result == UrlTestResult("ftp://relay.example.org", False, None,
                                   "invalid URL: scheme must be http or https, got 'ftp'")
    result = await SettingsService(None).test_signaling_url("http://relay.example.org")
    assert result.reason.startswith("invalid URL: plain http:// is only allowed to a loopback host")
    assert odd_server.requests == []


@pytest.mark.anyio
async def test_flush_waits_for_a_write_in_flight(tmp_path):
    service = SettingsService(tmp_path)
    await service.load()
    save = asyncio.ensure_future(service.save({**service.settings, "theme": "light"}))
    async with asyncio.timeout(5):
        while not service._writes:
            await asyncio.sleep(0)
    save.cancel()  # the caller goes away; the write itself still completes
    await service.flush()
    assert json.loads((tmp_path / "settings.json").read_text())["settings"]["theme"] == "light"
