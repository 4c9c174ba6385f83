"""Read-path latency of the API under a fixed load, against a bare FastAPI endpoint.

    python -m bench.api [--rate 500] [--seconds 20] [--json]

Starts the API (a real `python -m meta_agent api` process) on the embedded default with a
simulated fleet loaded, and a bare FastAPI app (one JSON endpoint, no database) under the same
uvicorn; a separate load-generator process drives the read endpoints (overview, agents list,
executions list, execution tree) at a fixed request rate, then the bare endpoint at the same
rate. The last line is one JSON object: `p50_ms`, `p95_ms`, `p99_ms`, `errors`, and
`ratio_to_bare` (p95 of /v1/overview over p95 of the bare endpoint). Goal: p95 <= 20 ms, 0 errors.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import subprocess
import sys
import time
from typing import Any

import httpx
import psycopg

from bench.harness import print_result, quantile, served_tenant
from meta_agent.api_process import free_port
from meta_agent.simulate import default_fleet, load_fleet

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
"""


async def _drive(
    urls: list[str], headers: dict[str, str], rate: int, seconds: float
) -> dict[str, Any]:
    """Open-loop load: requests start on a fixed schedule whatever the latency, as users do."""
    latencies: dict[str, list[float]] = {}
    errors = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(headers=headers, timeout=10, limits=limits) as client:

        async def one(url: str) -> None:
            nonlocal errors
            began = time.perf_counter()
            try:
                response = await client.get(url)
            except Exception:  # any failed request is an error of the run, not of the bench
                errors += 1
                return
            if response.status_code != 200:
                errors += 1
            latencies.setdefault(url.split("?")[0], []).append((time.perf_counter() - began) * 1000)

        tasks = []
        start = time.perf_counter()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(urls[n % len(urls)])))
        await asyncio.gather(*tasks)
    return {"latencies": latencies, "errors": errors}


def _drive_in_process(
    urls: list[str], headers: dict[str, str], rate: int, seconds: float, out: Any
) -> None:
    out.put(asyncio.run(_drive(urls, headers, rate, seconds)))


def drive(urls: list[str], headers: dict[str, str], rate: int, seconds: float) -> dict[str, Any]:
    """The load generator runs in its own process, so it does not share the API's core."""
    queue: Any = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(
        target=_drive_in_process, args=(urls, headers, rate, seconds, queue)
    )
    process.start()
    try:
        result = queue.get(timeout=seconds * 10 + 120)  # an overloaded server answers late
    except Exception:
        process.terminate()
        raise RuntimeError(
            f"the load generator gave no result (exit code {process.exitcode})"
        ) from None
    process.join(30)
    if "failure" in result:
        raise RuntimeError(f"the load generator failed: {result['failure']}")
    return dict(result)


def run(rate: int, seconds: float) -> dict[str, Any]:
    with served_tenant(["read"]) as served:
        with psycopg.connect(served.owner_url, autocommit=True) as conn:
            spec = default_fleet(seed=5, days=7, executions_per_day=20_000)
            load_fleet(conn, tenant_id=served.tenant_id, spec=spec)
            execution_ids = [
                str(r[0])
                for r in conn.execute(
                    "select execution_id from raw.executions order by started_at desc limit 5"
                ).fetchall()
            ]
        api = served.api
        bare_port = free_port()
        program = (
            BARE_APP + f"\nimport uvicorn; uvicorn.run(app, port={bare_port}, log_level='warning')"
        )
        bare = subprocess.Popen([sys.executable, "-c", program])
        try:
            urls = [
                f"{api.url}/v1/overview",
                f"{api.url}/v1/agents",
                f"{api.url}/v1/executions?limit=50",
            ]
            urls += [f"{api.url}/v1/executions/{eid}" for eid in execution_ids]
            headers = {"Authorization": f"Bearer {served.key}"}
            drive(urls[:1], headers, 20, 2)  # warm the pool and the caches
            measured = drive(urls, headers, rate, seconds)
            baseline = drive([f"http://127.0.0.1:{bare_port}/bare"], {}, rate, seconds)
        finally:
            bare.terminate()
    every = [v for values in measured["latencies"].values() for v in values]
    overview = measured["latencies"].get(f"{api.url}/v1/overview", [])
    bare_p95 = quantile(baseline["latencies"][f"http://127.0.0.1:{bare_port}/bare"], 0.95)
    return {
        "rate": rate,
        "seconds": seconds,
        "p50_ms": round(quantile(every, 0.5), 2),
        "p95_ms": round(quantile(every, 0.95), 2),
        "p99_ms": round(quantile(every, 0.99), 2),
        "errors": measured["errors"],
        "overview_p95_ms": round(quantile(overview, 0.95), 2),
        "bare_p95_ms": round(bare_p95, 2),
        "ratio_to_bare": round(quantile(overview, 0.95) / bare_p95, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    result = run(args.rate, args.seconds)
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
