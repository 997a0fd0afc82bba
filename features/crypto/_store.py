"""The crypto feature's tables (migrations owner ``crypto``), in the profile's SQLCipher database.

    crypto_signed_prekeys     id (the prekey id), private (32 bytes), created_at (s), status:
                              'current' (the relay's) or 'previous' (kept for late initiators)
    crypto_one_time_prekeys   id, private (32 bytes), uploaded (0/1: confirmed by a POST /keys
                              answer); deleted in the transaction that commits the session using it
    crypto_counters           name -> value: next_one_time_prekey_id (ids are never reused)
    crypto_sessions           peer -> state (Session.to_bytes()), base_key (the X3DH ephemeral
                              that started it), role, updated_at, header_hash (v2: a tagged
                              hash of that X3DH header; a prekey envelope for the session must
                              carry exactly it)
    crypto_previous_sessions  (peer, base_key) -> state, role, header_hash, archived_at (v3): the
                              sessions a new X3DH replaced, newest ``previous_sessions`` kept,
                              tried for what the current one cannot open (two first messages
                              that crossed on the relay) and promoted when one opens
    crypto_prekey_replay      base_key_hash (a tagged SHA-256 of a prekey envelope's base key)
                              -> peer, signed_prekey_id, seen_at; pruned with its signed prekey
    crypto_group_sessions     group_id -> state (GroupSession.to_bytes()), members (JSON list)

Private keys and states are plain columns: the whole file is encrypted by SQLCipher under the
profile key, with secure_delete on, so a deleted one-time prekey does not linger in free pages.
"""

from __future__ import annotations

__all__ = ["CRYPTO_TABLES", "MIGRATIONS"]

CRYPTO_TABLES = ("crypto_signed_prekeys", "crypto_one_time_prekeys", "crypto_counters", "crypto_sessions",
                 "crypto_previous_sessions", "crypto_prekey_replay", "crypto_group_sessions")

_V1 = """
CREATE TABLE crypto_signed_prekeys (
    id INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    private BLOB NOT NULL CHECK (length(private) = 32),
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('current', 'previous'))
);
CREATE UNIQUE INDEX crypto_signed_prekeys_current ON crypto_signed_prekeys (status) WHERE status = 'current';
CREATE TABLE crypto_one_time_prekeys (
    id INTEGER PRIMARY KEY CHECK (id BETWEEN 0 AND 4294967295),
    private BLOB NOT NULL CHECK (length(private) = 32),
    uploaded INTEGER NOT NULL DEFAULT 0 CHECK (uploaded IN (0, 1))
);
CREATE TABLE crypto_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE crypto_sessions (
    peer TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    base_key BLOB NOT NULL CHECK (length(base_key) = 32),
    role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
    updated_at INTEGER NOT NULL
);
CREATE TABLE crypto_prekey_replay (
    base_key_hash BLOB PRIMARY KEY CHECK (length(base_key_hash) = 32),
    peer TEXT NOT NULL,
    signed_prekey_id INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
);
CREATE TABLE crypto_group_sessions (
    group_id TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    members TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"""

_V3 = """
CREATE TABLE crypto_previous_sessions (
    peer TEXT NOT NULL,
    base_key BLOB NOT NULL CHECK (length(base_key) = 32),
    state BLOB NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('initiator', 'responder')),
    header_hash BLOB,
    archived_at INTEGER NOT NULL,
    PRIMARY KEY (peer, base_key)
);
"""

MIGRATIONS = ({"owner": "crypto", "version": 1, "sql": _V1,
               "description": "prekeys, sessions, replay guard, group sessions"},
              {"owner": "crypto", "version": 2, "sql": "ALTER TABLE crypto_sessions ADD COLUMN header_hash BLOB",
               "description": "the hash of the X3DH header that started each session"},
              {"owner": "crypto", "version": 3, "sql": _V3,
               "description": "the sessions a new X3DH replaced, tried before giving up"})
