"""The pieces of a generation that need no server: concurrency slots and stop signals (on
the in-process KV and on Redis, as in distributed mode), the memory budget, prompt
rendering, and Dify's input rules."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ore.core.errors import InvalidParam
from ore.core.kv import KV
from ore.core.kv.memory import MemoryKV
from ore.core.kv.redis import RedisKV
from ore.core.model_runtime import ChatMessage
from ore.core.model_runtime.usage import estimate_messages
from ore.services.generation import control, prompt
from ore.services.generation.inputs import clean_inputs
from tests.conftest import REDIS_URL_HOST
from tests.core.kv.conftest import delete_prefixed


@pytest.fixture(params=["memory", "redis"])
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KV]:
    if request.param == "memory":
        yield MemoryKV()
        return
    prefix = f"ore-test:{uuid.uuid4().hex}:"
    redis_kv = RedisKV(Redis(host=REDIS_URL_HOST, port=6379), prefix=prefix)
    try:
        yield redis_kv
    finally:
        await redis_kv.close()
        await delete_prefixed(prefix)


async def test_slots_fill_up_to_the_limit_and_expire_after_a_crash(kv: KV) -> None:
    app_id = uuid.uuid4()
    assert await control.acquire_slot(kv, app_id, 0, "any") is None  # no limit
    first = await control.acquire_slot(kv, app_id, 2, "a", ttl=0.3)
    second = await control.acquire_slot(kv, app_id, 2, "b", ttl=0.3)
    assert first is not None and second is not None and first != second
    with pytest.raises(control.AppQuotaExceeded) as refused:
        await control.acquire_slot(kv, app_id, 2, "c")
    assert refused.value.status == 429 and refused.value.code == "too_many_requests"
    assert refused.value.message.endswith(f"allowed for {app_id} is 2.")
    # Another app has its own slots.
    assert await control.acquire_slot(kv, uuid.uuid4(), 2, "c") is not None

    # Only the holder gives a slot back.
    await control.release_slot(kv, first, "somebody else")
    with pytest.raises(control.AppQuotaExceeded):
        await control.acquire_slot(kv, app_id, 2, "c")
    await control.release_slot(kv, first, "a")
    assert await control.acquire_slot(kv, app_id, 2, "c") == first

    # A holder that died never releases: its slot frees itself when the ttl runs out.
    await asyncio.sleep(0.4)
    assert await control.acquire_slot(kv, app_id, 2, "d") == second


async def test_stop_reaches_the_starter_only_even_before_it_listens(kv: KV) -> None:
    app_id = uuid.uuid4()
    await control.register_task(kv, "t1", app_id, "ada")
    assert not await control.request_stop(kv, "t1", app_id, "grace")
    assert not await control.request_stop(kv, "t1", uuid.uuid4(), "ada")
    assert not await control.request_stop(kv, "unknown", app_id, "ada")

    listening = asyncio.Event()
    watcher = asyncio.create_task(control.watch_stop(kv, "t1", listening))
    await asyncio.sleep(0.2)
    assert not listening.is_set()
    assert await control.request_stop(kv, "t1", app_id, "ada")
    await asyncio.wait_for(watcher, 2)
    assert listening.is_set()

    # A stop sent before the producer listens is read from the flag.
    late = asyncio.Event()
    await control.watch_stop(kv, "t1", late)
    assert late.is_set()
    await control.forget_task(kv, "t1")
    assert not await control.request_stop(kv, "t1", app_id, "ada")


def test_memory_keeps_the_newest_turns_that_fit() -> None:
    turns = [prompt.Turn(query=f"question {i} " * 20, answer=f"answer {i} " * 20) for i in range(6)]
    everything = prompt.chat_messages(
        "Be brief.", {}, "Now?", turns, context_size=100_000, max_tokens=100
    )
    assert len(everything) == 1 + 2 * 6 + 1
    assert everything[0] == ChatMessage(role="system", content="Be brief.")
    assert everything[-1] == ChatMessage(role="user", content="Now?")

    head = [
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Now?"),
    ]
    pair_cost = estimate_messages(everything[1:3])
    # Room for exactly two turns: the two newest are kept, in order.
    context = estimate_messages(head) + 100 + 2 * pair_cost
    trimmed = prompt.chat_messages(
        "Be brief.", {}, "Now?", turns, context_size=context, max_tokens=100
    )
    assert [m.content for m in trimmed[1:-1]] == [
        turns[4].query,
        turns[4].answer,
        turns[5].query,
        turns[5].answer,
    ]
    # No room at all: no history, but the prompt itself is still sent.
    none = prompt.chat_messages("Be brief.", {}, "Now?", turns, context_size=50, max_tokens=100)
    assert none == head


def test_render_replaces_known_variables_only() -> None:
    text = prompt.render("Hi {{name}}, {{unknown}}.{{#context#}} {{ name }}", {"name": "Ada"})
    assert text == "Hi Ada, {{unknown}}. {{ name }}"
    completion = prompt.completion_messages("Topic: {{topic}}", {"topic": "tides"}, "More?")
    assert completion == [ChatMessage(role="user", content="Topic: tides\nMore?")]


def test_inputs_take_defaults_numbers_and_drop_unknown_keys() -> None:
    form = [
        {"text-input": {"variable": "name", "required": True}},
        {"paragraph": {"variable": "notes", "default": "none"}},
        {"number": {"variable": "count"}},
        {"file-list": {"variable": "docs", "max_length": 1}},
    ]
    cleaned = clean_inputs(form, {"name": "A\x00da", "count": "2.5", "extra": 1})
    assert cleaned == {"name": "Ada", "notes": "none", "count": 2.5, "docs": ""}
    assert clean_inputs(form, {"name": "x", "count": 3})["count"] == 3
    with pytest.raises(InvalidParam, match="docs in input form must be a list of files"):
        clean_inputs(form, {"name": "x", "docs": "a"})
    with pytest.raises(InvalidParam, match="inputs must be an object"):
        clean_inputs(form, ["name"])
