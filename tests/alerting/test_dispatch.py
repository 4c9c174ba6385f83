"""The dispatcher against the real Postgres and a local signed-webhook receiver: queued
deliveries arrive once and verified; a channel that is down is retried with backoff and then
dead-lettered with its last error, never dropped silently; two dispatchers racing send each
delivery once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any

import psycopg

from meta_agent.alerting.dispatch import Dispatcher, DispatchReport, backoff_s, secret_reader
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.secrets import encrypt_secret
from meta_agent.alerting.signals import Fire
from meta_agent.alerting.webhook_sink import WebhookSink
from meta_agent.db import Database
from meta_agent.settings import load_settings
from tests.alerting.channel_servers import SLACK_PATH, ClickUpServer, SendGridServer, SlackServer
from tests.alerting.conftest import (
    SINK_SECRET_VAR,
    Agent,
    MakeFleet,
    add_webhook_channel,
    run_with_db,
)


def soon() -> dt.datetime:
    """A moment just ahead: deliveries are due from their created_at (the database's clock),
    so rounds run from now on."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)


def dispatcher(db: Database) -> Dispatcher:
    # the receivers are local servers
    return Dispatcher(db, read_secret=secret_reader(load_settings()), private_addresses=True)


def statuses(owner: psycopg.Connection, tenant_id: Any) -> list[tuple[Any, ...]]:
    return owner.execute(
        "select status, attempts, last_error is not null, response_code from alert_deliveries"
        " where tenant_id = %s order by created_at",
        (tenant_id,),
    ).fetchall()


def test_a_queued_alert_arrives_once_signed_and_is_marked_sent(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    sink_secret: str,
) -> None:
    T0 = soon()
    agent = make_agent()
    with WebhookSink(sink_secret) as sink:
        add_webhook_channel(owner_conn, agent.tenant_id, sink.url)

        async def body(db: Database) -> Any:
            engine = AlertEngine(db)
            d = dispatcher(db)
            await engine.fire(Fire(agent.tenant_id, agent.agent_id, "circuit_opened", "t", T0))
            first = await d.dispatch_due(T0)
            again = await d.dispatch_due(T0 + dt.timedelta(hours=1))
            await d.aclose()
            return first, again

        first, again = run_with_db(migrated_database.app_url, body)
        assert (first.sent, again.sent) == (1, 0)
        assert sink.wait_for(lambda got: len(got) >= 1, timeout_s=5)
        [got] = sink.received
        assert got.verified
        assert got.event == "alert.opened"
        assert sink.duplicates == 0
        assert got.body is not None
        assert got.body["alert"]["agent_name"] == "invoice-bot"
    assert statuses(owner_conn, agent.tenant_id) == [("sent", 1, False, 200)]


def test_a_channel_down_is_retried_with_backoff_then_dead_lettered(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    sink_secret: str,
) -> None:
    T0 = soon()
    recovering, down = make_agent(), make_agent()
    owner_conn.execute(
        'update tenants set settings = \'{"alerting": {"max_attempts": 3}}\' where tenant_id = %s',
        (down.tenant_id,),
    )
    with WebhookSink(sink_secret) as sink:
        add_webhook_channel(owner_conn, recovering.tenant_id, sink.url)
        add_webhook_channel(owner_conn, down.tenant_id, sink.url)

        async def body(db: Database) -> Any:
            engine = AlertEngine(db)
            d = dispatcher(db)
            sink.fail_next(2, 500)
            await engine.fire(Fire(recovering.tenant_id, recovering.agent_id, "silence", "t", T0))
            rounds = []
            for minute in range(5):
                rounds.append(await d.dispatch_due(T0 + dt.timedelta(minutes=minute)))
            sink.fail_next(3, 503)
            await engine.fire(Fire(down.tenant_id, down.agent_id, "silence", "t", T0))
            for minute in range(5, 10):
                rounds.append(await d.dispatch_due(T0 + dt.timedelta(minutes=minute)))
            await d.aclose()
            return rounds

        rounds = run_with_db(migrated_database.app_url, body)
        assert [(r.sent, r.retrying, r.dead_lettered) for r in rounds] == [
            (0, 1, 0),
            (0, 1, 0),
            (1, 0, 0),
            (0, 0, 0),
            (0, 0, 0),
            (0, 1, 0),
            (0, 1, 0),
            (0, 0, 1),
            (0, 0, 0),
            (0, 0, 0),
        ]
    assert statuses(owner_conn, recovering.tenant_id) == [("sent", 3, False, 200)]
    assert statuses(owner_conn, down.tenant_id) == [("dead_letter", 3, True, 503)]


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    import random

    rng = random.Random(7)
    waits = [backoff_s(n, 300.0, rng=rng) for n in range(1, 12)]
    for n, wait in enumerate(waits, start=1):
        ceiling = min(300.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= wait <= ceiling


def test_two_dispatchers_racing_send_each_delivery_once(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_fleet: MakeFleet,
    sink_secret: str,
) -> None:
    T0 = soon()
    tenant_id, ids = make_fleet(200)
    with WebhookSink(sink_secret) as sink:
        add_webhook_channel(owner_conn, tenant_id, sink.url)

        async def body(db: Database) -> Any:
            engine = AlertEngine(db)
            for agent_id in ids:
                await engine.fire(Fire(tenant_id, agent_id, "circuit_opened", "t", T0))
            a, b = dispatcher(db), dispatcher(db)
            a.batch_size = b.batch_size = 25
            reports = await asyncio.gather(a.dispatch_due(T0), b.dispatch_due(T0))
            await a.aclose()
            await b.aclose()
            return reports

        reports = run_with_db(migrated_database.app_url, body, pool=8)
        assert sum(r.sent for r in reports) == 200, reports
        assert sink.wait_for(lambda got: len(got) >= 200, timeout_s=10)
        assert len(sink.received) == 200
        assert sink.duplicates == 0


def test_a_429_is_retried_exactly_after_its_retry_after(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    T0 = soon()
    agent = make_agent()
    with SlackServer() as slack:
        owner_conn.execute(
            "insert into notification_channels (tenant_id, kind, name, secret_ciphertext)"
            " values (%s, 'slack', 'ops', %s)",
            (agent.tenant_id, encrypt_secret(slack.webhook_url, load_settings())),
        )
        slack.script(429, "rate_limited", headers={"Retry-After": "30"})

        async def body(db: Database) -> Any:
            engine = AlertEngine(db)
            d = dispatcher(db)
            await engine.fire(Fire(agent.tenant_id, agent.agent_id, "circuit_opened", "t", T0))
            rounds = [await d.dispatch_due(T0 + dt.timedelta(seconds=s)) for s in (0, 29, 31, 40)]
            await d.aclose()
            return rounds

        rounds = run_with_db(migrated_database.app_url, body)
        assert [(r.sent, r.retrying) for r in rounds] == [(0, 1), (0, 0), (1, 0), (0, 0)]
        assert [r.path for r in slack.requests] == [SLACK_PATH, SLACK_PATH]
    assert statuses(owner_conn, agent.tenant_id) == [("sent", 2, False, 200)]


def test_two_workers_racing_over_1000_alert_groups_deliver_exactly_1000_per_channel(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_fleet: MakeFleet,
    sink_secret: str,
) -> None:
    """Two engines fire the same 1,000 alerts in opposite orders, then two dispatchers send:
    each channel's receiver gets each alert once."""
    T0 = soon()
    tenant_id, ids = make_fleet(1000)
    with WebhookSink(sink_secret) as one, WebhookSink(sink_secret) as two:
        add_webhook_channel(owner_conn, tenant_id, one.url, "one")
        add_webhook_channel(owner_conn, tenant_id, two.url, "two")

        async def worker(order: list[Any]) -> None:
            async with Database(migrated_database.app_url, max_size=4) as db:
                engine, d = AlertEngine(db), dispatcher(db)
                for agent_id in order:
                    await engine.fire(
                        Fire(tenant_id, agent_id, "health_critical", "{agent} down", T0)
                    )
                await d.dispatch_due(T0)
                await d.aclose()

        async def race() -> None:
            await asyncio.gather(worker(ids), worker(ids[::-1]))

        asyncio.run(race())
        for sink in (one, two):
            assert sink.wait_for(lambda got: len(got) >= 1000, timeout_s=20)
            alerts = {(r.body or {})["alert"]["alert_id"] for r in sink.received}
            assert len(sink.received) == 1000
            assert len(alerts) == 1000
            assert sink.duplicates == 0


def test_one_alerts_notifications_reach_a_channel_in_order(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    sink_secret: str,
) -> None:
    """A resolution waits for its opening: while "opened" is being retried, "resolved" is
    not sent past it."""
    T0 = soon()
    agent = make_agent()
    with WebhookSink(sink_secret) as sink:
        add_webhook_channel(owner_conn, agent.tenant_id, sink.url)

        async def body(db: Database) -> Any:
            engine = AlertEngine(db)
            d = dispatcher(db)
            opened = await engine.fire(
                Fire(agent.tenant_id, agent.agent_id, "circuit_opened", "t", T0)
            )
            await engine.resolve(agent.tenant_id, opened.alert_id, by="ana", at=T0)
            sink.fail_next(1, 503)
            first = await d.dispatch_due(T0)
            later = await d.dispatch_due(T0 + dt.timedelta(minutes=1))
            await d.aclose()
            return first, later

        first, later = run_with_db(migrated_database.app_url, body)
        assert (first.sent, first.retrying) == (0, 1)  # the resolution did not overtake
        assert later.sent == 2
        assert [r.event for r in sink.received if r.status == 200] == [
            "alert.opened",
            "alert.resolved",
        ]


def fire_and_dispatch(
    app_url: str, agent: Agent, at: dt.datetime, make: Callable[[Database], Dispatcher]
) -> DispatchReport:
    """Fire one alert for the agent and run one dispatch round at `at`."""

    async def body(db: Database) -> DispatchReport:
        d = make(db)
        await AlertEngine(db).fire(Fire(agent.tenant_id, agent.agent_id, "circuit_opened", "t", at))
        report = await d.dispatch_due(at)
        await d.aclose()
        return report

    return run_with_db(app_url, body)


def last_error(owner: psycopg.Connection, tenant_id: Any) -> str:
    [(error,)] = owner.execute(
        "select last_error from alert_deliveries where tenant_id = %s", (tenant_id,)
    ).fetchall()
    return str(error)


def test_a_server_variables_secret_is_not_sent_to_a_base_url_of_the_tenants_own(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    sink_secret: str,
) -> None:
    """An e-mail channel stored (around the API's check) with the operator's variable as its
    secret and its own base_url: the key would go to that server. The delivery fails for good
    with the reason, and the server never hears of it."""
    T0 = soon()
    agent = make_agent()
    with SendGridServer(sink_secret) as elsewhere:
        config = {"to": ["ops@example.com"], "from_email": "a@example.com"}
        owner_conn.execute(
            "insert into notification_channels (tenant_id, kind, name, config, secret_env_var)"
            " values (%s, 'email', 'mail', %s, %s)",
            (agent.tenant_id, psycopg.types.json.Jsonb({**config, "base_url": elsewhere.base_url}),
             SINK_SECRET_VAR),
        )  # fmt: skip

        report = fire_and_dispatch(migrated_database.app_url, agent, T0, dispatcher)
        assert (report.sent, report.dead_lettered) == (0, 1)
        assert elsewhere.requests == []
    error = last_error(owner_conn, agent.tenant_id)
    assert "base_url: a secret held in a server variable goes only to" in error
    assert sink_secret not in error


def test_a_channel_on_the_servers_own_network_is_refused_unless_allowed(
    migrated_database: Any,
    owner_conn: psycopg.Connection,
    make_agent: Callable[..., Agent],
    sink_secret: str,
) -> None:
    """A tenant's webhook URL pointing at the server's neighbours (here 127.0.0.1): with
    private addresses not allowed (production's default) the delivery fails for good with the
    reason, and the receiver never hears of it."""
    T0 = soon()
    agent = make_agent()
    with WebhookSink(sink_secret) as sink:
        add_webhook_channel(owner_conn, agent.tenant_id, sink.url)

        def refusing(db: Database) -> Dispatcher:
            read = secret_reader(load_settings())
            return Dispatcher(db, read_secret=read, private_addresses=False)

        report = fire_and_dispatch(migrated_database.app_url, agent, T0, refusing)
        assert (report.sent, report.dead_lettered) == (0, 1)
        assert sink.received == []
    error = last_error(owner_conn, agent.tenant_id)
    assert "127.0.0.1 is, or resolves to, a private address" in error


def test_a_clickup_task_whose_answer_was_lost_is_not_made_twice(
    migrated_database: Any, owner_conn: psycopg.Connection, make_agent: Callable[..., Agent]
) -> None:
    """The dispatcher tells the channel which attempt a send is: the retry after a lost answer
    finds the task the first attempt made, and the delivery is sent with its id."""
    T0 = soon()
    agent = make_agent()
    token = "pk_1_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    with ClickUpServer(token) as clickup:
        config = {"list_id": clickup.list_id, "base_url": clickup.base_url}
        owner_conn.execute(
            "insert into notification_channels (tenant_id, kind, name, config, secret_ciphertext)"
            " values (%s, 'clickup', 'tasks', %s, %s)",
            (agent.tenant_id, psycopg.types.json.Jsonb(config),
             encrypt_secret(token, load_settings())),
        )  # fmt: skip
        clickup.lose_next_creation = True

        async def body(db: Database) -> Any:
            d = dispatcher(db)
            await AlertEngine(db).fire(
                Fire(
                    agent.tenant_id, agent.agent_id, "circuit_opened", "t", T0, severity="critical"
                )
            )
            rounds = [await d.dispatch_due(T0 + dt.timedelta(seconds=s)) for s in (0, 60)]
            await d.aclose()
            return rounds

        rounds = run_with_db(migrated_database.app_url, body)
        assert [(r.sent, r.retrying) for r in rounds] == [(0, 1), (1, 0)]
        [task_id] = clickup.tasks
        assert [r.method for r in clickup.requests] == ["POST", "GET"]
    [(status, ref)] = owner_conn.execute(
        "select status, external_ref from alert_deliveries where tenant_id = %s",
        (agent.tenant_id,),
    ).fetchall()
    assert (status, ref) == ("sent", task_id)
