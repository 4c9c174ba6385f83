"""`python -m realtime`: one realtime worker, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from meta_agent.alerting.burn_alerts import burn_rate_signals
from meta_agent.alerting.detectors import budget_signals, spike_signals
from meta_agent.alerting.dispatch import Dispatcher, secret_reader
from meta_agent.alerting.engine import AlertEngine
from meta_agent.alerting.outbox import Links
from meta_agent.alerting.reconcile import reconcile_signals
from meta_agent.connections import resolve_urls
from meta_agent.db import Database
from meta_agent.errors import MetaAgentError
from meta_agent.redis_async import async_redis
from meta_agent.settings import Settings, load_settings
from realtime import collector
from realtime.alerts import AlertLoop, Detector
from realtime.worker import Worker


async def serve(
    settings: Settings, app_database_url: str, redis_url: str, consumer: str | None, pool: int
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    client = async_redis(redis_url)
    links = Links.from_settings(settings)
    try:
        async with Database(app_database_url, max_size=pool) as db:
            dispatcher = Dispatcher(
                db,
                read_secret=secret_reader(settings),
                private_addresses=settings.private_addresses_allowed,
            )
            alerts = AlertLoop(
                db,
                client,
                engine=AlertEngine(db, links=links),
                dispatcher=dispatcher,
                detectors=[
                    Detector("burn_rates", 60.0, lambda now: burn_rate_signals(db, now)),
                    Detector("spikes", 15.0, lambda now: spike_signals(db, now)),
                    Detector("budgets", 60.0, lambda now: budget_signals(db, now)),
                    Detector("reconcile", 30.0, lambda now: reconcile_signals(db, now)),
                ],
            )
            worker = Worker(db, client, consumer=consumer, alerts=alerts)
            collector.settle()
            try:
                await asyncio.gather(worker.run(stop), alerts.run(stop))
            finally:
                await dispatcher.aclose()
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m realtime", description=__doc__)
    parser.add_argument("--consumer", help="consumer name in the group (default: host-pid-random)")
    parser.add_argument("--pool", type=int, default=10, help="database connections")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        urls = resolve_urls(settings)
        asyncio.run(
            serve(settings, urls.app_database_url, urls.redis_url, args.consumer, args.pool)
        )
    except MetaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
