"""The hand-written OpenAPI document matches the app: same routes, valid references, and
real answers validate against its schemas."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.routing import Route

from chatkernel.relay import create_app, openapi_document

pytestmark = pytest.mark.anyio


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


def test_document_lists_exactly_the_routes() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    app = create_app()
    routes = {(r.path, m.lower()) for r in app.routes if isinstance(r, Route) for m in r.methods or () if m != "HEAD"}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented


def test_every_reference_resolves() -> None:
    doc = openapi_document()
    _resolve(doc, doc)  # raises KeyError on a dangling $ref


def test_every_authenticated_operation_documents_401_and_422() -> None:
    for path, ops in openapi_document()["paths"].items():
        for op in ops.values():
            if "requestBody" in op:
                assert {"413", "422", "429", "500"} <= set(op["responses"]), path
                if op["security"]:
                    assert {"401", "403"} <= set(op["responses"]), path


def test_document_is_a_fresh_copy() -> None:
    openapi_document()["paths"].clear()
    assert openapi_document()["paths"]


async def test_served_document_equals_the_module(http) -> None:
    assert (await http.get("/openapi.json")).json() == openapi_document()


async def test_real_answers_validate_against_the_schemas(http, alice, bob) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    doc = openapi_document()

    def check(path: str, status: int, body: Any) -> None:
        schema = doc["paths"][path][next(iter(doc["paths"][path]))]["responses"][str(status)]
        schema = schema["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**schema, "components": doc["components"]},
                            cls=jsonschema.Draft202012Validator)

    check("/health", 200, (await http.get("/health")).json())
    await alice.send(bob.user_id, "m1", payload={"ct": "AAAA"})
    sent = await alice.send(bob.user_id, "m2")
    check("/send", 200, sent.json())
    polled = await bob.poll()
    check("/poll", 200, polled.json())
    assert len(polled.json()) == 2
    check("/poll", 403, (await alice.http.post("/poll", json={"userId": bob.user_id}, headers=alice.auth)).json())
    check("/send", 422, (await alice.send("bad", "m3")).json())
    check("/send", 401, (await http.post("/send", json={})).json())
    fresh = time.time_ns() // 1_000_000 + 7  # a ts alice has not signed yet
    check("/connect", 200, (await http.post("/connect", json=alice.identity.connect_body(fresh))).json())
    check("/disconnect", 200, (await bob.disconnect()).json())

    request_schemas = doc["components"]["schemas"]
    body = alice.identity.connect_body(fresh + 1)
    jsonschema.validate(body, {**request_schemas["ConnectRequest"], "components": doc["components"]},
                        cls=jsonschema.Draft202012Validator)
