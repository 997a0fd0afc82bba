"""The relay's HTTP API as async calls: one place that knows the wire format.

Errors come back as :class:`RelayRequestError` with the relay's status and error code, and
network failures as ``httpx.TransportError``, so the caller decides what is worth a retry.
"""

from __future__ import annotations

from typing import Any

import httpx

from chatkernel.relay.protocol import RelayURLError, check_relay_url

from .errors import InsecureURLError, InvalidURLError, RelayRequestError

__all__ = ["RelayClient", "check_url"]


def check_url(url: object, *, allow_insecure: bool = False) -> str:
    """The relay's one URL policy (``chatkernel.relay.protocol``), raised as this feature's errors."""
    try:
        return check_relay_url(url, allow_insecure_remote=allow_insecure)
    except RelayURLError as exc:
        if exc.insecure:
            raise InsecureURLError(str(url)) from None
        raise InvalidURLError(url, exc.reason) from None


def _error(response: httpx.Response) -> RelayRequestError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    retry_after: float | None = None
    header = response.headers.get("retry-after")
    if header:
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    field, reason = body.get("field"), body.get("reason")
    return RelayRequestError(response.status_code, str(body.get("error", "http_error")),
                             str(body.get("detail", response.reason_phrase)), retry_after=retry_after,
                             field=field if isinstance(field, str) else None,
                             reason=reason if isinstance(reason, str) else None)


class RelayClient:
    """A thin async client of one relay; it holds the bearer token once connected."""

    def __init__(self, url: str, *, allow_insecure: bool = False, request_timeout: float = 10.0):
        self.url = check_url(url, allow_insecure=allow_insecure)
        self.token: str | None = None
        self._http = httpx.AsyncClient(
            base_url=self.url, timeout=httpx.Timeout(request_timeout),
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))

    async def _post(self, path: str, body: dict[str, Any], *, timeout: float | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        extra = {"timeout": httpx.Timeout(timeout)} if timeout is not None else {}
        response = await self._http.post(path, json=body, headers=headers, **extra)
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    async def health(self) -> dict[str, Any]:
        response = await self._http.get("/health")
        if response.status_code >= 400:
            raise _error(response)
        return response.json()  # type: ignore[no-any-return]

    async def connect(self, body: dict[str, Any]) -> str:
        answer = await self._post("/connect", body)
        self.token = str(answer["token"])
        return self.token

    async def poll(self, user_id: str, since: str | None, timeout: float) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"userId": user_id, "timeout": timeout}
        if since is not None:
            body["since"] = since
        events = await self._post("/poll", body, timeout=timeout + 10.0)
        if not isinstance(events, list):
            raise RelayRequestError(502, "bad_response", "poll did not answer a list")
        return events

    async def send(self, sender: str, to: str, message_id: str, payload: Any) -> dict[str, Any]:
        return await self._post("/send", {"from": sender, "to": to, "id": message_id, "payload": payload})  # type: ignore[no-any-return]

    async def disconnect(self, user_id: str) -> None:
        if self.token is None:
            return
        try:
            await self._post("/disconnect", {"userId": user_id})
        finally:
            self.token = None

    async def aclose(self) -> None:
        await self._http.aclose()
