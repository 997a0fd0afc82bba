"""The hand-written OpenAPI document matches the app: same routes, valid references, request
schemas as strict as the server, each operation listing its own error codes, and real answers
(refusals included) validating against the schemas of the operation that gave them."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from chatkernel.relay import EmbeddedRelay, create_app, openapi_document
from chatkernel.relay import _errors as errors
from chatkernel.relay._openapi import ENDPOINT_CODES, RELAY_ID_PATTERN
from chatkernel.relay._validation import REQUEST_FIELDS
from chatkernel.relay.protocol import ERROR_CODES, b64url_encode

pytestmark = pytest.mark.anyio

# Codes only /connect can answer, and codes only the token-authenticated POSTs can answer.
CONNECT_ONLY = {errors.BAD_SIGNATURE, errors.STALE_TIMESTAMP, errors.REPLAYED_REQUEST, errors.KEY_CONFLICT}
TOKEN_ONLY = {errors.MISSING_TOKEN, errors.INVALID_TOKEN, errors.FORBIDDEN}
BODY_ONLY = {errors.BODY_TOO_LARGE, errors.INVALID_JSON, errors.INVALID_FIELD, errors.RATE_LIMITED}
CONNECTION = {errors.HEADERS_TOO_LARGE, errors.REQUEST_TIMEOUT, errors.TOO_MANY_CONNECTIONS}


def _resolve(doc: dict[str, Any], node: Any) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            target: Any = doc
            for part in ref.removeprefix("#/").split("/"):
                target = target[part]
        for value in node.values():
            _resolve(doc, value)
    elif isinstance(node, list):
        for value in node:
            _resolve(doc, value)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(path, method): op for path, ops in doc["paths"].items() for method, op in ops.items()}


def _codes(response: dict[str, Any]) -> list[str]:
    """The ``error`` codes a refusal's schema allows (none for a success)."""
    schema = response["content"]["application/json"]["schema"]
    return list(schema.get("properties", {}).get("error", {}).get("enum", []))


def _statuses() -> dict[str, int]:
    """Each code's status, from the error classes and the connection layer, not the document."""
    found = {cls.code: cls.status for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, (errors.RequestError, errors.StoreError))
             and "code" in vars(cls) and cls.code in ERROR_CODES}
    found.update(dict.fromkeys((errors.MISSING_TOKEN, errors.INVALID_TOKEN, errors.BAD_SIGNATURE,
                                errors.STALE_TIMESTAMP, errors.REPLAYED_REQUEST), 401))
    found.update({errors.UNKNOWN_USER: 404, errors.NO_PREKEYS: 404, errors.STALE_PREKEY: 409})
    found.update({errors.KEY_CONFLICT: 409, errors.ID_CONFLICT: 409, errors.HEADERS_TOO_LARGE: 431,
                  errors.REQUEST_TIMEOUT: 408,
                  errors.TOO_MANY_CONNECTIONS: 503, errors.NOT_FOUND: 404, errors.METHOD_NOT_ALLOWED: 405,
                  errors.INTERNAL_ERROR: 500})
    return found


# The document's shape ---------------------------------------------------------------------------
def test_document_lists_exactly_the_routes() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    app = create_app()
    routes = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) for m in r.methods or () if m != "HEAD"}
    assert routes == set(_operations(doc)) == set(ENDPOINT_CODES)


def test_every_reference_resolves() -> None:
    doc = openapi_document()
    _resolve(doc, doc)  # raises KeyError on a dangling $ref


def test_the_document_is_a_valid_openapi_31_schema_set() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    for name, schema in openapi_document()["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_document_is_a_fresh_copy() -> None:
    openapi_document()["paths"].clear()
    assert openapi_document()["paths"]


# Each operation's own codes ---------------------------------------------------------------------
def test_each_operation_documents_exactly_its_codes_under_their_status() -> None:
    statuses = _statuses()
    for key, op in _operations(openapi_document()).items():
        documented: list[str] = []
        for status, response in op["responses"].items():
            codes = _codes(response)
            assert (status == "200") == (not codes), key
            assert all(statuses[code] == int(status) for code in codes), (key, status, codes)
            documented += codes
        assert sorted(documented) == sorted(ENDPOINT_CODES[key]), key
        assert len(documented) == len(set(documented)), key


def test_no_operation_lists_another_kind_of_operations_codes() -> None:
    ops = _operations(openapi_document())
    listed = {key: {code for response in op["responses"].values() for code in _codes(response)}
              for key, op in ops.items()}
    for (path, method), codes in listed.items():
        assert CONNECTION <= codes, path  # the connection layer refuses before any route
        if path == "/connect":
            assert CONNECT_ONLY <= codes and not codes & TOKEN_ONLY
        elif ops[(path, method)]["security"]:
            assert TOKEN_ONLY <= codes and not codes & CONNECT_ONLY, path
        else:
            assert not codes & (CONNECT_ONLY | TOKEN_ONLY), path
        if method == "get" and ops[(path, method)]["security"]:
            # An authenticated GET reads no body, but is charged and checks its path parameter.
            assert codes & BODY_ONLY == {errors.INVALID_FIELD, errors.RATE_LIMITED}, path
        elif method == "get":
            assert not codes & BODY_ONLY, path
        else:
            assert BODY_ONLY <= codes, path
    assert errors.TOO_MANY_POLLS in listed[("/poll", "post")]
    assert {k for k, codes in listed.items() if errors.TOO_MANY_POLLS in codes} == {("/poll", "post")}
    assert {k for k, codes in listed.items() if errors.MAILBOX_FULL in codes} == {("/send", "post")}
    assert {k for k, codes in listed.items() if errors.ID_CONFLICT in codes} == {("/send", "post")}
    keys_only = {errors.BAD_PREKEY_SIGNATURE, errors.STALE_PREKEY, errors.TOO_MANY_PREKEYS}
    assert {k for k, codes in listed.items() if codes & keys_only} == {("/keys", "post")}
    assert keys_only <= listed[("/keys", "post")]
    fetch_only = {errors.UNKNOWN_USER, errors.NO_PREKEYS}
    assert {k for k, codes in listed.items() if codes & fetch_only} == {("/keys/{userId}", "get")}


def test_every_error_code_is_documented_and_nothing_else() -> None:
    doc = openapi_document()
    documented = {code for op in _operations(doc).values() for r in op["responses"].values() for code in _codes(r)}
    documented |= {code for r in doc["components"]["responses"].values() for code in _codes(r)}
    assert documented == ERROR_CODES


def test_retrying_refusals_document_their_headers() -> None:
    for key, op in _operations(openapi_document()).items():
        for status, response in op["responses"].items():
            codes = set(_codes(response))
            if codes & {errors.RATE_LIMITED, errors.TOO_MANY_POLLS, errors.STORE_UNAVAILABLE}:
                assert response["headers"]["Retry-After"]["required"], (key, status)
            if status == "401":
                assert response["headers"]["WWW-Authenticate"]["required"], key
            if status in ("408", "431"):
                assert response["headers"]["Connection"]["required"], key


# Request schemas as strict as the server --------------------------------------------------------
@pytest.mark.parametrize(("schema", "fields"), [("ConnectRequest", "/connect"), ("PublicKey", "/connect publicKey"),
                                                ("PollRequest", "/poll"), ("SendRequest", "/send"),
                                                ("DisconnectRequest", "/disconnect"), ("KeysRequest", "/keys"),
                                                ("SignedPrekey", "/keys signedPrekey"),
                                                ("OneTimePrekey", "/keys oneTimePrekeys[]")])
def test_request_schemas_are_closed_and_list_the_servers_fields(schema: str, fields: str) -> None:
    node = openapi_document()["components"]["schemas"][schema]
    assert node["additionalProperties"] is False
    assert set(node["properties"]) == set(REQUEST_FIELDS[fields])
    assert set(node["required"]) <= set(node["properties"])


def test_answer_schemas_are_open() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for name in ("Error", "Health", "Ready", "ConnectResponse", "Event", "SendResponse", "DisconnectResponse",
                 "KeysResponse", "Bundle"):
        assert schemas[name]["additionalProperties"] is True, name
    for name in ("publicKey", "signedPrekey", "oneTimePrekey"):
        assert schemas["Bundle"]["properties"][name]["additionalProperties"] is True, name


def test_no_required_value_admits_null() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = openapi_document()
    for name in ("ConnectRequest", "PublicKey", "PollRequest", "SendRequest", "DisconnectRequest", "KeysRequest",
                 "SignedPrekey", "OneTimePrekey"):
        for prop, schema in doc["components"]["schemas"][name]["properties"].items():
            validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
            assert not validator.is_valid(None), (name, prop)


def test_identifier_patterns() -> None:
    schemas = openapi_document()["components"]["schemas"]
    connect, keys = schemas["ConnectRequest"]["properties"], schemas["PublicKey"]["properties"]
    assert re.match(keys["signing"]["pattern"], b64url_encode(b"\x01" * 32))
    assert not re.match(keys["signing"]["pattern"], b64url_encode(b"\x01" * 32) + "=")
    assert re.match(connect["sig"]["pattern"], b64url_encode(b"\x02" * 64))
    assert not re.match(connect["sig"]["pattern"], b64url_encode(b"\x02" * 63))
    assert connect["userId"]["pattern"] == schemas["PollRequest"]["properties"]["userId"]["pattern"]
    assert schemas["PollRequest"]["properties"]["since"]["pattern"] == RELAY_ID_PATTERN
    for good in ("0", "17", "1700000000000-0", "9223372036854775807-3"):
        assert re.match(RELAY_ID_PATTERN, good), good
    for bad in ("", "01", "-1", "1-", "a", "1-2-3", " 1"):
        assert not re.match(RELAY_ID_PATTERN, bad), bad


# Real answers -----------------------------------------------------------------------------------
async def test_served_document_equals_the_module(http) -> None:
    assert (await http.get("/openapi.json")).json() == openapi_document()


class Checker:
    """Validates answers against the schema of the operation and status that gave them."""

    def __init__(self) -> None:
        self.jsonschema = pytest.importorskip("jsonschema")
        self.doc = openapi_document()
        self.seen: set[tuple[str, str, str]] = set()

    def __call__(self, path: str, r: httpx.Response, method: str = "post", code: str | None = None) -> None:
        responses = self.doc["paths"][path][method]["responses"]
        assert str(r.status_code) in responses, (path, r.status_code, r.text)
        response = responses[str(r.status_code)]
        schema = response["content"]["application/json"]["schema"]
        self.jsonschema.validate(r.json(), {**schema, "components": self.doc["components"]},
                                 cls=self.jsonschema.Draft202012Validator)
        for name, header in response.get("headers", {}).items():
            if header["required"]:
                assert name.lower() in r.headers, (path, r.status_code, name)
        if code is not None:
            assert r.json()["error"] == code, (path, r.text)
        if r.status_code != 200:
            self.seen.add((path, method, r.json()["error"]))


async def test_real_answers_validate_against_the_schemas(http, alice, bob, new_identity) -> None:
    check = Checker()
    check("/health", await http.get("/health"), "get")
    check("/ready", await http.get("/ready"), "get")
    await alice.send(bob.user_id, "m1", payload={"ct": "AAAA"})
    check("/send", await alice.send(bob.user_id, "m2"))
    check("/send", await alice.send(bob.user_id, "m2"))  # a duplicate
    polled = await bob.poll()
    check("/poll", polled)
    assert len(polled.json()) == 2
    fresh = time.time_ns() // 1_000_000 + 7  # a ts alice has not signed yet
    check("/connect", await http.post("/connect", json=alice.identity.connect_body(fresh)))
    check("/keys", await alice.upload_keys(alice.signed_prekey(1), alice.one_time_prekeys(1, 1)))
    check("/keys", await alice.upload_keys())  # the counts alone
    check("/keys/{userId}", await bob.fetch_keys(alice.user_id), "get")  # with a one-time prekey
    check("/keys/{userId}", await bob.fetch_keys(alice.user_id), "get")  # the signed prekey alone
    check("/disconnect", await bob.disconnect())
    schemas = openapi_document()["components"]
    check.jsonschema.validate(alice.identity.connect_body(fresh + 1), {**schemas["schemas"]["ConnectRequest"],
                              "components": schemas}, cls=check.jsonschema.Draft202012Validator)


async def test_every_refusal_is_documented_for_its_own_operation(test_config, client_for, new_identity) -> None:
    """Provoke each refusal the relay can give on each operation; every one must validate
    against that operation's documented answer for its status (so its code is listed there)."""
    check = Checker()
    config = test_config.replace(mailbox_max_len=1, max_parked_polls=1, max_body_bytes=2048, prekey_batch_max=10,
                                 prekey_max_per_user=20)
    async with EmbeddedRelay.start(config=config) as relay, httpx.AsyncClient(base_url=relay.url, timeout=10) as http:
        alice, bob, carol = client_for(http), client_for(http), client_for(http)
        for user in (alice, bob, carol):
            await user.connect()
        big = b"{" + b" " * 4096 + b"}"
        for path in ("/connect", "/poll", "/send", "/disconnect", "/keys"):
            check(path, await http.post(path, content=big, headers=alice.auth), code=errors.BODY_TOO_LARGE)
            check(path, await http.post(path, content=b"{", headers=alice.auth), code=errors.INVALID_JSON)
            check(path, await http.post(path, content=b'{"a":1,"a":2}', headers=alice.auth), code=errors.INVALID_JSON)
            check(path, await http.post(path, json={"nope": 1}, headers=alice.auth), code=errors.INVALID_FIELD)
        for path in ("/poll", "/send", "/disconnect", "/keys"):
            check(path, await http.post(path, json={}), code=errors.MISSING_TOKEN)
            check(path, await http.post(path, json={}, headers={"Authorization": "Bearer nope"}),
                  code=errors.INVALID_TOKEN)
        fetch = f"/keys/{bob.user_id}"
        check("/keys/{userId}", await http.get(fetch), "get", code=errors.MISSING_TOKEN)
        check("/keys/{userId}", await http.get(fetch, headers={"Authorization": "Bearer nope"}), "get",
              code=errors.INVALID_TOKEN)
        check("/keys/{userId}", await alice.fetch_keys("nope"), "get", code=errors.INVALID_FIELD)
        check("/keys/{userId}", await alice.fetch_keys(alice.user_id), "get", code=errors.FORBIDDEN)
        check("/keys/{userId}", await alice.fetch_keys(new_identity().user_id), "get", code=errors.UNKNOWN_USER)
        check("/keys/{userId}", await alice.fetch_keys(bob.user_id), "get", code=errors.NO_PREKEYS)
        check("/keys", await alice.upload_keys(userId=bob.user_id), code=errors.FORBIDDEN)
        check("/keys", await alice.upload_keys(bob.signed_prekey(1)), code=errors.BAD_PREKEY_SIGNATURE)
        check("/keys", await alice.upload_keys(alice.signed_prekey(2)))
        check("/keys", await alice.upload_keys(alice.signed_prekey(1)), code=errors.STALE_PREKEY)
        many = alice.one_time_prekeys(1, config.prekey_max_per_user + 1)
        check("/keys", await alice.upload_keys(one_time=many), code=errors.INVALID_FIELD)  # over the batch
        for start in range(1, config.prekey_max_per_user, config.prekey_batch_max):
            check("/keys", await alice.upload_keys(one_time=alice.one_time_prekeys(start, config.prekey_batch_max)))
        check("/keys", await alice.upload_keys(one_time=alice.one_time_prekeys(10**6, 1)),
              code=errors.TOO_MANY_PREKEYS)
        body = lambda: new_identity().connect_body(time.time_ns() // 1_000_000)  # noqa: E731
        check("/connect", await http.post("/connect", json={**body(), "ts": 5}), code=errors.STALE_TIMESTAMP)
        signed = body()
        check("/connect", await http.post("/connect", json={**signed, "sig": b64url_encode(b"\x00" * 64)}),
              code=errors.BAD_SIGNATURE)
        check("/connect", await http.post("/connect", json=signed))
        check("/connect", await http.post("/connect", json=signed), code=errors.REPLAYED_REQUEST)
        check("/poll", await alice.poll(userId=bob.user_id), code=errors.FORBIDDEN)
        check("/poll", await alice.poll(since="99999"), code=errors.INVALID_FIELD)  # cursor_ahead
        check("/send", await alice.send(bob.user_id, "x", **{"from": bob.user_id}), code=errors.FORBIDDEN)
        check("/disconnect", await http.post("/disconnect", json={"userId": bob.user_id}, headers=alice.auth),
              code=errors.FORBIDDEN)
        check("/send", await alice.send(bob.user_id, "one"))
        check("/send", await alice.send(carol.user_id, "one"), code=errors.ID_CONFLICT)
        check("/send", await alice.send(bob.user_id, "two"), code=errors.MAILBOX_FULL)
        parked = asyncio.ensure_future(carol.poll(timeout=20))
        for _ in range(500):  # bounded: the poll parks within a few ms
            if relay.service.parked:
                break
            await asyncio.sleep(0.01)
        check("/poll", await alice.poll(timeout=5), code=errors.TOO_MANY_POLLS)
        check("/disconnect", await carol.disconnect())
        check("/poll", await asyncio.wait_for(parked, 10))
        for path, method in (("/nope", "get"), ("/send", "get")):
            r = await http.request(method, path)
            name = "NotFound" if r.status_code == 404 else "MethodNotAllowed"
            assert r.json()["error"] in check.doc["components"]["responses"][name]["content"][
                "application/json"]["schema"]["properties"]["error"]["enum"]

    by_address = test_config.replace(rate_per_address=0.001, burst_per_address=1)
    async with EmbeddedRelay.start(config=by_address) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        check("/connect", await http.post("/connect", json=new_identity().connect_body()))  # the one token
        r = await http.post("/connect", json=new_identity().connect_body())
        check("/connect", r, code=errors.RATE_LIMITED)
        assert r.json()["scope"] == "address"
    by_user = test_config.replace(rate_per_user=0.001, burst_per_user=2)
    async with EmbeddedRelay.start(config=by_user) as relay, httpx.AsyncClient(base_url=relay.url) as http:
        dave = client_for(http)
        await dave.connect()
        check("/send", await dave.send(dave.user_id, "m"))
        check("/send", await dave.send(dave.user_id, "m"))  # the user's two tokens
        for path in ("/poll", "/send", "/disconnect", "/keys"):
            r = await http.post(path, json={}, headers=dave.auth)
            check(path, r, code=errors.RATE_LIMITED)
            assert r.json()["scope"] == "user"
        r = await dave.fetch_keys(new_identity().user_id)
        check("/keys/{userId}", r, "get", code=errors.RATE_LIMITED)
        assert r.json()["scope"] == "user"
    assert {code for *_, code in check.seen} >= (BODY_ONLY | CONNECT_ONLY | TOKEN_ONLY) - {errors.KEY_CONFLICT}
    assert {code for *_, code in check.seen} >= {errors.BAD_PREKEY_SIGNATURE, errors.STALE_PREKEY,
                                                  errors.TOO_MANY_PREKEYS, errors.UNKNOWN_USER, errors.NO_PREKEYS}
