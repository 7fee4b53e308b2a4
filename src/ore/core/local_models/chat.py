"""The local chat model (SmolLM2-135M-Instruct on llama.cpp) behind one worker thread.

A ``llama_cpp.Llama`` is not thread-safe and a second request must not interrupt the first, so
each process has one model, loaded on first use, driven by one worker thread that takes requests
from a FIFO queue: concurrent callers wait their turn instead of slowing each other down. Tokens
stream back to the asyncio caller through a per-request ``asyncio.Queue``; a caller that stops
listening (a client that went away) cancels its request between two tokens.

The prompt is formatted here in ChatML, the template SmolLM2 was trained with (including its
default system prompt), so prompt tokens are counted with llama.cpp's own tokenizer on exactly
the text the model sees. When the caller asks for JSON (``response_format``) or forces a tool
call (``tool_choice`` "required" or a named function) the output is constrained with a llama.cpp
grammar built from the JSON schema, so it always parses (unless ``max_tokens`` cuts it short:
``finish_reason`` is then ``"length"``).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ore.core.local_models.names import CHAT_MODEL_NAME
from ore.core.local_models.paths import chat_model_path

N_CTX = 2048
_END = "<|im_end|>"
_DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


class LocalChatError(ValueError):
    """A request the local model cannot serve (prompt too long, bad schema)."""


@dataclass(slots=True)
class ChatRequest:
    """An OpenAI-style chat request; messages are OpenAI message dicts."""

    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 0.95
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts from llama.cpp's tokenizer."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call in OpenAI's shape; ``arguments`` is a JSON string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """A piece of generated text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class ChatFinish:
    """The last event of every stream: why it stopped, the full text, tool calls, usage."""

    finish_reason: str
    text: str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)


ChatEvent = ChatDelta | ChatFinish


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _forced_tools(request: ChatRequest) -> list[dict[str, Any]]:
    """The tools the output must call, or [] when the model answers freely."""
    tools = [t["function"] for t in request.tools or [] if t.get("type") == "function"]
    choice = request.tool_choice
    if not tools or choice in (None, "auto", "none"):
        return []
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        named = [t for t in tools if t.get("name") == name]
        if not named:
            raise LocalChatError(f"tool_choice names an unknown function: {name!r}")
        return named
    return tools


def format_chatml(request: ChatRequest, forced: list[dict[str, Any]]) -> str:
    """The ChatML prompt for ``request``, with a tool list in the system turn when forced."""
    messages = list(request.messages)
    if not messages or messages[0].get("role") not in ("system", "developer"):
        messages.insert(0, {"role": "system", "content": _DEFAULT_SYSTEM})
    parts = []
    for i, message in enumerate(messages):
        role = message.get("role", "user")
        role = "system" if role == "developer" else role
        text = _content_text(message.get("content"))
        if role == "assistant" and message.get("tool_calls"):
            text += json.dumps([c.get("function") for c in message["tool_calls"]])
        if role == "tool":
            role, text = "user", f"Tool result: {text}"
        if i == 0 and forced:
            listing = json.dumps([{k: t.get(k) for k in ("name", "description")} for t in forced])
            text += f"\nCall one of these functions, answering with JSON: {listing}"
        parts.append(f"<|im_start|>{role}\n{text}{_END}\n")
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def output_schema(request: ChatRequest, forced: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON schema the output must follow, or None for free text."""
    if forced:
        calls = [
            {
                "type": "object",
                "properties": {
                    "name": {"const": t["name"]},
                    "arguments": t.get("parameters") or {"type": "object"},
                },
                "required": ["name", "arguments"],
            }
            for t in forced
        ]
        return calls[0] if len(calls) == 1 else {"anyOf": calls}
    fmt = request.response_format or {}
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema", {}).get("schema")
        if not isinstance(schema, dict):
            raise LocalChatError("response_format.json_schema.schema must be an object")
        return schema
    if fmt.get("type") == "json_object":
        return {"type": "object"}
    return None


@dataclass(eq=False)
class _Job:
    request: ChatRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[ChatEvent | BaseException]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def emit(self, event: ChatEvent | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, event)


class LocalChatEngine:
    """Serves chat requests on the local model, one at a time, in arrival order."""

    model_name = CHAT_MODEL_NAME
    context_size = N_CTX

    def __init__(self, model_path: Path | None = None, n_threads: int | None = None) -> None:
        self._model_path = model_path
        self._n_threads = n_threads or os.cpu_count() or 1
        self._llama: Any = None
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self._start_lock = threading.Lock()
        self._worker: threading.Thread | None = None

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Queue ``request`` and yield its text deltas, then one :class:`ChatFinish`."""
        job = _Job(request, asyncio.get_running_loop(), asyncio.Queue())
        self._ensure_worker()
        self._jobs.put(job)
        try:
            while True:
                event = await job.events.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, ChatFinish):
                    return
        finally:
            job.cancelled.set()  # no-op when finished; stops generation if the caller left

    async def complete(self, request: ChatRequest) -> ChatFinish:
        """The whole answer, assembled from the same stream."""
        async for event in self.stream(request):
            if isinstance(event, ChatFinish):
                return event
        raise RuntimeError("chat stream ended without a finish event")  # pragma: no cover

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="ore-local-chat", daemon=True
                )
                self._worker.start()

    def _model(self) -> Any:
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self._model_path or chat_model_path()),
                n_ctx=N_CTX,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                verbose=False,
            )
        return self._llama

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job.cancelled.is_set():
                continue
            try:
                self._generate(job)
            except Exception as error:  # the caller gets it; the worker lives on
                job.emit(error)

    def _generate(self, job: _Job) -> None:
        from llama_cpp.llama_grammar import LlamaGrammar

        llama = self._model()
        request = job.request
        forced = _forced_tools(request)
        schema = output_schema(request, forced)
        prompt = format_chatml(request, forced)
        prompt_tokens = len(llama.tokenize(prompt.encode(), add_bos=True, special=True))
        room = N_CTX - prompt_tokens
        if room <= 0:
            raise LocalChatError(
                f"the prompt uses {prompt_tokens} tokens; the local model's context is {N_CTX}"
            )
        grammar = None
        if schema is not None:
            grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        max_tokens = min(request.max_tokens or room, room)
        # Evaluate every prompt from the start: reusing the previous prompt's cache changes
        # how the prompt is batched, which can change a greedy answer. Determinism is worth
        # more here than the few milliseconds a 135M model spends on a short prompt.
        llama.reset()
        pieces: list[str] = []
        finish = "stop"
        for chunk in llama.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stop=[_END, *request.stop],
            seed=request.seed,
            grammar=grammar,
            stream=True,
        ):
            if job.cancelled.is_set():
                return
            choice = chunk["choices"][0]
            if choice["text"]:
                pieces.append(choice["text"])
                if not forced:  # a forced tool call is returned whole, as tool_calls
                    job.emit(ChatDelta(choice["text"]))
            finish = choice.get("finish_reason") or finish
        text = "".join(pieces)
        completion_tokens = len(llama.tokenize(text.encode(), add_bos=False, special=False))
        usage = Usage(prompt_tokens, completion_tokens)
        job.emit(_finish(text, finish, usage, forced))


def _finish(text: str, finish: str, usage: Usage, forced: list[dict[str, Any]]) -> ChatFinish:
    if not forced or finish == "length":
        return ChatFinish(finish_reason=finish, text=text, usage=usage)
    call = json.loads(text)
    tool_call = ToolCall(
        id=f"call_{uuid.uuid4().hex[:24]}",
        name=call["name"],
        arguments=json.dumps(call["arguments"]),
    )
    return ChatFinish(finish_reason="tool_calls", text="", usage=usage, tool_calls=[tool_call])
