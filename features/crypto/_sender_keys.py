"""Sender Keys for groups: one symmetric chain and one Ed25519 signing key per member.

Every member holds its own ``SenderKey`` and, for every other member, the states it learnt from
their distribution messages. A distribution carries the chain key, so it must travel inside the
pairwise Double Ratchet sessions, never in the clear. Everyone in the group can derive a
sender's message keys, so the AEAD alone cannot tell members apart: each message is signed
with the sender's signing key and the signature is checked before anything else. When a member
leaves, every remaining member ``rotate()``s (a fresh chain *and* signing key) and sends the new
distribution to the remaining members only; the leaver's copies then open nothing new.

Wire formats (big-endian)::

    distribution = version u8 (1) ‖ group id length u16 ‖ group id ‖ chain id u32 ‖ iteration u32
                   ‖ chain key (32) ‖ signing public key (32)
    message      = header (version u8 (1) ‖ chain id u32 ‖ iteration u32) ‖ AES-256-GCM ciphertext ‖ tag (16)
                   ‖ Ed25519 signature (64) over context ‖ group id ‖ header ‖ ciphertext ‖ tag
    AEAD AD      = context ‖ group id ‖ sender signing key ‖ header

Chain: KDF_CK (HMAC-SHA256 with 0x01 / 0x02) as in the pairwise ratchet; message keys by HKDF
under the label ``chatkernel/v1/group-message-keys``.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ._kdf import kdf_ck, message_keys
from ._keys import short_hex
from .errors import (
    AuthenticationError,
    DuplicateMessageError,
    ForgedMessageError,
    MessageFormatError,
    StateFormatError,
    TooManySkippedError,
    UnknownSenderKeyError,
)

__all__ = ["GROUP_MESSAGE_KEYS_INFO", "GroupSession", "MAX_SENDER_KEY_STATES", "SenderKey", "SenderKeyState"]

GROUP_MESSAGE_KEYS_INFO = b"chatkernel/v1/group-message-keys"
MAX_SENDER_KEY_STATES = 5
_VERSION = 1
_HEADER = struct.Struct(">BII")
_DIST_TAIL = struct.Struct(">II32s32s")
_AD_CONTEXT = b"chatkernel/v1/group-ad\x00"
_SIG_CONTEXT = b"chatkernel/v1/group-message\x00"
_SIG_LEN = 64
_TAG_LEN = 16


def _group(group_id: bytes) -> bytes:
    if len(group_id) > 0xFFFF:
        raise ValueError("group id longer than 65535 bytes")
    return len(group_id).to_bytes(2, "big") + group_id


@dataclass(repr=False, eq=False)
class SenderKeyState:
    """One chain of one sender, as a receiver knows it (``signing`` is public only)."""

    chain_id: int
    iteration: int
    chain_key: bytes
    signing_public: bytes
    skipped: dict[int, bytes] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"SenderKeyState(chain={self.chain_id}, iteration={self.iteration}, "
                f"signer={short_hex(self.signing_public)}…, skipped={len(self.skipped)}, chain_key=<redacted>)")

    def to_json(self) -> dict[str, object]:
        return {"chain": self.chain_id, "it": self.iteration, "ck": _b64(self.chain_key),
                "sig": _b64(self.signing_public), "skipped": [[n, _b64(mk)] for n, mk in self.skipped.items()]}

    @classmethod
    def from_json(cls, doc: dict) -> SenderKeyState:
        return cls(doc["chain"], doc["it"], base64.b64decode(doc["ck"]), base64.b64decode(doc["sig"]),
                   {n: base64.b64decode(mk) for n, mk in doc["skipped"]})


@dataclass(repr=False, eq=False)
class SenderKey:
    """Our own sending chain in one group: the chain and the private signing key."""

    chain_id: int
    iteration: int
    chain_key: bytes
    signing: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SenderKey:
        return cls(secrets.randbits(32), 0, secrets.token_bytes(32), Ed25519PrivateKey.generate())

    @property
    def signing_public(self) -> bytes:
        return self.signing.public_key().public_bytes_raw()

    def __repr__(self) -> str:
        return (f"SenderKey(chain={self.chain_id}, iteration={self.iteration}, "
                f"signer={short_hex(self.signing_public)}…, secrets=<redacted>)")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class GroupSession:
    """Our view of one group: our sender key and the sender-key states of the other members."""

    def __init__(self, group_id: bytes, own: SenderKey | None = None, *, max_skip: int = 1000,
                 max_skipped_keys: int = 2000) -> None:
        self.group_id = group_id
        self.own = own or SenderKey.generate()
        self.peers: dict[str, list[SenderKeyState]] = {}
        self.max_skip = max_skip
        self.max_skipped_keys = max_skipped_keys

    def __repr__(self) -> str:
        return f"GroupSession(group={self.group_id!r}, own={self.own!r}, members={sorted(self.peers)})"

    # -- sending ---------------------------------------------------------------------------

    def distribution(self) -> bytes:
        """Our current chain as a distribution message, to send over each pairwise session."""
        own = self.own
        return (bytes([_VERSION]) + _group(self.group_id)
                + _DIST_TAIL.pack(own.chain_id, own.iteration, own.chain_key, own.signing_public))

    def rotate(self) -> bytes:
        """A fresh chain and signing key (after a member left); returns the new distribution."""
        self.own = SenderKey.generate()
        return self.distribution()

    def encrypt(self, plaintext: bytes) -> bytes:
        own = self.own
        header = _HEADER.pack(_VERSION, own.chain_id, own.iteration)
        own.chain_key, mk = kdf_ck(own.chain_key)
        own.iteration += 1
        key, nonce = message_keys(mk, info=GROUP_MESSAGE_KEYS_INFO)
        body = AESGCM(key).encrypt(nonce, plaintext, self._ad(own.signing_public, header))
        return header + body + own.signing.sign(self._signed(header, body))

    # -- receiving -------------------------------------------------------------------------

    def process_distribution(self, member: str, data: bytes) -> None:
        """Remember a member's chain; call it only with what that member's pairwise session decrypted."""
        prefix = bytes([_VERSION]) + _group(self.group_id)
        if not data.startswith(prefix) or len(data) != len(prefix) + _DIST_TAIL.size:
            raise MessageFormatError("not a sender-key distribution for this group")
        chain_id, iteration, chain_key, signing_public = _DIST_TAIL.unpack(data[len(prefix):])
        states = [s for s in self.peers.get(member, []) if s.chain_id != chain_id]
        states.insert(0, SenderKeyState(chain_id, iteration, chain_key, signing_public))
        self.peers[member] = states[:MAX_SENDER_KEY_STATES]

    def remove_member(self, member: str) -> bytes:
        """Forget a member's chains and rotate ours; send the result to the remaining members."""
        self.peers.pop(member, None)
        return self.rotate()

    def decrypt(self, member: str, message: bytes) -> bytes:
        """Signature first, then the chain; state changes only after both checks passed."""
        if len(message) < _HEADER.size + _TAG_LEN + _SIG_LEN:
            raise MessageFormatError("shorter than a group header, tag and signature")
        header, body, signature = message[:_HEADER.size], message[_HEADER.size:-_SIG_LEN], message[-_SIG_LEN:]
        version, chain_id, iteration = _HEADER.unpack(header)
        if version != _VERSION:
            raise MessageFormatError(f"unknown group message version {version}")
        state = next((s for s in self.peers.get(member, ()) if s.chain_id == chain_id), None)
        if state is None:
            raise UnknownSenderKeyError(member, chain_id)
        try:
            Ed25519PublicKey.from_public_bytes(state.signing_public).verify(signature, self._signed(header, body))
        except InvalidSignature:
            raise ForgedMessageError(member) from None
        ad = self._ad(state.signing_public, header)
        if iteration < state.iteration:
            mk = state.skipped.get(iteration)
            if mk is None:
                raise DuplicateMessageError(iteration)
            plaintext = _open(mk, ad, body)
            del state.skipped[iteration]
            return plaintext
        if iteration - state.iteration > self.max_skip:
            raise TooManySkippedError(iteration - state.iteration, self.max_skip)
        ck, new_skipped = state.chain_key, []
        for n in range(state.iteration, iteration):
            ck, mk = kdf_ck(ck)
            new_skipped.append((n, mk))
        ck, mk = kdf_ck(ck)
        plaintext = _open(mk, ad, body)
        state.chain_key, state.iteration = ck, iteration + 1
        state.skipped.update(new_skipped)
        for n in list(state.skipped)[: max(0, len(state.skipped) - self.max_skipped_keys)]:
            del state.skipped[n]
        return plaintext

    def _ad(self, signing_public: bytes, header: bytes) -> bytes:
        return _AD_CONTEXT + _group(self.group_id) + signing_public + header

    def _signed(self, header: bytes, body: bytes) -> bytes:
        return _SIG_CONTEXT + _group(self.group_id) + header + body

    # -- persistence -----------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        own = self.own
        doc = {"v": 1, "group": _b64(self.group_id),
               "own": {"chain": own.chain_id, "it": own.iteration, "ck": _b64(own.chain_key),
                       "sk": _b64(own.signing.private_bytes_raw())},
               "peers": {m: [s.to_json() for s in states] for m, states in self.peers.items()}}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes, *, max_skip: int = 1000, max_skipped_keys: int = 2000) -> GroupSession:
        try:
            doc = json.loads(data)
            if doc.get("v") != 1:
                raise StateFormatError("unknown version", version=doc.get("v"))
            o = doc["own"]
            own = SenderKey(o["chain"], o["it"], base64.b64decode(o["ck"]),
                            Ed25519PrivateKey.from_private_bytes(base64.b64decode(o["sk"])))
            session = cls(base64.b64decode(doc["group"]), own, max_skip=max_skip, max_skipped_keys=max_skipped_keys)
            session.peers = {m: [SenderKeyState.from_json(s) for s in states] for m, states in doc["peers"].items()}
        except StateFormatError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateFormatError(f"bad group state ({type(exc).__name__})") from exc
        return session


def _open(mk: bytes, ad: bytes, body: bytes) -> bytes:
    key, nonce = message_keys(mk, info=GROUP_MESSAGE_KEYS_INFO)
    try:
        return AESGCM(key).decrypt(nonce, body, ad)
    except InvalidTag:  # the signature passed, so only a sender's own bug lands here
        raise AuthenticationError() from None
