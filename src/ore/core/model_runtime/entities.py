"""Plain typed data of the model runtime: messages, requests, the stream chunk, results.

Every adapter yields :class:`ChatChunk` objects; :func:`assemble` folds a stream into a
:class:`ChatResult`, so a blocking call and a stream can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "error"]


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    """An image by URL or ``data:`` URL; ``detail`` is OpenAI's low|high|auto hint."""

    type: Literal["image_url"] = "image_url"
    url: str
    detail: Literal["low", "high", "auto"] = "auto"


ContentPart = TextPart | ImagePart


class ToolCall(BaseModel):
    """One call the model asked for; ``arguments`` is the raw JSON text."""

    id: str
    name: str
    arguments: str = ""


class ChatMessage(BaseModel):
    role: Role
    content: str | list[ContentPart] = ""
    name: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None

    def text(self) -> str:
        """The text parts joined, images left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


class ToolDefinition(BaseModel):
    """A function tool; ``parameters`` is its JSON schema."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})


class NamedToolChoice(BaseModel):
    name: str


ToolChoice = Literal["auto", "none", "required"] | NamedToolChoice


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None
    schema_name: str = "response"


class ChatRequest(BaseModel):
    """One chat call: ``parameters`` are checked against the model's rules before sending."""

    model: str
    messages: list[ChatMessage]
    parameters: dict[str, Any] = Field(default_factory=dict)
    tools: list[ToolDefinition] = Field(default_factory=list)
    tool_choice: ToolChoice | None = None
    response_format: ResponseFormat | None = None
    stream: bool = True
    user: str | None = None


class Usage(BaseModel):
    """Dify's usage shape; prices are decimal strings, ``estimated`` when counted locally."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_unit_price: str = "0"
    prompt_price_unit: str = "0.000001"
    prompt_price: str = "0"
    completion_unit_price: str = "0"
    completion_price_unit: str = "0.000001"
    completion_price: str = "0"
    total_price: str = "0"
    currency: str = "USD"
    latency: float = 0.0
    estimated: bool = False


class ToolCallDelta(BaseModel):
    """A piece of a tool call: ``index`` groups pieces; id and name come in the first."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


class ChatChunk(BaseModel):
    """The one streaming unit of every adapter."""

    content: str = ""
    tool_calls: list[ToolCallDelta] = Field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


class ChatResult(BaseModel):
    model: str
    message: ChatMessage
    finish_reason: FinishReason | None = None
    usage: Usage = Field(default_factory=Usage)


def merge_tool_calls(calls: dict[int, ToolCall], deltas: Iterable[ToolCallDelta]) -> None:
    """Fold streamed tool-call deltas into ``calls`` (by index): ids and names are kept
    once seen, argument fragments are appended."""
    for delta in deltas:
        call = calls.setdefault(delta.index, ToolCall(id="", name=""))
        call.id = delta.id or call.id
        call.name = delta.name or call.name
        call.arguments += delta.arguments


def assemble(model: str, chunks: Iterable[ChatChunk]) -> ChatResult:
    """Fold a stream of chunks into one result: the only place a result is built."""
    content: list[str] = []
    calls: dict[int, ToolCall] = {}
    finish: FinishReason | None = None
    usage: Usage | None = None
    for chunk in chunks:
        content.append(chunk.content)
        merge_tool_calls(calls, chunk.tool_calls)
        finish = chunk.finish_reason or finish
        usage = chunk.usage or usage
    message = ChatMessage(
        role="assistant",
        content="".join(content),
        tool_calls=[calls[i] for i in sorted(calls)],
    )
    return ChatResult(model=model, message=message, finish_reason=finish, usage=usage or Usage())


class EmbeddingRequest(BaseModel):
    model: str
    texts: list[str]
    dimensions: int | None = None


class EmbeddingResult(BaseModel):
    model: str
    embeddings: list[list[float]]
    usage: Usage = Field(default_factory=Usage)


class RerankRequest(BaseModel):
    model: str
    query: str
    documents: list[str]
    top_n: int | None = None
    score_threshold: float | None = None


class RerankDocument(BaseModel):
    index: int
    text: str
    score: float


class RerankResult(BaseModel):
    model: str
    documents: list[RerankDocument]
