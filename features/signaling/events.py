"""The signaling feature's communication contract: what it says and what it hears.

Emitted
    SIGNALING_CONNECTED     {url, user_id}                        MEDIUM
    SIGNALING_DISCONNECTED  {url, reason}                         MEDIUM
    CONNECTION_LOST         {url, reason, retry_in_s, attempt}    HIGH
    SIGNALING_URL_REJECTED  {url, reason}                         HIGH
    MESSAGE_RECEIVED        {relay_id, from, ts, payload}         HIGH, one per relay event
    MESSAGE_SENT            {id, to, relay_id, duplicate}         MEDIUM, accepted by the relay
    MESSAGE_SEND_FAILED     {id, to, reason}                      HIGH, refused for good
Heard
    APP_READY               connect if a URL is known and auto_connect is on
    SIGNALING_URL_CHANGED   {url}: switch relays (reconnect if connected)
    MESSAGE_SEND_REQUESTED  {to, payload, id?}: queue a send (idempotent id made if missing)
"""

from __future__ import annotations

__all__ = ["EMITTED", "SUBSCRIBED"]

SIGNALING_CONNECTED = "SIGNALING_CONNECTED"
SIGNALING_DISCONNECTED = "SIGNALING_DISCONNECTED"
CONNECTION_LOST = "CONNECTION_LOST"
SIGNALING_URL_REJECTED = "SIGNALING_URL_REJECTED"
MESSAGE_RECEIVED = "MESSAGE_RECEIVED"
MESSAGE_SENT = "MESSAGE_SENT"
MESSAGE_SEND_FAILED = "MESSAGE_SEND_FAILED"

APP_READY = "APP_READY"
SIGNALING_URL_CHANGED = "SIGNALING_URL_CHANGED"
MESSAGE_SEND_REQUESTED = "MESSAGE_SEND_REQUESTED"

EMITTED = (
    SIGNALING_CONNECTED, SIGNALING_DISCONNECTED, CONNECTION_LOST, SIGNALING_URL_REJECTED,
    MESSAGE_RECEIVED, MESSAGE_SENT, MESSAGE_SEND_FAILED,
)
SUBSCRIBED = (APP_READY, SIGNALING_URL_CHANGED, MESSAGE_SEND_REQUESTED)
