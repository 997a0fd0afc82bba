"""Checking a dependency's service against the Protocol the dependent feature requires.

The dependent declares, in its own folder, what it needs (``requires={"crypto": CryptoApi}``);
at mount the provider's service is checked member by member, pluggy-style, so a mismatch is a
message naming the member at mount time instead of an AttributeError in the middle of a chat.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._errors import ServiceContractError

__all__ = ["check_service", "protocol_members"]

_IGNORED = frozenset(dir(type("_Empty", (), {}))) | {"_is_protocol", "_is_runtime_protocol", "__protocol_attrs__",
                                                     "__non_callable_proto_members__", "__abstractmethods__",
                                                     "_abc_impl", "__parameters__", "__orig_bases__",
                                                     "__annotations__", "__slots__"}


def protocol_members(protocol: type) -> dict[str, Any]:
    """Name -> the Protocol's declaration (a function, a property, or an annotation for a data member)."""
    members: dict[str, Any] = {}
    for cls in reversed(protocol.__mro__):
        if cls is object or not getattr(cls, "_is_protocol", False) or cls.__name__ in ("Protocol", "Generic"):
            continue
        for name in getattr(cls, "__annotations__", {}):
            members[name] = ...
        for name, value in vars(cls).items():
            if name in _IGNORED or (name.startswith("__") and name.endswith("__")):
                continue
            members[name] = value
    return members


def _shape(func: Any) -> tuple[int, float, set[str], set[str], bool]:
    """(required positional, max positional, keyword-only names, required keyword-only names, **kwargs)."""
    required = maximum = 0
    keywords: set[str] = set()
    required_keywords: set[str] = set()
    var_keyword = False
    for p in inspect.signature(func).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            maximum += 1
            if p.default is p.empty:
                required += 1
            if p.kind is p.POSITIONAL_OR_KEYWORD:
                keywords.add(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            maximum = float("inf")  # type: ignore[assignment]
        elif p.kind is p.KEYWORD_ONLY:
            keywords.add(p.name)
            if p.default is p.empty:
                required_keywords.add(p.name)
        elif p.kind is p.VAR_KEYWORD:
            var_keyword = True
    return required, maximum, keywords, required_keywords, var_keyword


def _compare_calls(name: str, wanted: Any, offered: Any) -> str | None:
    """Can every call the Protocol allows be made to the provider?"""
    try:
        w_req, w_max, w_kw, w_req_kw, _ = _shape(wanted)
        o_req, o_max, o_kw, o_req_kw, o_var_kw = _shape(offered)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: nothing to compare
    w_req, w_max = max(w_req - 1, 0), w_max - 1  # the Protocol's function includes self
    if o_req > w_req:
        return f"{name}() needs {o_req} positional argument(s), the Protocol passes {w_req}"
    if o_max < w_max:
        return f"{name}() takes at most {o_max} positional argument(s), the Protocol allows {w_max:g}"
    missing = sorted(k for k in w_kw - {"self"} if k not in o_kw and not o_var_kw)
    if missing:
        return f"{name}() has no keyword argument {', '.join(map(repr, missing))}"
    extra = sorted(o_req_kw - w_req_kw)
    if extra:
        return f"{name}() requires keyword argument {', '.join(map(repr, extra))}, which the Protocol does not pass"
    return None


def _problems(service: Any, protocol: type) -> list[str]:
    problems: list[str] = []
    for name, declared in protocol_members(protocol).items():
        if isinstance(declared, (staticmethod, classmethod)):
            declared = declared.__func__
        if not hasattr(service, name):
            kind = "method" if inspect.isfunction(declared) else "attribute"
            problems.append(f"has no {kind} {name!r}")
            continue
        if not inspect.isfunction(declared):
            continue
        offered = getattr(service, name)
        if not callable(offered):
            problems.append(f"{name!r} is not callable")
            continue
        wants_async = inspect.iscoroutinefunction(declared)
        is_async = inspect.iscoroutinefunction(offered) or inspect.iscoroutinefunction(
            getattr(offered, "__call__", None))
        if wants_async and not is_async:
            problems.append(f"{name}() must be a coroutine function (async def)")
        elif is_async and not wants_async:
            problems.append(f"{name}() is a coroutine function, the Protocol declares a plain one")
        mismatch = _compare_calls(name, declared, offered)
        if mismatch:
            problems.append(mismatch)
    return problems


def check_service(feature_id: str, dependency: str, service: Any, protocol: type) -> None:
    """Raise :class:`ServiceContractError` listing every member the service lacks or mis-shapes."""
    if service is None:
        raise ServiceContractError(feature_id, dependency, protocol.__name__,
                                   ["is None (its on_mount returned no service)"])
    problems = _problems(service, protocol)
    if problems:
        raise ServiceContractError(feature_id, dependency, protocol.__name__, problems)
