"""Dify's generation events (spec dify-service-api.md §5 and §6), built in one place.

A producer yields small internal events (:data:`GenerationEvent`); :func:`wire` turns each
into the dict a client sees. Streaming frames those dicts as SSE; blocking mode collects
the same dicts and :func:`assemble` folds them into one response, so the two can never
disagree (STYLE.md habit 8).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ore.core.errors import OreError
from ore.core.model_runtime import Usage

INTERNAL_ERROR_MESSAGE = "Internal Server Error, please contact support."


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    """A piece of the answer, as the model produced it."""

    text: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The model's closing usage (tokens, prices, latency)."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class ThoughtReport:
    """One turn of an agent (Dify's ``agent_thought``): what the model wrote, the tools it
    called (names joined by ``;``), their arguments and results as JSON objects keyed by
    tool name. Sent as an event and stored with the message."""

    id: str
    position: int
    thought: str
    tool: str
    tool_labels: dict[str, Any]
    tool_input: str
    observation: str
    created_at: int

    def stored(self) -> dict[str, Any]:
        """The form kept in the message's metadata (``agent_thoughts``)."""
        return {
            "id": self.id,
            "position": self.position,
            "thought": self.thought,
            "tool": self.tool,
            "tool_labels": self.tool_labels,
            "tool_input": self.tool_input,
            "observation": self.observation,
            "files": [],
            "created_at": self.created_at,
        }


# What producers yield. An agent producer adds its own kinds (thoughts, files) here.
GenerationEvent = AnswerDelta | UsageReport | ThoughtReport


@dataclass(frozen=True, slots=True)
class Envelope:
    """The fields every data event of one generation carries (spec §6)."""

    mode: str
    task_id: str
    message_id: str
    conversation_id: str | None  # None for completion apps: their events carry none
    created_at: int

    @property
    def answer_event(self) -> str:
        return "agent_message" if self.mode == "agent-chat" else "message"

    def head(self, event: str) -> dict[str, Any]:
        head: dict[str, Any] = {"event": event}
        if self.conversation_id is not None:
            head["conversation_id"] = self.conversation_id
        head["message_id"] = self.message_id
        head["created_at"] = self.created_at
        return head


def wire(envelope: Envelope, event: GenerationEvent) -> dict[str, Any] | None:
    """The client's view of ``event``; None for events that only the run records."""
    if isinstance(event, AnswerDelta):
        return {
            **envelope.head(envelope.answer_event),
            "task_id": envelope.task_id,
            "id": envelope.message_id,
            "answer": event.text,
        }
    if isinstance(event, ThoughtReport):
        return {
            **envelope.head("agent_thought"),
            "task_id": envelope.task_id,
            "id": event.id,
            "position": event.position,
            "thought": event.thought,
            "observation": event.observation,
            "tool": event.tool,
            "tool_labels": event.tool_labels,
            "tool_input": event.tool_input,
            "message_files": [],
        }
    return None


def usage_dict(
    usage: Usage, *, time_to_first_token: float | None, latency: float
) -> dict[str, Any]:
    """Dify's Usage object: decimal fields as strings, latency in seconds."""
    body = usage.model_dump(exclude={"estimated"})
    body["latency"] = round(latency, 3)
    body["time_to_first_token"] = (
        None if time_to_first_token is None else round(time_to_first_token, 3)
    )
    body["time_to_generate"] = (
        None if time_to_first_token is None else round(latency - time_to_first_token, 3)
    )
    return body


def message_end(envelope: Envelope, metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        **envelope.head("message_end"),
        "task_id": envelope.task_id,
        "id": envelope.message_id,
        "metadata": metadata,
    }


def error_fields(error: BaseException) -> tuple[int, str, str]:
    """(status, code, message) of a failure, as Dify maps exceptions inside a stream."""
    if isinstance(error, OreError):
        return error.status, error.code, error.message
    if isinstance(error, ValueError):
        return 400, "invalid_param", str(error)
    return 500, "internal_server_error", INTERNAL_ERROR_MESSAGE


def error_event(envelope: Envelope, error: BaseException) -> dict[str, Any]:
    """The terminal ``error`` event; like Dify's code, it carries no ``task_id``."""
    status, code, message = error_fields(error)
    return {**envelope.head("error"), "status": status, "code": code, "message": message}


def assemble(envelope: Envelope, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The blocking response (spec §5.1, §5.2) folded from the streamed events."""
    answer: list[str] = []
    metadata: dict[str, Any] = {}
    for event in events:
        kind = event["event"]
        if kind in ("message", "agent_message"):
            answer.append(event["answer"])
        elif kind == "message_replace":
            answer = [event["answer"]]
        elif kind == "message_end":
            metadata = event["metadata"]
    body: dict[str, Any] = {
        "event": "message",
        "task_id": envelope.task_id,
        "id": envelope.message_id,
        "message_id": envelope.message_id,
    }
    if envelope.conversation_id is not None:
        body["conversation_id"] = envelope.conversation_id
    body.update(
        mode=envelope.mode,
        answer="".join(answer),
        metadata=metadata,
        created_at=envelope.created_at,
    )
    return body
