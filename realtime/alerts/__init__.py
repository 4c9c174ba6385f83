"""The realtime side of alerting: the worker's health and breaker transitions become alert
signals (`transitions`), and a background loop (`loop`) sends queued deliveries, resolves
alerts whose condition stayed clear, and runs the periodic detectors."""

from realtime.alerts.loop import AlertLoop, Detector
from realtime.alerts.transitions import breaker_signals, health_signals

__all__ = ["AlertLoop", "Detector", "breaker_signals", "health_signals"]
