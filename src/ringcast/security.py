"""API keys: made here, shown once, stored as a visible prefix plus a SHA-256 hash.

The secret part is 32 random bytes, so a fast hash is enough: nobody can brute-force
256 bits, and a slow password hash would only make every request slower.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "rc"


@dataclass(frozen=True)
class NewKey:
    prefix: str  #: e.g. ``rc_3f9a2b7c``: safe to show and log
    plaintext: str  #: the whole key: shown once, never stored or logged
    key_hash: str


def generate_key() -> NewKey:
    prefix = f"{KEY_SCHEME}_{secrets.token_hex(4)}"
    plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix, plaintext, hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_prefix(plaintext: str) -> str | None:
    """The prefix a presented key claims, or None if it is not shaped like one of ours."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not parts[1] or not parts[2]:
        return None
    return f"{parts[0]}_{parts[1]}"


def matches(plaintext: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), key_hash)
