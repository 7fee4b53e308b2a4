"""The KV and model runtime that whoever builds a task backend hands to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ore.extensions.http import create_http_clients
from ore.extensions.kv import create_kv
from ore.extensions.model_runtime import create_model_runtime
from tests.conftest import make_settings
from tests.extensions.tasks.helpers import ProcessParts


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[ProcessParts]:
    """A process's KV and model runtime, as ``start_context`` builds them (no database)."""
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}", tmp_path)
    kv = create_kv(settings)
    http = create_http_clients(settings)
    try:
        yield ProcessParts(kv, create_model_runtime(settings, kv, http))
    finally:
        await http.aclose()
        await kv.close()
