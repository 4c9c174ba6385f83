"""The local spool: append-only files that hold batches while the server cannot take them.

Layout, in one directory per (endpoint, API key), so a batch is only ever replayed with the
key it was logged under::

    <owner>.lock            held (flock) by the live process that writes <owner>'s segments
    <owner>.<n>.seg         records, appended; <owner> = <unix ns>-<pid>-<random>
    <owner>.<n>.ack         8-byte offset of the first unsent record + CRC32 of it

Records are framed by `_framing.py` (length + CRC32): one torn by SIGKILL is skipped and
counted in `torn_records`.

Replay is oldest segment first. A process adopts the segments of owners whose lock nobody
holds (dead processes); a forked child closes its copies of the parent's descriptors and gets
an owner of its own, so the parent's records are never replayed twice.

fsync policy (`fsync=`): "always" syncs each record before the batch counts as spooled;
"interval" (default) syncs at most once per `fsync_interval_s`, and on flush and shutdown;
"never" leaves it to the OS. Any policy survives SIGKILL (the data is in the page cache);
only a power loss or kernel crash can take the last interval. Acks are never synced: a lost
ack replays a record again, and the server drops the duplicates.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

from meta_agent_sdk._framing import (
    HEADER,
    frame,
    pack_ack,
    read_ack,
    record_crc,
    scan,
    try_lock,
)
from meta_agent_sdk._ids import random_bits

FSYNC_POLICIES = ("always", "interval", "never")


class Record(NamedTuple):
    """The oldest unsent record: where it is, how many items, and its payload."""

    segment: _Segment
    offset: int
    items: int
    payload: bytes


class _Segment:
    __slots__ = ("ack_fd", "ack_path", "order", "owner", "path", "records", "size")

    def __init__(self, path: Path, owner: _Owner, size: int = 0) -> None:
        self.path = path
        self.ack_path = path.with_suffix(".ack")
        self.owner = owner
        self.order = (owner.token, path.name)
        self.size = size
        self.records: deque[tuple[int, int, int]] = deque()
        self.ack_fd: int | None = None


class _Owner:
    __slots__ = ("lock_fd", "lock_path", "segments", "token")

    def __init__(self, token: str, lock_path: Path, lock_fd: int) -> None:
        self.token = token
        self.lock_path = lock_path
        self.lock_fd = lock_fd
        self.segments = 0


def _close(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


class Spool:
    """Bounded on-disk FIFO of compressed batches; thread-safe (worker and shutdown)."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        fsync: str = "interval",
        fsync_interval_s: float = 1.0,
        segment_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"spool fsync policy must be one of {FSYNC_POLICIES}")
        self.directory = directory
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_s
        self.segment_bytes = segment_bytes
        self.pending_items = 0
        self.bytes = 0
        self.torn_records = 0
        self.adopted_items = 0
        self.corrupt_items = 0
        self.closed = False
        self._mutex = threading.Lock()
        self._segments: list[_Segment] = []
        self._owners: dict[str, _Owner] = {}
        self._me: _Owner | None = None
        self._active: _Segment | None = None
        self._wfd: int | None = None
        self._next_segment = 0
        self._dirty = False
        self._synced_at = 0.0

    # --- opening and adoption --------------------------------------------------------

    def open(self) -> None:
        """Create the directory, take an owner lock, adopt orphaned segments."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = f"{time.time_ns():020d}-{os.getpid()}-{random_bits(32):08x}"
        final = self.directory / f"{token}.lock"
        temp = self.directory / f".{token}.lock.tmp"
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        if not try_lock(fd):
            _close(fd)
            raise OSError(f"cannot lock {temp}")
        # Locked before it gets its real name, so no one can take a fresh owner for a dead one.
        os.replace(temp, final)
        with self._mutex:
            self._me = self._owners[token] = _Owner(token, final, fd)
        self.adopt_orphans()

    def adopt_orphans(self) -> int:
        """Take over segments of dead owners; returns the number of items adopted."""
        with self._mutex:
            if self.closed or self._me is None:
                return 0
            adopted = 0
            names = sorted(os.listdir(self.directory))
            tokens = {n[: -len(".lock")] for n in names if n.endswith(".lock")}
            for name in names:
                if name.endswith(".seg"):
                    token = name.split(".", 1)[0]
                    if token not in tokens and token not in self._owners:
                        tokens.add(token)  # a segment whose lock file is gone
            for token in sorted(tokens - set(self._owners)):
                owner = self._lock_owner(token)
                if owner is not None:
                    adopted += self._adopt(owner, names)
            self.adopted_items += adopted
            return adopted

    def _lock_owner(self, token: str) -> _Owner | None:
        path = self.directory / f"{token}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            try:  # recreate a missing lock; O_EXCL lets one adopter win
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError:
                return None
        except OSError:
            return None
        if not try_lock(fd):
            _close(fd)
            return None
        try:  # an adopter that finished unlinks the lock: a lock on a stale inode is no lock
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(path)
        except OSError:
            _close(fd)
            return None
        return _Owner(token, path, fd)

    def _adopt(self, owner: _Owner, names: list[str]) -> int:
        items = 0
        for name in names:
            if not (name.startswith(owner.token + ".") and name.endswith(".seg")):
                continue
            path = self.directory / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            segment = _Segment(path, owner, len(data))
            records, torn = scan(data, read_ack(segment.ack_path, len(data)))
            self.torn_records += torn
            segment.records.extend(records)
            owner.segments += 1
            self._segments.append(segment)
            self.bytes += segment.size
            items += sum(r[2] for r in records)
        self.pending_items += items
        self._owners[owner.token] = owner
        self._segments.sort(key=lambda s: s.order)
        if owner.segments == 0:
            self._release_owner(owner)
        return items

    # --- writing ---------------------------------------------------------------------

    def append(self, payload: bytes, items: int) -> str | None:
        """Append one compressed batch; None when stored, else why it was not."""
        data = frame(payload, items)
        with self._mutex:
            if self.closed or self._me is None:
                return "spool_unavailable"
            if self.bytes + len(data) > self.max_bytes:
                return "spool_full"
            try:
                segment = self._writable(len(data))
                assert self._wfd is not None
                start = segment.size
                view = memoryview(data)
                while view:
                    view = view[os.write(self._wfd, view) :]
            except OSError:
                if self._active is not None and self._wfd is not None:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._wfd, self._active.size)
                return "spool_write_error"
            segment.records.append((start, len(payload), items))
            segment.size += len(data)
            self.bytes += len(data)
            self.pending_items += items
            self._dirty = True
            if self.fsync == "always":
                self._sync()
            return None

    def _writable(self, need: int) -> _Segment:
        active = self._active
        if active is not None and (active.size == 0 or active.size + need <= self.segment_bytes):
            return active
        self._seal()
        assert self._me is not None
        path = self.directory / f"{self._me.token}.{self._next_segment:06d}.seg"
        self._next_segment += 1
        self._wfd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        segment = self._active = _Segment(path, self._me)
        self._me.segments += 1
        self._segments.append(segment)
        if self.fsync != "never":
            self._sync_directory()
        return segment

    def _seal(self) -> None:
        if self._wfd is not None:
            if self._dirty and self.fsync != "never":
                self._sync()
            _close(self._wfd)
        self._wfd = None
        self._active = None

    def _sync(self) -> None:
        if self._wfd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._wfd)
        self._dirty = False
        self._synced_at = time.monotonic()

    def _sync_directory(self) -> None:
        if sys.platform == "win32":  # pragma: no cover
            return
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        with contextlib.suppress(OSError):
            os.fsync(fd)
        _close(fd)

    def sync(self, force: bool = False) -> None:
        """fsync the segment being written, per the policy (`force`: now, unless "never")."""
        if not self._dirty or self.fsync == "never":
            return
        if force or time.monotonic() - self._synced_at >= self.fsync_interval_s:
            with self._mutex:
                if self._dirty:
                    self._sync()

    # --- reading ---------------------------------------------------------------------

    def head(self) -> Record | None:
        """The oldest unsent record, or None when the spool is empty."""
        with self._mutex:
            while self._segments and not self.closed:
                segment = self._segments[0]
                if not segment.records:
                    if segment is self._active:
                        return None
                    self._remove(segment)
                    continue
                offset, length, items = segment.records[0]
                try:
                    with open(segment.path, "rb") as f:
                        f.seek(offset)
                        raw = f.read(HEADER.size + length)
                except OSError:
                    raw = b""
                payload = raw[HEADER.size :]
                good = len(payload) == length
                if good:
                    crc = HEADER.unpack_from(raw)[3]
                    good = record_crc(length, items, payload) == crc
                if good:
                    return Record(segment, offset, items, payload)
                # Changed on disk since it was scanned: skip it like a torn record.
                self.torn_records += 1
                self.corrupt_items += items
                self._advance(segment)
                self.pending_items -= items
            return None

    def commit(self, record: Record) -> None:
        """Mark the head record sent (or dropped for good)."""
        with self._mutex:
            segment = record.segment
            if not segment.records or segment.records[0][0] != record.offset:
                return
            self._advance(segment)
            self.pending_items -= record.items
            if not segment.records:
                if segment is self._active:
                    self._seal()
                self._remove(segment)

    def _advance(self, segment: _Segment) -> None:
        offset, length, _ = segment.records.popleft()
        end = offset + HEADER.size + length
        try:
            if segment.ack_fd is None:
                segment.ack_fd = os.open(segment.ack_path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.lseek(segment.ack_fd, 0, os.SEEK_SET)
            os.write(segment.ack_fd, pack_ack(end))
        except OSError:
            pass  # the record is replayed once more after a restart; the server drops it

    def _remove(self, segment: _Segment) -> None:
        self._segments.remove(segment)
        _close(segment.ack_fd)
        segment.ack_fd = None
        for path in (segment.path, segment.ack_path):
            with contextlib.suppress(OSError):
                path.unlink()
        self.bytes -= segment.size
        owner = segment.owner
        owner.segments -= 1
        if owner.segments == 0 and owner is not self._me:
            self._release_owner(owner)

    def _release_owner(self, owner: _Owner) -> None:
        with contextlib.suppress(OSError):
            owner.lock_path.unlink()
        _close(owner.lock_fd)
        self._owners.pop(owner.token, None)

    # --- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Sync and release everything; our own segments stay for the next process."""
        with self._mutex:
            if self.closed:
                return
            self._seal()
            for segment in [s for s in self._segments if not s.records]:
                self._remove(segment)
            self.closed = True
            self._drop_handles(unlink_own_lock=self.pending_items == 0)

    def abandon(self) -> None:
        """In a forked child: forget the parent's spool without touching its files or locks."""
        self.closed = True
        self._mutex = threading.Lock()
        _close(self._wfd)
        self._wfd = None
        self._drop_handles(unlink_own_lock=False)

    def _drop_handles(self, unlink_own_lock: bool) -> None:
        for segment in self._segments:
            _close(segment.ack_fd)
            segment.ack_fd = None
        for owner in list(self._owners.values()):
            if owner is self._me and unlink_own_lock:
                with contextlib.suppress(OSError):
                    owner.lock_path.unlink()
            _close(owner.lock_fd)
        self._owners.clear()
