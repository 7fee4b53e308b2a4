"""Logging setup (filled in by the middleware work)."""

from __future__ import annotations

import logging

from ore.config import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.LOG_LEVEL)
