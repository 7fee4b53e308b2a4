"""The Service API's app-key checks: Dify's 401 messages, the 403 refusals, the rate limit."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import update

from ore.app_factory import create_app
from ore.config import Settings
from ore.models import App, AppStatus
from tests.controllers.service_api.conftest import local_workspace, make_service_app
from tests.factories import db_session

APPS = "/console/api/apps"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authorization header must be provided and start with 'Bearer'"),
        ("Bearer", "Authorization header must be provided and start with 'Bearer'"),
        ("Basic app-abc", "Authorization scheme must be 'Bearer'"),
        ("Bearer app-unknown", "Access token is invalid"),
        ("bearer   gw-not-an-app-key", "Access token is invalid"),
    ],
)
async def test_bad_authorization_is_401_with_difys_message(
    client: httpx.AsyncClient, header: str | None, message: str
) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = await client.get("/v1/parameters", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthorized", "message": message, "status": 401}
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_a_disabled_api_or_abnormal_app_is_403(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    member = await local_workspace(settings)
    service = await make_service_app(client, member)
    assert (await client.get("/v1/info", headers=service.headers)).status_code == 200

    disabled = await client.post(
        f"{APPS}/{service.app_id}/api-enable", json={"enable_api": False}, headers=member.headers
    )
    assert disabled.status_code == 200, disabled.text
    refused = await client.get("/v1/info", headers=service.headers)
    assert refused.status_code == 403
    assert refused.json()["message"] == "The app's API service has been disabled."

    await client.post(
        f"{APPS}/{service.app_id}/api-enable", json={"enable_api": True}, headers=member.headers
    )
    async with db_session(settings) as session:
        await session.execute(
            update(App).values(status="archived").where(App.status == AppStatus.NORMAL)
        )
    abnormal = await client.get("/v1/info", headers=service.headers)
    assert abnormal.status_code == 403
    assert abnormal.json()["message"] == "The app's status is abnormal."


async def test_app_api_rate_limit_is_per_key_per_minute(settings: Settings) -> None:
    limited = settings.model_copy(update={"APP_API_RATE_LIMIT": 3})
    app = create_app(limited)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            member = await local_workspace(limited)
            first = await make_service_app(http, member, name="First")
            second = await make_service_app(http, member, name="Second")
            answers = [
                (await http.get("/v1/info", headers=first.headers)).status_code for _ in range(4)
            ]
            other = await http.get("/v1/info", headers=second.headers)
    assert answers == [200, 200, 200, 429]
    assert other.status_code == 200
