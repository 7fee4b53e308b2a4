"""``GET /metrics``: request counts by route template, bounded labels, task metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter

from ore.app_factory import create_app
from ore.config import Settings
from ore.extensions import metrics

THING_ROUTE = "/console/api/workspaces/current/things/{thing_id}"

# Nested routers with prefixes, like the console's: the label must be the full template.
things = APIRouter()


@things.delete("/things/{thing_id:uuid}", status_code=204)
async def delete_thing() -> None:
    return None


workspace = APIRouter(prefix="/workspaces/current")
workspace.include_router(things)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    app.include_router(workspace, prefix="/console/api")
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def _sample(text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_requests_are_counted_under_their_route_template(
    client: httpx.AsyncClient,
) -> None:
    before = (await client.get("/metrics")).text
    thing_id = "0b0b0b0b-0000-4000-8000-000000000001"
    deleted = await client.delete(f"/console/api/workspaces/current/things/{thing_id}")
    assert deleted.status_code == 204
    await client.get("/health")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    labels = {"method": "DELETE", "route": THING_ROUTE, "status": "204"}
    assert _sample(after, "ore_http_requests_total", labels) == (
        _sample(before, "ore_http_requests_total", labels) + 1
    )
    health = {"method": "GET", "route": "/health", "status": "200"}
    assert _sample(after, "ore_http_requests_total", health) >= 1
    assert thing_id not in after
    latency = {"method": "DELETE", "route": THING_ROUTE}
    assert _sample(after, "ore_http_request_duration_seconds_count", latency) >= 1


async def test_unknown_routes_share_one_label(client: httpx.AsyncClient) -> None:
    first = await client.get("/no/such/route/one")
    await client.get("/no/such/route/two")
    assert first.status_code == 404
    assert first.json()["code"] == "not_found"
    text = (await client.get("/metrics")).text
    labels = {"method": "GET", "route": metrics.UNMATCHED_ROUTE, "status": "404"}
    assert _sample(text, "ore_http_requests_total", labels) >= 2
    assert "/no/such/route" not in text


async def test_unusual_methods_share_one_label(client: httpx.AsyncClient) -> None:
    await client.request("PROPFIND", "/health")
    text = (await client.get("/metrics")).text
    assert 'method="PROPFIND"' not in text
    assert re.search(r'ore_http_requests_total\{method="OTHER",route="/health"', text)


async def test_task_metrics_are_exposed(client: httpx.AsyncClient) -> None:
    metrics.tasks_finished.labels("tests.metrics_probe", "completed").inc()
    text = (await client.get("/metrics")).text
    assert "# TYPE ore_tasks_total counter" in text
    assert "# TYPE ore_tasks_running gauge" in text
    assert (
        _sample(text, "ore_tasks_total", {"name": "tests.metrics_probe", "status": "completed"})
        >= 1
    )
