"""One spelling of the local model ids, looked up in any case."""

from __future__ import annotations

import pytest

from ore.core.local_models import (
    CHAT_MODEL_NAME,
    EMBEDDING_MODEL_NAME,
    MODEL_NAMES,
    RERANK_MODEL_NAME,
    LocalChatEngine,
    LocalEmbedder,
    LocalReranker,
    canonical_model_name,
)
from ore.core.model_runtime import build_registry
from ore.core.model_runtime.catalogue import ModelType


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("SmolLM2-135M-Instruct", CHAT_MODEL_NAME),
        ("smollm2-135m-instruct", CHAT_MODEL_NAME),
        (" SMOLLM2-135M-INSTRUCT ", CHAT_MODEL_NAME),
        ("all-minilm-l6-v2", EMBEDDING_MODEL_NAME),
        ("ALL-MINILM-L6-V2-RERANK", RERANK_MODEL_NAME),
        ("smollm2", None),
        ("gpt-4o", None),
    ],
)
def test_canonical_model_name(typed: str, expected: str | None) -> None:
    assert canonical_model_name(typed) == expected


def test_engines_and_the_local_provider_use_the_catalogue_spelling() -> None:
    assert MODEL_NAMES == ("SmolLM2-135M-Instruct", "all-MiniLM-L6-v2", "all-MiniLM-L6-v2-rerank")
    assert LocalChatEngine.model_name == CHAT_MODEL_NAME
    assert LocalEmbedder.model_name == EMBEDDING_MODEL_NAME
    assert LocalReranker.model_name == RERANK_MODEL_NAME
    local = build_registry().get("local")
    assert [m.model for m in local.descriptor.models] == list(MODEL_NAMES)


@pytest.mark.parametrize(
    ("name", "model_type"),
    [
        (CHAT_MODEL_NAME.lower(), "llm"),
        (EMBEDDING_MODEL_NAME.upper(), "text-embedding"),
        (RERANK_MODEL_NAME.lower(), "rerank"),
    ],
)
def test_local_provider_finds_its_models_in_any_case(name: str, model_type: ModelType) -> None:
    found = build_registry().get("local").model_descriptor(name, model_type)
    assert found is not None
    assert found.model == canonical_model_name(name)


def test_local_provider_still_refuses_other_names_and_types() -> None:
    local = build_registry().get("local")
    assert local.model_descriptor("smollm2", "llm") is None
    assert local.model_descriptor(CHAT_MODEL_NAME.lower(), "text-embedding") is None
