"""Process lifecycle: exit flushes, a forked child starts afresh and never re-sends the parent's."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap

import pytest


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def _fork_child(body):
    """Run `body()` in a forked child; return what it returned (JSON) to the parent."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(r)
            os.write(w, json.dumps(body()).encode())
            os.close(w)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    data = _read_all(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return json.loads(data)


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def test_a_forked_child_sends_its_own_items_and_never_the_parents_pending_ones(server, make_logger):
    logger = make_logger(server.url, flush_interval_s=30)  # the parent's items stay pending
    with logger.execution() as ex:
        parent_ids = [ex.tool_call("parent", duration_ms=1).action_id for _ in range(5)]
    parent_ids.append(ex.execution_id)

    def child():
        assert logger.stats().logged == 0  # an empty buffer of its own
        with logger.execution() as cex:
            ids = [cex.tool_call("child", duration_ms=1).action_id for _ in range(3)]
        ids.append(cex.execution_id)
        ok = logger.shutdown(5)
        stats = logger.stats()
        return {"ids": ids, "ok": ok, "logged": stats.logged, "sent": stats.sent}

    result = _fork_child(child)
    assert result["ok"]
    assert (result["logged"], result["sent"]) == (4, 4)
    assert logger.flush(5)
    assert server.wait_for(10)
    assert server.ids() == set(parent_ids) | set(result["ids"])
    assert sum(r.items for r in server.requests(200)) == 10  # nothing was sent twice
    assert logger.stats().sent == 6


def test_a_forked_child_does_not_replay_the_parents_spool(server, make_logger):
    server.state.mode = "503"
    logger = make_logger(server.url)
    with logger.execution() as ex:
        parent_ids = [ex.tool_call("parent", duration_ms=1).action_id for _ in range(4)]
    parent_ids.append(ex.execution_id)
    assert logger.flush(5)
    assert logger.stats().spooled == 5
    server.state.mode = "ok"

    def child():
        with logger.execution() as cex:
            ids = [cex.tool_call("child", duration_ms=1).action_id for _ in range(2)]
        ids.append(cex.execution_id)
        logger.flush(5)
        stats = logger.stats()
        logger.shutdown(5)
        return {"ids": ids, "adopted": stats.adopted, "sent": stats.sent}

    result = _fork_child(child)
    assert (result["adopted"], result["sent"]) == (0, 3)
    assert server.wait_for(8)
    assert logger.flush(5)
    assert server.ids() == set(parent_ids) | set(result["ids"])
    assert sum(r.items for r in server.requests(200)) == 8
    assert server.state.duplicates == 0


def _mp_child(logger):
    with logger.execution(input="from a multiprocessing child") as ex:
        ex.tool_call("work", duration_ms=1)
    # no flush, no shutdown: multiprocessing leaves through os._exit, which skips atexit


def test_a_multiprocessing_child_is_flushed_when_it_exits(server, make_logger):
    logger = make_logger(server.url, flush_interval_s=30)
    process = multiprocessing.get_context("fork").Process(target=_mp_child, args=(logger,))
    process.start()
    process.join(15)
    assert process.exitcode == 0
    assert server.wait_for(2, timeout=5)


EXITING_AGENT = textwrap.dedent(
    """
    import json, sys
    from meta_agent_sdk import AgentLogger

    logger = AgentLogger("exiting", endpoint=sys.argv[1], api_key="k",
                         spool_dir=sys.argv[2], flush_interval_s=60, environ={})
    with logger.execution() as ex:
        ids = [ex.tool_call("step", duration_ms=1).action_id for _ in range(5)]
    print(json.dumps(ids + [ex.execution_id]))
    """
)


def test_items_still_buffered_at_interpreter_exit_are_flushed(server, tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", EXITING_AGENT, server.url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    ids = json.loads(out.stdout)
    assert server.wait_for(6, timeout=5)
    assert server.ids() == set(ids)
