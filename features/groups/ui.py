"""The groups panel: make a group from contacts, pick one, rename, invite, remove, leave, open it.

It reads the service and redraws when the groups actor moves or the feature speaks; every
action goes through :func:`chatkernel.fire` to the actor, which calls the service, and a refusal
(ours or messaging's) comes back as the service's ``last_error``, shown under the form in the
theme's error colour. Only the admin changes a group: for anyone else those buttons are
disabled and the panel says who can. A group we left, or were removed from, is shown as such and
read-only. Names are typed by people: every shown string is escaped. Leaving asks for a second
click. Colours are JupyterLab's CSS variables (light and dark).
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from chatkernel import fire
from widgets import ERROR as _ERROR
from widgets import MUTED as _MUTED
from widgets import SUCCESS as _SUCCESS
from widgets import TEXT as _TEXT
from widgets import WARN as _WARN
from widgets import FeatureView, feature_actor

from . import events as ev

__all__ = ["GroupsPanel"]

_STATES = {"left": "you left it: read-only", "removed": "the admin removed you: read-only"}


def _state(group: dict[str, Any]) -> str:
    return _STATES.get(group["state"], f"{group['state']}: read-only")


def _row(group: dict[str, Any]) -> str:
    count = group["member_count"]
    members = f"<span style='color:{_MUTED};font-size:0.9em'>{count} member{'s' if count != 1 else ''}</span>"
    admin = f" <span style='color:{_SUCCESS};font-size:0.9em'>admin</span>" if group["is_admin"] else ""
    state = (f" <span style='color:{_WARN};font-size:0.9em'>{escape(_state(group))}</span>"
             if group["read_only"] else "")
    return f"<div style='color:{_TEXT}'>&#9679; {escape(group['name'])} {members}{admin}{state}</div>"


def _member(member: dict[str, Any]) -> str:
    notes = [n for n, on in (("admin", member["admin"]), ("not in your contacts",
                                                          not member["you"] and not member["contact"])) if on]
    extra = f" <span style='color:{_MUTED};font-size:0.9em'>({escape(', '.join(notes))})</span>" if notes else ""
    return f"<li style='color:{_TEXT}'>{escape(member['name'])}{extra}</li>"


class GroupsPanel(FeatureView):
    """The list (name, members, state) and the forms that change it."""

    def __init__(self, source: Any, **kwargs: Any):
        actor = feature_actor(source, "groups", "GroupsPanel")
        wide = widgets.Layout(width="100%")
        self.new_name = widgets.Text(placeholder="group name", layout=widgets.Layout(width="50%"))
        self.new_members = widgets.SelectMultiple(options=[], rows=5, layout=wide)
        self.create_button = widgets.Button(description="Create", icon="users")
        self.create_button.on_click(lambda _: self.create())
        self.error = widgets.HTML()
        self.listing = widgets.HTML()
        self.picker = widgets.Select(options=[], rows=6, layout=wide)
        self.picker.observe(lambda _: self._draw_actions(), names="value")
        self.details = widgets.HTML()
        self.admin_note = widgets.HTML()
        self.open_button = widgets.Button(description="Open chat", icon="comment")
        self.open_button.on_click(lambda _: self.select())
        self.leave_button = widgets.Button(description="Leave", icon="sign-out")
        self.leave_button.on_click(lambda _: self.leave())
        self.rename_text = widgets.Text(placeholder="new name")
        self.rename_button = widgets.Button(description="Rename", icon="pencil")
        self.rename_button.on_click(lambda _: self.rename())
        self.invite_members = widgets.SelectMultiple(options=[], rows=4, layout=widgets.Layout(width="50%"))
        self.invite_button = widgets.Button(description="Invite", icon="user-plus")
        self.invite_button.on_click(lambda _: self.invite())
        self.remove_member = widgets.Dropdown(options=[], value=None)
        self.remove_button = widgets.Button(description="Remove", icon="user-times")
        self.remove_button.on_click(lambda _: self.remove())
        self._confirm_leave: str | None = None
        self.groups: list[dict[str, Any]] = []
        new_group = widgets.VBox([
            widgets.HTML(f"<b style='color:{_TEXT}'>New group</b> "
                         f"<span style='color:{_MUTED}'>(pick its members among your contacts)</span>"),
            widgets.HBox([self.new_name, self.create_button]), self.new_members])
        actions = widgets.VBox([
            self.details,
            widgets.HBox([self.open_button, self.leave_button]),
            self.admin_note,
            widgets.HBox([self.rename_text, self.rename_button]),
            widgets.HBox([self.invite_members, self.invite_button]),
            widgets.HBox([self.remove_member, self.remove_button]),
        ])
        super().__init__(children=[new_group, self.error, self.listing, self.picker, actions], **kwargs)
        self.add_class("chatkernel-groups")
        self.follow(actor, ev.EMITTED, redraw_on=("actor.snapshot", "actor.event", "actor.stopped"))
        self.refresh()

    # ------------------------------------------------------------------ actions
    @property
    def chosen(self) -> str | None:
        return self.picker.value

    def create(self) -> None:
        fire(self.actor, "CREATE", name=self.new_name.value, members=list(self.new_members.value))
        self.new_name.value = ""
        self.new_members.value = ()

    def select(self) -> None:
        if self.chosen:
            fire(self.actor, "SELECT", group=self.chosen)

    def rename(self) -> None:
        if self.chosen:
            fire(self.actor, "RENAME", group=self.chosen, name=self.rename_text.value)
            self.rename_text.value = ""

    def invite(self) -> None:
        if self.chosen:
            fire(self.actor, "INVITE", group=self.chosen, members=list(self.invite_members.value))
            self.invite_members.value = ()

    def remove(self) -> None:
        if self.chosen and self.remove_member.value:
            fire(self.actor, "REMOVE", group=self.chosen, member=self.remove_member.value)

    def leave(self) -> None:
        """The first click asks, the second (on the same group) leaves."""
        if not self.chosen:
            return
        if self._confirm_leave != self.chosen:
            self._confirm_leave = self.chosen
            self._draw_actions()
            return
        self._confirm_leave = None
        fire(self.actor, "LEAVE", group=self.chosen)

    # ------------------------------------------------------------------ drawing
    def _current(self) -> dict[str, Any] | None:
        return next((g for g in self.groups if g["group"] == self.chosen), None)

    @staticmethod
    def _set_options(select: Any, options: list[tuple[str, str]]) -> None:
        """New options, keeping what was picked among them (a redraw must not drop a choice)."""
        if list(select.options) == options:
            return
        values = {v for _, v in options}
        if isinstance(select, widgets.SelectMultiple):
            keep = tuple(v for v in select.value if v in values)
            select.options = options
            select.value = keep
        else:
            keep = select.value
            select.options = options
            select.value = keep if keep in values else None

    def refresh(self) -> None:
        service = self.service
        error = service.last_error
        self.error.value = (f"<span style='color:{_ERROR}'>{escape(error['operation'])}: "
                            f"{escape(error['reason'])}</span>" if error else "")
        if not service.ready:
            self.groups = []
            self.listing.value = f"<i style='color:{_MUTED}'>log in to see your groups</i>"
        else:
            self.groups = service.listed()
            self.listing.value = (f"<div style='color:{_MUTED}'>{len(self.groups)} "
                                  f"group{'s' if len(self.groups) != 1 else ''}</div>"
                                  + "".join(_row(g) for g in self.groups))
        candidates = service.candidates() if service.ready else []
        self._set_options(self.new_members, [(c["name"], c["user_id"]) for c in candidates])
        self._set_options(self.picker, [(f"{g['name']} ({g['member_count']})"
                                         + (" - read-only" if g["read_only"] else ""), g["group"])
                                        for g in self.groups])
        if self.picker.value is None and self.picker.options:  # something to act on from the start
            self.picker.value = service.selected if service.selected in dict(self.picker.options).values() \
                else self.picker.options[0][1]
        self.create_button.disabled = not service.ready
        self._draw_actions()

    def _draw_actions(self) -> None:
        group = self._current()
        admin_buttons = (self.rename_button, self.invite_button, self.remove_button)
        for button in (self.open_button, self.leave_button, *admin_buttons):
            button.disabled = group is None
        if group is None:
            self.details.value = self.admin_note.value = ""
            self._set_options(self.invite_members, [])
            self._set_options(self.remove_member, [])
            return
        state = (f" <span style='color:{_WARN}'>{escape(_state(group))}</span>" if group["read_only"] else "")
        self.details.value = (f"<div style='color:{_TEXT}'><b>{escape(group['name'])}</b>{state}</div>"
                              f"<ul style='margin:0.2em 0'>{''.join(_member(m) for m in group['members'])}</ul>")
        confirming = self._confirm_leave == group["group"]
        self.leave_button.description = "Click again to leave" if confirming else "Leave"
        self.leave_button.button_style = "danger" if confirming else ""
        self.leave_button.disabled = group["read_only"]
        for button in admin_buttons:
            button.disabled = not group["is_admin"]
        if group["read_only"]:
            note = "You are no longer in this group: its messages stay readable, nothing can be changed."
        elif not group["is_admin"]:
            note = (f"Only the admin, {group['admin_name']}, can rename the group, invite or remove "
                    "members.")
        else:
            note = ""
        self.admin_note.value = f"<div style='color:{_MUTED}'>{escape(note)}</div>" if note else ""
        present = {m["user_id"] for m in group["members"]}
        self._set_options(self.invite_members, [(c["name"], c["user_id"]) for c in self.service.candidates()
                                                if c["user_id"] not in present] if group["is_admin"] else [])
        self._set_options(self.remove_member, [(m["name"], m["user_id"]) for m in group["members"]
                                               if not m["you"]] if group["is_admin"] else [])
        if self.remove_member.value is None and self.remove_member.options:
            self.remove_member.value = self.remove_member.options[0][1]

    def __repr__(self) -> str:
        return f"GroupsPanel(groups={len(self.groups)}, chosen={self.chosen!r})"
