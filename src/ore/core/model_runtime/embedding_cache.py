"""A content-hash cache in front of any embedder, so a text is embedded once per model.

Keys are ``sha256`` of the text under a namespace naming the provider, model and
dimensions; vectors are stored as packed float64 in a :class:`~ore.core.kv.KV` (with
Redis, every process shares them). Only the texts not found are sent, once each, even
when a request repeats a text.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Awaitable, Callable

from ore.core.kv import KV
from ore.core.model_runtime.entities import EmbeddingResult, Usage

Embedder = Callable[[list[str]], Awaitable[EmbeddingResult]]


def _pack(vector: list[float]) -> bytes:
    return array("d", vector).tobytes()


def _unpack(raw: bytes) -> list[float]:
    values = array("d")
    values.frombytes(raw)
    return values.tolist()


class EmbeddingCache:
    """Cached embeddings of one model: ``namespace`` must change when the vectors would."""

    def __init__(self, kv: KV, namespace: str, *, ttl: float | None = None) -> None:
        self.kv = kv
        self.namespace = namespace
        self.ttl = ttl

    def key(self, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return f"model_runtime:embedding:{self.namespace}:{digest}"

    async def embed(self, model: str, texts: list[str], embedder: Embedder) -> EmbeddingResult:
        """Vectors for ``texts`` in order; ``embedder`` sees each missing text once.

        The usage is that of the texts actually embedded (zero tokens when all were cached).
        """
        found: dict[str, list[float]] = {}
        for text in dict.fromkeys(texts):
            raw = await self.kv.get(self.key(text))
            if raw is not None:
                found[text] = _unpack(raw)
        missing = [text for text in dict.fromkeys(texts) if text not in found]
        usage = Usage()
        if missing:
            result = await embedder(missing)
            usage = result.usage
            for text, vector in zip(missing, result.embeddings, strict=True):
                found[text] = vector
                await self.kv.set(self.key(text), _pack(vector), ttl=self.ttl)
        return EmbeddingResult(model=model, embeddings=[found[t] for t in texts], usage=usage)
