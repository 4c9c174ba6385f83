"""/healthz and /readyz: unauthenticated, and they reveal nothing but up or not."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.errors import error_response

router = APIRouter(tags=["service health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: the database and Redis answer")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    try:
        async with asyncio.timeout(2):
            async with state.db.pool.connection() as conn:
                await conn.execute("select 1")
            await state.redis.ping()
    except Exception:  # any failure means not ready; which one is for the logs, not the caller
        return error_response(503, "unavailable", "not ready")
    return JSONResponse({"status": "ready"})
