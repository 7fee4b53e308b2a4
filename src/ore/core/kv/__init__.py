"""Cache, locks, rate limiting and pub/sub behind one small interface.

Two implementations pass the same tests: :mod:`ore.core.kv.memory` (one process, embedded
mode) and :mod:`ore.core.kv.redis` (shared across processes, used when REDIS_HOST is set).
"""

from ore.core.kv.base import KV, LockTimeout, RateLimitResult, Subscription

__all__ = ["KV", "LockTimeout", "RateLimitResult", "Subscription"]
