"""The model gateway through the official openai SDK: real local models over real HTTP.

Chat goes to ``openai_api_compatible`` pointed at the session's `ore models serve-local`
process; embeddings to the in-process ``local`` provider; the scripted upstream only for
failures (429, a cut stream, a stalled stream).
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from openai import (
    APIError,
    AsyncOpenAI,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
)
from sqlalchemy import select

from ore.app_factory import create_app
from ore.config import Settings
from ore.core.local_models import CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME
from ore.models import GatewayKey
from ore.services import model_providers
from tests.conftest import make_settings
from tests.factories import Member, create_member, db_session
from tests.upstreams import ScriptedServer, chunk, error, hang, openai_stream

KEYS = "/console/api/workspaces/current/gateway-keys"
COMPAT = "openai_api_compatible"
CHAT = f"{COMPAT}/{CHAT_MODEL_NAME}"
EMBED = f"local/{EMBEDDING_MODEL_NAME}"
HELLO = [{"role": "user", "content": "Say hi."}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, _clean_tables: None) -> Settings:
    # No retries and a short cooldown: one scripted failure is one upstream answer.
    return make_settings(
        database_url, tmp_path, MODEL_REQUEST_MAX_RETRIES=0, MODEL_CREDENTIAL_COOLDOWN=0.01
    )


@dataclass
class Workspace:
    member: Member
    key_id: str
    token: str

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.member.tenant.id


@pytest.fixture
async def new_workspace(client: httpx.AsyncClient, settings: Settings) -> Callable[[], Any]:
    async def make() -> Workspace:
        member = await create_member(settings)
        response = await client.post(KEYS, headers=member.headers)
        assert response.status_code == 201, response.text
        body = response.json()
        return Workspace(member, body["id"], body["token"])

    return make


@pytest.fixture
async def sdk(app: FastAPI) -> AsyncIterator[Callable[[str], AsyncOpenAI]]:
    """An ``AsyncOpenAI`` for a token, speaking to the app in process."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    def make(token: str) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=token, base_url="http://testserver/v1", http_client=http, max_retries=0
        )

    yield make
    await http.aclose()


async def add_compat(
    app: FastAPI, settings: Settings, ws: Workspace, base_url: str, *, check: bool = True
) -> None:
    """A per-model credential of ``openai_api_compatible`` for the chat model."""
    async with db_session(settings) as session:
        await model_providers.add_credential(
            session,
            app.state.ore.models,
            settings.SECRET_KEY,
            ws.tenant_id,
            COMPAT,
            {"base_url": base_url},
            model=CHAT_MODEL_NAME,
            model_type="llm",
            check=check,
        )


async def enable_local(settings: Settings, ws: Workspace) -> None:
    async with db_session(settings) as session:
        await model_providers.ensure_config(session, ws.tenant_id, "local")


# --- chat -----------------------------------------------------------------------------


async def test_blocking_and_streaming_chat(
    app: FastAPI, settings: Settings, new_workspace: Any, sdk: Any, local_openai_url: str
) -> None:
    ws = await new_workspace()
    await add_compat(app, settings, ws, local_openai_url)
    openai = sdk(ws.token)

    reply = await openai.chat.completions.create(model=CHAT, messages=HELLO, max_tokens=8)
    assert reply.model == CHAT
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    stream = await openai.chat.completions.create(
        model=CHAT,
        messages=HELLO,
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert {c.id for c in chunks} == {chunks[0].id}

    quiet = await openai.chat.completions.create(
        model=CHAT, messages=HELLO, max_tokens=4, stream=True
    )
    usages = [c.usage async for c in quiet]
    assert len(usages) >= 3  # role, text, finish
    assert all(u is None for u in usages)  # usage only when stream_options asks


async def test_tool_call_and_response_format_reach_the_model(
    app: FastAPI, settings: Settings, new_workspace: Any, sdk: Any, local_openai_url: str
) -> None:
    ws = await new_workspace()
    await add_compat(app, settings, ws, local_openai_url)
    openai = sdk(ws.token)
    ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
    named = {"type": "function", "function": {"name": "get_weather"}}

    reply = await openai.chat.completions.create(
        model=CHAT, messages=ask, max_tokens=48, tools=[WEATHER_TOOL], tool_choice=named
    )
    [call] = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)

    stream = await openai.chat.completions.create(
        model=CHAT,
        messages=ask,
        max_tokens=48,
        tools=[WEATHER_TOOL],
        tool_choice="required",
        stream=True,
    )
    deltas = [
        d
        for c in [c async for c in stream]
        if c.choices
        for d in c.choices[0].delta.tool_calls or []
    ]
    assert deltas[0].id and deltas[0].function.name == "get_weather"
    assert "city" in json.loads("".join(d.function.arguments or "" for d in deltas))

    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string", "maxLength": 20}},
        "required": ["answer"],
    }
    shaped = await openai.chat.completions.create(
        model=CHAT,
        messages=HELLO,
        max_tokens=48,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert "answer" in json.loads(shaped.choices[0].message.content)


async def test_max_tokens_reaches_the_model(
    app: FastAPI, settings: Settings, new_workspace: Any, sdk: Any, local_openai_url: str
) -> None:
    ws = await new_workspace()
    await add_compat(app, settings, ws, local_openai_url)
    reply = await sdk(ws.token).chat.completions.create(
        model=CHAT,
        messages=[{"role": "user", "content": "Write a long story about a cat."}],
        max_completion_tokens=2,
    )
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


# --- embeddings and models ------------------------------------------------------------


async def test_embeddings_float_and_base64(
    settings: Settings, new_workspace: Any, sdk: Any
) -> None:
    ws = await new_workspace()
    await enable_local(settings, ws)
    openai = sdk(ws.token)
    texts = ["A cat sits on the mat.", "A kitten is on the rug.", "Interest rates rose."]

    floats = await openai.embeddings.create(model=EMBED, input=texts, encoding_format="float")
    packed = await openai.embeddings.create(model=EMBED, input=texts)  # the SDK asks base64
    assert floats.model == EMBED
    assert [len(d.embedding) for d in floats.data] == [384, 384, 384]
    assert packed.data[2].embedding == pytest.approx(floats.data[2].embedding, abs=1e-6)
    a, b, c = (d.embedding for d in floats.data)
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-3)
    assert sum(x * y for x, y in zip(a, b, strict=True)) > sum(
        x * y for x, y in zip(a, c, strict=True)
    )
    assert floats.usage.prompt_tokens > 0

    one = await openai.embeddings.create(model=EMBED, input=texts[0], encoding_format="float")
    assert one.data[0].embedding == pytest.approx(a, abs=1e-6)

    with pytest.raises(BadRequestError) as caught:
        await openai.embeddings.create(model=EMBED, input="x", dimensions=8)
    assert caught.value.param == "dimensions"


async def test_models_lists_what_the_workspace_can_call(
    app: FastAPI, settings: Settings, new_workspace: Any, sdk: Any, local_openai_url: str
) -> None:
    ws, other = await new_workspace(), await new_workspace()
    await enable_local(settings, ws)
    await add_compat(app, settings, ws, local_openai_url)

    ids = [m.id async for m in sdk(ws.token).models.list()]
    assert {f"local/{CHAT_MODEL_NAME}", EMBED, CHAT} <= set(ids)
    assert f"local/{RERANK_MODEL_NAME}" not in ids  # no rerank route on this API
    assert len(ids) == len(set(ids))

    others = [m.id async for m in sdk(other.token).models.list()]
    assert CHAT not in others


# --- errors ---------------------------------------------------------------------------


async def test_missing_wrong_and_revoked_keys_are_401(
    client: httpx.AsyncClient, settings: Settings, new_workspace: Any, sdk: Any
) -> None:
    ws = await new_workspace()
    await enable_local(settings, ws)
    for method, path in (
        ("POST", "/v1/chat/completions"),
        ("POST", "/v1/embeddings"),
        ("GET", "/v1/models"),
    ):
        response = await client.request(method, path, json={})
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "invalid_api_key"
        assert response.json()["error"]["type"] == "authentication_error"

    wrong = "gw-" + "x" * 48
    console_token = ws.member.headers["Authorization"].removeprefix("Bearer ")
    for token in (wrong, console_token, ws.token[:-1]):
        with pytest.raises(AuthenticationError):
            await sdk(token).chat.completions.create(model=CHAT, messages=HELLO)
        with pytest.raises(AuthenticationError):
            await sdk(token).models.list()

    # The model bound by this call is reused for a moment; the key is checked every time.
    assert (await sdk(ws.token).embeddings.create(model=EMBED, input="x")).data
    revoked = await client.delete(f"{KEYS}/{ws.key_id}", headers=ws.member.headers)
    assert revoked.status_code == 204
    with pytest.raises(AuthenticationError):
        await sdk(ws.token).embeddings.create(model=EMBED, input="x")


@pytest.mark.parametrize("model", ["nope/x", "local/gpt-9", "gpt-4o"])
async def test_unknown_model_is_404_naming_it(
    model: str, settings: Settings, new_workspace: Any, sdk: Any
) -> None:
    ws = await new_workspace()
    await enable_local(settings, ws)
    with pytest.raises(NotFoundError) as caught:
        await sdk(ws.token).chat.completions.create(model=model, messages=HELLO)
    assert caught.value.code == "model_not_found"
    assert model in caught.value.message
    with pytest.raises(NotFoundError):
        await sdk(ws.token).embeddings.create(model=model, input="x")


@pytest.mark.parametrize(
    ("arguments", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"top_p": -1}, "top_p"),
        ({"n": 2}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1_000_000}, "max_tokens"),  # over the local model's own limit
        ({"presence_penalty": 1}, "presence_penalty"),  # the local model has no penalties
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
    ],
)
async def test_bad_parameters_are_400_naming_them(
    arguments: dict[str, Any], param: str, settings: Settings, new_workspace: Any, sdk: Any
) -> None:
    ws = await new_workspace()
    await enable_local(settings, ws)
    call = {"model": f"local/{CHAT_MODEL_NAME}", "messages": HELLO, **arguments}
    for stream in (False, True):
        with pytest.raises(BadRequestError) as caught:
            await sdk(ws.token).chat.completions.create(**call, stream=stream)
        assert caught.value.code == "invalid_param"
        assert caught.value.param is not None and caught.value.param.startswith(param)
        assert param.split(".")[0] in caught.value.message


async def test_unconfigured_provider_is_400(new_workspace: Any, sdk: Any) -> None:
    ws = await new_workspace()
    with pytest.raises(BadRequestError) as caught:
        await sdk(ws.token).chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert caught.value.code == "provider_not_initialize"


async def test_a_key_reaches_only_its_own_workspaces_credentials(
    app: FastAPI, settings: Settings, new_workspace: Any, sdk: Any, local_openai_url: str
) -> None:
    owner, stranger = await new_workspace(), await new_workspace()
    await add_compat(app, settings, owner, local_openai_url)
    assert (
        await sdk(owner.token).chat.completions.create(model=CHAT, messages=HELLO, max_tokens=2)
    ).choices
    with pytest.raises(BadRequestError) as caught:
        await sdk(stranger.token).chat.completions.create(model=CHAT, messages=HELLO)
    assert caught.value.code == "provider_not_initialize"


async def test_upstream_rate_limit_is_429(
    app: FastAPI,
    settings: Settings,
    new_workspace: Any,
    sdk: Any,
    scripted_server: ScriptedServer,
) -> None:
    ws = await new_workspace()
    await add_compat(app, settings, ws, f"{scripted_server.url}/v1", check=False)
    openai = sdk(ws.token)
    for stream in (False, True):
        scripted_server.queue(error(429, "Slow down, please."))
        calls = len(scripted_server.received)
        with pytest.raises(RateLimitError) as caught:
            await openai.chat.completions.create(model=CHAT, messages=HELLO, stream=stream)
        assert "Slow down" in caught.value.message
        assert len(scripted_server.received) == calls + 1
        await anyio.sleep(0.02)  # past the credential's cooldown


async def sse_frames(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"}
    response = await client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return [f.removeprefix("data: ") for f in response.text.split("\n\n") if f]


async def expect_error_after_start(
    app: FastAPI, token: str, scripted_server: ScriptedServer, upstream: Callable[[], Any]
) -> None:
    """Raw frames end with an error event and [DONE]; the SDK raises after the text."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        scripted_server.queue(upstream())
        headers = {"Authorization": f"Bearer {token}"}
        body = {"model": CHAT, "messages": HELLO, "stream": True}
        response = await http.post("/v1/chat/completions", json=body, headers=headers)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [f.removeprefix("data: ") for f in response.text.split("\n\n") if f]
        assert frames[-1] == "[DONE]"
        last = json.loads(frames[-2])
        assert last["error"]["code"] == "completion_request_error"
        assert last["error"]["message"]
        text = [c["choices"][0]["delta"].get("content", "") for c in map(json.loads, frames[:-2])]
        assert "Hel" in "".join(text)

        scripted_server.queue(upstream())
        openai = AsyncOpenAI(
            api_key=token, base_url="http://testserver/v1", http_client=http, max_retries=0
        )
        stream = await openai.chat.completions.create(model=CHAT, messages=HELLO, stream=True)
        seen: list[str] = []
        with pytest.raises(APIError):
            async for piece in stream:
                seen.append(piece.choices[0].delta.content or "")
        assert "Hel" in "".join(seen)


async def test_a_cut_stream_ends_with_an_error_event(
    app: FastAPI, settings: Settings, new_workspace: Any, scripted_server: ScriptedServer
) -> None:
    ws = await new_workspace()
    await add_compat(app, settings, ws, f"{scripted_server.url}/v1", check=False)
    # The connection ends before any finish_reason.
    cut = lambda: openai_stream(chunk("Hel"), chunk("lo"), done=False)  # noqa: E731
    await expect_error_after_start(app, ws.token, scripted_server, cut)


async def test_a_stalled_stream_ends_instead_of_hanging(
    database_url: str,
    tmp_path: Path,
    settings: Settings,
    new_workspace: Any,
    scripted_server: ScriptedServer,
) -> None:
    impatient = make_settings(
        database_url, tmp_path / "impatient", MODEL_REQUEST_MAX_RETRIES=0, MODEL_CHUNK_TIMEOUT=0.5
    )
    app = create_app(impatient)
    async with LifespanManager(app):
        ws = await new_workspace()
        await add_compat(app, impatient, ws, f"{scripted_server.url}/v1", check=False)
        first = f"data: {json.dumps(chunk('Hel'))}\n\n"
        stalled = lambda: hang(3, after=[first])  # noqa: E731
        started = time.monotonic()
        await expect_error_after_start(app, ws.token, scripted_server, stalled)
        assert time.monotonic() - started < 2.5  # each stream ended at the 0.5 s timeout


async def test_a_call_marks_the_key_used(settings: Settings, new_workspace: Any, sdk: Any) -> None:
    ws = await new_workspace()
    [_ async for _ in sdk(ws.token).models.list()]
    async with db_session(settings) as session:
        key = await session.scalar(select(GatewayKey).where(GatewayKey.id == uuid.UUID(ws.key_id)))
    assert key is not None and key.last_used_at is not None


@pytest.fixture
def live_app(settings: Settings) -> Iterator[tuple[str, FastAPI]]:
    """The app under uvicorn in a thread: real concurrent requests on loopback."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=30)


async def test_an_open_stream_holds_no_database_session(
    live_app: tuple[str, FastAPI],
    settings: Settings,
    new_workspace: Any,
    scripted_server: ScriptedServer,
) -> None:
    url, app = live_app
    ws = await new_workspace()
    await add_compat(app, settings, ws, f"{scripted_server.url}/v1", check=False)
    scripted_server.queue(hang(2, after=[f"data: {json.dumps(chunk('Hel'))}\n\n"]))
    auth = {"Authorization": f"Bearer {ws.token}"}
    body = {"model": CHAT, "messages": HELLO, "stream": True}
    async with (
        httpx.AsyncClient(base_url=url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=auth) as stream,
    ):
        lines = stream.aiter_lines()
        while "Hel" not in await anext(lines):  # the stream has started
            pass
        # Mid-stream, other units of work of the same process (a read, then a write) run
        # at once: on SQLite they would queue behind a session the stream kept open.
        started = time.monotonic()
        listed = await http.get("/v1/models", headers=auth)
        created = await http.post(KEYS, headers=ws.member.headers)
        assert (listed.status_code, created.status_code) == (200, 201)
        assert time.monotonic() - started < 1
