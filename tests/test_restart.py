"""Start, create data, stop, start again: the data is intact and migrations are idempotent."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ore.app_factory import create_app
from ore.config import Settings
from ore.extensions import migrations
from tests.conftest import make_settings
from tests.processes import free_port, start_serve, stop, wait_healthy

ADMIN = {"email": "Admin@Example.com", "name": "Admin", "password": "first-run-123"}


async def _call(settings: Settings, method: str, path: str, **kwargs: object) -> httpx.Response:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.request(method, path, **kwargs)  # type: ignore[arg-type]


async def test_data_survives_a_restart_and_upgrade_is_idempotent(
    database_url: str, tmp_path: Path, _clean_tables: None
) -> None:
    settings = make_settings(database_url, tmp_path, MIGRATION_ENABLED=True)
    created = await _call(settings, "POST", "/console/api/setup", json=ADMIN)
    assert created.status_code == 201, created.text

    # A second start runs the upgrade again on the migrated database: nothing changes.
    status = await _call(settings, "GET", "/console/api/setup")
    assert status.json()["step"] == "finished"
    login = await _call(
        settings,
        "POST",
        "/console/api/login",
        json={"email": "admin@example.com", "password": ADMIN["password"]},
    )
    assert login.status_code == 200, login.text
    assert await migrations.current(settings) == migrations.head_revision(settings)


@pytest.mark.slow
def test_ore_serve_restart_keeps_data(tmp_path: Path) -> None:
    """The embedded default, as `make run` starts it: SQLite under DATA_DIR."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_serve(tmp_path, port)
    try:
        wait_healthy(server, url, tmp_path)
        assert httpx.post(f"{url}/console/api/setup", json=ADMIN).status_code == 201
    finally:
        stop(server)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
    assert server.returncode in (0, -signal.SIGTERM)
    assert (tmp_path / "ore.db").exists()

    server = start_serve(tmp_path, port)
    try:
        wait_healthy(server, url, tmp_path)
        assert httpx.get(f"{url}/console/api/setup").json()["step"] == "finished"
        again = httpx.post(f"{url}/console/api/setup", json=ADMIN)
        assert again.status_code == 403
        assert again.json()["code"] == "already_setup"
    finally:
        stop(server)
