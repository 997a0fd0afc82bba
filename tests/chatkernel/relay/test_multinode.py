"""Two relay processes on one Redis: a poll parked on node A is woken by a send on node B."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.redis


def test_two_nodes_deliver_across_each_other(relay_process, redis_url: str, new_identity) -> None:
    node_a = relay_process("node-a", "--store", redis_url, "--log-level", "warning")
    node_b = relay_process("node-b", "--store", redis_url, "--log-level", "warning")
    node_a.wait_ready()
    node_b.wait_ready()
    alice, bob = new_identity(), new_identity()
    with httpx.Client(base_url=node_a.url, timeout=30) as on_a, httpx.Client(base_url=node_b.url, timeout=30) as on_b:
        # A token issued by one node is valid on the other: tokens live in Redis.
        bob_auth = {"Authorization": "Bearer " + on_a.post("/connect", json=bob.connect_body()).json()["token"]}
        alice_auth = {"Authorization": "Bearer " + on_b.post("/connect", json=alice.connect_body()).json()["token"]}

        answer: dict[str, object] = {}

        def park_on_a() -> None:
            r = on_a.post("/poll", json={"userId": bob.user_id, "timeout": 30}, headers=bob_auth)
            answer.update(status=r.status_code, events=r.json())

        poller = threading.Thread(target=park_on_a)
        poller.start()
        time.sleep(0.5)  # give the poll time to park on A, so the wake-up path is the one exercised
        sent = httpx.post(node_b.url + "/send", headers=alice_auth, timeout=10,
                          json={"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "across"})
        assert sent.status_code == 200
        poller.join(20)  # far less than the poll's 30 s: only a wake-up from node B answers it in time
        assert not poller.is_alive(), "the poll parked on A was not woken by the send on B"
        assert answer["status"] == 200
        assert [e["payload"] for e in answer["events"]] == ["across"]  # type: ignore[union-attr]

        # The resend on the other node is a duplicate: deduplication is shared.
        again = on_a.post("/send", headers=alice_auth,
                          json={"from": alice.user_id, "to": bob.user_id, "id": "m1", "payload": "across"})
        assert again.json()["duplicate"] is True

        # Acknowledge through B what was delivered by A.
        cursor = answer["events"][0]["id"]  # type: ignore[index]
        assert on_b.post("/poll", json={"userId": bob.user_id, "since": cursor, "timeout": 0},
                         headers=bob_auth).json() == []

        # A newer poll on B answers the older one parked on A with [].
        poller = threading.Thread(target=park_on_a)
        poller.start()
        time.sleep(0.5)  # the older poll must be parked before the newer one supersedes it
        on_b.post("/poll", json={"userId": bob.user_id, "since": cursor, "timeout": 0.2}, headers=bob_auth)
        poller.join(20)
        assert not poller.is_alive(), "the newer poll on B did not answer the older one on A"
        assert answer["events"] == []

        # Disconnect on B revokes the token on A.
        assert on_b.post("/disconnect", headers=bob_auth).status_code == 200
        assert on_a.post("/poll", json={"userId": bob.user_id, "timeout": 0}, headers=bob_auth).status_code == 401
    assert node_a.stop() == 0 and node_b.stop() == 0
