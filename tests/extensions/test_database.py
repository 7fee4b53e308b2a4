"""The database extension: units of work, after-commit hooks and input the database refuses."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from ore.config import Settings
from ore.extensions.database import (
    Database,
    NonFiniteNumber,
    ReadOnlyViolation,
    TextWithNul,
    after_commit,
)
from ore.models import Account, TaskRun, Tenant
from ore.services import accounts


async def test_after_commit_runs_only_after_a_commit(settings: Settings) -> None:
    db = Database(settings)
    calls: list[str] = []

    async def record() -> None:
        calls.append("sent")

    async with db.unit_of_work() as session:
        await accounts.create_account(session, email="kept@example.com", name="Kept")
        after_commit(session, record)
        assert calls == []
    assert calls == ["sent"]

    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as session:
            await accounts.create_account(session, email="gone@example.com", name="Gone")
            after_commit(session, record)
            raise RuntimeError("boom")
    assert calls == ["sent"]
    async with db.unit_of_work() as session:
        emails = (await session.scalars(select(Account.email))).all()
    assert emails == ["kept@example.com"]
    await db.dispose()


async def test_text_with_nul_is_refused_before_reaching_the_database(settings: Settings) -> None:
    db = Database(settings)
    with pytest.raises(TextWithNul):
        async with db.unit_of_work() as session:
            await accounts.get_account_by_email(session, "a\x00b@example.com")
    await db.dispose()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
async def test_non_finite_numbers_are_refused_in_json_columns(
    settings: Settings, value: float
) -> None:
    db = Database(settings)
    with pytest.raises(StatementError) as raised:
        async with db.unit_of_work() as session:
            session.add(TaskRun(name="probe", args={"nested": [1, value]}))
    assert isinstance(raised.value.orig, NonFiniteNumber)
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(TaskRun))).all() == []
    await db.dispose()


async def test_a_non_finite_number_stored_by_a_route_is_a_400(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def store(request: Request) -> dict[str, str]:
        body = await request.json()
        async with app.state.ore.db.unit_of_work() as session:
            session.add(TaskRun(name="probe", args=body))
        return {"result": "success"}

    app.add_api_route("/probe-json", store, methods=["POST"])
    ok = await client.post("/probe-json", content=b'{"x": 1.5}')
    assert ok.status_code == 200
    response = await client.post("/probe-json", content=b'{"x": NaN}')
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_param"
    assert "finite" in response.json()["message"]


async def test_nul_in_a_login_is_a_400_not_a_500(client: httpx.AsyncClient) -> None:
    await client.post(
        "/console/api/setup",
        json={"email": "nul@example.com", "name": "Nul", "password": "nul-check-123"},
    )
    response = await client.post(
        "/console/api/login", json={"email": "nul\x00@example.com", "password": "x1234567"}
    )
    assert response.status_code in (400, 401)
    assert response.json()["code"] in ("invalid_param", "authentication_failed")


async def test_units_of_work_queue_in_order_and_never_nest_on_sqlite(settings: Settings) -> None:
    db = Database(settings)
    order: list[str] = []

    async def unit(name: str, delay: float) -> None:
        async with db.unit_of_work() as session:
            order.append(f"{name}:start")
            await accounts.create_account(session, email=f"{name}@example.com", name=name)
            await asyncio.sleep(delay)
            order.append(f"{name}:end")

    await asyncio.gather(unit("first", 0.05), unit("second", 0))
    if db.dialect == "sqlite":
        # Admitted one at a time, first come first served, with no "database is locked".
        assert order == ["first:start", "first:end", "second:start", "second:end"]
        with pytest.raises(RuntimeError, match="inside another one"):
            async with db.unit_of_work(), db.unit_of_work():
                pass
    else:
        assert sorted(order) == sorted(["first:start", "first:end", "second:start", "second:end"])
    await db.ping()  # never queues behind a writer
    await db.dispose()


async def test_units_somebody_waits_on_go_before_deferrable_ones_on_sqlite(
    settings: Settings,
) -> None:
    """A streamed answer's progress and finish give way to the next question's start unit,
    but a deferrable unit that has waited ``max_defer`` goes before those that came later,
    and a waiter that gives up leaves the queue working."""
    db = Database(settings)
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with db.unit_of_work():
            order.append("holder")
            await release.wait()

    async def unit(name: str, *, deferrable: bool) -> None:
        async with db.unit_of_work(deferrable=deferrable) as session:
            order.append(name)
            await accounts.create_account(session, email=f"{name}@example.com", name=name)

    async def queued(*units: tuple[str, bool], hold: float) -> list[str]:
        order.clear()
        release.clear()
        held = asyncio.create_task(holder())
        await asyncio.sleep(0)
        tasks = []
        for name, deferrable in units:
            tasks.append(asyncio.create_task(unit(name, deferrable=deferrable)))
            await asyncio.sleep(0.01)
        if db.dialect == "sqlite":  # one that gives up while queued
            quitter = asyncio.create_task(unit("quitter", deferrable=False))
            await asyncio.sleep(0.01)
            quitter.cancel()
        await asyncio.sleep(max(0.0, hold - 0.01 * (len(units) + 1)))
        release.set()
        await asyncio.gather(held, *tasks)
        return list(order)

    busy = await queued(("finish-1", True), ("progress-2", True), ("start-3", False), hold=0.05)
    overdue = await queued(("finish-4", True), ("start-5", False), hold=0.6)
    if db.dialect == "sqlite":
        assert busy == ["holder", "start-3", "finish-1", "progress-2"]
        assert overdue == ["holder", "finish-4", "start-5"]
    else:  # no gate: units run side by side, each once
        assert sorted(busy) == ["finish-1", "holder", "progress-2", "start-3"]
        assert sorted(overdue) == ["finish-4", "holder", "start-5"]
    await db.dispose()


async def test_deferrable_units_run_one_at_a_time_behind_the_others(settings: Settings) -> None:
    """DB_DEFERRED_UNITS=1 (the default): a second deferrable unit waits for the first,
    while a unit somebody waits on goes ahead (on PostgreSQL at once, on SQLite next)."""
    db = Database(settings)
    assert settings.DB_DEFERRED_UNITS == 1
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def unit(name: str, *, deferrable: bool, hold: bool = False) -> None:
        async with db.unit_of_work(deferrable=deferrable) as session:
            order.append(name)
            await accounts.create_account(session, email=f"{name}@example.com", name=name)
            if hold:
                inside.set()
                await release.wait()

    first = asyncio.create_task(unit("finish-1", deferrable=True, hold=True))
    await inside.wait()
    second = asyncio.create_task(unit("finish-2", deferrable=True))
    await asyncio.sleep(0.01)
    start = asyncio.create_task(unit("start-3", deferrable=False))
    await asyncio.sleep(0.1)
    seen_while_held = list(order)
    release.set()
    await asyncio.gather(first, second, start)
    if db.dialect == "sqlite":
        assert seen_while_held == ["finish-1"]
        assert order == ["finish-1", "start-3", "finish-2"]
    else:
        assert seen_while_held == ["finish-1", "start-3"]
        assert order == ["finish-1", "start-3", "finish-2"]
    await db.dispose()


async def test_nul_check_handles_batched_multi_row_inserts(settings: Settings) -> None:
    db = Database(settings)
    async with db.unit_of_work() as session:
        # Rows of one table flushed together go out as one batched INSERT.
        session.add_all([Tenant(name="first"), Tenant(name="second"), Tenant(name="third")])
    with pytest.raises(TextWithNul):
        async with db.unit_of_work() as session:
            session.add_all([Tenant(name="fine"), Tenant(name="bro\x00ken")])
    async with db.unit_of_work() as session:
        names = sorted((await session.scalars(select(Tenant.name))).all())
    assert names == ["first", "second", "third"]
    await db.dispose()


async def test_a_read_only_unit_reads_without_queueing_behind_a_writer(
    settings: Settings,
) -> None:
    db = Database(settings)
    async with db.unit_of_work() as session:
        session.add(Tenant(name="visible"))
    writing, read = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with db.unit_of_work() as session:
            session.add(Tenant(name="pending"))
            await session.flush()
            writing.set()
            await asyncio.wait_for(read.wait(), 5)  # holds the write unit until the read ends

    task = asyncio.create_task(writer())
    await writing.wait()
    async with db.read_only() as session:
        names = (await session.scalars(select(Tenant).order_by(Tenant.name))).all()
    read.set()
    await task
    assert [tenant.name for tenant in names] == ["visible"]  # rows stay usable after the unit
    await db.dispose()


async def test_a_read_only_unit_refuses_writes_and_stores_nothing(settings: Settings) -> None:
    db = Database(settings)

    async def later() -> None:
        pass

    with pytest.raises(ReadOnlyViolation):
        async with db.read_only() as session:
            session.add(Tenant(name="sneaky"))
    async with db.unit_of_work() as session:
        session.add(Tenant(name="kept"))
    with pytest.raises(ReadOnlyViolation):
        async with db.read_only() as session:
            tenant = await session.scalar(select(Tenant))
            assert tenant is not None
            tenant.name = "renamed"
    with pytest.raises(ReadOnlyViolation):
        async with db.read_only() as session:
            after_commit(session, later)
    async with db.read_only() as session:
        assert (await session.scalars(select(Tenant.name))).all() == ["kept"]
    await db.dispose()


async def test_read_only_units_do_not_nest_in_units_of_their_task_on_sqlite(
    settings: Settings,
) -> None:
    db = Database(settings)
    if db.dialect == "sqlite":
        with pytest.raises(RuntimeError, match="inside another one"):
            async with db.unit_of_work(), db.read_only():
                pass
        with pytest.raises(RuntimeError, match="inside another one"):
            async with db.read_only(), db.unit_of_work():
                pass
    # Side by side in separate tasks is fine on both databases.
    async with db.read_only():
        await asyncio.gather(*(_read_once(db) for _ in range(3)))
    await db.dispose()


async def _read_once(db: Database) -> None:
    async with db.read_only() as session:
        await session.scalar(select(Tenant.name))
