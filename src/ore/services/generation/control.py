"""What generations share across processes, through the KV: active slots and stop signals.

Concurrency: an app with a limit of N has N slot keys; a generation takes the first free
one (``SET NX``) and gives it back when its finish unit has run. Each slot key expires
after :data:`SLOT_TTL`, so a process that dies mid-generation cannot keep a slot forever
(Dify forgets its active requests after the same ten minutes).

Stop: ``POST /chat-messages/{task_id}/stop`` acts only for the app and ``user`` that
started the task (spec §1: anyone else gets a silent success). It sets a flag key and
publishes on the task's channel; the producer listens on the channel and reads the flag
once after subscribing, so a stop sent just before it listened is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from ore.core.errors import TooManyRequests
from ore.core.kv import KV

logger = logging.getLogger(__name__)

SLOT_TTL = 600.0
TASK_TTL = 3600.0


class AppQuotaExceeded(TooManyRequests):
    """matches Dify: ``AppInvokeQuotaExceededError`` rendered as 429 ``too_many_requests``."""

    def __init__(self, app_id: uuid.UUID, limit: int) -> None:
        super().__init__(
            "Too many requests. Please try again later. The current maximum concurrent "
            f"requests allowed for {app_id} is {limit}."
        )


def _slot_key(app_id: uuid.UUID, index: int) -> str:
    return f"generation:active:{app_id}:{index}"


async def acquire_slot(
    kv: KV, app_id: uuid.UUID, limit: int, holder: str, *, ttl: float = SLOT_TTL
) -> str | None:
    """A free slot of the app (its key), None when the app has no limit; 429 when full.
    The slot frees itself after ``ttl`` seconds if its holder never gives it back."""
    if limit <= 0:
        return None
    for index in range(limit):
        key = _slot_key(app_id, index)
        if await kv.set(key, holder, ttl=ttl, only_if_absent=True):
            return key
    raise AppQuotaExceeded(app_id, limit)


async def release_slot(kv: KV, key: str | None, holder: str) -> None:
    """Give the slot back, unless it expired and somebody else took it since."""
    if key is None:
        return
    if await kv.get(key) == holder.encode():
        await kv.delete(key)


def _owner_key(task_id: str) -> str:
    return f"generation:task:{task_id}"


def _stop_key(task_id: str) -> str:
    return f"generation:stop:{task_id}"


def _owner(app_id: uuid.UUID, user: str) -> str:
    return f"{app_id}:{user}"


async def register_task(kv: KV, task_id: str, app_id: uuid.UUID, user: str) -> None:
    await kv.set(_owner_key(task_id), _owner(app_id, user), ttl=TASK_TTL)


async def forget_task(kv: KV, task_id: str) -> None:
    await kv.delete(_owner_key(task_id), _stop_key(task_id))


async def request_stop(kv: KV, task_id: str, app_id: uuid.UUID, user: str) -> bool:
    """Ask a running generation to stop; True if the caller may stop it and it runs."""
    owner = await kv.get(_owner_key(task_id))
    if owner is None or owner != _owner(app_id, user).encode():
        return False
    await kv.set(_stop_key(task_id), "1", ttl=TASK_TTL)
    await kv.publish(_stop_key(task_id), "stop")
    return True


async def watch_stop(kv: KV, task_id: str, stopped: asyncio.Event) -> None:
    """Set ``stopped`` when the task is asked to stop; runs until cancelled."""
    try:
        async with kv.subscribe(_stop_key(task_id)) as subscription:
            if await kv.get(_stop_key(task_id)) is not None:
                stopped.set()
                return
            async for _ in subscription:
                stopped.set()
                return
    except asyncio.CancelledError:
        raise
    except Exception as error:  # a KV outage must not fail the generation itself
        logger.warning("cannot listen for stop of task %s: %s", task_id, error)
