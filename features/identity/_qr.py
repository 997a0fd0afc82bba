"""An invite as a QR code (SVG), so a phone or a second screen can carry it.

The SVG is deterministic (same invite, same bytes: notebooks and nbval compare outputs) and
readable on light and dark themes alike: black modules on an explicit white background, with the
4-module quiet zone the QR standard requires, so a dark notebook theme never shows through.
"""

from __future__ import annotations

import io

import segno

from ._invite import Invite, parse_invite

__all__ = ["invite_qr_svg"]


def invite_qr_svg(invite: Invite | str, *, scale: int = 4) -> bytes:
    """The invite's QR code as SVG bytes (UTF-8, no XML declaration, error correction M).

    A string is parsed first, so a broken invite never becomes a QR code."""
    if isinstance(invite, str):
        invite = parse_invite(invite)
    if not isinstance(invite, Invite):
        raise TypeError(f"expected an Invite or an invite string, not {type(invite).__name__}")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError("scale must be a positive integer")
    # boost_error=False: the level stays M whatever the length, so the output depends only on the text.
    code = segno.make(invite.to_string(), error="m", micro=False, boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=scale, border=4, dark="#000000", light="#ffffff", xmldecl=False,
              svgclass="chatkernel-invite-qr", lineclass=None, title="chatkernel invite", nl=False)
    return out.getvalue()
