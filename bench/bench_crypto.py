"""Crypto cost: a Double Ratchet message and an X3DH session setup, beside the raw primitives they use.

Per message: ``alice.encrypt`` + ``bob.decrypt`` of a 200-byte text on one chain (no DH step),
against the floor of the same ``cryptography`` calls made directly, both sides: KDF_CK twice
(4 x HMAC-SHA256), the message-key HKDF twice, two ``AESGCM(key)`` objects, one encrypt and one
decrypt. Session setup: ``initiate`` + ``respond`` + both ``Session`` constructors, against its
floor: 3 Ed25519 verifies (bundle binding, signed prekey, initiator binding), 2 X25519 key
generations, 9 X25519 exchanges and 3 HKDFs. For context: a signed Sender Keys group message,
and the state codec (``to_bytes`` + ``from_bytes``) the persistence layer runs once per step.
Contenders alternate repetition by repetition with the collector paused; a ratio is the median
of per-repetition ratios, so drifting load cancels.

Run alone: ``.venv/bin/python bench/bench_crypto.py [--quick]``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chatkernel.relay.protocol import IDENTITY_BINDING_TAG, SIGNED_PREKEY_TAG
from features.crypto._keys import IdentityKeyPair, OneTimePreKey, PreKeyBundle, SignedPreKey
from features.crypto._ratchet import Session
from features.crypto._sender_keys import GroupSession
from features.crypto._x3dh import initiate, respond

from _util import Deadline, SummaryRow, Timings, gc_paused, parse_args, print_header, text_table

PLAINTEXT = b"m" * 200
MESSAGE_TARGET_US = 50.0
MESSAGE_TARGET_RATIO = 3.0
SETUP_TARGET_US = 1000.0

Step = Callable[[int], None]


def _ratchet_messages() -> Step:
    identity_a, identity_b = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk, opk = SignedPreKey.generate(identity_b, 1), OneTimePreKey.generate(1)
    sent = initiate(identity_a, PreKeyBundle.of(identity_b, spk, opk))
    alice = Session.initiator(sent)
    bob = Session.responder(respond(identity_b, sent.header, spk, opk), spk)
    bob.decrypt(alice.encrypt(b"open the chain"))  # the DH step happens here, outside the timing

    def run(n: int) -> None:
        encrypt, decrypt = alice.encrypt, bob.decrypt
        for _ in range(n):
            if decrypt(encrypt(PLAINTEXT)) is None:
                raise AssertionError("decrypt returned nothing")
    return run


def _primitive_messages() -> Step:
    sha256 = hashes.SHA256()
    ck_a = ck_b = b"\x07" * 32
    ad = b"\x01" * (128 + 41)

    def side(ck: bytes) -> tuple[bytes, bytes, bytes]:
        mac = hmac.HMAC(ck, sha256)
        mac.update(b"\x02")
        nxt = mac.finalize()
        mac = hmac.HMAC(ck, sha256)
        mac.update(b"\x01")
        mk = mac.finalize()
        out = HKDF(algorithm=sha256, length=44, salt=None, info=b"chatkernel/v1/message-keys").derive(mk)
        return nxt, out[:32], out[32:]

    def run(n: int) -> None:
        nonlocal ck_a, ck_b
        for _ in range(n):
            ck_a, key, nonce = side(ck_a)
            ct = AESGCM(key).encrypt(nonce, PLAINTEXT, ad)
            ck_b, key, nonce = side(ck_b)
            AESGCM(key).decrypt(nonce, ct, ad)
    return run


def _sessions() -> Step:
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk = SignedPreKey.generate(bob, 1)
    opks = [OneTimePreKey.generate(i) for i in range(64)]
    bundles = [PreKeyBundle.of(bob, spk, opk) for opk in opks]

    def run(n: int) -> None:
        for i in range(n):
            sent = initiate(alice, bundles[i % 64])
            Session.initiator(sent)
            Session.responder(respond(bob, sent.header, spk, opks[i % 64]), spk)
    return run


def _primitive_sessions() -> Step:
    alice, bob = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk = SignedPreKey.generate(bob, 1)
    binding = IDENTITY_BINDING_TAG
    sig_b, sig_a, sig_spk = bob.public.dh_signature, alice.public.dh_signature, spk.signature
    ed_b = bob.public.signing_key
    ed_a = alice.public.signing_key
    spk_msg = SIGNED_PREKEY_TAG + (1).to_bytes(4, "big") + spk.public
    peer = X25519PublicKey.from_public_bytes(bob.public.dh_key)
    sha256 = hashes.SHA256()

    def run(n: int) -> None:
        for _ in range(n):
            Ed25519PublicKey.from_public_bytes(ed_b).verify(sig_b, binding + ed_b + bob.public.dh_key)
            Ed25519PublicKey.from_public_bytes(ed_b).verify(sig_spk, spk_msg)
            Ed25519PublicKey.from_public_bytes(ed_a).verify(sig_a, binding + ed_a + alice.public.dh_key)
            keys = [X25519PrivateKey.generate() for _ in range(2)]
            for _ in range(9):
                keys[0].exchange(peer)
            for _ in range(3):
                HKDF(algorithm=sha256, length=64, salt=None, info=b"x").derive(b"\x01" * 160)
    return run


def _group_messages() -> Step:
    alice, bob = GroupSession(b"bench"), GroupSession(b"bench")
    bob.process_distribution("alice", alice.distribution())

    def run(n: int) -> None:
        for _ in range(n):
            bob.decrypt("alice", alice.encrypt(PLAINTEXT))
    return run


def _primitive_group() -> Step:
    signing = Ed25519PrivateKey.generate()
    public = signing.public_key()
    inner = _primitive_messages()

    def run(n: int) -> None:
        for _ in range(n):
            public.verify(signing.sign(PLAINTEXT), PLAINTEXT)
        inner(n)
    return run


def _state_codec() -> Step:
    identity_a, identity_b = IdentityKeyPair.generate(), IdentityKeyPair.generate()
    spk = SignedPreKey.generate(identity_b, 1)
    alice = Session.initiator(initiate(identity_a, PreKeyBundle.of(identity_b, spk)))

    def run(n: int) -> None:
        for _ in range(n):
            Session.from_bytes(alice.to_bytes())
    return run


def _interleaved(ours: Step, floor: Step, n: int, runs: int, seconds: float) -> tuple[Timings, Timings, float]:
    ours(max(1, n // 10))
    floor(max(1, n // 10))
    a: list[float] = []
    b: list[float] = []
    deadline = Deadline(seconds)
    for _ in range(runs):
        for step, out in ((ours, a), (floor, b)):
            with gc_paused():
                started = time.perf_counter()
                step(n)
                out.append((time.perf_counter() - started) / n)
        if len(a) >= 3 and deadline.expired():
            break
    ratio = statistics.median(x / y for x, y in zip(a, b))
    return Timings(tuple(a)), Timings(tuple(b)), ratio


def run(quick: bool) -> list[SummaryRow]:
    runs, seconds = (5, 2.0) if quick else (15, 10.0)
    n_msg, n_setup = (500, 30) if quick else (2000, 100)
    print_header(f"Crypto: Double Ratchet message and X3DH session setup vs raw primitives, up to {runs} runs", quick)
    msg, msg_floor, msg_ratio = _interleaved(_ratchet_messages(), _primitive_messages(), n_msg, runs, seconds)
    setup, setup_floor, setup_ratio = _interleaved(_sessions(), _primitive_sessions(), n_setup, runs, seconds)
    group, group_floor, group_ratio = _interleaved(_group_messages(), _primitive_group(), n_msg // 4, runs, seconds)
    codec, _, codec_ratio = _interleaved(_state_codec(), _ratchet_messages(), n_msg, runs, seconds)
    print(text_table(
        ("case", "runs", "median µs", "best µs", "peer", "peer median µs", "ratio", "target"),
        [("ratchet message, encrypt + decrypt (200 B, no DH step)", len(msg), f"{msg.median * 1e6:.1f}",
          f"{msg.best * 1e6:.1f}", "4 HMAC + 2 HKDF + 2 AESGCM() + enc + dec", f"{msg_floor.median * 1e6:.1f}",
          f"{msg_ratio:.2f}x", f"<= {MESSAGE_TARGET_RATIO:.0f}x, <= {MESSAGE_TARGET_US:.0f} µs"),
         ("X3DH + both Session constructors", len(setup), f"{setup.median * 1e6:.0f}", f"{setup.best * 1e6:.0f}",
          "3 Ed25519 verify + 2 keygen + 9 X25519 + 3 HKDF", f"{setup_floor.median * 1e6:.0f}",
          f"{setup_ratio:.2f}x", f"<= {SETUP_TARGET_US:.0f} µs"),
         ("group message (Sender Keys), encrypt + decrypt", len(group), f"{group.median * 1e6:.1f}",
          f"{group.best * 1e6:.1f}", "Ed25519 sign + verify + the message floor", f"{group_floor.median * 1e6:.1f}",
          f"{group_ratio:.2f}x", "(context)"),
         ("session state to_bytes + from_bytes (no skipped keys)", len(codec), f"{codec.median * 1e6:.1f}",
          f"{codec.best * 1e6:.1f}", "one ratchet message enc + dec", f"{msg.median * 1e6:.1f}",
          f"{codec_ratio:.2f}x", "(context)")],
    ))
    msg_us, setup_us = msg.median * 1e6, setup.median * 1e6
    return [
        SummaryRow("crypto", "ratchet message enc+dec vs its primitives", f"{msg_us:.1f} µs",
                   f"{msg_floor.median * 1e6:.1f} µs (primitives)", msg_ratio, f"<= {MESSAGE_TARGET_RATIO:.0f}x",
                   msg_ratio <= MESSAGE_TARGET_RATIO),
        SummaryRow("crypto", "ratchet message enc+dec vs 50 µs", f"{msg_us:.1f} µs",
                   f"target {MESSAGE_TARGET_US:.0f} µs", msg_us / MESSAGE_TARGET_US, "< 1x",
                   msg_us <= MESSAGE_TARGET_US),
        SummaryRow("crypto", "X3DH session setup, both sides", f"{setup_us:.0f} µs",
                   f"target {SETUP_TARGET_US:.0f} µs", setup_us / SETUP_TARGET_US, "< 1x",
                   setup_us <= SETUP_TARGET_US),
        SummaryRow("crypto", "group message enc+dec (signed) vs its primitives", f"{group.median * 1e6:.1f} µs",
                   f"{group_floor.median * 1e6:.1f} µs (primitives)", group_ratio, "(context)"),
        SummaryRow("crypto", "X3DH setup vs its primitives", f"{setup_us:.0f} µs",
                   f"{setup_floor.median * 1e6:.0f} µs (primitives)", setup_ratio, "(context)"),
    ]


if __name__ == "__main__":
    from _util import environment, markdown_table

    args = parse_args(__doc__.splitlines()[0])
    print(environment())
    print("\n" + markdown_table(run(args.quick)))
