"""Order-independent randomness: a uniform number derived from a seed and a key.

Two runs with the same seed give each attempt the same draw, whatever order attempts are
processed in; that is what lets the forecast and the real dispatcher agree.
"""

from __future__ import annotations

import hashlib


def stable_uniform(seed: int, *key: object) -> float:
    """A number in [0, 1) determined by ``seed`` and ``key`` alone."""
    digest = hashlib.blake2b(repr((seed, *key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64
