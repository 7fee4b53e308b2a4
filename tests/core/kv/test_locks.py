"""Locks: mutual exclusion, LockTimeout, lease expiry, and owner-only release."""

from __future__ import annotations

from contextlib import AsyncExitStack

import anyio
import pytest

from ore.core.kv import KV, LockTimeout


async def test_lock_excludes_concurrent_holders(kv: KV) -> None:
    inside = 0
    most_inside = 0
    entries = 0

    async def worker() -> None:
        nonlocal inside, most_inside, entries
        for _ in range(3):
            async with kv.lock("shared", timeout=10, blocking_timeout=10):
                inside += 1
                entries += 1
                most_inside = max(most_inside, inside)
                await anyio.sleep(0.02)  # give the other task every chance to barge in
                inside -= 1

    async with anyio.create_task_group() as group:
        group.start_soon(worker)
        group.start_soon(worker)
    assert entries == 6
    assert most_inside == 1


async def test_lock_timeout_raises_while_held(kv: KV) -> None:
    entered = False
    async with kv.lock("busy", timeout=10):
        with pytest.raises(LockTimeout):
            async with kv.lock("busy", blocking_timeout=0):
                entered = True
        with pytest.raises(LockTimeout):
            async with kv.lock("busy", blocking_timeout=0.1):
                entered = True
    assert not entered
    async with kv.lock("busy", blocking_timeout=0):
        entered = True
    assert entered


async def test_lease_expiry_frees_a_lock_whose_holder_vanished(kv: KV) -> None:
    # A holder that never leaves (a crashed process): only its lease lets others in.
    abandoned = kv.lock("job", timeout=0.2)
    await abandoned.__aenter__()
    with pytest.raises(LockTimeout):
        async with kv.lock("job", blocking_timeout=0):
            pass
    async with kv.lock("job", blocking_timeout=5):
        pass


async def test_holder_never_releases_someone_elses_lock(kv: KV) -> None:
    async with AsyncExitStack() as stack:
        async with kv.lock("job", timeout=0.2):
            # Our lease runs out while we work; another holder takes the lock.
            await stack.enter_async_context(kv.lock("job", timeout=10, blocking_timeout=5))
        # Leaving our expired lock must not have freed the other holder's lock.
        with pytest.raises(LockTimeout):
            async with kv.lock("job", blocking_timeout=0):
                pass
    async with kv.lock("job", blocking_timeout=0):
        pass


async def test_lock_is_released_when_the_body_raises(kv: KV) -> None:
    with pytest.raises(RuntimeError):
        async with kv.lock("fragile", timeout=10):
            raise RuntimeError("boom")
    async with kv.lock("fragile", blocking_timeout=0):
        pass


async def test_lock_is_released_when_the_holder_is_cancelled(kv: KV) -> None:
    held = anyio.Event()

    async def holder() -> None:
        async with kv.lock("cancelled", timeout=10):
            held.set()
            await anyio.sleep_forever()

    async with anyio.create_task_group() as group:
        group.start_soon(holder)
        await held.wait()
        group.cancel_scope.cancel()
    async with kv.lock("cancelled", blocking_timeout=2):
        pass
