"""The standard fleet: four agent shapes of a small company's production, with their numbers.

A high-volume classifier on a cheap model, a tool-heavy assistant, a scheduled n8n workflow,
and a writer whose few long calls on frontier models dominate the bill.
"""

from __future__ import annotations

from meta_agent.simulate.profiles import AgentProfile, Failure, LogNormal, Step


def _rate_limited(model: str) -> Failure:
    return Failure(
        0.004, "RateLimitError", (f"429 Too Many Requests: rate limit reached for {model}",)
    )


def _tool_timeout(service: str, rate: float = 0.002) -> Failure:
    return Failure(
        rate,
        "ToolTimeout",
        (f"{service} request timed out after 30s",),
        status="timeout",
        duration_ms=30_000.0,
    )


CONTENT_WRITER = AgentProfile(
    name="content-writer",
    kind="writer",
    description="Drafts long-form blog posts from a brief and the style guide.",
    owner="marketing",
    tags=("content", "long-form"),
    share=0.08,
    model="claude-sonnet-4",
    sla_p95_ms=180_000,
    session_executions=2.5,
    prompt_template="You are a senior content writer. Follow {style_guide}. Write about {topic}.",
    prompt_step="draft_section",
    context_step="draft_section",
    loop_step="draft_section",
    steps=(
        Step(
            "retrieval",
            "vector_search.style_guide",
            LogNormal(180, 0.5),
            failures=(
                Failure(0.004, "RetrievalError", ("pgvector query canceled: statement timeout",)),
            ),
            attributes='{"index":"style_guide","top_k":8}',
        ),
        Step(
            "llm_inference",
            "outline",
            LogNormal(900, 0.4),
            model="gpt-4o",
            input_tokens=LogNormal(2_500, 0.35),
            output_tokens=LogNormal(450, 0.35),
            failures=(_rate_limited("gpt-4o"),),
            retries=2,
        ),
        Step(
            "llm_inference",
            "draft_section",
            LogNormal(1_200, 0.4),
            repeats=(2, 4),
            model="claude-sonnet-4",
            input_tokens=LogNormal(6_000, 0.4),
            output_tokens=LogNormal(1_400, 0.35),
            failures=(
                Failure(0.004, "OverloadedError", ("529 overloaded_error: Overloaded",)),
                Failure(
                    0.002,
                    "LLMTimeout",
                    ("request to claude-sonnet-4 timed out after 120s",),
                    status="timeout",
                    duration_ms=120_000.0,
                ),
            ),
            retries=1,
        ),
        Step(
            "llm_inference",
            "polish",
            LogNormal(1_000, 0.4),
            presence=0.7,
            model="claude-sonnet-4",
            input_tokens=LogNormal(9_000, 0.3),
            output_tokens=LogNormal(1_800, 0.3),
            failures=(Failure(0.004, "OverloadedError", ("529 overloaded_error: Overloaded",)),),
            retries=1,
        ),
        Step(
            "human_intervention",
            "editor_review",
            LogNormal(240_000, 0.7),
            presence=0.08,
            attributes='{"reviewer_role":"editor","edited":true}',
        ),
    ),
)

PM_ASSISTANT = AgentProfile(
    name="pm-assistant",
    kind="assistant",
    description="Answers project questions in Slack and keeps ClickUp and calendars in order.",
    owner="operations",
    tags=("slack", "clickup", "tools"),
    share=0.22,
    model="gpt-4o",
    sla_p95_ms=20_000,
    session_executions=4.0,
    prompt_template="You are a project manager's assistant with tools {tools}. Request: {message}",
    timeout_tool="clickup.create_task",
    prompt_step="respond",
    context_step="respond",
    loop_step="respond",
    steps=(
        Step(
            "llm_inference",
            "plan",
            LogNormal(700, 0.35),
            model="gpt-4o",
            input_tokens=LogNormal(2_800, 0.3),
            output_tokens=LogNormal(220, 0.4),
            failures=(_rate_limited("gpt-4o"),),
            retries=2,
        ),
        Step("decision", "choose_tools", LogNormal(4, 0.5), attributes='{"policy":"tool_router"}'),
        Step(
            "tool_call",
            "clickup.get_tasks",
            LogNormal(420, 0.5),
            presence=0.65,
            failures=(
                Failure(0.006, "ToolError", ("ClickUp API returned 500 Internal Server Error",)),
                _tool_timeout("ClickUp GET /api/v2/list/tasks"),
            ),
            retries=1,
            attributes='{"tool":"clickup","method":"GET"}',
        ),
        Step(
            "tool_call",
            "calendar.find_free_slots",
            LogNormal(350, 0.45),
            presence=0.3,
            failures=(
                Failure(
                    0.004,
                    "ToolError",
                    ("Google Calendar API 403: insufficient scope",),
                    retryable=False,
                ),
            ),
            attributes='{"tool":"google_calendar","method":"POST"}',
        ),
        Step(
            "tool_call",
            "clickup.create_task",
            LogNormal(600, 0.5),
            presence=0.45,
            failures=(
                Failure(
                    0.008,
                    "ToolError",
                    ("ClickUp API returned 400: list_id is invalid",),
                    retryable=False,
                ),
                _tool_timeout("ClickUp POST /api/v2/list/task", 0.003),
            ),
            retries=1,
            attributes='{"tool":"clickup","method":"POST"}',
        ),
        Step(
            "tool_call",
            "slack.fetch_thread",
            LogNormal(300, 0.4),
            presence=0.3,
            attributes='{"tool":"slack","method":"GET"}',
            children=(
                Step(
                    "llm_inference",
                    "summarize_thread",
                    LogNormal(400, 0.35),
                    model="gpt-4o-mini",
                    input_tokens=LogNormal(3_500, 0.5),
                    output_tokens=LogNormal(250, 0.4),
                    failures=(_rate_limited("gpt-4o-mini"),),
                    retries=1,
                ),
            ),
        ),
        Step(
            "llm_inference",
            "respond",
            LogNormal(800, 0.35),
            repeats=(1, 2),
            model="gpt-4o",
            input_tokens=LogNormal(4_200, 0.35),
            output_tokens=LogNormal(380, 0.4),
            failures=(_rate_limited("gpt-4o"),),
            retries=2,
        ),
        Step(
            "tool_call",
            "slack.post_message",
            LogNormal(250, 0.4),
            presence=0.9,
            failures=(
                Failure(
                    0.003, "ToolError", ("Slack API error: channel_not_found",), retryable=False
                ),
            ),
            attributes='{"tool":"slack","method":"POST"}',
        ),
    ),
)

TICKET_CLASSIFIER = AgentProfile(
    name="ticket-classifier",
    kind="classifier",
    description="Labels every incoming support ticket and routes it to a queue.",
    owner="support",
    tags=("support", "high-volume"),
    share=0.55,
    model="gpt-4o-mini",
    sla_p95_ms=1_500,
    prompt_template="Classify the ticket into one of {labels}. Answer with JSON. Ticket: {ticket}",
    prompt_step="classify",
    steps=(
        Step(
            "retrieval",
            "similar_tickets",
            LogNormal(60, 0.4),
            presence=0.35,
            attributes='{"index":"tickets","top_k":5}',
        ),
        Step(
            "llm_inference",
            "classify",
            LogNormal(250, 0.35),
            model="gpt-4o-mini",
            input_tokens=LogNormal(650, 0.35),
            output_tokens=LogNormal(12, 0.3),
            failures=(
                _rate_limited("gpt-4o-mini"),
                Failure(
                    0.001,
                    "LLMTimeout",
                    ("request to gpt-4o-mini timed out after 10s",),
                    status="timeout",
                    duration_ms=10_000.0,
                ),
                Failure(
                    0.002,
                    "OutputParseError",
                    ("classifier output is not one of the allowed labels",),
                    billed=True,
                    retryable=False,
                ),
            ),
            retries=1,
        ),
        Step("decision", "route_ticket", LogNormal(2, 0.5), attributes='{"policy":"queue_router"}'),
    ),
)

N8N_LEAD_WORKFLOW = AgentProfile(
    name="n8n-lead-workflow",
    kind="workflow",
    description="Scheduled n8n workflow: enrich new leads, qualify them with an LLM, sync to CRM.",
    owner="sales-ops",
    tags=("n8n", "scheduled", "crm"),
    share=0.15,
    model="gpt-4o-mini",
    sla_p95_ms=8_000,
    scheduled=True,
    prompt_template="Qualify this lead for our ICP {icp}. Lead: {lead}. Answer with a score 0-100.",
    external_api_tool="clearbit.enrich_company",
    external_api_host="company.clearbit.com",
    prompt_step="qualify_lead",
    steps=(
        Step(
            "tool_call", "webhook.receive_lead", LogNormal(40, 0.3), attributes='{"node":"Webhook"}'
        ),
        Step(
            "tool_call",
            "clearbit.enrich_company",
            LogNormal(380, 0.5),
            presence=0.85,
            failures=(
                Failure(
                    0.004, "ExternalAPIError", ("HTTP 502 Bad Gateway from company.clearbit.com",)
                ),
                _tool_timeout("company.clearbit.com"),
            ),
            retries=1,
            attributes='{"node":"HTTP Request","host":"company.clearbit.com"}',
        ),
        Step(
            "tool_call",
            "n8n.openai_node",
            LogNormal(60, 0.3),
            attributes='{"node":"OpenAI"}',
            children=(
                Step(
                    "llm_inference",
                    "qualify_lead",
                    LogNormal(350, 0.35),
                    model="gpt-4o-mini",
                    input_tokens=LogNormal(1_200, 0.3),
                    output_tokens=LogNormal(150, 0.35),
                    failures=(_rate_limited("gpt-4o-mini"),),
                    retries=1,
                ),
            ),
        ),
        Step("decision", "score_threshold", LogNormal(3, 0.4), attributes='{"node":"IF"}'),
        Step(
            "tool_call",
            "hubspot.upsert_contact",
            LogNormal(300, 0.45),
            failures=(
                Failure(
                    0.005,
                    "ToolError",
                    ("HubSpot API 409 Conflict: contact exists",),
                    retryable=False,
                ),
            ),
            retries=1,
            attributes='{"node":"HubSpot"}',
        ),
        Step(
            "tool_call",
            "slack.notify_sales",
            LogNormal(220, 0.4),
            presence=0.3,
            attributes='{"node":"Slack"}',
        ),
    ),
)

DEFAULT_PROFILES: tuple[AgentProfile, ...] = (
    CONTENT_WRITER,
    PM_ASSISTANT,
    TICKET_CLASSIFIER,
    N8N_LEAD_WORKFLOW,
)
