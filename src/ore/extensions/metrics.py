"""Prometheus metrics of one process (exposed at ``GET /metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

registry = CollectorRegistry(auto_describe=True)

http_requests = Counter(
    "ore_http_requests_total",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
    registry=registry,
)
http_latency = Histogram(
    "ore_http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=registry,
)
tasks_finished = Counter(
    "ore_tasks_total",
    "Background tasks that ended, by task name and final status (completed, error).",
    ["name", "status"],
    registry=registry,
)
tasks_running = Gauge(
    "ore_tasks_running",
    "Background tasks running in this process, by task name.",
    ["name"],
    registry=registry,
)
