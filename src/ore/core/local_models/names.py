"""The ids of the local models: one spelling everywhere, matched without regard to case.

The catalogue's spelling (``SmolLM2-135M-Instruct``) is the one ore shows: in the
``local`` provider, in ``ore models serve-local``'s ``GET /v1/models`` and so in the
``local/<name>`` ids of the gateway. People type these names by hand, and the old
lowercase spelling (``smollm2-135m-instruct``) was served before, so lookups accept any
case and answer with the catalogue's spelling.
"""

from __future__ import annotations

CHAT_MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
RERANK_MODEL_NAME = "all-MiniLM-L6-v2-rerank"
MODEL_NAMES = (CHAT_MODEL_NAME, EMBEDDING_MODEL_NAME, RERANK_MODEL_NAME)

_BY_FOLDED = {name.casefold(): name for name in MODEL_NAMES}


def canonical_model_name(name: str) -> str | None:
    """The catalogue spelling of a local model id in any case; None for other names."""
    return _BY_FOLDED.get(name.strip().casefold())
