"""An open-loop HTTP/1.1 load generator light enough not to be the bottleneck it measures.

httpx costs a few hundred microseconds of CPU per request and its pool queues under load, so at
500 requests/s on two shared cores it saturated before the server did. This one writes
pre-encoded GET requests on keep-alive connections with uvloop's streams and parses only the
status line and Content-Length. Requests start on a fixed schedule whatever the latency (open
loop, as users arrive), and latency is measured from the scheduled start, so a stalled server
is charged for the queue it causes instead of hiding it (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Target:
    """One URL to request, pre-encoded."""

    host: str
    port: int
    request: bytes
    name: str

    @classmethod
    def of(cls, url: str, headers: dict[str, str]) -> Target:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        return cls(parts.hostname or "127.0.0.1", parts.port or 80, request, parts.path)


@dataclass
class Outcome:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status


async def _drive(targets: list[Target], rate: float, seconds: float) -> Outcome:
    outcome = Outcome()
    idle: list[_Connection] = []
    host, port = targets[0].host, targets[0].port

    async def one(target: Target, scheduled: float) -> None:
        connection = idle.pop() if idle else None
        try:
            if connection is not None:
                try:
                    status = await connection.get(target.request)
                except (OSError, asyncio.IncompleteReadError):
                    # The server closes keep-alive connections left idle (uvicorn: after 5 s);
                    # like any HTTP client, retry a GET once on a fresh connection.
                    connection.writer.close()
                    connection = None
            if connection is None:
                connection = _Connection(*await asyncio.open_connection(host, port))
                status = await connection.get(target.request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            outcome.errors += 1
            if connection is not None:
                connection.writer.close()
            return
        latency = (time.perf_counter() - scheduled) * 1000
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        if status != 200:
            outcome.errors += 1
        outcome.latencies_ms.setdefault(target.name, []).append(latency)
        idle.append(connection)

    tasks = set()
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        scheduled = start + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(targets[n % len(targets)], scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=seconds * 10 + 60)
    for connection in idle:
        connection.writer.close()
    return outcome


def _run(targets: list[Target], rate: float, seconds: float, out: Any) -> None:
    import uvloop

    try:
        outcome = uvloop.run(_drive(targets, rate, seconds))
        out.put({"latencies_ms": outcome.latencies_ms, "errors": outcome.errors,
                 "statuses": outcome.statuses})  # fmt: skip
    except Exception as exc:  # reported to the parent, which raises it
        out.put({"failure": repr(exc)})


def drive(urls: list[str], headers: dict[str, str], rate: float, seconds: float) -> dict[str, Any]:
    """Request `urls` in turn at `rate` per second for `seconds`, from a separate process so
    the generator never shares a core's time slice with the server's event loop."""
    targets = [Target.of(url, headers) for url in urls]
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    process = context.Process(target=_run, args=(targets, rate, seconds, queue))
    process.start()
    try:
        result: dict[str, Any] = queue.get(timeout=seconds * 12 + 120)
    except Exception:
        process.terminate()
        raise RuntimeError(
            f"the load generator gave no result (exit code {process.exitcode})"
        ) from None
    process.join(30)
    if "failure" in result:
        raise RuntimeError(f"the load generator failed: {result['failure']}")
    return result
