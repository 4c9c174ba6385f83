"""Time-ordered ids (UUIDv7, RFC 9562) that cost the caller one call for random bits.

The caller keeps the clock reading it already has and 74 random bits; the text form is made
on first use, usually by the worker. Formatting is deterministic, so two threads that format
the same id at once produce the same text and the lazy cache needs no lock.

The generator is a private Mersenne Twister seeded from `os.urandom` and reseeded in a forked
child, so parent and child never draw the same bits. Ids need to be unique, not secret.
"""

from __future__ import annotations

import os
import random

_rng = random.Random(os.urandom(32))
#: `random_bits(74)`: the random part of one id.
random_bits = _rng.getrandbits

_RAND_B_MASK = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)


def reseed() -> None:
    """Give this process a fresh random stream (called in a forked child)."""
    _rng.seed(os.urandom(32))


def uuid7_text(unix_ns: int, rand: int) -> str:
    """The canonical text of the UUIDv7 with millisecond `unix_ns` and 74 random bits `rand`."""
    value = (
        ((unix_ns // 1_000_000) & 0xFFFF_FFFF_FFFF) << 80
        | _VERSION_AND_VARIANT
        | (rand >> 62) << 64
        | (rand & _RAND_B_MASK)
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
