"""Schemathesis over the console auth and workspace endpoints: no input may cause a 500.

ore runs under uvicorn in a thread (a real HTTP server on loopback), on each database; the
generated requests carry an admin's Bearer token so they get past authentication.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode

from ore.app_factory import create_app
from ore.config import Settings

ADMIN = {"email": "fuzz@example.com", "name": "Fuzz", "password": "fuzzing-pass-1"}
CONSOLE_PATHS = (
    r"^/console/api/(setup|login|logout|refresh-token|account/|workspaces|info|activate"
    r"|system-features|features|ping|version)"
)


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=0, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _fuzz(base_url: str, headers: dict[str, str], mode: GenerationMode, examples: int) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json").include(
        path_regex=CONSOLE_PATHS
    )
    failures: list[str] = []

    @given(case=schema.as_strategy(generation_mode=mode))
    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")
        assert response.status_code < 500, response.text[:500]

    run()
    assert not failures


async def test_console_endpoints_never_answer_500(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        assert (await http.post("/console/api/setup", json=ADMIN)).status_code == 201
        login = await http.post("/console/api/login", json=ADMIN)
        token = login.json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        await anyio.to_thread.run_sync(_fuzz, live_server, headers, mode, 150)
