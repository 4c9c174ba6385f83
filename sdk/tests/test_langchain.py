"""The LangChain / LangGraph callback handler (runs only where langchain-core is installed)."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.tools import tool

from meta_agent_sdk.integrations.langchain import MetaAgentCallbackHandler


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _by_type(server):
    out: dict[str, list[dict]] = {}
    for action in server.state.actions.values():
        out.setdefault(action["action_type"], []).append(action)
    return out


def test_a_chat_model_call_on_its_own_is_an_execution_with_one_llm_action(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)
    model = FakeListChatModel(responses=["hello back"])
    assert model.invoke("hello", config={"callbacks": [handler]}).content == "hello back"
    assert logger.flush(5)
    assert server.wait_for(2)
    (run,) = server.state.executions.values()
    (llm,) = server.state.actions.values()
    assert run["status"] == "success"
    assert llm["action_type"] == "llm_inference"
    assert llm["output"] == "hello back"
    assert llm["input"] == [[{"role": "human", "content": "hello"}]]
    assert llm["execution_id"] == run["execution_id"]


def test_a_chain_is_an_execution_and_its_steps_are_actions(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)
    chain = (
        ChatPromptTemplate.from_messages([("human", "Tell me about {topic}")])
        | FakeListChatModel(responses=["tides are tidal"])
        | StrOutputParser()
    )
    assert chain.invoke({"topic": "tides"}, config={"callbacks": [handler]}) == "tides are tidal"
    assert logger.flush(5)
    assert server.wait_for(4)
    (run,) = server.state.executions.values()
    assert run["input"] == {"topic": "tides"}
    assert run["output"] == "tides are tidal"
    kinds = _by_type(server)
    assert len(kinds["llm_inference"]) == 1
    assert {a["name"] for a in kinds["custom"]} == {"ChatPromptTemplate", "StrOutputParser"}
    assert all(a["parent_action_id"] is None for a in server.state.actions.values())


def test_tools_nest_under_the_step_that_called_them(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)

    def plan(x: int, config: RunnableConfig) -> int:
        return add.invoke({"a": x, "b": 1}, config=config)

    pipeline = RunnableLambda(lambda x: x * 2) | RunnableLambda(plan)
    assert pipeline.invoke(3, config={"callbacks": [handler]}) == 7
    assert logger.flush(5)
    assert server.wait_for(4)
    kinds = _by_type(server)
    (tool_call,) = kinds["tool_call"]
    assert tool_call["name"] == "add"
    assert tool_call["input"] == {"a": 6, "b": 1}
    assert tool_call["output"] in (7, "7")  # str() in older langchain-core
    plan_action = next(a for a in kinds["custom"] if a["name"] == "plan")
    assert tool_call["parent_action_id"] == plan_action["action_id"]


def test_a_failing_step_fails_the_execution(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)

    def boom(_: object) -> None:
        raise RuntimeError("step failed, password=hunter2")

    with pytest.raises(RuntimeError):
        (RunnableLambda(lambda x: x) | RunnableLambda(boom)).invoke(
            1, config={"callbacks": [handler]}
        )
    assert logger.flush(5)
    assert server.wait_for(3)
    (run,) = server.state.executions.values()
    assert run["status"] == "failure"
    assert run["error_message"] == "step failed, password=[REDACTED]"
    failed = [a for a in server.state.actions.values() if a["status"] == "failure"]
    assert [a["name"] for a in failed] == ["boom"]


def test_inside_an_open_execution_runs_are_its_actions(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)
    model = FakeListChatModel(responses=["ok"])
    with logger.execution() as ex:
        model.invoke("hi", config={"callbacks": [handler]})
    assert logger.flush(5)
    assert server.wait_for(2)
    assert list(server.state.executions) == [ex.execution_id]
    (llm,) = server.state.actions.values()
    assert llm["execution_id"] == ex.execution_id


def test_async_runs_are_logged_too(server, make_logger):
    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)
    model = FakeListChatModel(responses=["async ok"])
    result = asyncio.run(model.ainvoke("hi", config={"callbacks": [handler]}))
    assert result.content == "async ok"
    assert logger.flush(5)
    assert server.wait_for(2)


def test_a_langgraph_graph_logs_its_nodes_and_records_an_interrupt_as_such(server, make_logger):
    graph_mod = pytest.importorskip("langgraph.graph")
    from typing import TypedDict

    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import interrupt

    class State(TypedDict):
        question: str
        answer: str

    model = FakeListChatModel(responses=["forty-two"])

    def think(state: State, config: RunnableConfig) -> dict:
        return {"answer": model.invoke(state["question"], config=config).content}

    def review(state: State) -> dict:
        return {"answer": interrupt({"check": state["answer"]})}

    builder = graph_mod.StateGraph(State)
    builder.add_node("think", think)
    builder.add_node("review", review)
    builder.add_edge(graph_mod.START, "think")
    builder.add_edge("think", "review")
    builder.add_edge("review", graph_mod.END)
    graph = builder.compile(checkpointer=InMemorySaver())

    logger = make_logger(server.url)
    handler = MetaAgentCallbackHandler(logger)
    config = {"callbacks": [handler], "configurable": {"thread_id": "t-1"}}
    graph.invoke({"question": "meaning of life?"}, config=config)
    assert logger.flush(5)
    assert server.wait_for(3)
    (run,) = server.state.executions.values()
    assert run["status"] == "success"
    names = {a["name"] for a in server.state.actions.values()}
    assert {"think", "review"} <= names
    (llm,) = _by_type(server)["llm_inference"]
    think_action = next(a for a in server.state.actions.values() if a["name"] == "think")
    assert llm["parent_action_id"] == think_action["action_id"]
    assert llm["output"] == "forty-two"
    review_action = next(a for a in server.state.actions.values() if a["name"] == "review")
    assert review_action["status"] == "success"
    assert review_action["output"]["interrupt"] == "GraphInterrupt"
