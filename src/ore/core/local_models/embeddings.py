"""Local sentence embeddings with all-MiniLM-L6-v2 (384 dimensions, 256 tokens at most).

Runtime chosen by measurement (bench/local_embeddings.py, LOCAL-MODELS.md): an int8-quantised
ONNX export run by ONNX Runtime with the HuggingFace ``tokenizers`` tokenizer, about twice the
speed of the exact fp32 model with the same retrieval results and no torch at run time. When the
export is missing the exact numpy forward pass (:mod:`.reference`) is used, slowly, with a
warning. Pooling is what sentence-transformers does for this model: mean over the real tokens,
then L2 normalisation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ore.core.local_models.names import EMBEDDING_MODEL_NAME
from ore.core.local_models.paths import minilm_dir, minilm_onnx_path

logger = logging.getLogger(__name__)

DIMENSIONS = 384
MAX_TOKENS = 256

Vectors = npt.NDArray[np.float32]
Encoder = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Unit-length vectors (one row per input, in input order) and the tokens they used."""

    vectors: Vectors
    prompt_tokens: int


def _onnx_encoder(path: Path) -> Encoder:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = os.cpu_count() or 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def encode(ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> Vectors:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = session.run(["last_hidden_state"], feeds)
        return np.asarray(hidden, dtype=np.float32)

    return encode


def _reference_encoder(model_dir: Path) -> Encoder:
    from ore.core.local_models.reference import ReferenceEncoder

    return ReferenceEncoder(model_dir / "model.safetensors")


class LocalEmbedder:
    """Embeds text batches with MiniLM; thread-safe, loads its model on first use.

    ``runtime`` is ``"onnx"`` (the int8 export), ``"reference"`` (exact numpy) or ``"auto"``
    (onnx when the export is installed, else reference).
    """

    model_name = EMBEDDING_MODEL_NAME
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(
        self, runtime: str = "auto", onnx_path: Path | None = None, batch_size: int = 16
    ) -> None:
        self._runtime = runtime
        self._onnx_path = onnx_path or minilm_onnx_path()
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._encoder: Encoder | None = None

    @property
    def runtime(self) -> str:
        """The runtime in use once loaded (``onnx`` or ``reference``)."""
        if self._runtime == "auto":
            return "onnx" if self._onnx_path.is_file() else "reference"
        return self._runtime

    def _load(self) -> tuple[Any, Encoder]:
        with self._lock:
            if self._encoder is None:
                from tokenizers import Tokenizer

                model_dir = minilm_dir()
                tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
                tokenizer.enable_truncation(MAX_TOKENS)
                tokenizer.no_padding()  # batches are padded here, to their own longest row
                if self.runtime == "onnx":
                    self._encoder = _onnx_encoder(self._onnx_path)
                else:
                    if self._runtime == "auto":
                        logger.warning(
                            "MiniLM ONNX export missing at %s: using the slow numpy reference "
                            "(run `make install` to create it)",
                            self._onnx_path,
                        )
                    self._encoder = _reference_encoder(model_dir)
                self._tokenizer = tokenizer
            return self._tokenizer, self._encoder

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text uses (after truncation to 256), with [CLS] and [SEP]."""
        tokenizer, _ = self._load()
        return [len(e.ids) for e in tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str]) -> EmbeddingResult:
        """Embed ``texts`` in batches of similar length; rows are L2-normalised, in input order."""
        tokenizer, encoder = self._load()
        encodings = tokenizer.encode_batch(list(texts))
        out = np.zeros((len(encodings), DIMENSIONS), dtype=np.float32)
        # Sorting by length keeps padding (wasted compute) small inside each batch.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            out[rows] = mean_pool_normalise(encoder(ids, mask), mask)
        tokens = sum(len(e.ids) for e in encodings)
        return EmbeddingResult(vectors=out, prompt_tokens=tokens)

    async def aembed(self, texts: Sequence[str]) -> EmbeddingResult:
        """:meth:`embed` off the event loop (ONNX Runtime releases the GIL while it runs)."""
        return await asyncio.to_thread(self.embed, texts)


def mean_pool_normalise(hidden: Vectors, mask: npt.NDArray[np.int64]) -> Vectors:
    """Mean of the hidden states of real (unmasked) tokens, scaled to unit length."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    unit: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
    return unit
