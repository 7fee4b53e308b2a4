"""An exact numpy forward pass of all-MiniLM-L6-v2 over the packaged safetensors weights.

It is the baseline the int8 ONNX embedder is checked and benchmarked against, and the fallback
when the ONNX export is missing. It is slow (a few embeddings per second for 256-token chunks)
but needs nothing beyond numpy: the safetensors file is read directly (an 8-byte header length,
a JSON header, then raw little-endian tensors).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

_DTYPES = {"F32": np.float32, "I64": np.int64}
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12


def load_safetensors(path: Path) -> dict[str, npt.NDArray[Any]]:
    """Read every tensor of a safetensors file into numpy arrays."""
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        data = np.frombuffer(raw, dtype=_DTYPES[info["dtype"]], count=-1, offset=base + start)
        size = (end - start) // data.itemsize
        tensors[name] = data[:size].reshape(info["shape"])
    return tensors


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + _EPS)) * weight + bias  # type: ignore[no-any-return]


def _erf(x: Array) -> Array:
    # Abramowitz-Stegun 7.1.26 (max error 1.5e-7): numpy has no erf, and BERT uses exact GELU.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))  # type: ignore[no-any-return]


class ReferenceEncoder:
    """BERT encoder in numpy: token ids and mask in, last hidden states out."""

    def __init__(self, weights_path: Path) -> None:
        self._w = load_safetensors(weights_path)

    def _linear(self, x: Array, name: str) -> Array:
        return x @ self._w[f"{name}.weight"].T + self._w[f"{name}.bias"]  # type: ignore[no-any-return]

    def _attention(self, x: Array, mask_bias: Array, prefix: str) -> Array:
        batch, tokens, hidden = x.shape
        size = hidden // _HEADS

        def heads(t: Array) -> Array:
            return t.reshape(batch, tokens, _HEADS, size).transpose(0, 2, 1, 3)

        q = heads(self._linear(x, f"{prefix}.self.query"))
        k = heads(self._linear(x, f"{prefix}.self.key"))
        v = heads(self._linear(x, f"{prefix}.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size) + mask_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
        out = self._linear(context, f"{prefix}.output.dense") + x
        w = self._w
        return _layer_norm(
            out, w[f"{prefix}.output.LayerNorm.weight"], w[f"{prefix}.output.LayerNorm.bias"]
        )

    def __call__(
        self, input_ids: npt.NDArray[np.int64], attention_mask: npt.NDArray[np.int64]
    ) -> Array:
        w = self._w
        tokens = input_ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][input_ids]
            + w["embeddings.position_embeddings.weight"][:tokens][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        mask_bias = ((1.0 - attention_mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}"
            x = self._attention(x, mask_bias, f"{p}.attention")
            h = self._linear(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / np.float32(np.sqrt(2.0))))
            out = self._linear(h, f"{p}.output.dense") + x
            x = _layer_norm(out, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
        return x.astype(np.float32)
