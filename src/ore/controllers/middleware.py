"""HTTP middleware stack (filled in by the middleware work)."""

from __future__ import annotations

from fastapi import FastAPI

from ore.config import Settings


def install_middleware(app: FastAPI, settings: Settings) -> None:
    return None
