"""Executions and actions arrive as the protocol says: fields, statuses, nesting, decorators."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from meta_agent_sdk import AgentLogger, current_execution


def _v7(text: str) -> uuid.UUID:
    value = uuid.UUID(text)
    assert value.version == 7
    return value


def test_a_sync_execution_with_nested_actions_arrives_with_parent_ids_and_fields(
    server, make_logger
):
    logger = make_logger(server.url)
    with logger.execution(input={"topic": "tides"}, metadata={"run": 1}, session_id="s-1") as ex:
        with ex.tool_call("search", input={"q": "tides"}) as search:
            ex.retrieval("kb", input="tides", output=["doc-1"], duration_ms=3.0)
            with ex.llm_inference("claude-sonnet-4-5", 1200, 300) as llm:
                llm.output = "a draft"
            search.output = {"hits": 2}
        ex.decision("route", output="publish")
        ex.human_intervention("review", output="approved", duration_ms=1500)
        ex.custom("cleanup", attributes={"files": 3}, duration_ms=0.5)
        ex.output = {"draft": "..."}
    assert logger.flush(5)
    assert server.wait_for(7)

    executions = server.state.executions
    actions = server.state.actions
    run = executions[ex.execution_id]
    _v7(run["execution_id"])
    assert run["agent"] == "test-agent"
    assert run["status"] == "success"
    assert run["session_id"] == "s-1"
    assert run["input"] == {"topic": "tides"}
    assert run["metadata"] == {"run": 1}
    assert run["output"] == {"draft": "..."}
    assert run["started_at"].endswith("Z")
    assert run["ended_at"] >= run["started_at"]
    assert run["duration_ms"] >= 0
    # Execution totals come from its LLM actions: 1200 × $3/M + 300 × $15/M.
    assert run["model"] == "claude-sonnet-4-5"
    assert (run["input_tokens"], run["output_tokens"]) == (1200, 300)
    assert run["cost_usd"] == pytest.approx(0.0081)

    by_name = {a["name"]: a for a in actions.values()}
    assert set(by_name) == {"search", "kb", "claude-sonnet-4-5", "route", "review", "cleanup"}
    for action in actions.values():
        _v7(action["action_id"])
        assert action["execution_id"] == ex.execution_id
        assert action["agent"] == "test-agent"
        assert action["status"] == "success"
    assert by_name["search"]["parent_action_id"] is None
    assert by_name["kb"]["parent_action_id"] == search.action_id
    assert by_name["claude-sonnet-4-5"]["parent_action_id"] == search.action_id
    assert by_name["route"]["parent_action_id"] is None
    assert by_name["search"]["output"] == {"hits": 2}
    assert by_name["kb"]["action_type"] == "retrieval"
    assert by_name["kb"]["duration_ms"] == pytest.approx(3.0)
    assert by_name["review"]["action_type"] == "human_intervention"
    assert by_name["review"]["duration_ms"] == pytest.approx(1500.0)
    assert by_name["cleanup"]["attributes"] == {"files": 3}
    assert by_name["route"]["action_type"] == "decision"
    assert by_name["route"]["duration_ms"] == 0.0
    llm_row = by_name["claude-sonnet-4-5"]
    assert llm_row["action_type"] == "llm_inference"
    assert llm_row["cost_usd"] == pytest.approx(0.0081)
    assert llm_row["output"] == "a draft"
    sequences = sorted(a["sequence"] for a in actions.values())
    assert sequences == list(range(6))


def test_an_exception_records_failure_with_the_sanitized_exception_and_propagates(
    server, make_logger
):
    logger = make_logger(server.url)
    with pytest.raises(ValueError, match="boom"), logger.execution() as ex, ex.tool_call("fetch"):
        raise ValueError("boom: token=abc123secret")
    assert logger.flush(5)
    assert server.wait_for(2)
    run = server.state.executions[ex.execution_id]
    assert run["status"] == "failure"
    assert run["error_type"] == "ValueError"
    assert run["error_message"] == "boom: token=[REDACTED]"
    (fetch,) = server.state.actions.values()
    assert fetch["status"] == "failure"
    assert fetch["error_message"] == "boom: token=[REDACTED]"


def test_timeouts_and_cancellation_get_their_own_statuses(server, make_logger):
    logger = make_logger(server.url)
    with pytest.raises(TimeoutError), logger.execution() as timed_out:
        raise TimeoutError("too slow")
    with pytest.raises(KeyboardInterrupt), logger.execution() as cancelled:
        raise KeyboardInterrupt
    with logger.execution() as marked:
        marked.set_status("timeout")
        marked.error("upstream gave up", name="upstream")
    assert logger.flush(5)
    assert server.wait_for(4)
    runs = server.state.executions
    assert runs[timed_out.execution_id]["status"] == "timeout"
    assert runs[cancelled.execution_id]["status"] == "cancelled"
    assert runs[marked.execution_id]["status"] == "timeout"
    (error,) = server.state.actions.values()
    assert (error["action_type"], error["status"]) == ("error", "failure")
    assert error["name"] == "upstream"
    assert error["error_message"] == "upstream gave up"


def test_async_executions_nest_across_asyncio_tasks(server, make_logger):
    logger = make_logger(server.url)

    async def step(ex, i):
        await asyncio.sleep(0.001)
        ex.tool_call(f"worker-{i}", duration_ms=1.0)

    async def main():
        async with logger.execution(input="go") as ex:
            async with ex.tool_call("fan-out") as fan:
                await asyncio.gather(*(step(ex, i) for i in range(3)))
            async with ex.llm_inference("gpt-4o-mini", 10, 5):
                await asyncio.sleep(0.001)
        return ex, fan

    ex, fan = asyncio.run(main())
    assert logger.flush(5)
    assert server.wait_for(6)
    actions = {a["name"]: a for a in server.state.actions.values()}
    for i in range(3):
        assert actions[f"worker-{i}"]["parent_action_id"] == fan.action_id
    assert actions["gpt-4o-mini"]["parent_action_id"] is None
    assert server.state.executions[ex.execution_id]["status"] == "success"


def test_an_execution_inside_another_records_its_parent_and_trace(server, make_logger):
    logger = make_logger(server.url)
    with logger.execution() as outer:
        assert current_execution() is outer
        with logger.execution() as inner:
            assert current_execution() is inner
        assert current_execution() is outer
    assert current_execution() is None
    assert logger.flush(5)
    assert server.wait_for(2)
    row = server.state.executions[inner.execution_id]
    assert row["parent_execution_id"] == outer.execution_id
    assert row["trace_id"] == outer.execution_id


def test_the_decorator_makes_executions_outside_and_actions_inside(server, make_logger):
    logger = make_logger(server.url)

    @logger.observe
    def search(query: str, k: int = 3) -> list[str]:
        return [query] * k

    @logger.observe(name="answer", action_type="llm_inference")
    async def answer(question: str) -> str:
        return question.upper()

    @logger.observe(capture_input=False)
    def agent(question: str) -> str:
        hits = search(question, k=2)
        return asyncio.run(answer(hits[0]))

    assert agent("why") == "WHY"
    assert search("alone") == ["alone"] * 3
    assert logger.flush(5)
    assert server.wait_for(4)
    executions = list(server.state.executions.values())
    actions = {a["name"]: a for a in server.state.actions.values()}
    by_function = {e["metadata"]["function"]: e for e in executions}
    assert set(by_function) == {
        "test_the_decorator_makes_executions_outside_and_actions_inside.<locals>.agent",
        "test_the_decorator_makes_executions_outside_and_actions_inside.<locals>.search",
    }
    agent_row = next(e for f, e in by_function.items() if f.endswith("agent"))
    assert agent_row["input"] is None
    assert agent_row["output"] == "WHY"
    search_action = actions[next(n for n in actions if n.endswith("search"))]
    assert search_action["action_type"] == "tool_call"
    assert search_action["input"] == {"query": "why", "k": 2}
    assert search_action["output"] == ["why", "why"]
    assert search_action["execution_id"] == agent_row["execution_id"]
    assert actions["answer"]["action_type"] == "llm_inference"
    assert actions["answer"]["output"] == "WHY"
    alone = next(e for f, e in by_function.items() if f.endswith("search"))
    assert alone["input"] == {"query": "alone"}


def test_decorated_coroutines_record_failures_and_reraise(server, make_logger):
    logger = make_logger(server.url)

    @logger.observe
    async def flaky() -> None:
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError):
        asyncio.run(flaky())
    assert logger.flush(5)
    assert server.wait_for(1)
    (row,) = server.state.executions.values()
    assert (row["status"], row["error_type"]) == ("failure", "RuntimeError")


def test_prices_are_overridable_and_an_explicit_cost_wins(server, make_logger):
    logger = make_logger(server.url, prices={"house-model": (1.0, 2.0)})
    with logger.execution() as ex:
        ex.llm_inference("house-model-2026-01", 1_000_000, 1_000_000, duration_ms=5)
        ex.llm_inference("gpt-4o-mini", 100, 100, cost_usd=0.5, duration_ms=5)
        ex.llm_inference("unknown-model", 100, 100, duration_ms=5)
    assert logger.flush(5)
    assert server.wait_for(4)
    costs = {a["model"]: a["cost_usd"] for a in server.state.actions.values()}
    assert costs == {"house-model-2026-01": 3.0, "gpt-4o-mini": 0.5, "unknown-model": 0.0}
    (run,) = server.state.executions.values()
    assert run["cost_usd"] == pytest.approx(3.5)
    assert run["input_tokens"] == 1_000_200


def test_an_instant_action_is_recorded_once_even_if_the_worker_sees_it_first(server, make_logger):
    logger = make_logger(server.url)
    with logger.execution() as ex:
        call = ex.tool_call("late")
        logger.flush(5)  # the worker takes the unentered handle as an instant event
        with call:  # timing it now records a second, timed action under a fresh id
            pass
    assert logger.flush(5)
    assert server.wait_for(3)
    names = [a["name"] for a in server.state.actions.values()]
    assert names == ["late", "late"]
    assert server.state.duplicates == 0


def test_misuse_is_a_clear_error(make_logger, server):
    logger = make_logger(server.url)
    with logger.execution() as ex:
        done = ex.tool_call("x", duration_ms=1)
        with pytest.raises(RuntimeError, match="duration_ms"), done:
            pass
        with pytest.raises(ValueError, match="status"):
            ex.tool_call("x", status="great")
    with pytest.raises(RuntimeError, match="once"), ex:
        pass
    with pytest.raises(ValueError, match="action_type"):
        logger.observe(action_type="nap")(lambda: None)


def test_a_disabled_logger_runs_the_code_and_sends_nothing(server, tmp_path):
    logger = AgentLogger(
        "quiet", endpoint=server.url, spool_dir=tmp_path, environ={"METAAGENT_DISABLED": "1"}
    )
    with logger.execution() as ex:
        with ex.tool_call("x") as t:
            t.output = 1
        ex.decision("y")
    assert logger.flush(1)
    assert logger.shutdown(1)
    assert server.requests() == []
    assert logger.stats().logged == 0
    assert not list(tmp_path.iterdir())
