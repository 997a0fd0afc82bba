"""The X3DH key directory over HTTP: POST /keys and GET /keys/{userId}, attacked.

Every refusal names its field; a bundle is only stored once its signature verifies with the
identity key bound at /connect; a one-time prekey is handed out at most once, also when several
relay processes share one store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from chatkernel.relay import EmbeddedRelay
from chatkernel.relay import _errors as errors
from chatkernel.relay.protocol import (
    PREKEY_ID_MAX,
    b64url_decode,
    b64url_encode,
    signed_prekey,
    signed_prekey_message,
    verify_signed_prekey,
)

pytestmark = pytest.mark.anyio


def _refused(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code, body
    if field is not None:
        assert body["field"] == field, body
    assert "Traceback" not in r.text
    return body


# Upload and fetch ---------------------------------------------------------------------------------
async def test_upload_then_fetch_hands_out_each_one_time_prekey_once(alice, bob) -> None:
    spk = alice.signed_prekey(7)
    otks = alice.one_time_prekeys(1, 2)
    r = await alice.upload_keys(spk, otks)
    assert r.status_code == 200, r.text
    assert r.json() == {"oneTimePrekeys": 2, "accepted": 2, "signedPrekeyId": 7}
    answers = [await bob.fetch_keys(alice.user_id) for _ in range(3)]
    assert all(r.headers["cache-control"] == "no-store" for r in answers)
    first, second, third = [r.json() for r in answers]
    assert first["userId"] == alice.user_id
    assert first["publicKey"] == alice.identity.connect_body()["publicKey"]
    assert first["signedPrekey"] == spk == second["signedPrekey"] == third["signedPrekey"]
    assert [first["oneTimePrekey"], second["oneTimePrekey"]] == otks
    assert "oneTimePrekey" not in third  # exhausted: the signed prekey alone
    signing = b64url_decode(first["publicKey"]["signing"])
    assert verify_signed_prekey(signing, spk["id"], b64url_decode(spk["key"]), b64url_decode(spk["sig"]))
    counts = await alice.upload_keys()  # only userId: the owner's low-water check
    assert counts.json() == {"oneTimePrekeys": 0, "accepted": 0, "signedPrekeyId": 7}


async def test_counts_before_any_upload_have_no_signed_prekey_id(alice) -> None:
    assert (await alice.upload_keys()).json() == {"oneTimePrekeys": 0, "accepted": 0}
    assert (await alice.upload_keys(one_time=[])).json() == {"oneTimePrekeys": 0, "accepted": 0}


async def test_a_new_signed_prekey_replaces_the_old_and_an_old_one_cannot_come_back(alice, bob) -> None:
    old, new = alice.signed_prekey(1), alice.signed_prekey(2)
    assert (await alice.upload_keys(old)).status_code == 200
    assert (await alice.upload_keys(old)).status_code == 200  # an exact retry
    assert (await alice.upload_keys(new)).json()["signedPrekeyId"] == 2
    assert (await bob.fetch_keys(alice.user_id)).json()["signedPrekey"] == new
    # A replay of the earlier upload (a stale client, or anyone holding the token) cannot roll back.
    _refused(await alice.upload_keys(old), 409, errors.STALE_PREKEY, "signedPrekey.id")
    _refused(await alice.upload_keys(alice.signed_prekey(2)), 409, errors.STALE_PREKEY, "signedPrekey.id")
    assert (await bob.fetch_keys(alice.user_id)).json()["signedPrekey"] == new


async def test_a_replayed_upload_never_brings_back_a_used_one_time_prekey(alice, bob) -> None:
    upload = {"signed": alice.signed_prekey(1), "one_time": alice.one_time_prekeys(1, 3)}
    await alice.upload_keys(**upload)
    taken = (await bob.fetch_keys(alice.user_id)).json()["oneTimePrekey"]
    replay = await alice.upload_keys(**upload)
    assert replay.json() == {"oneTimePrekeys": 2, "accepted": 0, "signedPrekeyId": 1}
    rest = [(await bob.fetch_keys(alice.user_id)).json().get("oneTimePrekey") for _ in range(3)]
    assert taken not in rest and rest[:2] == upload["one_time"][1:] and rest[2] is None


# Signatures -----------------------------------------------------------------------------------------
async def test_a_bit_flipped_signature_is_refused_and_nothing_is_stored(alice, bob) -> None:
    spk = alice.signed_prekey(1)
    sig = bytearray(b64url_decode(spk["sig"]))
    sig[10] ^= 0x01
    r = await alice.upload_keys({**spk, "sig": b64url_encode(bytes(sig))}, alice.one_time_prekeys(1, 2))
    _refused(r, 422, errors.BAD_PREKEY_SIGNATURE, "signedPrekey.sig")
    _refused(await bob.fetch_keys(alice.user_id), 404, errors.NO_PREKEYS, "userId")
    assert (await alice.upload_keys()).json()["oneTimePrekeys"] == 0  # all or nothing


async def test_a_prekey_signed_by_another_users_key_is_refused(alice, bob) -> None:
    _refused(await alice.upload_keys(bob.signed_prekey(1)), 422, errors.BAD_PREKEY_SIGNATURE, "signedPrekey.sig")


async def test_a_signature_cannot_be_moved_to_another_id_or_key(alice) -> None:
    spk = alice.signed_prekey(5)
    other_key = b64url_encode(X25519PrivateKey.generate().public_key().public_bytes_raw())
    for forged in ({**spk, "id": 6}, {**spk, "key": other_key}):
        _refused(await alice.upload_keys(forged), 422, errors.BAD_PREKEY_SIGNATURE, "signedPrekey.sig")


async def test_a_connect_signature_is_not_a_prekey_signature(alice) -> None:
    """Domain tags keep the two signed messages apart: neither can stand for the other."""
    key = X25519PrivateKey.generate().public_key().public_bytes_raw()
    wrong = alice.identity.signing.sign(key)  # the bare key, no tag, no id
    r = await alice.upload_keys({"id": 1, "key": b64url_encode(key), "sig": b64url_encode(wrong)})
    _refused(r, 422, errors.BAD_PREKEY_SIGNATURE, "signedPrekey.sig")
    assert signed_prekey_message(1, key).startswith(b"chatkernel/relay/signed-prekey/v1\x00\x00\x00\x00\x01")


# Shapes ---------------------------------------------------------------------------------------------
def _key(n: int) -> str:
    return b64url_encode(b"\x09" * n)


@pytest.mark.parametrize(("signed", "field"), [
    ({"id": 1, "key": _key(31), "sig": _key(64)}, "signedPrekey.key"),
    ({"id": 1, "key": _key(33), "sig": _key(64)}, "signedPrekey.key"),
    ({"id": 1, "key": _key(32), "sig": _key(63)}, "signedPrekey.sig"),
    ({"id": 1, "key": _key(32) + "=", "sig": _key(64)}, "signedPrekey.key"),
    ({"id": 1, "key": _key(32).replace("J", "+"), "sig": _key(64)}, "signedPrekey.key"),
    ({"id": -1, "key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"id": PREKEY_ID_MAX + 1, "key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"id": 1.5, "key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"id": True, "key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"id": "1", "key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"key": _key(32), "sig": _key(64)}, "signedPrekey.id"),
    ({"id": 1, "key": None, "sig": _key(64)}, "signedPrekey.key"),
    ({"id": 1, "key": _key(32), "sig": _key(64), "extra": 1}, "signedPrekey.extra"),
    ([], "signedPrekey"),
    (None, "signedPrekey"),
])
async def test_malformed_signed_prekeys_name_their_field(alice, signed: Any, field: str) -> None:
    body = {"userId": alice.user_id, "signedPrekey": signed}
    _refused(await alice.http.post("/keys", json=body, headers=alice.auth), 422, errors.INVALID_FIELD, field)


@pytest.mark.parametrize(("one_time", "field"), [
    ({"id": 1, "key": _key(32)}, "oneTimePrekeys"),
    (None, "oneTimePrekeys"),
    ([{"id": 1, "key": _key(32)}, {"id": 1, "key": _key(32)}], "oneTimePrekeys[1].id"),
    ([{"id": 1, "key": _key(16)}], "oneTimePrekeys[0].key"),
    ([{"id": 1}], "oneTimePrekeys[0].key"),
    ([{"id": 1, "key": _key(32), "sig": _key(64)}], "oneTimePrekeys[0].sig"),
    ([{"id": 1, "key": _key(32)}, "key"], "oneTimePrekeys[1]"),
    ([{"id": PREKEY_ID_MAX + 1, "key": _key(32)}], "oneTimePrekeys[0].id"),
])
async def test_malformed_one_time_prekeys_name_their_field(alice, one_time: Any, field: str) -> None:
    body = {"userId": alice.user_id, "oneTimePrekeys": one_time}
    _refused(await alice.http.post("/keys", json=body, headers=alice.auth), 422, errors.INVALID_FIELD, field)


async def test_unknown_and_foreign_fields(alice, bob) -> None:
    _refused(await alice.upload_keys(OneTimePrekeys=[]), 422, errors.INVALID_FIELD, "OneTimePrekeys")
    _refused(await alice.upload_keys(userId=bob.user_id), 403, errors.FORBIDDEN, "userId")
    r = await alice.http.post("/keys", json={}, headers=alice.auth)
    _refused(r, 422, errors.INVALID_FIELD, "userId")


async def test_tokens_are_required(http, alice) -> None:
    _refused(await http.post("/keys", json={"userId": alice.user_id}), 401, errors.MISSING_TOKEN)
    r = await http.get(f"/keys/{alice.user_id}", headers={"Authorization": "Bearer forged"})
    assert _refused(r, 401, errors.INVALID_TOKEN) and r.headers["www-authenticate"] == "Bearer"


# Limits -----------------------------------------------------------------------------------------
async def test_batch_and_total_limits(test_config, client_for) -> None:
    config = test_config.replace(prekey_batch_max=5, prekey_max_per_user=8)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        await alice.upload_keys(alice.signed_prekey(1))
        body = _refused(await alice.upload_keys(one_time=alice.one_time_prekeys(1, 6)), 422, errors.INVALID_FIELD,
                        "oneTimePrekeys")
        assert "at most 5" in body["detail"]
        assert (await alice.upload_keys(one_time=alice.one_time_prekeys(1, 5))).json()["oneTimePrekeys"] == 5
        over = await alice.upload_keys(alice.signed_prekey(2), alice.one_time_prekeys(6, 4))
        assert _refused(over, 422, errors.TOO_MANY_PREKEYS, "oneTimePrekeys")["limit"] == 8
        assert (await alice.upload_keys()).json() == {"oneTimePrekeys": 5, "accepted": 0, "signedPrekeyId": 1}
        assert (await alice.upload_keys(one_time=alice.one_time_prekeys(6, 3))).json()["oneTimePrekeys"] == 8
        await bob.fetch_keys(alice.user_id)  # one used: room for one more
        assert (await alice.upload_keys(one_time=alice.one_time_prekeys(9, 1))).json()["oneTimePrekeys"] == 8


async def test_fetches_are_charged_to_the_callers_rate_limit(test_config, client_for) -> None:
    config = test_config.replace(rate_per_user=0.001, burst_per_user=3)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        alice, bob = client_for(http), client_for(http)
        await alice.connect()
        await bob.connect()
        await alice.upload_keys(alice.signed_prekey(1), alice.one_time_prekeys(1, 10))
        statuses = [(await bob.fetch_keys(alice.user_id)).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        assert (await alice.upload_keys()).json()["oneTimePrekeys"] == 7  # a refused fetch takes nothing


# Fetch refusals -----------------------------------------------------------------------------------
async def test_fetch_refusals(alice, bob, new_identity) -> None:
    _refused(await bob.fetch_keys(new_identity().user_id), 404, errors.UNKNOWN_USER, "userId")
    _refused(await bob.fetch_keys(alice.user_id), 404, errors.NO_PREKEYS, "userId")
    await alice.upload_keys(alice.signed_prekey(1), alice.one_time_prekeys(1, 1))
    _refused(await alice.fetch_keys(alice.user_id), 403, errors.FORBIDDEN, "userId")
    assert (await alice.upload_keys()).json()["oneTimePrekeys"] == 1  # the refusal took nothing
    for bad in ("A" * 32, "a" * 31, "a" * 33, "%00" + "a" * 29):
        _refused(await bob.fetch_keys(bad), 422, errors.INVALID_FIELD, "userId")
    r = await bob.http.get(f"/keys/{alice.user_id}?all=1", headers=bob.auth)
    _refused(r, 422, errors.INVALID_FIELD, "all")
    _refused(await bob.http.post(f"/keys/{alice.user_id}", headers=bob.auth), 405, errors.METHOD_NOT_ALLOWED)
    # A HEAD (a link checker, a proxy's probe) must not burn a key nobody sees.
    head = await bob.http.head(f"/keys/{alice.user_id}", headers=bob.auth)
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    assert (await alice.upload_keys()).json()["oneTimePrekeys"] == 1


# Concurrency --------------------------------------------------------------------------------------
async def _fetch_many(urls: list[str], fetchers: list[tuple[str, str]], target: str) -> list[dict[str, Any]]:
    async def fetch(url: str, token: str) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            r = await http.get(f"/keys/{target}", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return dict(r.json())

    return await asyncio.gather(*(fetch(urls[i % len(urls)], token) for i, (_user, token) in enumerate(fetchers)))


async def test_concurrent_fetches_on_one_relay_hand_out_distinct_keys(http, alice, client_for, relay) -> None:
    await alice.upload_keys(alice.signed_prekey(1), alice.one_time_prekeys(1, 12))
    fetchers = []
    for _ in range(20):
        client = client_for(http)
        fetchers.append((client.user_id, await client.connect()))
    bundles = await _fetch_many([relay.url], fetchers, alice.user_id)
    handed = [b["oneTimePrekey"]["id"] for b in bundles if "oneTimePrekey" in b]
    assert sorted(handed) == list(range(1, 13))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
async def test_two_relay_processes_on_one_store_never_hand_out_a_key_twice(
    backend: str, relay_process, tmp_path: Path, request: pytest.FixtureRequest, new_identity
) -> None:
    spec = f"sqlite:{tmp_path / 'shared.db'}" if backend == "sqlite" else request.getfixturevalue("redis_url")
    nodes = [relay_process(f"node-{n}", "--store", spec, "--log-level", "warning", "--rate-per-user", "1000",
                           "--burst-per-user", "1000", "--rate-per-address", "10000", "--burst-per-address", "10000")
             for n in "ab"]
    for node in nodes:
        node.wait_ready()
    owner = new_identity()
    async with httpx.AsyncClient(base_url=nodes[0].url, timeout=30) as http:
        token = (await http.post("/connect", json=owner.connect_body())).json()["token"]
        body = {"userId": owner.user_id,
                "signedPrekey": signed_prekey(owner.signing, 1, X25519PrivateKey.generate().public_key()),
                "oneTimePrekeys": [{"id": i, "key": b64url_encode(X25519PrivateKey.generate().public_key()
                                                                   .public_bytes_raw())} for i in range(1, 31)]}
        assert (await http.post("/keys", json=body, headers={"Authorization": f"Bearer {token}"})).status_code == 200
        fetchers = []
        for n in range(40):
            someone = new_identity()
            async with httpx.AsyncClient(base_url=nodes[n % 2].url, timeout=30) as node_http:
                answer = await node_http.post("/connect", json=someone.connect_body())
                fetchers.append((someone.user_id, answer.json()["token"]))
    bundles = await _fetch_many([node.url for node in nodes], fetchers, owner.user_id)
    handed = [b["oneTimePrekey"]["id"] for b in bundles if "oneTimePrekey" in b]
    assert sorted(handed) == list(range(1, 31))  # min(40 fetches, 30 keys), all distinct
    assert sum("oneTimePrekey" not in b for b in bundles) == 10
