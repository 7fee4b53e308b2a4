"""The database extension: engine, sessions and units of work.

A unit of work is one session and one transaction, committed in one place (the request or
task boundary). Work registered with :func:`after_commit` (typically enqueuing a task)
runs only once that commit has succeeded, and is dropped on rollback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, nullcontext, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from ore.config import Settings
from ore.core.errors import InvalidParam

logger = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT_KEY = "ore.after_commit"


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the session's unit of work has committed (never on rollback)."""
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    # The driver's own transaction handling is turned off so that every transaction starts
    # with BEGIN IMMEDIATE (see _sqlite_on_begin): two writers then queue on busy_timeout
    # instead of failing with "database is locked" when both upgrade a read lock.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY = "ore_read_only"


def _sqlite_on_begin(connection: Any) -> None:
    # Read-only work (pings, snapshots) begins deferred and never takes the write lock.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class ReadOnlyViolation(RuntimeError):
    """A read-only unit of work was asked to write."""

    def __init__(self) -> None:
        super().__init__("a read-only unit of work may not write: use unit_of_work()")


class TextWithNul(InvalidParam):
    default_message = "Text values may not contain NUL (\\u0000) characters."


def _refuse_nul(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """PostgreSQL cannot store NUL in text and SQLite silently truncates at it.

    Checked here, once for every statement, so no endpoint can turn such input into a 500
    or into a silently shortened value: the caller gets 400 invalid_param instead.
    """
    if _contains_nul(parameters):
        raise TextWithNul()


def _contains_nul(parameters: Any) -> bool:
    # Shapes differ by path: a dict or tuple per row, a list of them for executemany, and
    # one flat tuple for a batched multi-row INSERT; walk whatever came.
    if isinstance(parameters, str):
        return "\x00" in parameters
    if isinstance(parameters, dict):
        return any(_contains_nul(value) for value in parameters.values())
    if isinstance(parameters, list | tuple):
        return any(_contains_nul(value) for value in parameters)
    return False


class NonFiniteNumber(InvalidParam):
    default_message = "Numbers must be finite: NaN and Infinity cannot be stored."


def _json_serializer(value: Any) -> str:
    """JSON columns refuse NaN and Infinity (PostgreSQL's json type rejects them, and
    other JSON parsers do too); Python's own parser accepts them in request bodies."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError as error:
        raise NonFiniteNumber() from error


def create_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        if not url.endswith(":memory:"):
            Path(settings.sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, echo=settings.SQLALCHEMY_ECHO, json_serializer=_json_serializer
        )
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.SQLALCHEMY_ECHO,
        pool_size=settings.SQLALCHEMY_POOL_SIZE,
        max_overflow=settings.SQLALCHEMY_MAX_OVERFLOW,
        pool_recycle=settings.SQLALCHEMY_POOL_RECYCLE,
        pool_pre_ping=settings.SQLALCHEMY_POOL_PRE_PING,
        json_serializer=_json_serializer,
    )
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_nul)
    return engine


class _SqliteGate:
    """Admission of SQLite transactions within this process, one at a time, first come
    first served, except that deferrable units give way.

    SQLite has one writer at a time. Left to itself, a waiting connection sleeps in
    SQLite's busy handler with growing back-off (up to 100 ms a nap), which turns a queue
    of short requests into a long latency tail. Queuing in-process hands the database over
    the moment it is free; busy_timeout still covers other processes.

    A *deferrable* unit is one nobody is waiting on to see a first byte: a streamed
    answer's progress and finish, whose text has already left. When the database is busy
    the other units go first, so a burst of finishing streams does not hold back the next
    question's first token; a deferrable unit that has waited ``max_defer`` seconds is
    served before anything that came later, so none waits without bound.
    """

    def __init__(self, max_defer: float = 0.5) -> None:
        self._max_defer = max_defer
        self._busy = False
        self._holder: asyncio.Task[Any] | None = None
        self._readers: set[asyncio.Task[Any]] = set()
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._deferred: deque[tuple[float, asyncio.Future[None]]] = deque()

    def _refuse_nesting(self, task: asyncio.Task[Any] | None) -> None:
        if task is not None and (task is self._holder or task in self._readers):
            raise RuntimeError(
                "a unit of work was opened inside another one on SQLite, which would wait for "
                "itself forever: finish the outer unit first (see ore.extensions.staged)"
            )

    @asynccontextmanager
    async def hold(self, *, deferrable: bool = False) -> AsyncIterator[None]:
        task = asyncio.current_task()
        self._refuse_nesting(task)
        await self._acquire(deferrable)
        self._holder = task
        try:
            yield
        finally:
            self._holder = None
            self._release()

    async def _acquire(self, deferrable: bool) -> None:
        if not self._busy and not self._urgent and not self._deferred:
            self._busy = True
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (time.monotonic(), waiter)
        if deferrable:
            self._deferred.append(entry)
        else:
            self._urgent.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as it was cancelled: pass the turn on
            else:  # still queued, unless a release already skipped it
                with suppress(ValueError):
                    if deferrable:
                        self._deferred.remove(entry)
                    else:
                        self._urgent.remove(waiter)
            raise

    def _release(self) -> None:
        """Hand the database to the next waiter, or mark it free."""
        while True:
            waiter = self._next_waiter()
            if waiter is None:
                self._busy = False
                return
            if not waiter.done():
                waiter.set_result(None)
                return

    def _next_waiter(self) -> asyncio.Future[None] | None:
        overdue = self._deferred and time.monotonic() - self._deferred[0][0] >= self._max_defer
        if self._urgent and not overdue:
            return self._urgent.popleft()
        if self._deferred:
            return self._deferred.popleft()[1]
        return None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        """A reader is admitted at once (WAL readers never wait for the writer), but under
        the same rule as writers: not inside another unit of its own task."""
        task = asyncio.current_task()
        self._refuse_nesting(task)
        if task is None:
            yield
            return
        self._readers.add(task)
        try:
            yield
        finally:
            self._readers.discard(task)


class Database:
    """Owns the engine of one process and hands out units of work.

    Units of work do not nest: open one, finish it, then open the next. On SQLite the
    units of one process are admitted one at a time (they would be anyway: SQLite has a
    single writer); on PostgreSQL they run side by side.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Same pool; on SQLite its transactions begin deferred (see _sqlite_on_begin).
        self._reader = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._gate = _SqliteGate() if self.engine.dialect.name == "sqlite" else None
        # Deferrable units queue here first: however many streams finish at once, only
        # this many of their units compete with the others for the CPU and the database.
        self._deferred_lane = asyncio.Semaphore(settings.DB_DEFERRED_UNITS)

    @asynccontextmanager
    async def _admission(self, deferrable: bool) -> AsyncIterator[None]:
        lane = self._deferred_lane if deferrable else nullcontext()
        gate = self._gate.hold(deferrable=deferrable) if self._gate else nullcontext()
        async with lane, gate:
            yield

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self, *, deferrable: bool = False) -> AsyncIterator[AsyncSession]:
        """One session, one transaction: committed on success, rolled back on error.

        ``deferrable``: nobody waits on this unit for a first byte (a streamed answer's
        progress and finish, whose text has already left). Such units run
        ``DB_DEFERRED_UNITS`` at a time per process, and on SQLite the units somebody waits
        on go before them: when many streams finish at once, the next questions' start units
        do not queue behind their bookkeeping. Under load, first tokens stay fast and the
        closing ``message_end`` waits instead."""
        async with self._admission(deferrable):
            session = self.sessionmaker()
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                session.info.pop(_AFTER_COMMIT_KEY, None)
                raise
            finally:
                await session.close()
        await run_after_commit(session)

    @asynccontextmanager
    async def read_only(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads, such as checking a key on every request.

        On SQLite it takes no write lock (``BEGIN`` deferred) and does not queue behind the
        writers of this process, so a busy writer never delays a read. It must not write: a
        deferred transaction that later writes can fail at once with "database is locked".
        Rows added, changed or deleted through the session, or after-commit work, raise
        :class:`ReadOnlyViolation`; the transaction always ends in a rollback. It nests no
        more than a writing unit does. The rows it returns stay usable after it ends, as
        with :meth:`unit_of_work`.
        """
        admission = self._gate.read() if self._gate is not None else nullcontext()
        async with admission:
            session = self._reader()
            try:
                yield session
                if _has_writes(session):
                    raise ReadOnlyViolation()
            finally:
                session.info.pop(_AFTER_COMMIT_KEY, None)
                await session.close()

    async def ping(self) -> None:
        """A round trip that takes no lock: health checks never queue behind writers."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{READ_ONLY: True})
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _has_writes(session: AsyncSession) -> bool:
    pending = session.new or session.dirty or session.deleted
    return bool(pending) or _AFTER_COMMIT_KEY in session.info


async def run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop(_AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The transaction is already durable; a failed follow-up must not turn the
            # response into an error. Task backends persist state so nothing is lost.
            logger.exception("after-commit callback failed")
