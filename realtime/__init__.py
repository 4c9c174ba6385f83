"""The Redis-backed realtime worker: windows, health, circuit breakers, alerts."""
