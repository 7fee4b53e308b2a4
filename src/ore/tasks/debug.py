"""Diagnostic tasks for operators and tests: they exercise a backend end to end."""

from __future__ import annotations

import asyncio
from typing import Any

from ore.extensions.tasks import TaskContext, task


@task("debug.sleep")
async def sleep(ctx: TaskContext, seconds: float = 1.0, steps: int = 1) -> dict[str, Any]:
    """Sleep ``seconds`` in ``steps`` equal parts, recording progress after each part."""
    steps = max(1, int(steps))
    for step in range(1, steps + 1):
        await asyncio.sleep(float(seconds) / steps)
        await ctx.progress({"step": step, "steps": steps})
    return {"slept": float(seconds), "steps": steps, "attempt": ctx.attempt}
