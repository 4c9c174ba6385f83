"""The spool's record format and file locks.

A record is a 16-byte header — magic ``MAS1``, payload length, item count, CRC32 of length,
count and payload; little-endian — followed by the payload (a gzip-compressed request body).
A record torn by SIGKILL or a crash fails its length or CRC check; `scan` skips it and resyncs
on the next magic.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def try_lock(fd: int) -> bool:
        """Lock the file exclusively without waiting; False if another process holds it."""
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def try_lock(fd: int) -> bool:
        """Lock the file exclusively without waiting; False if another process holds it.

        flock, not fcntl record locks: two opens in one process conflict too, and a forked
        child closing its inherited copy does not release the parent's lock.
        """
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


MAGIC = b"MAS1"
HEADER = struct.Struct("<4sIII")
_COUNTS = struct.Struct("<II")
_ACK = struct.Struct("<QI")  # offset of the first unsent record, CRC32 of the offset


def record_crc(length: int, items: int, payload: bytes | memoryview) -> int:
    """CRC32 over the header's length and item count, then the payload."""
    return zlib.crc32(payload, zlib.crc32(_COUNTS.pack(length, items)))


def frame(payload: bytes, items: int) -> bytes:
    """One record: header then payload."""
    crc = record_crc(len(payload), items, payload)
    return HEADER.pack(MAGIC, len(payload), items, crc) + payload


def scan(data: bytes, start: int = 0) -> tuple[list[tuple[int, int, int]], int]:
    """Valid records in `data` from `start` as (offset, length, items), and the torn count."""
    view = memoryview(data)
    records: list[tuple[int, int, int]] = []
    torn = 0
    pos, size = start, len(data)
    while pos < size:
        if size - pos >= HEADER.size:
            magic, length, items, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if (
                magic == MAGIC
                and end <= size
                and record_crc(length, items, view[pos + HEADER.size : end]) == crc
            ):
                records.append((pos, length, items))
                pos = end
                continue
        torn += 1
        pos = data.find(MAGIC, pos + 1)
        if pos < 0:
            break
    return records, torn


def pack_ack(offset: int) -> bytes:
    """An ack: the offset of the first unsent record, with its CRC32."""
    raw = offset.to_bytes(8, "little")
    return raw + zlib.crc32(raw).to_bytes(4, "little")


def read_ack(path: Path, size: int) -> int:
    """The acked offset stored at `path`; 0 (replay all) if missing, torn or beyond `size`."""
    try:
        raw = path.read_bytes()
    except OSError:
        return 0
    if len(raw) != _ACK.size:
        return 0
    offset, crc = _ACK.unpack(raw)
    if crc != zlib.crc32(raw[:8]) or offset > size:
        return 0
    return int(offset)
