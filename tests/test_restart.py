"""Start, create data, stop, start again: the data is intact and migrations are idempotent."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from ore.app_factory import create_app
from ore.config import Settings
from ore.extensions import migrations
from tests.conftest import make_settings

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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in Settings.model_fields} | {
        "DATA_DIR": str(data_dir),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "ore.cli", "serve"],
        env=env,
        cwd=data_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_healthy(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"ore serve exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("ore serve did not become healthy in 60 s")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


@pytest.mark.slow
def test_ore_serve_restart_keeps_data(tmp_path: Path) -> None:
    """The embedded default, as `make run` starts it: SQLite under DATA_DIR."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_server(tmp_path, port)
    try:
        _wait_healthy(server, url)
        assert httpx.post(f"{url}/console/api/setup", json=ADMIN).status_code == 201
    finally:
        _stop(server)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught.
    assert server.returncode in (0, -signal.SIGTERM)
    assert (tmp_path / "ore.db").exists()

    server = _start_server(tmp_path, port)
    try:
        _wait_healthy(server, url)
        assert httpx.get(f"{url}/console/api/setup").json()["step"] == "finished"
        again = httpx.post(f"{url}/console/api/setup", json=ADMIN)
        assert again.status_code == 403
        assert again.json()["code"] == "already_setup"
    finally:
        _stop(server)
