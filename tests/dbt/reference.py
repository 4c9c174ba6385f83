"""The marts computed again in Python from raw rows read back from Postgres.

Written from the definitions in the marts' documentation (dbt/models/marts/_marts.yml and
_metrics.md), not from the SQL: plain loops, numpy for percentiles (its default linear
interpolation is percentile_cont's). Each function returns {key: row} like the marts.
"""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.rows import dict_row

SEED = Path(__file__).resolve().parents[2] / "dbt" / "seeds" / "error_cause_categories.csv"
FAILED = {"failure", "timeout"}
DECIDED = {"success", "failure", "timeout"}
# the order breaches are attributed in
SLA_METRICS = ("availability", "success_rate", "p95_latency", "cost_per_execution")

Row = dict[str, Any]
Table = dict[tuple[Any, ...], Row]


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def ratio(numerator: float | Decimal | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(numerator) / denominator


def _fetch(conn: psycopg.Connection, query: str, params: tuple[Any, ...] = ()) -> list[Row]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()  # type: ignore[arg-type]


@dataclass(frozen=True)
class Raw:
    executions: list[Row]
    agents: dict[uuid.UUID, str]
    prompt_versions: dict[uuid.UUID, int]
    sla_definitions: list[Row]


def read_raw(conn: psycopg.Connection, start: date, end: date) -> Raw:
    """Executions started in [start, end), each with its actions: those that started on the
    execution's UTC day or the next one."""
    executions = _fetch(
        conn,
        "select *, input::text as input_text, output::text as output_text from raw.executions"
        " where started_at >= %s and started_at < %s",
        (midnight(start), midnight(end)),
    )
    actions = _fetch(
        conn,
        "select * from raw.actions where started_at >= %s and started_at < %s",
        (midnight(start), midnight(end + timedelta(days=1))),
    )
    by_execution: dict[tuple[uuid.UUID, uuid.UUID], list[Row]] = defaultdict(list)
    for action in actions:
        by_execution[action["tenant_id"], action["execution_id"]].append(action)
    with SEED.open() as handle:
        categories = {row["error_type"]: row for row in csv.DictReader(handle)}
    for execution in executions:
        day = execution["started_at"].astimezone(UTC).date()
        low, high = midnight(day), midnight(day + timedelta(days=2))
        own = by_execution[execution["tenant_id"], execution["execution_id"]]
        status, error = execution["status"], execution["error_type"]
        mapped = categories.get(error) if error is not None else None
        execution.update(
            execution_date=day,
            actions=[action for action in own if low <= action["started_at"] < high],
            cause_category=(mapped["cause_category"] if mapped else "unknown")
            if status in FAILED
            else None,
            is_availability_failure=status == "timeout"
            or (status == "failure" and mapped is not None
                and mapped["counts_against_availability"] == "true"),
        )  # fmt: skip
    agents = {row["agent_id"]: row["name"] for row in _fetch(conn, "select * from agents")}
    versions = {
        row["prompt_version_id"]: row["version"]
        for row in _fetch(conn, "select * from prompt_versions")
    }
    return Raw(executions, agents, versions, _fetch(conn, "select * from sla_definitions"))


def _group(rows: Iterable[Row], key: Callable[[Row], tuple[Any, ...]]) -> dict[Any, list[Row]]:
    groups: dict[Any, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def _metrics(executions: list[Row]) -> Row:
    """The core metrics of a group of executions (agent_daily_metrics' columns)."""
    durations = np.array([e["duration_ms"] for e in executions if e["duration_ms"] is not None])
    percentiles = np.percentile(durations, [50, 90, 95, 99]) if durations.size else [None] * 4
    actions = [action for e in executions for action in e["actions"]]
    tool_calls = [a for a in actions if a["action_type"] == "tool_call"]
    decided = sum(e["status"] in DECIDED for e in executions)
    unavailable = sum(e["is_availability_failure"] for e in executions)
    cost = sum((e["cost_usd"] for e in executions), Decimal(0))
    intervened = sum(
        any(a["action_type"] == "human_intervention" for a in e["actions"]) for e in executions
    )
    failed_tool_calls = sum(a["status"] != "success" for a in tool_calls)
    row = {
        "execution_count": len(executions),
        "success_count": sum(e["status"] == "success" for e in executions),
        "failure_count": sum(e["status"] in FAILED for e in executions),
        "timeout_count": sum(e["status"] == "timeout" for e in executions),
        "decided_execution_count": decided,
        "availability_failure_count": unavailable,
        "latency_p50_ms": percentiles[0],
        "latency_p90_ms": percentiles[1],
        "latency_p95_ms": percentiles[2],
        "latency_p99_ms": percentiles[3],
        "latency_mean_ms": float(durations.mean()) if durations.size else None,
        "action_count": sum(a["action_type"] != "error" for a in actions),
        "tool_call_count": len(tool_calls),
        "failed_tool_call_count": failed_tool_calls,
        "llm_call_count": sum(a["action_type"] == "llm_inference" for a in actions),
        "human_intervention_count": sum(a["action_type"] == "human_intervention" for a in actions),
        "input_tokens": sum(e["input_tokens"] for e in executions),
        "output_tokens": sum(e["output_tokens"] for e in executions),
        "cost_usd": cost,
        "human_intervened_execution_count": intervened,
        "session_count": len({e["session_id"] for e in executions if e["session_id"] is not None}),
    }
    successes = row["success_count"]
    row.update(
        success_rate=ratio(successes, decided),
        availability=ratio(decided - unavailable, decided),
        actions_per_execution=ratio(row["action_count"], len(executions)),
        tool_call_error_rate=ratio(failed_tool_calls, len(tool_calls)),
        cost_per_execution_usd=ratio(cost, len(executions)),
        human_intervention_rate=ratio(intervened, len(executions)),
    )
    return row


def agent_daily_metrics(raw: Raw) -> Table:
    groups = _group(raw.executions, lambda e: (e["tenant_id"], e["agent_id"], e["execution_date"]))
    return {
        key: {"agent_name": raw.agents.get(key[1]), **_metrics(rows)}
        for key, rows in groups.items()
    }


def agent_variant_daily_metrics(raw: Raw) -> Table:
    groups = _group(
        raw.executions,
        lambda e: (e["tenant_id"], e["agent_id"], e["execution_date"], e["prompt_version_id"],
                   e["experiment_id"], e["variant"]),
    )  # fmt: skip
    return {
        key: {"prompt_version_number": raw.prompt_versions.get(key[3]), **_metrics(rows)}
        for key, rows in groups.items()
    }


def agent_error_distribution(raw: Raw) -> Table:
    days = _group(raw.executions, lambda e: (e["tenant_id"], e["agent_id"], e["execution_date"]))
    table: Table = {}
    for day, executions in days.items():
        failed = [e for e in executions if e["status"] in FAILED]
        for error_type, rows in _group(
            failed, lambda e: (e["error_type"] or "unspecified",)
        ).items():
            table[(*day, *error_type)] = {
                "cause_category": rows[0]["cause_category"],
                "failure_count": len(rows),
                "timeout_count": sum(e["status"] == "timeout" for e in rows),
                "availability_failure_count": sum(e["is_availability_failure"] for e in rows),
                "share_of_failures": ratio(len(rows), len(failed)),
                "share_of_executions": ratio(len(rows), len(executions)),
            }
    return table


def cost_daily(raw: Raw) -> Table:
    calls = [
        (e, a) for e in raw.executions for a in e["actions"] if a["action_type"] == "llm_inference"
    ]
    groups = _group(
        calls,
        lambda pair: (pair[0]["tenant_id"], pair[0]["agent_id"], pair[0]["execution_date"],
                      pair[1]["model"] or pair[0]["model"] or "unknown"),
    )  # fmt: skip
    agent_cost: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for key, pairs in groups.items():
        agent_cost[key[:3]] += sum((a["cost_usd"] for _, a in pairs), Decimal(0))
    table: Table = {}
    for key, pairs in groups.items():
        cost = sum((a["cost_usd"] for _, a in pairs), Decimal(0))
        table[key] = {
            "llm_call_count": len(pairs),
            "failed_llm_call_count": sum(a["status"] != "success" for _, a in pairs),
            "input_tokens": sum(a["input_tokens"] for _, a in pairs),
            "output_tokens": sum(a["output_tokens"] for _, a in pairs),
            "cost_usd": cost,
            "cost_per_llm_call_usd": ratio(cost, len(pairs)),
            "share_of_agent_cost": ratio(cost, float(agent_cost[key[:3]])),
        }
    return table


def failure_events(raw: Raw) -> Table:
    table: Table = {}
    for e in raw.executions:
        if e["status"] not in FAILED:
            continue
        failed_steps = [
            a for a in e["actions"] if a["status"] != "success" and a["action_type"] != "error"
        ]
        last = max(
            failed_steps,
            key=lambda a: (a["started_at"], a["sequence"], a["action_id"]),
            default=None,
        )
        table[(e["execution_id"],)] = {
            "tenant_id": e["tenant_id"],
            "agent_id": e["agent_id"],
            "execution_status": e["status"],
            "error_type": e["error_type"],
            "error_message": e["error_message"],
            "cause_category": e["cause_category"],
            "is_availability_failure": e["is_availability_failure"],
            "failing_action_id": last["action_id"] if last else None,
            "failing_action_type": last["action_type"] if last else None,
            "failing_action_name": last["name"] if last else None,
            "prompt_version_id": e["prompt_version_id"],
            "prompt_version_number": raw.prompt_versions.get(e["prompt_version_id"]),
            "model_name": e["model"],
            "execution_date": e["execution_date"],
            "started_at": e["started_at"],
            "input_excerpt": None if e["input_text"] is None else e["input_text"][:1000],
            "output_excerpt": None if e["output_text"] is None else e["output_text"][:1000],
        }
    return table


def _judge(
    value: float | None, target: float | None, meets: Callable[[float, float], bool]
) -> bool | None:
    if value is None or target is None:
        return None
    return bool(meets(float(value), float(target)))


def sla_daily_compliance(raw: Raw, daily: Table, distribution: Table) -> Table:
    failures_by_category: dict[tuple[Any, ...], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for (tenant, agent, day, _), row in distribution.items():
        failures_by_category[tenant, agent, day][row["cause_category"]] += row["failure_count"]
    table: Table = {}
    for (tenant, agent, day), metrics in daily.items():
        begins, ends = midnight(day), midnight(day + timedelta(days=1))
        in_force = [
            sla for sla in raw.sla_definitions
            if sla["tenant_id"] == tenant and sla["agent_id"] in (agent, None)
            and sla["effective_from"] < ends
            and (sla["effective_to"] is None or sla["effective_to"] > begins)
        ]  # fmt: skip
        if not in_force:
            continue
        # the agent's own first, then the one that took effect last
        sla = min(
            in_force,
            key=lambda s: (s["agent_id"] is None, -s["effective_from"].timestamp(),
                           str(s["sla_definition_id"])),
        )  # fmt: skip
        cost_cap = sla["max_cost_per_execution_usd"]
        met = {
            "availability": _judge(metrics["availability"], sla["target_availability"],
                                   lambda v, t: v >= t),
            "success_rate": _judge(metrics["success_rate"], sla["target_success_rate"],
                                   lambda v, t: v >= t),
            "p95_latency": _judge(metrics["latency_p95_ms"], sla["target_p95_ms"],
                                  lambda v, t: v <= t),
            "cost_per_execution": _judge(metrics["cost_per_execution_usd"],
                                         None if cost_cap is None else float(cost_cap),
                                         lambda v, t: v <= t),
        }  # fmt: skip
        breached = [name for name in SLA_METRICS if met[name] is False]
        budget = sla["error_budget"]
        if budget is None and sla["target_success_rate"] is not None:
            budget = 1 - sla["target_success_rate"]
        allowed = None if budget is None else budget * metrics["decided_execution_count"]
        consumed = metrics["failure_count"] / allowed if allowed else None
        categories = failures_by_category.get((tenant, agent, day), {})
        top = min(categories.items(), key=lambda item: (-item[1], item[0]), default=None)
        table[(tenant, agent, day)] = {
            "sla_definition_id": sla["sla_definition_id"],
            "is_tenant_wide_sla": sla["agent_id"] is None,
            "is_success_rate_met": met["success_rate"],
            "is_p95_latency_met": met["p95_latency"],
            "is_availability_met": met["availability"],
            "is_cost_per_execution_met": met["cost_per_execution"],
            "is_compliant": not breached,
            "breached_metrics": ",".join(breached) or None,
            "primary_breached_metric": breached[0] if breached else None,
            "breach_top_failure_category": top[0] if breached and top else None,
            "breach_top_failure_category_count": top[1] if breached and top else None,
            "error_budget": budget,
            "error_budget_consumed": consumed,
            "is_at_risk": None if consumed is None else consumed >= 0.8,
            "is_error_budget_exhausted": None if consumed is None else consumed >= 1.0,
            # carried for the period roll-up
            "execution_count": metrics["execution_count"],
            "decided_execution_count": metrics["decided_execution_count"],
            "failure_count": metrics["failure_count"],
        }
    return table


def _period_start(day: date, granularity: str) -> date:
    return day - timedelta(days=day.weekday()) if granularity == "week" else day.replace(day=1)


def _previous_period(start: date, granularity: str) -> date:
    return (
        start - timedelta(days=7)
        if granularity == "week"
        else (start - timedelta(days=1)).replace(day=1)
    )


def _next_period(start: date, granularity: str) -> date:
    return (
        start + timedelta(days=7)
        if granularity == "week"
        else (start + timedelta(days=32)).replace(day=1)
    )


def sla_period_compliance(daily: Table) -> Table:
    def breach_days(rows: list[Row]) -> dict[str, int]:
        flag = {
            "availability": "is_availability_met", "success_rate": "is_success_rate_met",
            "p95_latency": "is_p95_latency_met", "cost_per_execution": "is_cost_per_execution_met",
        }  # fmt: skip
        return {name: sum(row[flag[name]] is False for row in rows) for name in SLA_METRICS}

    table: Table = {}
    for granularity in ("week", "month"):
        periods = _group(
            ({"key": key, **row} for key, row in daily.items()),
            lambda row, g=granularity: (
                row["key"][0],
                row["key"][1],
                _period_start(row["key"][2], g),
            ),
        )
        for (tenant, agent, start), rows in periods.items():
            rows.sort(key=lambda row: row["key"][2])
            previous = periods.get((tenant, agent, _previous_period(start, granularity)))
            breached = sum(not row["is_compliant"] for row in rows)
            rate = breached / len(rows)
            days = breach_days(rows)
            budgeted = [row for row in rows if row["error_budget"] is not None]
            allowed = sum(r["error_budget"] * r["decided_execution_count"] for r in budgeted)
            consumed = (
                sum(r["failure_count"] for r in budgeted) / allowed
                if budgeted and allowed
                else None
            )
            most = max(SLA_METRICS, key=lambda name: (days[name], -SLA_METRICS.index(name)))
            trend, driver, previous_rate = "no_previous_period", None, None
            if previous:
                previous_rate = sum(not row["is_compliant"] for row in previous) / len(previous)
                before = breach_days(previous)
                change = {
                    name: days[name] / len(rows) - before[name] / len(previous)
                    for name in SLA_METRICS
                }
                if rate > previous_rate:
                    trend = "worsening"
                    worst = max(SLA_METRICS, key=lambda n: (change[n], -SLA_METRICS.index(n)))
                    driver = worst if change[worst] > 0 else None
                elif rate < previous_rate:
                    trend = "improving"
                    best = min(SLA_METRICS, key=lambda n: (change[n], SLA_METRICS.index(n)))
                    driver = best if change[best] < 0 else None
                else:
                    trend = "stable"
            decided = sum(row["decided_execution_count"] for row in rows)
            failures = sum(row["failure_count"] for row in rows)
            table[(tenant, agent, granularity, start)] = {
                "period_end": _next_period(start, granularity),
                "sla_definition_id": rows[-1]["sla_definition_id"],
                "measured_day_count": len(rows),
                "compliant_day_count": len(rows) - breached,
                "breached_day_count": breached,
                "breach_rate": rate,
                "availability_breach_day_count": days["availability"],
                "success_rate_breach_day_count": days["success_rate"],
                "p95_latency_breach_day_count": days["p95_latency"],
                "cost_per_execution_breach_day_count": days["cost_per_execution"],
                "at_risk_day_count": sum(row["is_at_risk"] is True for row in rows),
                "execution_count": sum(row["execution_count"] for row in rows),
                "decided_execution_count": decided,
                "failure_count": failures,
                "success_rate": ratio(decided - failures, decided),
                "allowed_failure_count": allowed if budgeted else None,
                "error_budget_consumed": consumed,
                "is_at_risk": None if consumed is None else consumed >= 0.8,
                "is_error_budget_exhausted": None if consumed is None else consumed >= 1.0,
                "top_breached_metric": most if days[most] > 0 else None,
                "previous_breach_rate": previous_rate,
                "breach_trend": trend,
                "trend_driver_metric": driver,
            }
    return table
