"""Errors of the groups feature, one base class::

    GroupsError(ChatKernelError)
    ├── NotReadyError          no identity is loaded, or the group list (or contact list) is loading
    ├── InvalidGroupError      not a group conversation id (value)
    ├── InvalidGroupNameError  a group name was refused (value, reason)
    ├── InvalidMembersError    the members given are not a list of other people's user ids
    │                          (value, reason)
    ├── NotAContactError       a member is not in the contact list (user_id)
    ├── BlockedMemberError     a member is a contact the user blocked (user_id, name)
    ├── AlreadyMemberError     an invited contact is in the group already (group, user_id, name)
    └── NotAMemberError        the member to remove is not in the group (group, user_id)

Each is raised before messaging is asked to change anything. What messaging refuses itself (no
such group, not the admin, not an active member, offline) raises messaging's own error, as it
is: it says why precisely.
"""

from __future__ import annotations

from chatkernel import ChatKernelError

__all__ = ["AlreadyMemberError", "BlockedMemberError", "GroupsError", "InvalidGroupError", "InvalidGroupNameError",
           "InvalidMembersError", "NotAContactError", "NotAMemberError", "NotReadyError"]


class GroupsError(ChatKernelError):
    """Base of every groups error."""


class NotReadyError(GroupsError):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(f"groups are not ready: {reason} (log in first)")


class InvalidGroupError(GroupsError, ValueError):
    def __init__(self, value: object):
        self.value = value
        super().__init__(f"{value!r} is not a group conversation id ('group:' and 32 hex digits)")


class InvalidGroupNameError(GroupsError, ValueError):
    def __init__(self, value: object, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"group name {value!r} {reason}")


class InvalidMembersError(GroupsError, ValueError):
    def __init__(self, value: object, reason: str):
        self.value = value
        self.reason = reason
        super().__init__(f"members {reason}")


class NotAContactError(GroupsError):
    """Only contacts can be members: their keys are pinned, so the group's keys reach them alone."""

    def __init__(self, user_id: str):
        self.user_id = user_id
        super().__init__(f"{user_id} is not in your contacts: add their invite first")


class BlockedMemberError(GroupsError):
    def __init__(self, user_id: str, name: str):
        self.user_id = user_id
        self.name = name
        super().__init__(f"{name} ({user_id}) is blocked: unblock them first to have them in a group")


class AlreadyMemberError(GroupsError):
    def __init__(self, group: str, user_id: str, name: str):
        self.group = group
        self.user_id = user_id
        self.name = name
        super().__init__(f"{name} ({user_id}) is in the group already")


class NotAMemberError(GroupsError):
    def __init__(self, group: str, user_id: str):
        self.group = group
        self.user_id = user_id
        super().__init__(f"{user_id} is not a member of {group}")
