"""Delivery: batching, compression, retries with backoff, status codes, hangs, a full buffer."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from ingest_stub import IngestServer, assert_stats_add_up


def _log_actions(logger, n, **kwargs):
    ids = []
    with logger.execution() as ex:
        for i in range(n):
            ids.append(ex.tool_call(f"t{i}", duration_ms=1.0, **kwargs).action_id)
    ids.append(ex.execution_id)
    return ids


def test_full_batches_go_out_without_waiting_for_the_interval(server, make_logger):
    logger = make_logger(server.url, batch_max_items=10, flush_interval_s=30)
    with logger.execution() as ex:
        for i in range(35):
            ex.tool_call(f"t{i}", duration_ms=1.0)
        assert server.wait_for(30, timeout=5)
        assert [r.items for r in server.requests()] == [10, 10, 10]
    assert logger.flush(5)
    assert server.wait_for(36)
    assert [r.items for r in server.requests()] == [10, 10, 10, 6]
    assert_stats_add_up(logger)


def test_batches_are_capped_in_bytes(server, make_logger):
    logger = make_logger(server.url, batch_max_bytes=4096)
    ids = _log_actions(logger, 12, input="x" * 1000)
    assert logger.flush(5)
    assert server.wait_for(len(ids))
    sizes = [r.body_bytes for r in server.requests()]
    assert len(sizes) >= 3
    assert max(sizes) <= 4096 + 1500  # the item that crossed the cap rides along


def test_a_partial_batch_goes_out_at_the_interval(server, make_logger):
    logger = make_logger(server.url, flush_interval_s=0.3)
    start = time.monotonic()
    ids = _log_actions(logger, 2)
    # a batch of 3 never fills the 500-item cap: only the interval can have sent it
    assert server.wait_for(len(ids), timeout=5)
    assert time.monotonic() - start < 5
    assert sum(r.items for r in server.requests()) == 3
    assert len(server.requests()) <= 2  # one, unless a tick fell between the calls


def test_batches_are_gzipped_and_carry_the_key(server, make_logger):
    logger = make_logger(server.url)
    _log_actions(logger, 1)
    assert logger.flush(5)
    (req,) = server.requests()
    assert req.headers["Content-Encoding"] == "gzip"
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["Authorization"] == "Bearer test-key"
    assert req.headers["User-Agent"].startswith("metaagent-sdk/")


def test_a_429_is_retried_no_sooner_than_retry_after(flaky, make_logger):
    flaky.state.mode, flaky.state.retry_after, flaky.state.fail_next = "429", "1", 1
    logger = make_logger(flaky.url, backoff_base_s=0.01)
    ids = _log_actions(logger, 3)
    assert logger.flush(5)
    assert flaky.wait_for(len(ids), timeout=5)
    assert logger.flush(5)  # the response that completed the replay is processed
    first, second = flaky.requests()[:2]
    assert first.status == 429
    assert second.at - first.at >= 0.95
    stats = logger.stats()
    assert stats.retried >= 1
    assert stats.sent == len(ids)
    assert_stats_add_up(logger)


def test_5xx_backs_off_exponentially_and_nothing_is_lost(flaky, make_logger):
    flaky.state.mode, flaky.state.fail_next = "503", 3
    logger = make_logger(flaky.url, backoff_base_s=0.1, backoff_max_s=5.0)
    ids = _log_actions(logger, 4)
    assert logger.flush(5)
    assert flaky.wait_for(len(ids), timeout=5)
    times = [r.at for r in flaky.requests()]
    gaps = [b - a for a, b in zip(times, times[1:])]
    # Jittered in [cap/2, cap], cap = 0.1, 0.2, 0.4 s: each wait at least half its cap.
    for i, gap in enumerate(gaps[:3]):
        assert gap >= 0.1 * 2**i / 2 * 0.9, gaps
    assert flaky.ids() == set(ids)
    assert flaky.state.duplicates == 0
    assert logger.flush(5)
    assert logger.stats().retried == 3


def test_a_413_splits_the_batch_until_it_fits(server, make_logger):
    server.state.max_items = 4
    logger = make_logger(server.url, batch_max_items=16)
    ids = _log_actions(logger, 15)
    assert logger.flush(5)
    assert server.wait_for(len(ids))
    assert server.ids() == set(ids)
    assert server.requests(413)
    assert all(r.items <= 4 for r in server.requests(200))
    assert logger.stats().dropped == 0


def test_a_single_item_too_large_for_the_server_is_dropped_and_counted(server, make_logger):
    server.state.max_item_bytes = 1500
    logger = make_logger(server.url)
    with logger.execution() as ex:
        ex.tool_call("small", duration_ms=1)
        ex.tool_call("huge", input="z" * 3000, duration_ms=1)
    assert logger.flush(5)
    stats = logger.stats()
    assert stats.dropped_by_reason == {"too_large": 1}
    assert stats.sent == 2
    assert_stats_add_up(logger)


@pytest.mark.parametrize(
    ("status", "reason"), [("401", "unauthorized"), ("403", "forbidden"), ("422", "invalid")]
)
def test_auth_and_shape_errors_drop_the_batch_once_without_looping(
    server, make_logger, caplog, status, reason
):
    server.state.mode = status
    logger = make_logger(server.url)
    with caplog.at_level(logging.WARNING, logger="meta_agent_sdk"):
        first = _log_actions(logger, 2)
        assert logger.flush(5)
        second = _log_actions(logger, 3)
        assert logger.flush(5)
        time.sleep(0.3)
    assert len(server.requests()) == 2
    stats = logger.stats()
    assert stats.dropped_by_reason == {reason: len(first) + len(second)}
    assert stats.spooled == 0
    assert sum(reason in r.getMessage() for r in caplog.records) == 1
    assert_stats_add_up(logger)


def test_items_the_server_rejects_are_counted_as_dropped(server, make_logger):
    server.state.reject_indexes = (0,)
    logger = make_logger(server.url)
    ids = _log_actions(logger, 3)
    assert logger.flush(5)
    stats = logger.stats()
    assert stats.dropped_by_reason == {"rejected": 1}
    assert stats.sent == len(ids) - 1
    assert_stats_add_up(logger)


def test_circuits_and_routing_version_are_cached_from_responses(server, make_logger):
    server.state.circuits = {"test-agent": {"state": "open", "retry_after_s": 30}}
    server.state.routing_version = 7
    logger = make_logger(server.url)
    assert logger.circuit_state().state == "unknown"
    _log_actions(logger, 1)
    assert logger.flush(5)
    circuit = logger.circuit_state()
    assert (circuit.state, circuit.retry_after_s, circuit.routing_version) == ("open", 30.0, 7)
    assert logger.routing_version == 7
    assert logger.circuit_state("other-agent").state == "unknown"
    assert set(logger.circuits()) == {"test-agent"}


def test_flush_and_shutdown_return_in_time_when_the_server_hangs(server, make_logger, tmp_path):
    server.state.mode = "hang"
    logger = make_logger(server.url, request_timeout_s=60)
    ids = _log_actions(logger, 5)
    start = time.monotonic()
    # the server hangs for 60 s; generous margins keep this about hanging, not about speed
    assert logger.flush(0.5) is False
    assert time.monotonic() - start < 10
    start = time.monotonic()
    assert logger.shutdown(1.0) is True  # what hung in flight is spooled from this thread
    assert time.monotonic() - start < 10
    assert logger.stats().spooled == len(ids)

    server.state.mode = "ok"
    server.release.set()
    replayer = make_logger(server.url)
    assert server.wait_for(len(ids))
    assert server.ids() == set(ids)
    assert replayer.stats().adopted == len(ids)


def test_a_request_that_never_answers_times_out_and_is_spooled(server, make_logger):
    server.state.mode = "hang"
    logger = make_logger(server.url, request_timeout_s=0.3)
    ids = _log_actions(logger, 2)
    start = time.monotonic()
    assert logger.flush(10)  # True: the hung request timed out and its batch was spooled
    assert time.monotonic() - start < 10
    stats = logger.stats()
    assert stats.spooled == len(ids)
    assert "timed out" in (stats.last_error or "")


def test_a_full_buffer_never_blocks_and_loses_nothing(server, make_logger):
    server.state.mode = "hang"
    logger = make_logger(
        server.url, request_timeout_s=60, max_buffer_items=500, batch_max_items=200
    )
    with logger.execution() as ex:
        ex.tool_call("first", duration_ms=1)
    assert not logger.flush(0.3)  # the worker is now stuck in a request that never ends
    n = 20_000
    ids: list[str] = []

    def burst() -> None:
        with logger.execution() as ex:
            for i in range(n):
                ids.append(ex.tool_call("burst", input=i, duration_ms=0.1).action_id)

    # The server stays hung until after the burst: a caller that waited on the worker would
    # never finish. (How fast it finishes is the benchmark's business, not this test's.)
    caller = threading.Thread(target=burst)
    caller.start()
    caller.join(60)
    assert not caller.is_alive(), "logging blocked behind a hung server"
    assert len(ids) == n
    assert logger.stats().queued >= n

    server.state.mode = "ok"
    server.release.set()  # the hung request fails; the backlog goes to the spool, then out
    assert logger.flush(20)
    assert server.wait_for(n + 3, timeout=30)
    assert set(ids) <= server.ids()
    assert len(server.ids()) == n + 3
    assert server.state.duplicates == 0
    assert_stats_add_up(logger)


def test_a_kept_alive_connection_closed_by_the_server_is_no_outage(make_logger):
    server = IngestServer(http11=True).start()
    server.state.drop_after_reply = True  # like an idle keep-alive timeout between batches
    try:
        logger = make_logger(server.url)
        for _ in range(3):
            _log_actions(logger, 1)
            assert logger.flush(5)
        stats = logger.stats()
        assert (stats.sent, stats.spooled, stats.retried) == (6, 0, 0)
        assert stats.last_error is None
    finally:
        server.stop()


@pytest.mark.parametrize("lanes", [1, 3])
def test_batches_are_sent_on_up_to_max_concurrent_requests_connections(server, make_logger, lanes):
    server.state.delay_s = 0.2  # each batch takes a while to store, as a real one does
    logger = make_logger(server.url, batch_max_items=10, max_concurrent_requests=lanes)
    _log_actions(logger, 1)
    assert logger.flush(5)  # the first answer shows the server is up
    ids = _log_actions(logger, 99)
    assert logger.flush(20)
    assert server.wait_for(2 + len(ids))
    assert set(ids) <= server.ids()
    assert server.state.duplicates == 0
    assert server.state.most_in_flight == lanes
    assert_stats_add_up(logger)


def test_a_server_down_from_the_start_gets_one_request_at_a_time(server, make_logger):
    server.state.mode = "503"
    logger = make_logger(server.url, batch_max_items=10, max_concurrent_requests=3)
    _log_actions(logger, 49)
    assert logger.flush(5)
    assert len(server.requests(503)) == 1  # then the rest waits in the spool, in order
    assert logger.stats().spooled == 50


def test_shutdown_spools_every_batch_hung_on_a_lane(server, make_logger):
    logger = make_logger(
        server.url, batch_max_items=10, max_concurrent_requests=3, request_timeout_s=60
    )
    first = _log_actions(logger, 1)
    assert logger.flush(5)
    server.state.mode = "hang"
    ids = _log_actions(logger, 59)  # six batches: three hang on the lanes, one waits for one
    assert logger.flush(0.5) is False
    assert logger.shutdown(1.0) is True
    stats = logger.stats()
    assert (stats.sent, stats.spooled, stats.dropped) == (len(first), len(ids), 0)

    server.state.mode = "ok"
    server.release.set()
    replayer = make_logger(server.url)
    assert server.wait_for(len(first) + len(ids))
    assert server.ids() == set(first) | set(ids)
    assert replayer.stats().adopted == len(ids)
