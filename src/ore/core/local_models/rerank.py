"""A local reranker: cosine similarity between the query and each document.

This is a bi-encoder score from :class:`LocalEmbedder` (all-MiniLM-L6-v2), not a cross-encoder:
it orders documents by embedding similarity, which is what the local ``rerank`` model type
offers offline. Scores are cosine similarities in [-1, 1].
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from ore.core.local_models.embeddings import LocalEmbedder
from ore.core.local_models.names import RERANK_MODEL_NAME


@dataclass(frozen=True, slots=True)
class RerankResult:
    """One document's position in the input, its score and its text."""

    index: int
    score: float
    text: str


class LocalReranker:
    """Orders documents by cosine similarity of their MiniLM embeddings to the query."""

    model_name = RERANK_MODEL_NAME

    def __init__(self, embedder: LocalEmbedder) -> None:
        self._embedder = embedder

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        score_threshold: float | None = None,
    ) -> list[RerankResult]:
        """Documents best first, at most ``top_n``, none scoring under ``score_threshold``."""
        if not documents:
            return []
        vectors = self._embedder.embed([query, *documents]).vectors
        scores = vectors[1:] @ vectors[0]
        ranked = sorted(
            (RerankResult(i, float(s), documents[i]) for i, s in enumerate(scores)),
            key=lambda r: r.score,
            reverse=True,
        )
        if score_threshold is not None:
            ranked = [r for r in ranked if r.score >= score_threshold]
        return ranked[:top_n] if top_n is not None else ranked

    async def arerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None = None,
        score_threshold: float | None = None,
    ) -> list[RerankResult]:
        """:meth:`rerank` off the event loop."""
        return await asyncio.to_thread(self.rerank, query, documents, top_n, score_threshold)
