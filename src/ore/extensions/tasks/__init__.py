"""Background tasks: one interface, an in-process runner and Celery."""

from __future__ import annotations

from typing import Protocol

from ore.config import Settings
from ore.extensions.database import Database


class TaskBackend(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def check(self) -> None: ...


class _Interim:
    name = "inprocess"

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        return None


def create_task_backend(settings: Settings, db: Database) -> TaskBackend:
    return _Interim()
