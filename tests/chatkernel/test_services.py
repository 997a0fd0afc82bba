"""Service seams: a dependent names the Protocol it needs; the provider's service is checked at mount."""

from typing import Protocol

import pytest

from chatkernel import (
    FEATURE_ERROR,
    Feature,
    FeatureContractError,
    FeatureRegistry,
    MountResult,
    ServiceContractError,
    bootstrap,
    check_service,
)

pytestmark = pytest.mark.anyio


class CryptoApi(Protocol):
    key_id: str

    def sign(self, data: bytes, /) -> bytes: ...

    async def fetch_key(self, contact: str, *, timeout: float = 1.0) -> str: ...


class OtherApi(Protocol):
    def sign(self, data: bytes, /) -> bytes: ...


class GoodCrypto:
    def __init__(self):
        self.key_id = "k-1"

    def sign(self, data):
        return b"signed:" + data

    async def fetch_key(self, contact, *, timeout=1.0):
        return f"key-of-{contact}"


class _Missing:
    """Build a variant of GoodCrypto without one member."""

    def __init__(self, name):
        self._name = name
        self._inner = GoodCrypto()

    def __getattr__(self, name):
        if name == self._name:
            raise AttributeError(name)
        return getattr(self._inner, name)


class SyncFetch(GoodCrypto):
    def fetch_key(self, contact, *, timeout=1.0):  # plain where the Protocol is async
        return "key"


class AsyncSign(GoodCrypto):
    async def sign(self, data):  # async where the Protocol is plain
        return data


class SignTakesNothing(GoodCrypto):
    def sign(self):  # too few positional arguments
        return b""


class SignNeedsTwo(GoodCrypto):
    def sign(self, data, salt):  # too many required positional arguments
        return data


class FetchWithoutTimeout(GoodCrypto):
    async def fetch_key(self, contact):  # lacks the keyword
        return "key"


class FetchNeedsRetries(GoodCrypto):
    async def fetch_key(self, contact, *, timeout=1.0, retries):  # requires a keyword the Protocol never passes
        return "key"


class FetchAnyKeyword(GoodCrypto):
    async def fetch_key(self, contact, **options):
        return "key"


class NoKeyId:
    def sign(self, data):
        return data

    async def fetch_key(self, contact, *, timeout=1.0):
        return "key"


class SignNotCallable(GoodCrypto):
    sign = b"not a method"


MISMATCHES = [
    (_Missing("sign"), "has no method 'sign'"),
    (_Missing("fetch_key"), "has no method 'fetch_key'"),
    (NoKeyId(), "has no attribute 'key_id'"),
    (SyncFetch(), "fetch_key() must be a coroutine function (async def)"),
    (AsyncSign(), "sign() is a coroutine function, the Protocol declares a plain one"),
    (SignTakesNothing(), "sign() takes at most 0 positional argument(s), the Protocol allows 1"),
    (SignNeedsTwo(), "sign() needs 2 positional argument(s), the Protocol passes 1"),
    (FetchWithoutTimeout(), "fetch_key() has no keyword argument 'timeout'"),
    (FetchNeedsRetries(), "fetch_key() requires keyword argument 'retries', which the Protocol does not pass"),
    (SignNotCallable(), "'sign' is not callable"),
    (None, "is None (its on_mount returned no service)"),
]


def provider(service):
    return Feature(id="crypto", name="Crypto", on_mount=lambda ctx: MountResult(service=service))


def dependent(seen=None, protocol=CryptoApi):
    def on_mount(ctx):
        if seen is not None:
            seen["service"] = ctx.dependency("crypto", CryptoApi)
            seen["untyped"] = ctx.dependency("crypto")
        return None

    return Feature(id="chat", name="Chat", dependencies=["crypto"], requires={"crypto": protocol},
                   on_mount=on_mount)


@pytest.mark.parametrize("service, problem", MISMATCHES, ids=[p for _, p in MISMATCHES])
async def test_a_mismatching_service_fails_the_dependent_mount(service, problem):
    errors = []
    watcher = Feature(id="watcher", name="Watcher", subscribed_events=[FEATURE_ERROR],
                      on_mount=lambda ctx: MountResult(handler=errors.append))
    app = await bootstrap([watcher, provider(service), dependent()])
    await app.settle()
    assert app.ready and app.degraded
    assert "crypto" in app.report.mounted and "chat" not in app.report.mounted
    why = app.report.failed["chat"]
    assert problem in why
    assert why.startswith("feature 'chat' requires 'crypto' to provide CryptoApi, but its service ")
    assert app.registry.status("chat") == "failed"
    [err] = [e for e in errors if e.payload["feature"] == "chat"]
    assert err.payload["phase"] == "mount" and err.payload["error_type"] == "ServiceContractError"
    assert err.payload["event_type"] is None
    await app.shutdown()


async def test_every_problem_is_listed_at_once():
    class Empty:
        pass

    with pytest.raises(ServiceContractError) as info:
        check_service("chat", "crypto", Empty(), CryptoApi)
    err = info.value
    assert (err.feature_id, err.dependency, err.protocol, err.field) == ("chat", "crypto", "CryptoApi", "requires")
    assert sorted(err.problems) == ["has no attribute 'key_id'", "has no method 'fetch_key'", "has no method 'sign'"]
    assert isinstance(err, FeatureContractError)


async def test_a_matching_service_mounts_and_is_handed_over_typed():
    seen = {}
    service = GoodCrypto()
    app = await bootstrap([provider(service), dependent(seen)])
    assert app.report.ok and app.report.mounted == ["crypto", "chat"]
    assert seen["service"] is service and seen["untyped"] is service
    assert await seen["service"].fetch_key("bob") == "key-of-bob"
    await app.shutdown()


@pytest.mark.parametrize("service", [
    type("Looser", (GoodCrypto,), {"sign": lambda self, data, salt=b"": data})(),  # an optional extra arg
    type("Wider", (GoodCrypto,), {"sign": lambda self, *args: args})(),  # *args takes anything
    type("AnyKw", (GoodCrypto,), {"fetch_key": FetchAnyKeyword.fetch_key})(),  # **options takes timeout
])
async def test_a_service_accepting_more_than_the_protocol_passes_is_fine(service):
    check_service("chat", "crypto", service, CryptoApi)
    reg = FeatureRegistry()
    reg.register(provider(service))
    reg.register(dependent())
    assert (await reg.mount_all()).ok


async def test_asking_with_another_protocol_is_refused():
    caught = {}

    def on_mount(ctx):
        with pytest.raises(FeatureContractError, match="as OtherApi, but its contract requires CryptoApi") as info:
            ctx.dependency("crypto", OtherApi)
        caught["field"] = info.value.field
        with pytest.raises(FeatureContractError, match="not in its dependencies"):
            ctx.dependency("other", CryptoApi)

    reg = FeatureRegistry()
    reg.register(provider(GoodCrypto()))
    reg.register(Feature(id="chat", name="Chat", dependencies=["crypto"], requires={"crypto": CryptoApi},
                         on_mount=on_mount))
    report = await reg.mount_all()
    assert report.ok and caught == {"field": "requires"}


async def test_without_requires_a_typed_request_is_checked_on_the_spot():
    got = {}

    def on_mount(ctx):
        got["other"] = ctx.dependency("crypto", OtherApi)  # GoodCrypto has sign(data)
        with pytest.raises(ServiceContractError, match="has no attribute 'key_id'"):
            ctx.dependency("crypto", CryptoApi)

    reg = FeatureRegistry()
    reg.register(Feature(id="crypto", name="Crypto",
                         on_mount=lambda ctx: MountResult(service=type("S", (), {"sign": lambda s, d: d})())))
    reg.register(Feature(id="chat", name="Chat", dependencies=["crypto"], on_mount=on_mount))
    report = await reg.mount_all()
    assert report.ok, report.failed
    assert got["other"].sign(b"x") == b"x"


class NotAProtocol:
    def sign(self, data: bytes, /) -> bytes: ...


@pytest.mark.parametrize("requires, fragment", [
    ({"crypto": CryptoApi}, "requires names 'crypto', which is not in its dependencies"),
    ({"other": CryptoApi}, "requires names 'other', which is not in its dependencies"),
])
def test_requires_naming_a_non_dependency_is_refused(requires, fragment):
    deps = ["other-thing"]
    with pytest.raises(FeatureContractError, match=fragment) as info:
        Feature(id="chat", name="Chat", dependencies=deps, requires=requires, on_mount=lambda ctx: None)
    assert info.value.field == "requires" and info.value.feature_id == "chat"


class ConcreteCrypto(GoodCrypto, CryptoApi):  # implements the Protocol, is not one
    pass


@pytest.mark.parametrize("protocol", [NotAProtocol, GoodCrypto, ConcreteCrypto, "CryptoApi", GoodCrypto(), int, None,
                                      Protocol])
def test_requires_naming_a_non_protocol_is_refused(protocol):
    with pytest.raises(FeatureContractError, match="must be a typing.Protocol class") as info:
        Feature(id="chat", name="Chat", dependencies=["crypto"], requires={"crypto": protocol},
                on_mount=lambda ctx: None)
    assert info.value.field == "requires"
