"""Staged units of work: start, progress and finish commit whatever the client does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ore.config import Settings
from ore.extensions import staged
from ore.extensions.database import Database
from ore.extensions.staged import FINISHING, StagedRun, wait_for_staged_runs
from ore.models import TaskRun, TaskStatus
from ore.models.base import utcnow


class RecordedRun:
    """Persists a run in a task_runs row: the shape a generation record will have."""

    def __init__(self) -> None:
        self.id = uuid.uuid4()

    async def start(self, session: AsyncSession) -> None:
        session.add(
            TaskRun(id=self.id, name="test.staged", status=TaskStatus.RUNNING, progress={"n": []})
        )

    async def record(self, session: AsyncSession, events: Sequence[int]) -> None:
        run = await session.get(TaskRun, self.id)
        assert run is not None
        run.progress = {"n": [*(run.progress or {}).get("n", []), *events]}

    async def finish(self, session: AsyncSession, error: BaseException | None) -> None:
        run = await session.get(TaskRun, self.id)
        assert run is not None
        run.status = TaskStatus.ERROR if error else TaskStatus.COMPLETED
        run.error = str(error) if error else None
        run.finished_at = utcnow()


def counting(  # type: ignore[no-untyped-def]
    limit: int, *, fail_at: int | None = None, gate: asyncio.Event | None = None, pause: float = 0
):
    async def source() -> AsyncIterator[int]:
        for number in range(limit):
            if number == fail_at:
                raise RuntimeError(f"upstream broke at {number}")
            if gate is not None and number == 2:
                await gate.wait()
            if pause:
                await asyncio.sleep(pause)  # as a model does between tokens
            yield number

    return source


async def _load(db: Database, run_id: uuid.UUID) -> TaskRun:
    async with db.unit_of_work() as session:
        run = await session.get(TaskRun, run_id)
        assert run is not None
        return run


async def test_events_stream_and_every_unit_commits(settings: Settings) -> None:
    db = Database(settings)
    work = RecordedRun()
    run = StagedRun(db, work, counting(10), progress_batch=3)
    await run.start()
    assert (await _load(db, work.id)).status == TaskStatus.RUNNING  # committed before events
    received = [event async for event in run.events()]
    await run.wait()
    stored = await _load(db, work.id)
    assert received == list(range(10))
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": list(range(10))}
    await db.dispose()


async def test_a_client_that_leaves_does_not_stop_the_run(settings: Settings) -> None:
    db = Database(settings)
    work = RecordedRun()
    gate = asyncio.Event()
    run = StagedRun(db, work, counting(50, gate=gate), progress_batch=5, buffer=2)
    await run.start()
    stream = run.events()
    assert [await anext(stream), await anext(stream)] == [0, 1]
    await stream.aclose()  # the client disconnects mid-stream
    gate.set()
    await run.wait()
    stored = await _load(db, work.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": list(range(50))}
    await db.dispose()


async def test_a_failing_producer_is_finished_with_its_error(settings: Settings) -> None:
    db = Database(settings)
    work = RecordedRun()
    run = StagedRun(db, work, counting(10, fail_at=4), progress_batch=100)
    await run.start()
    received = [event async for event in run.events()]
    await run.wait()
    stored = await _load(db, work.id)
    assert received == [0, 1, 2, 3]
    assert stored.status == TaskStatus.ERROR
    assert stored.error == "upstream broke at 4"
    assert stored.progress == {"n": [0, 1, 2, 3]}  # progress before the failure is kept
    assert await wait_for_staged_runs(timeout=1) == 0
    await db.dispose()


class MarkedRun(RecordedRun):
    """Notes, for each record, whether the finish unit was known to follow in it."""

    def __init__(self) -> None:
        super().__init__()
        self.finishing: list[bool] = []

    async def record(self, session: AsyncSession, events: Sequence[int]) -> None:
        self.finishing.append(bool(session.info.get(FINISHING)))
        await super().record(session, events)


async def test_the_last_progress_commits_with_the_finish_and_says_so(settings: Settings) -> None:
    db = Database(settings)
    work = MarkedRun()
    run = StagedRun(db, work, counting(7, pause=0.05), progress_batch=3)
    await run.start()
    assert [event async for event in run.events()] == list(range(7))
    await run.wait()
    stored = await _load(db, work.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": list(range(7))}
    # Two full batches in units of their own, then [6] in the finish unit.
    assert work.finishing == [False, False, True]
    await db.dispose()


class BrokenLastRecord(RecordedRun):
    """Its record fails once the finish unit is the one recording."""

    async def record(self, session: AsyncSession, events: Sequence[int]) -> None:
        if session.info.get(FINISHING):
            raise RuntimeError("cannot record")
        await super().record(session, events)


async def test_a_finish_still_commits_when_its_last_progress_cannot(settings: Settings) -> None:
    db = Database(settings)
    work = BrokenLastRecord()
    run = StagedRun(db, work, counting(5, pause=0.05), progress_batch=3)
    await run.start()
    assert [event async for event in run.events()] == list(range(5))
    await run.wait()
    stored = await _load(db, work.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": [0, 1, 2]}
    await db.dispose()


class SlowRecord(RecordedRun):
    """Its progress units wait until ``release`` is set (a database under load)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.batches: list[list[int]] = []

    async def record(self, session: AsyncSession, events: Sequence[int]) -> None:
        if not session.info.get(FINISHING):
            await self.release.wait()
        self.batches.append(list(events))
        await super().record(session, events)


async def test_a_slow_progress_unit_never_holds_up_the_stream(settings: Settings) -> None:
    db = Database(settings)
    work = SlowRecord()
    run = StagedRun(db, work, counting(10, pause=0.01), progress_batch=2)
    await run.start()
    # Every event arrives while the first progress unit is still waiting for the database
    # (the stream then ends once the finish unit has committed).
    events = run.events()
    async with asyncio.timeout(5):
        assert [await anext(events) for _ in range(10)] == list(range(10))
    assert work.batches == []
    work.release.set()
    assert [event async for event in events] == []
    await run.wait()
    # One progress unit at a time: the first batch, then the rest with the finish.
    assert work.batches == [[0, 1], list(range(2, 10))]
    stored = await _load(db, work.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": list(range(10))}
    await db.dispose()


class FlakyDatabase(Database):
    """The real database, refusing the next ``refuse`` units at their start, or losing the
    connection at the commit of the next ``lose_commit`` units (as during a restart)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.refuse = 0
        self.lose_commit = 0
        self.refused = 0

    @asynccontextmanager
    async def unit_of_work(self, *, deferrable: bool = False) -> AsyncIterator[AsyncSession]:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            raise OperationalError("BEGIN", {}, ConnectionRefusedError("database restarting"))
        async with super().unit_of_work(deferrable=deferrable) as session:
            yield session
            if self.lose_commit > 0:  # the unit's work is done, then rolled back
                self.lose_commit -= 1
                self.refused += 1
                raise OperationalError("COMMIT", {}, ConnectionResetError("connection lost"))


async def test_a_database_restart_mid_run_loses_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staged, "FINISH_RETRY_DELAYS", (0.05, 0.05, 0.05, 0.05))
    db = FlakyDatabase(settings)
    work = RecordedRun()
    gate = asyncio.Event()
    run = StagedRun(db, work, counting(6, gate=gate), progress_batch=1)
    await run.start()
    events = run.events()
    assert [await anext(events), await anext(events)] == [0, 1]
    # Down for the progress of events 2 to 5 and the first two tries of the finish unit:
    # the producer goes on, its progress waits, the finish retries.
    db.refuse = 6
    gate.set()
    assert [event async for event in events] == [2, 3, 4, 5]
    await run.wait()
    assert db.refused == 6
    stored = await _load(db, work.id)
    assert stored.status == TaskStatus.COMPLETED
    assert stored.progress == {"n": list(range(6))}
    await db.dispose()


async def test_a_finish_gives_up_after_its_retries(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staged, "FINISH_RETRY_DELAYS", (0.01, 0.01))
    db = FlakyDatabase(settings)
    work = RecordedRun()
    gate = asyncio.Event()
    run = StagedRun(db, work, counting(3, gate=gate), progress_interval=3600)
    await run.start()
    db.refuse = 100
    gate.set()
    assert [event async for event in run.events()] == [0, 1, 2]  # the stream still ends
    await run.wait()
    # Three tries with the batch, then three of the finish alone; then it gives up.
    assert db.refused == 6
    db.refuse = 0
    assert (await _load(db, work.id)).status == TaskStatus.RUNNING
    await db.dispose()
