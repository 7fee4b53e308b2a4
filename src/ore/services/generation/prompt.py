"""The messages a basic app sends to its model.

Simple prompt mode, as Dify builds it: the app's ``pre_prompt`` with ``{{variable}}``
replaced by the inputs; for chat apps that is the system message, followed by the
conversation's earlier turns and the new query; for completion apps the rendered prompt
(and the legacy ``query``, when given) is one user message. Earlier turns are kept newest
first while they fit the model's context: context size, minus the answer's ``max_tokens``,
minus the prompt being sent (token counts are the runtime's offline estimate).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ore.core.model_runtime import ChatMessage
from ore.core.model_runtime.entities import ContentPart, ImagePart, TextPart
from ore.core.model_runtime.usage import estimate_messages

# Dify's prompt variables: a name, or one of its special slots.
_VARIABLE = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]{0,29}|#histories#|#query#|#context#)\}\}")
# When the model's catalogue entry names no context size.
DEFAULT_CONTEXT_SIZE = 4096


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier exchange of the conversation."""

    query: str
    answer: str


def render(template: str, inputs: Mapping[str, Any]) -> str:
    """``template`` with each ``{{name}}`` replaced by its input; unknown names stay as
    written, and the knowledge slot ``{{#context#}}`` is empty until knowledge is used."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "#context#":
            return ""
        if name in inputs:
            value = inputs[name]
            return "" if value is None else str(value)
        return match.group(0)

    return _VARIABLE.sub(replace, template)


def history_budget(context_size: int | None, max_tokens: int, prompt: list[ChatMessage]) -> int:
    """Tokens left for earlier turns once the prompt and the answer have their share."""
    size = context_size or DEFAULT_CONTEXT_SIZE
    return size - max_tokens - estimate_messages(prompt)


def fit_history(turns: Sequence[Turn], budget: int) -> list[ChatMessage]:
    """The newest turns that fit ``budget``, in conversation order."""
    kept: list[ChatMessage] = []
    for turn in reversed(turns):  # newest first
        pair = [
            ChatMessage(role="user", content=turn.query),
            ChatMessage(role="assistant", content=turn.answer),
        ]
        cost = estimate_messages(pair)
        if cost > budget:
            break
        budget -= cost
        kept = pair + kept
    return kept


def user_message(text: str, images: Sequence[ImagePart] = ()) -> ChatMessage:
    """The user's turn: plain text, or the text then the images for a vision model."""
    if not images:
        return ChatMessage(role="user", content=text)
    parts: list[ContentPart] = [TextPart(text=text)] if text else []
    return ChatMessage(role="user", content=[*parts, *images])


def chat_messages(
    pre_prompt: str,
    inputs: Mapping[str, Any],
    query: str,
    turns: Sequence[Turn],
    *,
    context_size: int | None,
    max_tokens: int,
    images: Sequence[ImagePart] = (),
) -> list[ChatMessage]:
    """System prompt, the earlier turns that fit, then the query (with its images)."""
    head: list[ChatMessage] = []
    system = render(pre_prompt, inputs).strip()
    if system:
        head.append(ChatMessage(role="system", content=system))
    current = user_message(query, images)
    budget = history_budget(context_size, max_tokens, [*head, current])
    return [*head, *fit_history(turns, budget), current]


def completion_messages(
    pre_prompt: str, inputs: Mapping[str, Any], query: str, images: Sequence[ImagePart] = ()
) -> list[ChatMessage]:
    """One user message: the rendered prompt, then the legacy ``query`` when given, then
    the images."""
    parts = [part for part in (render(pre_prompt, inputs).strip(), query.strip()) if part]
    return [user_message("\n".join(parts), images)]
