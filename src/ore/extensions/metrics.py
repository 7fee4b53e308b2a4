"""Prometheus metrics of one process (exposed at ``GET /metrics``)."""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

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

UNMATCHED_ROUTE = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# labels() takes a lock and validates on every call; the label sets are bounded (route
# templates, known methods, status codes), so their children are kept here.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one HTTP request under its route template and record its latency."""
    if method not in KNOWN_METHODS:
        method = "OTHER"
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        children = (
            http_requests.labels(method, route, str(status)),
            http_latency.labels(method, route),
        )
        _request_children[key] = children
    counter, histogram = children
    counter.inc()
    histogram.observe(seconds)


def render() -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
