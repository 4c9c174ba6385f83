"""The trace tree of one execution: every stored action appears exactly once."""

from __future__ import annotations

from typing import Any

from api.queries.executions import build_tree


def _action(action_id: str, parent: str | None) -> dict[str, Any]:
    return {"action_id": action_id, "parent_action_id": parent}


def _ids(nodes: list[dict[str, Any]]) -> list[str]:
    return [n["action_id"] for n in nodes] + [i for n in nodes for i in _ids(n["children"])]


def test_children_nest_under_their_parents_and_orphans_become_roots():
    tree = build_tree(
        [_action("a", None), _action("b", "a"), _action("c", "b"), _action("d", "gone")]
    )
    assert [n["action_id"] for n in tree] == ["a", "d"]
    assert tree[0]["children"][0]["children"][0]["action_id"] == "c"


def test_a_parent_cycle_loses_no_action():
    actions = [_action("a", "b"), _action("b", "a"), _action("c", "a"), _action("s", "s")]
    assert sorted(_ids(build_tree(actions))) == ["a", "b", "c", "s"]
