"""The spool: nothing is lost while the server is down, a crash, or a full disk budget."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from ingest_stub import assert_stats_add_up

from meta_agent_sdk._framing import HEADER, MAGIC, frame, scan
from meta_agent_sdk._spool import Spool


def _log(logger, executions, actions_each):
    """Log and return (action ids, execution ids) in the order they were logged."""
    action_ids, execution_ids = [], []
    for _ in range(executions):
        with logger.execution() as ex:
            for i in range(actions_each):
                action_ids.append(ex.tool_call(f"t{i}", duration_ms=1).action_id)
        execution_ids.append(ex.execution_id)
    return action_ids, execution_ids


# --- the record format ---


def test_records_round_trip_and_a_torn_tail_is_detected():
    data = frame(b"one", 1) + frame(b"two-two", 2)
    records, torn = scan(data)
    assert [(r[1], r[2]) for r in records] == [(3, 1), (7, 2)]
    assert torn == 0
    whole = frame(b"three", 3)
    for cut in (5, HEADER.size, len(whole) - 1):  # torn in the header, at its end, in the payload
        records, torn = scan(data + whole[:cut])
        assert (len(records), torn) == (2, 1)


def test_a_corrupt_record_is_skipped_and_the_reader_resyncs():
    good = frame(b"payload-a", 1)
    bad = bytearray(frame(b"payload-b", 5))
    bad[-1] ^= 0xFF
    data = good + bytes(bad) + frame(b"payload-c", 2)
    records, torn = scan(data)
    assert [r[2] for r in records] == [1, 2]
    assert torn == 1
    assert data.count(MAGIC) == 3


def test_the_spool_is_a_bounded_fifo_that_deletes_what_was_sent(tmp_path):
    spool = Spool(tmp_path, max_bytes=200, segment_bytes=64)
    spool.open()
    assert spool.append(b"a" * 30, 1) is None
    assert spool.append(b"b" * 30, 2) is None
    assert spool.append(b"c" * 30, 3) is None
    assert spool.append(b"d" * 200, 4) == "spool_full"
    assert spool.pending_items == 6
    for expected in (b"a", b"b", b"c"):
        record = spool.head()
        assert record is not None
        assert record.payload[:1] == expected
        spool.commit(record)
    assert spool.head() is None
    assert (spool.pending_items, spool.bytes) == (0, 0)
    assert [p.suffix for p in tmp_path.iterdir()] == [".lock"]
    spool.close()
    assert list(tmp_path.iterdir()) == []


def test_after_a_crash_the_next_owner_resumes_after_the_last_ack(tmp_path):
    first = Spool(tmp_path, max_bytes=10_000)
    first.open()
    for i in range(3):
        assert first.append(b"record-%d" % i, i + 1) is None
    record = first.head()
    assert record is not None
    first.commit(record)
    first.abandon()  # as if killed: nothing cleaned up, the lock goes with the process

    second = Spool(tmp_path, max_bytes=10_000)
    second.open()
    assert (second.adopted_items, second.pending_items) == (5, 5)
    record = second.head()
    assert record is not None
    assert record.payload == b"record-1"
    second.close()


# --- end to end ---


def test_server_down_then_back_replays_the_spool_in_order_without_loss(server, make_logger):
    server.stop()  # connections are refused
    logger = make_logger(server.url, batch_max_items=7)
    action_ids, execution_ids = _log(logger, 5, 6)
    assert logger.flush(5)
    stats = logger.stats()
    assert (stats.sent, stats.spooled, stats.queued) == (0, 35, 0)

    server.start()  # same port
    assert server.wait_for(35, timeout=10)
    assert server.action_ids == set(action_ids)
    assert server.execution_ids == set(execution_ids)
    assert server.state.duplicates == 0
    arrivals = server.state.arrivals
    assert [i for i in arrivals if i in set(action_ids)] == action_ids
    assert [i for i in arrivals if i in set(execution_ids)] == execution_ids
    assert logger.flush(5)
    stats = logger.stats()
    assert (stats.sent, stats.spooled, stats.dropped) == (35, 0, 0)
    assert_stats_add_up(logger)


def test_an_exhausted_disk_budget_drops_and_counts_every_item(server, make_logger):
    server.stop()
    # max_buffer_items=1: no room to hold a batch in memory either
    logger = make_logger(server.url, batch_max_items=5, spool_max_bytes=3000, max_buffer_items=1)
    action_ids, execution_ids = _log(logger, 8, 9)  # 80 items, far more than 3000 bytes
    assert logger.flush(5)
    stats = logger.stats()
    assert 0 < stats.spooled < 80
    assert stats.spool_bytes <= 3000
    assert stats.dropped_by_reason == {"spool_full": 80 - stats.spooled}
    assert stats.logged == 80
    assert_stats_add_up(logger)

    server.start()
    assert server.wait_for(stats.spooled, timeout=10)
    assert logger.flush(5)
    time.sleep(0.2)
    assert len(server.ids()) == stats.spooled
    assert server.ids() <= set(action_ids) | set(execution_ids)
    assert logger.stats().sent == stats.spooled


AGENT = textwrap.dedent(
    """
    import json, sys, time
    from meta_agent_sdk import AgentLogger

    logger = AgentLogger("doomed", endpoint=sys.argv[1], api_key="test-key",
                         spool_dir=sys.argv[2], flush_interval_s=0.05, environ={})
    ids = []
    for _ in range(3):
        with logger.execution(input="work") as ex:
            for i in range(10):
                ids.append(ex.tool_call("step", input=i, duration_ms=1).action_id)
        ids.append(ex.execution_id)
    assert logger.flush(10)
    assert logger.stats().spooled == len(ids), logger.stats()
    print(json.dumps(ids), flush=True)
    time.sleep(60)
    """
)


def test_an_agent_killed_with_sigkill_loses_nothing_it_spooled(server, make_logger, tmp_path):
    server.state.mode = "503"
    spool_dir = tmp_path / "spool"
    proc = subprocess.Popen(
        [sys.executable, "-c", AGENT, server.url, str(spool_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    ids = json.loads(line)
    assert len(ids) == 33
    # A record torn by the kill (simulated: half a record at the tail) must be skipped.
    (segment,) = spool_dir.glob("*/*.seg")
    torn = frame(b"x" * 100, 7)
    with open(segment, "ab") as f:
        f.write(torn[:60])

    server.state.mode = "ok"
    replayer = make_logger(server.url, spool_dir=spool_dir)
    assert server.wait_for(33, timeout=10)
    assert server.ids() == set(ids)
    assert server.state.duplicates == 0
    stats = replayer.stats()
    assert (stats.adopted, stats.torn_records) == (33, 1)
    assert replayer.flush(5)
    assert not list(spool_dir.glob("*/*.seg"))  # replayed segments are deleted


def test_a_live_loggers_spool_is_not_taken_over(server, make_logger, tmp_path):
    server.stop()
    first = make_logger(server.url)
    _log(first, 1, 3)
    assert first.flush(5)
    assert first.stats().spooled == 4
    second = make_logger(server.url)
    assert second.flush(5)
    assert second.stats().adopted == 0
    first.shutdown(2)  # its lock is released with the spool still full: now it is an orphan
    third = make_logger(server.url)
    assert third.flush(5)
    assert third.stats().adopted == 4


def test_the_spool_directory_is_per_endpoint_and_key(tmp_path, make_logger, server):
    a = make_logger(server.url, api_key="key-a")
    b = make_logger(server.url, api_key="key-b")
    assert a.spool_dir != b.spool_dir
    assert a.spool_dir.parent == b.spool_dir.parent == tmp_path / "spool"


def test_without_a_usable_spool_batches_wait_in_memory(server, make_logger, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    server.stop()
    logger = make_logger(server.url, spool_dir=blocker)
    _log(logger, 1, 2)
    assert logger.flush(5)
    assert logger.stats().queued == 3
    server.start()
    _log(logger, 1, 2)
    assert logger.flush(5)
    assert server.wait_for(6)
    assert logger.stats().dropped == 0
    assert_stats_add_up(logger)


def test_spool_files_are_private(server, make_logger):
    server.stop()
    logger = make_logger(server.url)
    _log(logger, 1, 1)
    assert logger.flush(5)
    for path in Path(logger.spool_dir).iterdir():
        assert os.stat(path).st_mode & 0o077 == 0, path
