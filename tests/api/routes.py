"""Every route of the API in one table, so no route is forgotten by the cross-cutting tests.

A route knows the scope it needs, how to make a valid request against a seeded `World`, and
how to make one that must be refused as invalid. `test_every_route_of_the_app_is_in_the_route_table`
compares this table with the app's own routes, so a new endpoint fails until it is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from tests.api.support import World


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: Any = None

    def send(self, client: TestClient, headers: dict[str, str] | None = None) -> Any:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if self.json is not None:
            kwargs["json"] = self.json
        return client.request(self.method, self.url, **kwargs)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    scope: str | None  # None: public
    status: int  # of the happy path
    valid: Callable[[World], Call]
    invalid: Callable[[World], Call] | None = None  # None: the route takes no input at all
    # 422, or 404 where the only input is an id in the path: a malformed one names nothing
    invalid_status: int = 422

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def takes_ids(self) -> bool:
        return "{" in self.path


def _get(url: Callable[[World], str]) -> Callable[[World], Call]:
    return lambda w: Call("GET", url(w))


_AGENT = "/v1/agents/{}"
_NOT_A_UUID = "not-a-uuid"
_SLA = "/v1/sla-definitions/{}"
_REVERSED = "from=2025-03-02&to=2025-03-01"
_ALERT = "/v1/alerts/{}"
_CHANNELS = "/v1/notification-channels"
_ROUTES = "/v1/alert-routes"

ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", None, 200, lambda w: Call("GET", "/healthz")),
    Route("GET", "/readyz", None, 200, lambda w: Call("GET", "/readyz")),
    Route(
        "POST", "/v1/agents", "write", 201,
        lambda w: Call("POST", "/v1/agents", {"name": "route-table-agent", "kind": "writer"}),
        lambda w: Call("POST", "/v1/agents", {"name": 5}),
    ),
    Route(
        "GET", "/v1/agents", "read", 200,
        _get(lambda w: "/v1/agents"),
        _get(lambda w: "/v1/agents?limit=0"),
    ),
    Route("GET", "/v1/agents/graph", "read", 200, _get(lambda w: "/v1/agents/graph")),
    Route(
        "GET", "/v1/agents/{agent_id}", "read", 200,
        _get(lambda w: _AGENT.format(w.agent_id)),
        _get(lambda w: _AGENT.format(_NOT_A_UUID)),
        invalid_status=404,
    ),
    Route(
        "PATCH", "/v1/agents/{agent_id}", "write", 200,
        lambda w: Call("PATCH", _AGENT.format(w.agent_id), {"description": "changed"}),
        lambda w: Call("PATCH", _AGENT.format(w.agent_id), {"sla_p95_ms": "soon"}),
    ),
    Route(
        "POST", "/v1/agents/{agent_id}/archive", "write", 200,
        lambda w: Call("POST", f"/v1/agents/{w.other_agent_id}/archive"),
        lambda w: Call("POST", f"/v1/agents/{_NOT_A_UUID}/archive"),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/dependencies", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/dependencies"),
        _get(lambda w: f"/v1/agents/{_NOT_A_UUID}/dependencies"),
        invalid_status=404,
    ),
    Route(
        "POST", "/v1/agents/{agent_id}/dependencies", "write", 201,
        lambda w: Call(
            "POST", f"/v1/agents/{w.other_agent_id}/dependencies",
            {"downstream_agent_id": str(w.agent_id), "kind": "triggers"},
        ),
        lambda w: Call(
            "POST", f"/v1/agents/{w.agent_id}/dependencies", {"downstream_agent_id": "nobody"}
        ),
    ),
    Route(
        "DELETE", "/v1/agents/{agent_id}/dependencies/{downstream_agent_id}", "write", 204,
        lambda w: Call("DELETE", f"/v1/agents/{w.agent_id}/dependencies/{w.other_agent_id}"),
        lambda w: Call("DELETE", f"/v1/agents/{w.agent_id}/dependencies/{_NOT_A_UUID}"),
        invalid_status=404,
    ),
    Route(
        "POST", "/v1/agents/{agent_id}/prompt-versions", "write", 201,
        lambda w: Call("POST", f"/v1/agents/{w.agent_id}/prompt-versions", {"template": "Hi."}),
        lambda w: Call("POST", f"/v1/agents/{w.agent_id}/prompt-versions", {"template": ""}),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/prompt-versions", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/prompt-versions"),
        _get(lambda w: f"/v1/agents/{w.agent_id}/prompt-versions?limit=501"),
    ),
    Route(
        "POST", "/v1/agents/{agent_id}/prompt-versions/{prompt_version_id}/current", "write", 200,
        lambda w: Call(
            "POST", f"/v1/agents/{w.agent_id}/prompt-versions/{w.prompt_version_id}/current"
        ),
        lambda w: Call("POST", f"/v1/agents/{w.agent_id}/prompt-versions/{_NOT_A_UUID}/current"),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/prompt-versions/{prompt_version_id}", "read", 200,
        _get(lambda w: f"/v1/prompt-versions/{w.prompt_version_id}"),
        _get(lambda w: f"/v1/prompt-versions/{_NOT_A_UUID}"),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/prompt-versions/{prompt_version_id}/diff", "read", 200,
        _get(
            lambda w: f"/v1/prompt-versions/{w.other_prompt_version_id}/diff"
            f"?against={w.prompt_version_id}"
        ),
        _get(lambda w: f"/v1/prompt-versions/{w.other_prompt_version_id}/diff"),
    ),
    Route(
        "GET", "/v1/executions", "read", 200,
        _get(lambda w: "/v1/executions"),
        _get(lambda w: "/v1/executions?status=exploded"),
    ),
    Route(
        "GET", "/v1/executions/{execution_id}", "read", 200,
        _get(lambda w: f"/v1/executions/{w.execution_id}"),
        _get(lambda w: f"/v1/executions/{_NOT_A_UUID}"),
        invalid_status=404,
    ),
    Route("GET", "/v1/overview", "read", 200, _get(lambda w: "/v1/overview")),
    Route("GET", "/v1/keys", "admin", 200, _get(lambda w: "/v1/keys")),
    Route(
        "POST", "/v1/keys", "admin", 201,
        lambda w: Call("POST", "/v1/keys", {"name": "ci", "scopes": ["read"]}),
        lambda w: Call("POST", "/v1/keys", {"name": "ci", "scopes": ["root"]}),
    ),
    Route(
        "POST", "/v1/keys/{api_key_id}/revoke", "admin", 200,
        lambda w: Call("POST", f"/v1/keys/{w.spare_key_id}/revoke"),
        lambda w: Call("POST", f"/v1/keys/{_NOT_A_UUID}/revoke"),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/metrics/daily", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/metrics/daily?from=2025-03-01&to=2025-03-31"),
        _get(lambda w: f"/v1/agents/{w.agent_id}/metrics/daily?{_REVERSED}"),
    ),
    Route(
        "GET", "/v1/metrics/errors", "read", 200,
        _get(lambda w: f"/v1/metrics/errors?agent_id={w.agent_id}&group_by=day"),
        _get(lambda w: "/v1/metrics/errors?group_by=planet"),
    ),
    Route(
        "GET", "/v1/metrics/costs", "read", 200,
        _get(lambda w: "/v1/metrics/costs?group_by=model&group_by=day"),
        _get(lambda w: "/v1/metrics/costs?from=2024-01-01&to=2025-12-31"),
    ),
    Route(
        "POST", "/v1/sla-definitions", "write", 201,
        lambda w: Call("POST", "/v1/sla-definitions", {"name": "default", "target_p95_ms": 900}),
        lambda w: Call("POST", "/v1/sla-definitions", {"name": "nothing to judge"}),
    ),
    Route(
        "GET", "/v1/sla-definitions", "read", 200,
        _get(lambda w: "/v1/sla-definitions?include_retired=true"),
        _get(lambda w: "/v1/sla-definitions?limit=-1"),
    ),
    Route(
        "GET", "/v1/sla-definitions/{sla_definition_id}", "read", 200,
        _get(lambda w: _SLA.format(w.sla_definition_id)),
        _get(lambda w: _SLA.format(_NOT_A_UUID)),
        invalid_status=404,
    ),
    Route(
        "PATCH", "/v1/sla-definitions/{sla_definition_id}", "write", 200,
        lambda w: Call("PATCH", _SLA.format(w.sla_definition_id), {"target_p95_ms": 2_000}),
        lambda w: Call("PATCH", _SLA.format(w.sla_definition_id), {"target_success_rate": 2}),
    ),
    Route(
        "DELETE", "/v1/sla-definitions/{sla_definition_id}", "write", 204,
        lambda w: Call("DELETE", _SLA.format(w.sla_definition_id)),
        lambda w: Call("DELETE", _SLA.format(_NOT_A_UUID)),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/sla-definitions/{sla_definition_id}/compliance", "read", 200,
        _get(lambda w: _SLA.format(w.sla_definition_id) + "/compliance"),
        _get(lambda w: _SLA.format(w.sla_definition_id) + f"/compliance?{_REVERSED}"),
    ),
    Route(
        "GET", "/v1/sla/reports", "read", 200,
        _get(lambda w: f"/v1/sla/reports?period=weekly&agent_id={w.agent_id}"),
        _get(lambda w: "/v1/sla/reports?period=hourly"),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/health", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/health"),
        _get(lambda w: f"/v1/agents/{_NOT_A_UUID}/health"),
        invalid_status=404,
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/health/transitions", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/health/transitions"),
        _get(lambda w: f"/v1/agents/{w.agent_id}/health/transitions?limit=0"),
    ),
    Route(
        "GET", "/v1/health", "read", 200,
        _get(lambda w: "/v1/health"),
        _get(lambda w: "/v1/health?state=on-fire"),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/health/thresholds", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/health/thresholds"),
        _get(lambda w: f"/v1/agents/{_NOT_A_UUID}/health/thresholds"),
        invalid_status=404,
    ),
    Route(
        "PUT", "/v1/agents/{agent_id}/health/thresholds", "write", 200,
        lambda w: Call(
            "PUT", f"/v1/agents/{w.agent_id}/health/thresholds", {"min_samples": 10}
        ),
        lambda w: Call(
            "PUT", f"/v1/agents/{w.agent_id}/health/thresholds", {"error_rate_degraded": 2}
        ),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/circuit", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/circuit"),
        _get(lambda w: f"/v1/agents/{_NOT_A_UUID}/circuit"),
        invalid_status=404,
    ),
    Route(
        "POST", "/v1/agents/{agent_id}/circuit", "write", 200,
        lambda w: Call(
            "POST", f"/v1/agents/{w.agent_id}/circuit",
            {"action": "reset", "reason": "route table"},
        ),
        lambda w: Call("POST", f"/v1/agents/{w.agent_id}/circuit", {"action": "reset"}),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/circuit/config", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/circuit/config"),
        _get(lambda w: f"/v1/agents/{_NOT_A_UUID}/circuit/config"),
        invalid_status=404,
    ),
    Route(
        "PUT", "/v1/agents/{agent_id}/circuit/config", "write", 200,
        lambda w: Call("PUT", f"/v1/agents/{w.agent_id}/circuit/config", {"min_calls": 10}),
        lambda w: Call("PUT", f"/v1/agents/{w.agent_id}/circuit/config", {"min_calls": 0}),
    ),
    Route(
        "GET", "/v1/agents/{agent_id}/circuit/events", "read", 200,
        _get(lambda w: f"/v1/agents/{w.agent_id}/circuit/events"),
        _get(lambda w: f"/v1/agents/{w.agent_id}/circuit/events?limit=0"),
    ),
    Route(
        "GET", "/v1/alerts", "read", 200,
        _get(lambda w: f"/v1/alerts?status=open&status=acknowledged&agent={w.agent_id}"),
        _get(lambda w: "/v1/alerts?status=closed"),
    ),
    Route(
        "GET", "/v1/alerts/{alert_id}", "read", 200,
        _get(lambda w: _ALERT.format(w.alerting.alert_id)),
        _get(lambda w: _ALERT.format(_NOT_A_UUID)),
        invalid_status=404,
    ),
    Route(
        "POST", "/v1/alerts/{alert_id}/acknowledge", "write", 200,
        lambda w: Call("POST", _ALERT.format(w.alerting.alert_id) + "/acknowledge"),
        lambda w: Call("POST", _ALERT.format(w.alerting.alert_id) + "/acknowledge", {"note": 1}),
    ),
    Route(
        "POST", "/v1/alerts/{alert_id}/resolve", "write", 200,
        lambda w: Call("POST", _ALERT.format(w.alerting.alert_id) + "/resolve", {"comment": "ok"}),
        lambda w: Call("POST", _ALERT.format(w.alerting.alert_id) + "/resolve", {"comment": 5}),
    ),
    Route(
        "GET", "/v1/alert-deliveries", "read", 200,
        _get(lambda w: "/v1/alert-deliveries?status=dead_letter"),
        _get(lambda w: "/v1/alert-deliveries?status=lost"),
    ),
    Route(
        "POST", "/v1/alert-deliveries/{alert_delivery_id}/retry", "write", 200,
        lambda w: Call("POST", f"/v1/alert-deliveries/{w.alerting.alert_delivery_id}/retry"),
        lambda w: Call("POST", f"/v1/alert-deliveries/{_NOT_A_UUID}/retry"),
        invalid_status=404,
    ),
    Route("GET", "/v1/notification-channels", "read", 200, _get(lambda w: _CHANNELS)),
    Route(
        "POST", "/v1/notification-channels", "admin", 201,
        lambda w: Call("POST", _CHANNELS, {
            "kind": "webhook", "name": "route-table-hook", "secret": "s3cret-value",
            "config": {"url": "https://hooks.example.com/route-table"},
        }),
        lambda w: Call("POST", _CHANNELS, {"kind": "webhook", "name": "no url", "config": {}}),
    ),
    Route(
        "GET", "/v1/notification-channels/{notification_channel_id}", "read", 200,
        _get(lambda w: f"{_CHANNELS}/{w.alerting.notification_channel_id}"),
        _get(lambda w: f"{_CHANNELS}/{_NOT_A_UUID}"),
        invalid_status=404,
    ),
    Route(
        "PATCH", "/v1/notification-channels/{notification_channel_id}", "admin", 200,
        lambda w: Call(
            "PATCH", f"{_CHANNELS}/{w.alerting.notification_channel_id}", {"enabled": False}
        ),
        lambda w: Call(
            "PATCH", f"{_CHANNELS}/{w.alerting.notification_channel_id}",
            {"config": {"url": "ftp://hooks.example.com"}},
        ),
    ),
    Route("GET", "/v1/alert-routes", "read", 200, _get(lambda w: _ROUTES)),
    Route(
        "POST", "/v1/alert-routes", "write", 201,
        lambda w: Call(
            "POST", _ROUTES, {"notification_channel_id": str(w.alerting.notification_channel_id)}
        ),
        lambda w: Call("POST", _ROUTES, {
            "notification_channel_id": str(w.alerting.notification_channel_id),
            "delivery_mode": "later",
        }),
    ),
    Route(
        "GET", "/v1/alert-routes/{alert_routing_rule_id}", "read", 200,
        _get(lambda w: f"{_ROUTES}/{w.alerting.alert_routing_rule_id}"),
        _get(lambda w: f"{_ROUTES}/{_NOT_A_UUID}"),
        invalid_status=404,
    ),
    Route(
        "PATCH", "/v1/alert-routes/{alert_routing_rule_id}", "write", 200,
        lambda w: Call("PATCH", f"{_ROUTES}/{w.alerting.alert_routing_rule_id}", {"priority": 5}),
        lambda w: Call("PATCH", f"{_ROUTES}/{w.alerting.alert_routing_rule_id}", {"priority": -1}),
    ),
    Route(
        "GET", "/v1/alert-silences", "read", 200,
        _get(lambda w: "/v1/alert-silences?include_ended=true"),
        _get(lambda w: "/v1/alert-silences?include_ended=maybe"),
    ),
    Route(
        "POST", "/v1/alert-silences", "write", 201,
        lambda w: Call("POST", "/v1/alert-silences", {
            "matchers": {"alert_type": "latency_spike"}, "ends_at": "2999-01-01T00:00:00Z",
        }),
        lambda w: Call("POST", "/v1/alert-silences", {
            "matchers": {}, "ends_at": "2999-01-01T00:00:00Z",
        }),
    ),
    Route(
        "POST", "/v1/alert-silences/{alert_silence_id}/expire", "write", 200,
        lambda w: Call("POST", f"/v1/alert-silences/{w.alerting.alert_silence_id}/expire"),
        lambda w: Call("POST", f"/v1/alert-silences/{_NOT_A_UUID}/expire"),
        invalid_status=404,
    ),
    Route("GET", "/v1/alert-settings", "read", 200, _get(lambda w: "/v1/alert-settings")),
    Route(
        "PUT", "/v1/alert-settings", "write", 200,
        lambda w: Call("PUT", "/v1/alert-settings", {"dedup_window_s": 600}),
        lambda w: Call("PUT", "/v1/alert-settings", {"dedup_window_s": -1}),
    ),
)  # fmt: skip

# Routes left to suites of their own, by name; the fuzzer leaves them out too. Ingest is being
# built alongside this suite, with its own tests; fold it in here once it has settled. The
# SDK's circuit calls take an ingest key and agent names (tests/api/test_circuits.py).
ELSEWHERE = frozenset(
    {
        "POST /v1/ingest",
        "POST /v1/otlp/v1/traces",
        "GET /v1/circuits",
        "POST /v1/circuits/{agent_name}/permits",
    }
)

AUTHENTICATED = tuple(r for r in ROUTES if r.scope is not None)
WITH_IDS = tuple(r for r in AUTHENTICATED if r.takes_ids)
WITH_INPUT = tuple(r for r in ROUTES if r.invalid is not None)

# Which keys each scope turns away: `admin` implies all, `write` implies `read`.
LACKING = {
    "read": ("ingest",),
    "write": ("ingest", "read"),
    "admin": ("ingest", "read", "write"),
}


def route_id(route: Route) -> str:
    return route.name
