"""bind_model: which stored credential a call uses, failover across load-balancing entries,
and a clear error when nothing is configured. Calls go to `ore models serve-local`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ore.config import Settings
from ore.core import recent
from ore.core.kv.memory import MemoryKV
from ore.core.model_runtime import ChatRequest
from ore.core.model_runtime.entities import ChatMessage
from ore.core.model_runtime.errors import ProviderNotInitialized
from ore.extensions.http import create_http_clients
from ore.extensions.model_runtime import ModelRuntime, create_model_runtime
from ore.services import model_providers
from ore.services.model_providers import Owner
from ore.services.provider_models import BalancingEntry, set_load_balancing
from tests.conftest import make_settings
from tests.factories import create_member, db_session
from tests.processes import free_port

PROVIDER = "openai_api_compatible"
MODEL = "SmolLM2-135M-Instruct"
HELLO = ChatRequest(
    model=MODEL, messages=[ChatMessage(role="user", content="Hi")], parameters={"max_tokens": 4}
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    # No retries: a dead credential fails over at once instead of backing off.
    return make_settings(database_url, tmp_path, MODEL_REQUEST_MAX_RETRIES=0)


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[ModelRuntime]:
    http = create_http_clients(settings)
    try:
        yield create_model_runtime(settings, MemoryKV(), http)
    finally:
        await http.aclose()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"


async def test_bind_model_uses_the_current_credential(
    settings: Settings, runtime: ModelRuntime, local_openai_url: str
) -> None:
    member = await create_member(settings)
    owner = Owner(member.tenant.id, PROVIDER)
    async with db_session(settings) as session:
        live = await model_providers.create_credential(
            session, runtime, settings.SECRET_KEY, owner, {"base_url": local_openai_url}, "live"
        )
        dead = await model_providers.add_credential(
            session,
            runtime,
            settings.SECRET_KEY,
            member.tenant.id,
            PROVIDER,
            {"base_url": dead_url()},
            name="dead",
            check=False,
        )
        bound = await model_providers.bind_model(
            session, runtime, settings.SECRET_KEY, member.tenant.id, PROVIDER, MODEL
        )
        assert [e.id for e in bound.pool.entries] == [str(live.id)]
        await model_providers.switch_credential(session, owner, dead.id)
        switched = await model_providers.bind_model(
            session, runtime, settings.SECRET_KEY, member.tenant.id, PROVIDER, MODEL
        )
    assert [e.id for e in switched.pool.entries] == [str(dead.id)]
    result = await bound.chat(HELLO)
    assert result.usage.completion_tokens > 0


async def test_load_balancing_fails_over_to_a_working_credential(
    settings: Settings, runtime: ModelRuntime, local_openai_url: str
) -> None:
    member = await create_member(settings)
    owner = Owner(member.tenant.id, PROVIDER, MODEL, "llm")
    async with db_session(settings) as session:
        dead = await model_providers.add_credential(
            session,
            runtime,
            settings.SECRET_KEY,
            member.tenant.id,
            PROVIDER,
            {"base_url": dead_url()},
            name="dead",
            model=MODEL,
            model_type="llm",
            check=False,
        )
        live = await model_providers.create_credential(
            session, runtime, settings.SECRET_KEY, owner, {"base_url": local_openai_url}, "live"
        )
        entries = [
            BalancingEntry("dead", credential_id=dead.id),
            BalancingEntry("live", credential_id=live.id),
        ]
        await set_load_balancing(session, runtime, settings.SECRET_KEY, owner, True, entries)
        bound = await model_providers.bind_model(
            session, runtime, settings.SECRET_KEY, member.tenant.id, PROVIDER, MODEL
        )
    assert {e.id for e in bound.pool.entries} == {str(dead.id), str(live.id)}
    # Two calls start at each entry in turn; both answer, and the dead one cools down.
    for _ in range(2):
        assert (await bound.chat(HELLO)).usage.completion_tokens > 0
    assert await bound.pool.is_cooling(str(dead.id))
    assert not await bound.pool.is_cooling(str(live.id))


async def test_bind_model_without_a_credential_is_provider_not_initialize(
    settings: Settings, runtime: ModelRuntime
) -> None:
    member = await create_member(settings)
    async with db_session(settings) as session:
        with pytest.raises(ProviderNotInitialized) as raised:
            await model_providers.bind_model(
                session, runtime, settings.SECRET_KEY, member.tenant.id, PROVIDER, MODEL
            )
    assert raised.value.code == "provider_not_initialize"
    assert raised.value.status == 400


async def test_bind_recent_reuses_a_binding_for_its_ttl_then_reads_again(
    settings: Settings,
    runtime: ModelRuntime,
    local_openai_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(recent.time, "monotonic", lambda: now[0])
    member = await create_member(settings)
    owner = Owner(member.tenant.id, PROVIDER)
    tenant_id, secret = member.tenant.id, settings.SECRET_KEY
    async with db_session(settings) as session:
        live = await model_providers.create_credential(
            session, runtime, secret, owner, {"base_url": local_openai_url}, "live"
        )
        unchecked = {"base_url": dead_url()}
        dead = await model_providers.add_credential(
            session, runtime, secret, tenant_id, PROVIDER, unchecked, name="dead", check=False
        )
        first = await model_providers.bind_recent(
            session, runtime, secret, tenant_id, PROVIDER, MODEL
        )
        await model_providers.switch_credential(session, owner, dead.id)
        now[0] += model_providers.BINDING_TTL * 0.9
        again = await model_providers.bind_recent(
            session, runtime, secret, tenant_id, PROVIDER, MODEL
        )
        now[0] += model_providers.BINDING_TTL * 0.2
        later = await model_providers.bind_recent(
            session, runtime, secret, tenant_id, PROVIDER, MODEL
        )
    assert again is first and [e.id for e in first.pool.entries] == [str(live.id)]
    assert [e.id for e in later.pool.entries] == [str(dead.id)]
    assert model_providers.bindings_of(runtime) is model_providers.bindings_of(runtime)
