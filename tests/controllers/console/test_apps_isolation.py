"""Tenant isolation of apps: another workspace's app is 404 on every route and unchanged."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from ore.config import Settings
from ore.models import App, AppApiKey, AppModelConfig, Site
from tests.controllers.console.test_apps import APPS, create_app
from tests.factories import create_member, db_session


async def snapshot(settings: Settings) -> dict[str, Any]:
    async with db_session(settings) as session:
        return {
            "apps": [
                (a.id, a.name, a.description, a.icon, a.enable_site, a.enable_api, a.updated_at)
                for a in await session.scalars(select(App).order_by(App.id))
            ],
            "configs": sorted(c.id for c in await session.scalars(select(AppModelConfig))),
            "sites": sorted((s.id, s.code, s.title) for s in await session.scalars(select(Site))),
            "keys": sorted(k.id for k in await session.scalars(select(AppApiKey))),
        }


async def test_every_route_is_404_for_another_workspace(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    a_owner = await create_member(settings, workspace_name="A")
    b_owner = await create_member(settings, workspace_name="B")
    a_app = await create_app(client, a_owner, name="A's app")
    a_key = (await client.post(f"{APPS}/{a_app['id']}/api-keys", headers=a_owner.headers)).json()
    before = await snapshot(settings)

    url = f"{APPS}/{a_app['id']}"
    routes: list[tuple[str, str, Any]] = [
        ("GET", url, None),
        ("PUT", url, {"name": "Taken"}),
        ("DELETE", url, None),
        ("POST", f"{url}/copy", {"name": "Stolen"}),
        ("POST", f"{url}/name", {"name": "Taken"}),
        ("POST", f"{url}/icon", {"icon": "x"}),
        ("POST", f"{url}/site-enable", {"enable_site": False}),
        ("POST", f"{url}/api-enable", {"enable_api": False}),
        ("POST", f"{url}/model-config", {"model": {}}),
        ("POST", f"{url}/site", {"title": "Taken"}),
        ("POST", f"{url}/site/access-token-reset", None),
        ("GET", f"{url}/api-keys", None),
        ("POST", f"{url}/api-keys", None),
        ("DELETE", f"{url}/api-keys/{a_key['id']}", None),
    ]
    for method, path, body in routes:
        response = await client.request(method, path, json=body, headers=b_owner.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert a_app["name"] not in response.text

    listed = (await client.get(APPS, headers=b_owner.headers)).json()
    assert listed["total"] == 0 and listed["data"] == []
    assert await snapshot(settings) == before


async def test_a_key_of_another_app_cannot_be_deleted_through_ones_own(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    a_owner = await create_member(settings, workspace_name="A")
    b_owner = await create_member(settings, workspace_name="B")
    a_app = await create_app(client, a_owner)
    b_app = await create_app(client, b_owner)
    a_key = (await client.post(f"{APPS}/{a_app['id']}/api-keys", headers=a_owner.headers)).json()
    response = await client.delete(
        f"{APPS}/{b_app['id']}/api-keys/{a_key['id']}", headers=b_owner.headers
    )
    assert response.status_code == 404
    async with db_session(settings) as session:
        assert await session.get(AppApiKey, uuid.UUID(a_key["id"])) is not None
