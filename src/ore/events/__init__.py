"""Signal handlers, connected once per process at startup."""

from __future__ import annotations

from ore.events.handlers import register_handlers

__all__ = ["register_handlers"]
