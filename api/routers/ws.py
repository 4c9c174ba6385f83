"""Placeholder, filled in by the realtime surfaces work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
