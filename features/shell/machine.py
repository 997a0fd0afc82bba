"""The shell state machine: signed_out <-> signed_in, and the route shown.

The route is the service's (``login``, ``chats``, ``contacts``, ``groups``, ``settings``, ``explorer``): it
changes often and belongs to the window; the machine says whether anyone is signed in, which is
what every view depends on. NAVIGATE comes from the window's buttons and the command palette.
"""

from __future__ import annotations

from typing import Any

from statemachine import State

from chatkernel import ChatKernelError, Event, Machine, bus_payload

from .service import ShellService

__all__ = ["ShellMachine"]


class ShellMachine(Machine):
    signed_out = State(initial=True)
    signed_in = State()

    AUTH_SUCCESS = signed_out.to(signed_in, on="sign_in") | signed_in.to(None, on="sign_in")
    IDENTITY_LOADED = signed_out.to(signed_in, on="sign_in") | signed_in.to(None, on="sign_in")
    IDENTITY_CREATED = signed_out.to(signed_in, on="sign_in") | signed_in.to(None, on="sign_in")
    AUTH_LOGOUT = signed_in.to(signed_out, on="sign_out") | signed_out.to(None)
    IDENTITY_FORGOTTEN = signed_in.to(signed_out, on="sign_out") | signed_out.to(None)
    SIGNALING_CONNECTED = signed_in.to(None, on="connected") | signed_out.to(None, on="connected")
    SIGNALING_DISCONNECTED = signed_in.to(None, on="disconnected") | signed_out.to(None, on="disconnected")
    CONNECTION_LOST = signed_in.to(None, on="lost") | signed_out.to(None, on="lost")
    CONTACT_SELECTED = signed_in.to(None, on="to_chats") | signed_out.to(None)
    GROUP_SELECTED = signed_in.to(None, on="to_chats") | signed_out.to(None)
    NOTIFICATION_CLICKED = signed_in.to(None, on="to_chats") | signed_out.to(None)
    UNREAD_CHANGED = signed_in.to(None, on="unread") | signed_out.to(None)
    NAVIGATE = signed_in.to(None, on="navigate") | signed_out.to(None, on="navigate")
    CHANGED = signed_in.to(None) | signed_out.to(None)

    def __init__(self, service: ShellService, **kw: Any):
        self.service = service
        self.last_error: str | None = None
        super().__init__(**kw)

    def sign_in(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        self.service.signed_in_as(p.get("user_id"), profile=p.get("profile"), display_name=p.get("display_name"))

    def sign_out(self, **_: Any) -> None:
        self.service.signed_out()

    def connected(self, bus_event: Event | None = None, **_: Any) -> None:
        self.service.connected(bus_payload(bus_event).get("url"))

    def disconnected(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        self.service.disconnected(p.get("url"), p.get("reason"))

    def lost(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        self.service.lost(p.get("url"), p.get("reason"), p.get("retry_in_s"), p.get("attempt"))

    def to_chats(self, **_: Any) -> None:
        self.service.navigate("chats")

    def unread(self, bus_event: Event | None = None, **_: Any) -> None:
        p = bus_payload(bus_event)
        self.service.unread_changed(p.get("conversation"), p.get("unread"))

    def navigate(self, route: str = "", **_: Any) -> None:
        self.last_error = None
        try:
            self.service.navigate(route)
        except ChatKernelError as exc:  # shown by the window
            self.last_error = str(exc)
            self.service._notify("CHANGED")
