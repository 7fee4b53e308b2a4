"""Handlers of the domain signals in ``ore.services.signals``."""

from __future__ import annotations

_registered = False


def register_handlers() -> None:
    """Connect every handler; idempotent so tests may build many apps in one process."""
    global _registered
    if _registered:
        return
    _registered = True
