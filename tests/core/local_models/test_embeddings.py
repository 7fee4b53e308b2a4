"""The local embedder (int8 ONNX MiniLM) against the exact numpy model over the same weights."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from ore.core.local_models import LocalEmbedder, LocalReranker
from ore.core.local_models.paths import minilm_onnx_path

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "How do I reset my password?",
    "Steps to change the password of my account",
    "Quarterly revenue grew by twelve percent.",
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[LocalEmbedder]:
    if not minilm_onnx_path().is_file():
        pytest.fail(f"{minilm_onnx_path()} is missing: `make install` exports it")
    yield LocalEmbedder("onnx")


@pytest.fixture(scope="module")
def reference() -> Iterator[LocalEmbedder]:
    yield LocalEmbedder("reference")


def test_vectors_have_384_unit_dimensions(embedder: LocalEmbedder) -> None:
    result = embedder.embed(SENTENCES)
    assert result.vectors.shape == (len(SENTENCES), 384)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-4)
    assert result.prompt_tokens == sum(embedder.count_tokens(SENTENCES))


def test_similar_sentences_are_closer(embedder: LocalEmbedder) -> None:
    v = embedder.embed(SENTENCES).vectors
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
    assert v[3] @ v[4] > v[3] @ v[5] + 0.3


def test_batching_keeps_input_order(embedder: LocalEmbedder) -> None:
    together = embedder.embed(SENTENCES).vectors
    alone = np.stack([embedder.embed([s]).vectors[0] for s in SENTENCES])
    # Dynamic int8 scales activations per batch, so rows move slightly with their batch
    # mates; each row must still be its own nearest neighbour, far above any other.
    assert np.all(np.sum(together * alone, axis=1) > 0.98)
    assert list((together @ alone.T).argmax(axis=1)) == list(range(len(SENTENCES)))


def test_long_input_is_truncated_to_256_tokens(embedder: LocalEmbedder) -> None:
    assert embedder.count_tokens(["word " * 1000]) == [256]
    assert embedder.embed(["word " * 1000]).vectors.shape == (1, 384)


def test_int8_matches_the_exact_model(embedder: LocalEmbedder, reference: LocalEmbedder) -> None:
    texts = [*SENTENCES, "lorem ipsum dolor sit amet " * 60]
    fast = embedder.embed(texts).vectors
    exact = reference.embed(texts).vectors
    assert reference.runtime == "reference"
    assert np.all(np.sum(fast * exact, axis=1) > 0.97)
    # Retrieval-equivalent: every sentence's nearest other sentence is the same.
    fast_sims, exact_sims = fast @ fast.T, exact @ exact.T
    np.fill_diagonal(fast_sims, -1)
    np.fill_diagonal(exact_sims, -1)
    assert list(fast_sims.argmax(1)) == list(exact_sims.argmax(1))


def test_reranker_puts_the_relevant_document_first(embedder: LocalEmbedder) -> None:
    reranker = LocalReranker(embedder)
    docs = ["The stock market fell.", "Reset your password in Settings > Security.", "Cats purr."]
    ranked = reranker.rerank("how to change my password", docs, top_n=2)
    assert ranked[0].index == 1
    assert len(ranked) == 2
    assert ranked[0].score > ranked[1].score
    assert reranker.rerank("x", docs, score_threshold=1.01) == []
    assert reranker.rerank("x", []) == []


async def test_async_embedding(embedder: LocalEmbedder) -> None:
    result = await embedder.aembed(["hello world"])
    assert result.vectors.shape == (1, 384)
