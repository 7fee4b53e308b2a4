"""File storage behind one interface; ``local`` keeps files under a directory."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol

from ore.config import Settings


class Storage(Protocol):
    async def save(self, key: str, data: bytes) -> None: ...
    async def load(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    async def delete(self, key: str) -> None: ...
    async def check(self) -> None: ...


class LocalStorage:
    """Files under one root; keys are relative paths that may not escape it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    async def save(self, key: str, data: bytes) -> None:
        path = self._path(key)

        def _write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a crash never leaves half a file under the key

        await asyncio.to_thread(_write)

    async def load(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).exists)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    async def check(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise OSError(f"storage directory {self.root} is not writable")


def create_storage(settings: Settings) -> Storage:
    return LocalStorage(settings.storage_path)
