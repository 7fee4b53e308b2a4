"""Staged units of work for streaming generations and other long work.

A plain request is one unit of work. A generation that streams for seconds or minutes is
not: holding one transaction open that long would block SQLite writers and lose everything
on a crash. A :class:`StagedRun` drives it as a sequence of short units, each committed by
the runner (never by services):

1. ``start``    one unit, committed before the first event is produced (the run record exists);
2. ``record``   progress units, batched (every ``progress_interval`` seconds or
                ``progress_batch`` events), so a crash loses at most one batch of progress;
                each runs beside the stream (one at a time), which never waits for it;
3. ``finish``   one unit that always runs, with the error if the producer failed; the last
                batch of progress is recorded in it, just before ``finish``.

The producer runs in its own task, detached from the consumer. When an HTTP client goes away
mid-stream, the producer still runs to the end and ``finish`` commits: nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from typing import Generic, Protocol, TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ore.extensions.database import Database

logger = logging.getLogger(__name__)

EventT = TypeVar("EventT")
EventT_contra = TypeVar("EventT_contra", contravariant=True)

_DONE = object()
# Seconds between attempts at the finish unit while the database is unavailable (~30 s).
FINISH_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1, 2, 4, 8, 15)

FINISHING = "ore.staged.finishing"
"""Set in ``session.info`` while ``record`` runs in the finish unit: ``finish`` follows in
the same transaction, so a work that stores the same state again in ``finish`` may leave
the writing to it."""


class StagedWork(Protocol[EventT_contra]):
    """What a staged run persists; each method runs inside its own committed unit."""

    async def start(self, session: AsyncSession) -> None: ...

    async def record(self, session: AsyncSession, events: Sequence[EventT_contra]) -> None: ...

    async def finish(self, session: AsyncSession, error: BaseException | None) -> None: ...


class StagedRun(Generic[EventT]):
    def __init__(
        self,
        db: Database,
        work: StagedWork[EventT],
        source: Callable[[], AsyncIterator[EventT]],
        *,
        progress_interval: float = 1.0,
        progress_batch: int = 64,
        buffer: int = 1024,
    ) -> None:
        self._db = db
        self._work = work
        self._source = source
        self._progress_interval = progress_interval
        self._progress_batch = progress_batch
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer)
        self._consumer_gone = False
        self._task: asyncio.Task[None] | None = None
        self.error: BaseException | None = None

    async def start(self) -> None:
        """Commit the start unit, then produce in the background."""
        async with self._db.unit_of_work() as session:
            await self._work.start(session)
        self._task = asyncio.create_task(self._produce(), name="ore.staged-run")
        _RUNNING.add(self._task)
        self._task.add_done_callback(_RUNNING.discard)

    async def events(self) -> AsyncIterator[EventT]:
        """The produced events, in order. Leaving early never stops the producer."""
        async for item in self.events_or_idle(None):
            if item is not None:
                yield item

    async def events_or_idle(self, idle: float | None) -> AsyncIterator[EventT | None]:
        """The events, with None after every ``idle`` seconds without one (a keep-alive is
        due). Waiting on the queue is cheap to interrupt: nothing per event but the read."""
        try:
            while True:
                try:
                    async with asyncio.timeout(idle):
                        item = await self._queue.get()
                except TimeoutError:
                    yield None
                    continue
                if item is _DONE:
                    return
                yield item  # type: ignore[misc]
        finally:
            self._consumer_gone = True
            self._drain()

    async def wait(self) -> None:
        """Until the finish unit has committed."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    async def _deliver(self, item: object) -> None:
        if self._consumer_gone:
            return
        await self._queue.put(item)

    async def _flush(self, pending: list[EventT], batch: list[EventT]) -> None:
        """Record ``batch``; while the database is unavailable, put it back in front of
        ``pending`` (the events that came since) for the next unit."""
        if batch:
            try:
                async with self._db.unit_of_work(deferrable=True) as session:
                    await self._work.record(session, batch)
            except Exception as error:
                if not database_unavailable(error):
                    raise
                # The database is away for a moment: keep the batch for the next unit (the
                # finish unit at the latest) instead of failing a healthy generation.
                pending[:0] = batch
                logger.warning("progress not recorded, database unavailable: %s", error)

    async def _produce(self) -> None:
        pending: list[EventT] = []
        flushing: asyncio.Task[None] | None = None
        last_flush = time.monotonic()
        try:
            async for event in self._source():
                await self._deliver(event)
                pending.append(event)
                if flushing is not None and flushing.done():
                    flushing.result()  # a progress unit that failed fails the run
                    flushing = None
                now = time.monotonic()
                if flushing is None and (
                    len(pending) >= self._progress_batch
                    or now - last_flush >= self._progress_interval
                ):
                    # Beside the stream, one at a time: a progress unit waits its turn
                    # behind the units somebody is waiting on, and no event waits for it.
                    batch = list(pending)
                    pending.clear()
                    flushing = asyncio.create_task(self._flush(pending, batch))
                    last_flush = now
            if flushing is not None:
                await flushing
        except Exception as error:  # recorded by finish; the consumer sees the end of stream
            self.error = error
            logger.warning("staged run failed: %s", error)
        finally:
            if flushing is not None and not flushing.done():
                with suppress(Exception):  # the run has failed already
                    await flushing
            await self._finish(pending)

    async def _finish(self, pending: list[EventT]) -> None:
        """The last progress and the finish in one unit (one transaction fewer per run);
        when that progress cannot be recorded, the finish commits on its own. While the
        database is unavailable (restarting, say) the unit is retried with backoff, so a
        generation that outlives a database restart is still stored."""
        batch = list(pending)
        pending.clear()
        try:
            if not await self._commit_with_retries(batch) and batch:
                await self._commit_with_retries([])
        finally:
            if not self._consumer_gone:
                await self._queue.put(_DONE)

    async def _commit_with_retries(self, batch: list[EventT]) -> bool:
        for delay in (*FINISH_RETRY_DELAYS, None):
            try:
                async with self._db.unit_of_work(deferrable=True) as session:
                    if batch:
                        session.info[FINISHING] = True
                        await self._work.record(session, batch)
                    await self._work.finish(session, self.error)
                return True
            except Exception as error:
                if delay is None or not database_unavailable(error):
                    what = "its last progress and finish" if batch else "its finish unit"
                    logger.exception("staged run could not commit %s", what)
                    return False
                logger.warning("database unavailable at finish, retrying in %.1f s", delay)
                await asyncio.sleep(delay)
        return False


def database_unavailable(error: BaseException) -> bool:
    """A failure of the connection rather than of the statement: worth trying again."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
    return isinstance(error, ConnectionError | TimeoutError | OSError)


_RUNNING: set[asyncio.Task[None]] = set()


async def wait_for_staged_runs(timeout: float) -> int:
    """At shutdown: let running producers finish (their finish units commit). Returns left."""
    if not _RUNNING:
        return 0
    _, pending = await asyncio.wait(set(_RUNNING), timeout=timeout)
    return len(pending)
