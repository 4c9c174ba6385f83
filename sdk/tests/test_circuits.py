"""Circuit enforcement: refused from cached state without a request, probes run with permits.

The caller's path never talks to the server: the cache is filled by ingest replies and by the
background refresher (GET /v1/circuits, POST /v1/circuits/{agent}/permits on the stub). Time
is a fake clock shared by the logger's circuit code and the stub, so nothing sleeps for long.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time

import pytest

from meta_agent_sdk import CircuitOpenError
from meta_agent_sdk._transport import Transport

AGENT = "test-agent"
PERMIT_KEY = "metaagent.circuit_permit"
JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXRva2Vu"


class FakeClock:
    """Monotonic and wall time that move only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._wall0 = time.time()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self._wall0 + self.now - 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(server):
    fake = FakeClock()
    server.clock = fake.monotonic
    return fake


def use_clock(logger, clock):
    logger._circuits.clock = clock.monotonic
    logger._guard.wall = clock.time


def seed(logger):
    """One execution while nothing is known (it runs); its ingest reply fills the cache."""
    with logger.execution(input="seed"):
        pass
    assert logger.flush(5)
    assert logger.circuit_state().state != "unknown"


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def refused(logger, **kwargs):
    """Try one execution; the CircuitOpenError if it was refused (its block never runs)."""
    ran = []
    try:
        with logger.execution(**kwargs):
            ran.append(1)
    except CircuitOpenError as error:
        assert not ran
        return error
    assert ran
    return None


def holds_permit(logger):
    return logger._guard.held(AGENT) is not None


@pytest.fixture
def request_threads(monkeypatch):
    """The thread of every HTTP request the SDK makes."""
    threads = []
    original = Transport._request_once

    def recording(self, *args, **kwargs):
        threads.append(threading.current_thread())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Transport, "_request_once", recording)
    return threads


# --- what each state does ---------------------------------------------------------------


def test_an_open_circuit_refuses_at_once_and_the_caller_never_asks_the_server(
    server, make_logger, request_threads
):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)
    seed(logger)
    sent_before = len(server.execution_ids)
    server.state.circuit_mode = "hang"  # a request on the caller's path would hang it
    request_threads.clear()
    start = time.monotonic()
    error = refused(logger)
    assert time.monotonic() - start < 0.5
    assert threading.current_thread() not in request_threads
    assert isinstance(error, CircuitOpenError)
    assert (error.agent, error.state) == (AGENT, "open")
    assert 25 < error.retry_after_s <= 30
    assert "open" in str(error)
    assert logger.stats().refused == 1
    assert logger.flush(5)
    assert len(server.execution_ids) == sent_before  # nothing is logged for it


def test_forced_open_refuses_with_no_retry_time(server, make_logger):
    server.state.circuits = {AGENT: {"state": "forced_open", "retry_after_s": None}}
    logger = make_logger(server.url)
    seed(logger)
    error = refused(logger)
    assert (error.state, error.retry_after_s) == ("forced_open", None)


@pytest.mark.parametrize("state", ["closed", "forced_closed", "a_state_from_the_future"])
def test_closed_forced_closed_and_unknown_states_run(server, make_logger, state):
    server.state.circuits = {AGENT: {"state": state, "retry_after_s": None}}
    logger = make_logger(server.url)
    assert refused(logger) is None  # nothing known yet
    assert logger.flush(5)
    assert logger.circuit_state().state == state
    for _ in range(3):
        assert refused(logger) is None
    assert logger.flush(5)
    assert len(server.execution_ids) == 4
    assert logger.stats().refused == 0


def test_open_until_its_retry_time_then_only_a_permitted_probe_runs(server, make_logger, clock):
    server.state.circuits = {AGENT: {"state": "open", "open_until": clock.now + 10}}
    server.state.permit_tokens = [JWT_LIKE]
    # A 30 s batch interval: only the probe's own hurry can deliver it within the test.
    logger = make_logger(server.url, flush_interval_s=30)
    use_clock(logger, clock)
    seed(logger)
    clock.advance(9)
    assert refused(logger).state == "open"  # demand: an execution was refused
    time.sleep(0.3)
    assert not server.circuit_requests("POST")  # still open: no permit is asked for yet
    clock.advance(2)  # past its retry time: the refresher fetches a permit for the demand
    assert wait_until(lambda: holds_permit(logger))
    assert logger.circuit_state().state == "half_open"  # from the permit's answer

    big = {f"k{i}": "x" * 8000 for i in range(10)}  # cut to fit the item limit
    with logger.execution(input="probe", metadata=big) as probe:
        assert probe.circuit_permit == JWT_LIKE
    assert wait_until(lambda: probe.execution_id in server.execution_ids, timeout=5)
    metadata = server.state.executions[probe.execution_id]["metadata"]
    assert metadata[PERMIT_KEY] == JWT_LIKE  # neither redacted nor cut
    assert "_truncated" in metadata

    (post,) = server.circuit_requests("POST")
    assert post.path == f"/v1/circuits/{AGENT}/permits"
    assert json.loads(post.body) == {}
    assert post.headers["Authorization"] == "Bearer test-key"
    assert post.headers["Content-Type"] == "application/json"
    stats = logger.stats()
    assert (stats.refused, stats.probes, stats.permits_expired) == (1, 1, 0)
    assert stats.circuit_requests == len(server.circuit_requests())
    # the permit is spent: the next execution is refused again
    assert refused(logger).state == "half_open"


def test_one_permit_admits_exactly_one_of_fifty_racing_threads(server, make_logger):
    server.state.circuits = {AGENT: {"state": "half_open", "retry_after_s": None}}
    server.state.permit_tokens = ["the-only-one"]
    logger = make_logger(server.url)
    seed(logger)
    error = refused(logger)  # no permit held yet: refused, and the refresher hears of it
    assert (error.state, error.retry_after_s) == ("half_open", 1.0)
    assert wait_until(lambda: holds_permit(logger))
    barrier = threading.Barrier(50)
    ran, refusals = [], []

    def attempt():
        barrier.wait()
        try:
            with logger.execution() as ex:
                ran.append(ex.circuit_permit)
        except CircuitOpenError:
            refusals.append(1)

    threads = [threading.Thread(target=attempt) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert ran == ["the-only-one"]
    assert len(refusals) == 49
    assert logger.stats().probes == 1


def test_a_permit_past_its_deadline_is_discarded(server, make_logger, clock):
    server.state.circuits = {AGENT: {"state": "half_open", "retry_after_s": None}}
    server.state.permit_tokens = ["late"]
    server.state.permit_deadline_ms = int(clock.time() * 1000) + 500
    logger = make_logger(server.url)
    use_clock(logger, clock)
    seed(logger)
    assert refused(logger) is not None
    assert wait_until(lambda: holds_permit(logger))
    clock.advance(1)  # the deadline passes before any execution takes it
    assert refused(logger) is not None
    assert not holds_permit(logger)
    stats = logger.stats()
    assert (stats.permits_expired, stats.probes) == (1, 0)
    assert logger.flush(5)
    assert not any(PERMIT_KEY in e["metadata"] for e in server.state.executions.values())


def test_an_execution_nested_in_a_probe_of_the_same_agent_is_part_of_it(server, make_logger):
    server.state.circuits = {AGENT: {"state": "half_open", "retry_after_s": None}}
    server.state.permit_tokens = ["outer"]
    logger = make_logger(server.url)
    seed(logger)
    assert refused(logger) is not None
    assert wait_until(lambda: holds_permit(logger))
    with logger.execution() as outer, logger.execution() as inner:
        pass
    assert outer.circuit_permit == "outer"
    assert inner.circuit_permit is None
    assert inner.parent_execution_id == outer.execution_id


# --- the refresher ----------------------------------------------------------------------


def test_the_refresher_asks_at_most_once_a_second(server, make_logger, clock):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)  # ticks every 50 ms
    use_clock(logger, clock)
    seed(logger)
    assert wait_until(lambda: len(server.circuit_requests("GET")) >= 1)
    for _ in range(20):  # refusals wake it; ~8 ticks pass
        assert refused(logger) is not None
        time.sleep(0.02)
    assert len(server.circuit_requests("GET")) == 1
    clock.advance(0.75)
    time.sleep(0.3)
    assert len(server.circuit_requests("GET")) == 1
    clock.advance(0.25)
    assert wait_until(lambda: len(server.circuit_requests("GET")) == 2)
    time.sleep(0.3)
    assert len(server.circuit_requests("GET")) == 2
    (first, _) = server.circuit_requests("GET")
    assert first.path == f"/v1/circuits?agent={AGENT}"
    assert first.agents == [AGENT]
    assert first.headers["Authorization"] == "Bearer test-key"


def test_a_closed_circuit_kept_fresh_by_ingest_replies_needs_no_refresh(server, make_logger):
    server.state.circuits = {AGENT: {"state": "closed", "retry_after_s": None}}
    logger = make_logger(server.url)
    for _ in range(10):
        assert refused(logger) is None
        time.sleep(0.05)
    assert logger.flush(5)
    assert server.circuit_requests() == []


def test_the_refresher_learns_that_an_open_circuit_was_reset(server, make_logger):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)
    seed(logger)
    assert refused(logger) is not None
    server.state.circuits = {}  # an operator reset it: the server reports it closed
    assert wait_until(lambda: logger.circuit_state().state == "closed")
    assert refused(logger) is None


def test_server_errors_on_refresh_keep_the_last_state_and_never_reach_the_caller(
    server, make_logger
):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)
    seed(logger)
    server.state.circuit_mode = "503"
    assert wait_until(lambda: any(r.status == 503 for r in server.circuit_requests()))
    assert refused(logger).state == "open"
    assert logger.circuit_state().state == "open"
    server.stop()  # now nothing answers at all
    time.sleep(0.2)
    assert refused(logger).state == "open"
    assert logger.circuit_state().state == "open"


def test_a_429_on_refresh_waits_its_retry_after(server, make_logger, clock):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)
    use_clock(logger, clock)
    seed(logger)
    assert wait_until(lambda: len(server.circuit_requests("GET")) == 1)
    server.state.circuit_mode, server.state.retry_after = "429", "5"
    clock.advance(1)
    assert wait_until(lambda: logger._guard.refresher.last_error == "HTTP 429")  # replied
    count = len(server.circuit_requests())
    clock.advance(4)
    time.sleep(0.3)
    assert len(server.circuit_requests()) == count
    clock.advance(1.1)
    assert wait_until(lambda: len(server.circuit_requests()) == count + 1)


def test_a_state_unconfirmed_for_five_minutes_no_longer_refuses(server, make_logger, clock):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 3600}}
    logger = make_logger(server.url)
    use_clock(logger, clock)
    seed(logger)
    server.stop()  # MetaAgent is down: the state cannot be confirmed any more
    clock.advance(299)
    assert refused(logger) is not None
    clock.advance(2)
    assert refused(logger) is None


# --- the decorator and its fallback -----------------------------------------------------


def test_the_decorator_returns_the_fallback_instead_of_running(server, make_logger):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url, fallback=lambda error, *args, **kwargs: "logger's")
    seed(logger)
    calls = []

    @logger.observe(fallback=lambda error, topic: f"cached {topic} ({error.state})")
    def research(topic):
        calls.append(topic)
        return "fresh"

    @logger.observe
    def plain(x):
        calls.append(x)
        return "fresh"

    assert research("tides") == "cached tides (open)"
    assert plain(1) == "logger's"
    assert calls == []
    assert logger.stats().refused == 2


def test_without_a_fallback_the_decorator_raises(server, make_logger):
    server.state.circuits = {AGENT: {"state": "open", "retry_after_s": 30}}
    logger = make_logger(server.url)
    seed(logger)
    calls = []

    @logger.observe
    def research(topic):
        calls.append(topic)

    with pytest.raises(CircuitOpenError):
        research("tides")
    assert calls == []


def test_a_refusal_inside_the_function_is_not_mistaken_for_its_own(server, make_logger):
    server.state.circuits = {"other": {"state": "open", "retry_after_s": 30}}
    mine = make_logger(server.url)
    other = make_logger(server.url, agent="other")
    seed(other)

    @mine.observe(fallback=lambda *args: "fallback")
    def outer():
        with other.execution():
            pass

    with pytest.raises(CircuitOpenError) as info:
        outer()
    assert info.value.agent == "other"
    assert mine.flush(5)
    (run,) = [e for e in server.state.executions.values() if e["agent"] == AGENT]
    assert run["status"] == "failure"
    assert run["error_type"] == "CircuitOpenError"


# --- async --------------------------------------------------------------------------------


def test_async_executions_and_decorators_are_enforced_the_same(server, make_logger):
    server.state.circuits = {AGENT: {"state": "half_open", "retry_after_s": None}}
    server.state.permit_tokens = ["async-probe"]
    logger = make_logger(server.url)
    seed(logger)

    async def fallback(error, topic):
        return f"later: {topic}"

    @logger.observe(fallback=fallback)
    async def research(topic):
        return f"fresh: {topic}"

    @logger.observe
    async def no_fallback(topic):
        return topic

    async def main():
        ran = []
        with pytest.raises(CircuitOpenError) as info:
            async with logger.execution():
                ran.append(1)
        assert ran == []
        assert info.value.state == "half_open"
        assert await research("tides") == "later: tides"
        with pytest.raises(CircuitOpenError):
            await no_fallback("tides")
        assert await asyncio.to_thread(wait_until, lambda: holds_permit(logger))
        async with logger.execution() as probe:
            pass
        return probe

    probe = asyncio.run(main())
    assert probe.circuit_permit == "async-probe"
    assert wait_until(lambda: probe.execution_id in server.execution_ids)
    assert server.state.executions[probe.execution_id]["metadata"][PERMIT_KEY] == "async-probe"


# --- turning it off, and processes --------------------------------------------------------


def test_enforce_circuit_false_runs_everything_and_asks_nothing(server, make_logger):
    server.state.circuits = {AGENT: {"state": "forced_open", "retry_after_s": None}}
    logger = make_logger(server.url, enforce_circuit=False)
    assert not logger.enforce_circuit
    seed(logger)
    calls = []

    @logger.observe
    def work(x):
        calls.append(x)
        return x

    for i in range(3):
        assert refused(logger) is None
        assert work(i) == i
    assert calls == [0, 1, 2]
    assert logger.flush(5)
    assert len(server.execution_ids) == 7
    assert server.circuit_requests() == []
    assert logger.stats().refused == 0


def test_the_environment_turns_enforcement_off(server, make_logger):
    server.state.circuits = {AGENT: {"state": "forced_open", "retry_after_s": None}}
    logger = make_logger(server.url, environ={"METAAGENT_ENFORCE_CIRCUIT": "0"})
    seed(logger)
    assert refused(logger) is None


def test_after_shutdown_nothing_is_enforced_any_more(server, make_logger):
    server.state.circuits = {AGENT: {"state": "forced_open", "retry_after_s": None}}
    logger = make_logger(server.url)
    seed(logger)
    assert refused(logger) is not None
    assert logger.shutdown(5)
    assert not logger.enforce_circuit
    assert refused(logger) is None  # it can no longer learn the state: it does not guess


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_uses_the_parents_permit(server, make_logger):
    server.state.circuits = {AGENT: {"state": "half_open", "retry_after_s": None}}
    server.state.permit_tokens = ["parents"]
    logger = make_logger(server.url)
    seed(logger)
    assert refused(logger) is not None
    assert wait_until(lambda: holds_permit(logger))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            os.close(r)
            error = refused(logger)
            os.write(w, json.dumps(error is not None).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r) as pipe:
        child_refused = json.loads(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_refused is True
    with logger.execution() as probe:
        pass
    assert probe.circuit_permit == "parents"
