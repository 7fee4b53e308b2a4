"""``GET /metrics``: this process's Prometheus registry in text format.

Served without authentication, like ``/health``: scrape it from inside the deployment's
network and keep it off the public proxy. With several uvicorn workers each process has
its own registry, so a scrape sees the worker that answered.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ore.extensions import metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of this process",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics() -> Response:
    body, content_type = metrics.render()
    return Response(content=body, media_type=content_type)
