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
import subprocess
import sys
from typing import Any

import psycopg

from bench.harness import print_result, quantile, served_tenant
from bench.loadgen import drive
from meta_agent.api_process import free_port
from meta_agent.simulate import default_fleet, load_fleet

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()
@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
"""


def run(rate: int, seconds: float, workers: int) -> dict[str, Any]:
    with served_tenant(["read"], workers=workers) as served:
        with psycopg.connect(served.owner_url, autocommit=True) as conn:
            spec = default_fleet(seed=5, days=7, executions_per_day=20_000)
            load_fleet(conn, tenant_id=served.tenant_id, spec=spec)
            # what autovacuum does within a minute of a bulk load; without statistics the
            # planner guesses at the fresh partitions and the first minute measures its guesses
            conn.execute("analyze raw.executions, raw.actions, raw.execution_hourly, agents")
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
            # warm up as a server in service is warm: every worker's pool connected, statements
            # prepared (psycopg prepares on a connection's 5th use), pages cached
            drive(urls, headers, rate // 4, 4)
            drive([f"http://127.0.0.1:{bare_port}/bare"], {}, rate // 4, 1)
            measured = drive(urls, headers, rate, seconds)
            baseline = drive([f"http://127.0.0.1:{bare_port}/bare"], {}, rate, seconds)
        finally:
            bare.terminate()
    every = [v for values in measured["latencies_ms"].values() for v in values]
    overview = measured["latencies_ms"].get("/v1/overview", [])
    bare_p95 = quantile(baseline["latencies_ms"]["/bare"], 0.95)
    return {
        "rate": rate,
        "seconds": seconds,
        "p50_ms": round(quantile(every, 0.5), 2),
        "p95_ms": round(quantile(every, 0.95), 2),
        "p99_ms": round(quantile(every, 0.99), 2),
        "errors": measured["errors"],
        "statuses": measured["statuses"],
        "workers": workers,
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
    parser.add_argument("--workers", type=int, default=2, help="API processes (the cores here)")
    parser.add_argument(
        "--json", action="store_true", help="end with one JSON line (always printed)"
    )
    args = parser.parse_args(argv)
    result = run(args.rate, args.seconds, args.workers)
    print_result(result, as_json=args.json)


if __name__ == "__main__":
    main()
