"""An invite's QR code: deterministic SVG bytes, black on an explicit white background."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from features.identity._invite import make_invite
from features.identity._qr import invite_qr_svg
from features.identity.errors import InviteError

ROOT = Path(__file__).resolve().parents[3]
URL = "https://relay.example.org"


def test_same_invite_same_bytes(alice, bob):
    invite = make_invite(alice.public, URL)
    svg = invite_qr_svg(invite)
    assert svg == invite_qr_svg(invite) == invite_qr_svg(invite.to_string())
    assert svg != invite_qr_svg(make_invite(bob.public, URL))
    assert invite_qr_svg(invite, scale=8) != svg


def test_same_bytes_in_a_fresh_interpreter(alice):
    """Nothing in the SVG depends on the process (ids, hash seeds, time)."""
    invite = make_invite(alice.public, URL).to_string()
    code = ("import sys, hashlib; from features.identity._qr import invite_qr_svg; "
            "print(hashlib.sha256(invite_qr_svg(sys.argv[1])).hexdigest())")
    import hashlib

    for seed in ("0", "1"):
        done = subprocess.run([sys.executable, "-c", code, invite], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env={"PYTHONHASHSEED": seed, "PATH": ""})
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == hashlib.sha256(invite_qr_svg(invite)).hexdigest()


def test_readable_on_light_and_dark_themes(alice):
    svg = invite_qr_svg(make_invite(alice.public, URL)).decode("utf-8")
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<?xml" not in svg
    assert '<path fill="#fff" d="M0 0h' in svg  # a white background under the whole code, quiet zone included
    assert 'stroke="#000"' in svg


def test_a_broken_invite_never_becomes_a_qr_code(alice):
    text = make_invite(alice.public, URL).to_string()
    with pytest.raises(InviteError):
        invite_qr_svg(text[:-1])
    with pytest.raises(TypeError):
        invite_qr_svg(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        invite_qr_svg(text, scale=0)
