"""One generation of a basic app (chat, agent-chat, completion), driven as staged units.

:func:`start_generation` takes an active slot (429 when the app is at its limit), does
the network work the start unit needs ahead of it (remote files are probed, the query is
embedded for annotation reply: on SQLite the unit holds the process's write lock), then
commits the start unit: end user, conversation (new or the caller's own), checked inputs,
the bound model and the prompt with its memory, and the ``Message`` row; all before the
first byte, so every failure up to here is a plain HTTP error. The model then streams in
a producer task (:class:`~ore.extensions.staged.StagedRun`) that keeps running when the
client leaves: the finish unit stores the answer, usage and status (``normal``, ``error``
with its message, or ``stopped`` with the partial answer) and gives the slot back.

The producer is chosen by app mode from :data:`PRODUCERS`: a function of a
:class:`ModelCall` yielding :data:`~ore.services.generation.events.GenerationEvent`. The
agent-chat producer runs the tool-calling loop of :mod:`ore.services.generation.agent`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ore.core.errors import OreError
from ore.core.http import OutboundHttpClient
from ore.core.kv import KV
from ore.core.model_runtime import ChatRequest, Usage
from ore.core.model_runtime.entities import ImagePart
from ore.core.model_runtime.usage import estimate_messages, estimate_tokens, price_usage
from ore.extensions.database import Database
from ore.extensions.model_runtime import ModelRuntime
from ore.extensions.staged import FINISHING, StagedRun
from ore.extensions.tasks import enqueue, get_task
from ore.models import (
    Account,
    App,
    AppMode,
    AppModelConfig,
    Conversation,
    EndUser,
    Message,
    MessageStatus,
)
from ore.models.base import utcnow
from ore.services import apps
from ore.services.annotations import (
    QueryVector,
    ReplySettings,
    embed_query,
    match_annotation,
    reply_model,
)
from ore.services.conversations import ConversationNotExists
from ore.services.end_users import end_user_for, find_end_user
from ore.services.generation import agent, control, events, prompt
from ore.services.generation.events import (
    AnswerDelta,
    Envelope,
    GenerationEvent,
    ThoughtReport,
    UsageReport,
)
from ore.services.generation.files import (
    FileAccess,
    ResolvedFile,
    image_parts,
    input_remote_urls,
    message_file_rows,
    probe_ahead,
    remote_urls,
    resolve_files,
    resolve_input_files,
    upload_rules,
)
from ore.services.generation.inputs import clean_inputs
from ore.services.generation.requests import AppUnavailable, GenerationArgs
from ore.services.model_providers import BoundModel, bind_recent, provider_id, recent_binding

logger = logging.getLogger(__name__)

NAME_TASK = "conversation.generate_name"
NEW_CONVERSATION_NAME = "New conversation"
FROM_SOURCE = "api"
INVOKE_FROM = "service-api"
# Earlier turns read for memory; the token budget usually keeps fewer.
HISTORY_LIMIT = 100

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Engine:
    """The pieces of the process a generation uses."""

    db: Database
    kv: KV
    models: ModelRuntime
    secret_key: str
    default_max_active: int
    files: FileAccess  # where uploads are read, and the client that probes remote files
    user_http: OutboundHttpClient  # SSRF-guarded: for URLs a user or a model supplies


@dataclass(frozen=True, slots=True)
class ModelCall:
    """What a producer gets: the model, the request, the app's config (``features``, Dify's
    flat model_config), the client for user-supplied URLs, and the stop signal to obey."""

    bound: BoundModel
    request: ChatRequest
    features: Mapping[str, Any]
    user_http: OutboundHttpClient
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


Producer = Callable[[ModelCall], AsyncIterator[GenerationEvent]]


async def until_stopped(stream: AsyncIterator[T], stopped: asyncio.Event) -> AsyncIterator[T]:
    """The items of ``stream`` until it ends or ``stopped`` is set, even mid-wait.

    Items are read in the caller's task (no task per item: this runs for every chunk of
    every answer). One watcher per stream interrupts a read that is waiting when the stop
    comes; between reads the flag is checked. A read cut short this way has been
    cancelled and has finished, so the caller can close ``stream`` right after."""
    if stopped.is_set():
        return
    task = asyncio.current_task()
    assert task is not None
    reading = interrupted = False

    def interrupt(_: object) -> None:
        nonlocal interrupted
        if reading and stopped.is_set():
            interrupted = True
            task.cancel()

    watcher = asyncio.ensure_future(stopped.wait())
    watcher.add_done_callback(interrupt)
    try:
        while not stopped.is_set():
            reading = True
            try:
                item = await anext(stream)
            except StopAsyncIteration:
                return
            except BaseException:
                # After our own interruption, whatever the read ended with means "stopped",
                # unless the task was also cancelled from outside.
                if interrupted and task.uncancel() == 0:
                    return
                raise
            finally:
                reading = False
            yield item
    finally:
        watcher.remove_done_callback(interrupt)
        watcher.cancel()


async def stream_answer(call: ModelCall) -> AsyncIterator[GenerationEvent]:
    """The model's answer as it streams, then its usage (chat and completion apps)."""
    stream = call.bound.stream_chat(call.request)
    async with aclosing(stream):
        async for chunk in until_stopped(stream, call.stopped):
            if chunk.content:
                yield AnswerDelta(chunk.content)
            if chunk.usage is not None:
                yield UsageReport(chunk.usage)


async def stream_agent(call: ModelCall) -> AsyncIterator[GenerationEvent]:
    """The agent loop's answer, thoughts and usage (agent-chat apps) until it ends or stops."""
    stream = agent.agent_events(call)
    async with aclosing(stream):
        async for event in until_stopped(stream, call.stopped):
            yield event


PRODUCERS: dict[str, Producer] = {
    AppMode.CHAT: stream_answer,
    AppMode.COMPLETION: stream_answer,
    AppMode.AGENT_CHAT: stream_agent,
}


def _app_model(settings: Mapping[str, Any]) -> tuple[str, str] | None:
    """(provider, model) that a config names, or None when it names none."""
    model = settings.get("model") or {}
    if not model.get("provider") or not model.get("name"):
        return None
    return provider_id(model["provider"]), model["name"]


def _decimal(value: str) -> Decimal:
    return Decimal(value or "0")


class Generation:
    """The staged work of one generation (ore.extensions.staged.StagedWork)."""

    def __init__(self, engine: Engine, app: App, args: GenerationArgs, producer: Producer) -> None:
        self.engine = engine
        self.app = app
        self.args = args
        self.producer = producer
        self.task_id = str(uuid.uuid4())
        self.message_id = uuid.uuid4()
        self.created_at = utcnow()
        self.slot: str | None = None
        self.conversation_id: uuid.UUID | None = None
        self.metadata: dict[str, Any] = {}
        self._call: ModelCall | None = None
        self._reply: str | None = None
        self._annotation: dict[str, Any] | None = None
        self._files: list[ResolvedFile] = []
        self._access = engine.files
        self._config_ahead_row: AppModelConfig | None = None
        self._bound_ahead: tuple[tuple[str, str], BoundModel] | None = None
        self._query_vector: QueryVector | None = None
        self._image_detail: Literal["low", "high", "auto"] = "high"
        self._new_conversation = False
        self._citations = False
        self._answer: list[str] = []
        self._usage: Usage | None = None
        self._thoughts: list[dict[str, Any]] = []
        self._started = 0.0
        self._first_token: float | None = None
        self._ended = 0.0
        self._stopped = False

    @property
    def envelope(self) -> Envelope:
        chat = self.app.mode != AppMode.COMPLETION
        return Envelope(
            mode=self.app.mode,
            task_id=self.task_id,
            message_id=str(self.message_id),
            conversation_id=str(self.conversation_id) if chat else None,
            created_at=int(self.created_at.timestamp()),
        )

    # --- ahead of the start unit ---------------------------------------------------------

    async def prepare(self) -> None:
        """Read the config and bind its model, probe the remote files and embed the query
        for annotation reply as it asks, before the start unit. The unit then uses the
        results (and reads less while it holds the write lock); should the config it uses
        be another, or a step here fail, it does that work itself (and raises the error
        where it belongs)."""
        reply = None
        settings = self._ahead_from_memory()
        if settings is None:
            async with self.engine.db.read_only() as session:
                config = await self._config_ahead(session)
                if config is None:
                    return
                apps.RECENT_CONFIGS.put(config.id, config)
                self._config_ahead_row = config
                settings = apps.config_dict(config)
                await self._bind_ahead(session, settings)
                if self._may_reply(config, settings):
                    reply = await self._reply_model(session)
        urls = remote_urls(upload_rules(settings.get("file_upload")), self.args.files or [])
        if self.args.conversation_id is None and isinstance(self.args.inputs, dict):
            urls += input_remote_urls(settings.get("user_input_form"), self.args.inputs)
        self._access = await probe_ahead(self.engine.files, urls)
        if reply is not None and self.args.query.strip():
            try:
                self._query_vector = await embed_query(*reply, self.args.query)
            except OreError as error:
                logger.warning("annotation reply skipped for app %s: %s", self.app.id, error)

    def _ahead_from_memory(self) -> dict[str, Any] | None:
        """The settings, with no unit at all, when recent generations left all that
        :meth:`prepare` reads: a new conversation on the app's current config read in the
        last second, whose model is bound and whose annotation reply is off."""
        config_id = self.app.app_model_config_id
        if self.args.conversation_id is not None or config_id is None:
            return None
        config = apps.RECENT_CONFIGS.get(config_id)
        if config is None or config.app_id != self.app.id:
            return None
        settings = apps.config_dict(config)
        model = _app_model(settings)
        if model is None or self._may_reply(config, settings):
            return None
        bound = recent_binding(self.engine.models, self.app.tenant_id, *model)
        if bound is None:
            return None
        self._config_ahead_row = config
        self._bound_ahead = (model, bound)
        return settings

    async def _config_ahead(self, session: AsyncSession) -> AppModelConfig | None:
        """The config the start unit will use, if it can be told without writing."""
        config_id = self.app.app_model_config_id
        if self.args.conversation_id is not None:
            end_user = await find_end_user(session, self.app, self.args.user)
            if end_user is None:
                return None
            conversation = await session.scalar(
                select(Conversation).where(*self._own_conversation(end_user))
            )
            if conversation is None:
                return None
            config_id = conversation.app_model_config_id or config_id
        if config_id is None:
            return None
        return await self._config_row(session, config_id)

    async def _config_row(
        self, session: AsyncSession, config_id: uuid.UUID
    ) -> AppModelConfig | None:
        found: AppModelConfig | None = await session.scalar(
            select(AppModelConfig).where(
                AppModelConfig.id == config_id, AppModelConfig.app_id == self.app.id
            )
        )
        return found

    def _may_reply(self, config: AppModelConfig, settings: Mapping[str, Any]) -> bool:
        """Whether annotation reply can answer: the switch lives in the app's current config,
        so a conversation on an older version always looks (and finds it off, or not)."""
        current = config.id == self.app.app_model_config_id
        return not current or bool((settings.get("annotation_reply") or {}).get("enabled"))

    async def _bind_ahead(self, session: AsyncSession, settings: dict[str, Any]) -> None:
        model = _app_model(settings)
        if model is None:
            return
        with suppress(OreError):
            engine = self.engine
            bound = await bind_recent(
                session, engine.models, engine.secret_key, self.app.tenant_id, *model
            )
            self._bound_ahead = (model, bound)

    async def _reply_model(self, session: AsyncSession) -> tuple[ReplySettings, BoundModel] | None:
        try:
            return await reply_model(session, self.engine.models, self.engine.secret_key, self.app)
        except OreError as error:
            logger.warning("annotation reply skipped for app %s: %s", self.app.id, error)
            return None

    # --- start unit ---------------------------------------------------------------------

    async def start(self, session: AsyncSession) -> None:
        end_user = await end_user_for(session, self.app, self.args.user)
        conversation = await self._conversation(session, end_user)
        config = await self._config(session, conversation)
        settings = apps.config_dict(config)
        if self._new_conversation:
            form = settings["user_input_form"]
            conversation.inputs = await resolve_input_files(
                session,
                self.app,
                end_user,
                self._access,
                form,
                clean_inputs(form, self.args.inputs),
            )
            conversation.app_model_config_id = config.id
            conversation.introduction = settings.get("opening_statement") or ""
        model = _app_model(settings)
        if model is None:
            raise AppUnavailable()
        provider, name = model
        self._citations = bool((settings.get("retriever_resource") or {}).get("enabled"))
        await self._resolve_files(session, end_user, settings)
        if not await self._annotation_reply(session, config, settings):
            await self._bind(session, conversation, settings, end_user, (provider, name))
        if self._new_conversation:
            conversation.model_provider, conversation.model_id = provider, name
            session.add(conversation)
        else:
            conversation.updated_at = utcnow()
        await session.flush()
        self.conversation_id = conversation.id
        session.add(self._message_row(conversation, config, end_user, provider, name))
        await session.flush()
        if self._files:
            session.add_all(message_file_rows(self.app, self.message_id, end_user, self._files))
            await session.flush()

    async def _resolve_files(
        self, session: AsyncSession, end_user: EndUser, settings: dict[str, Any]
    ) -> None:
        """matches Dify: files count only when the config turns file upload on."""
        rules = upload_rules(settings.get("file_upload"))
        if rules is None or not self.args.files:
            return
        self._image_detail = rules.detail
        self._files = await resolve_files(
            session, self.app, end_user, self._access, rules, self.args.files
        )

    async def _annotation_reply(
        self, session: AsyncSession, config: AppModelConfig, settings: dict[str, Any]
    ) -> bool:
        """Whether a curated annotation answers the query (then no model is called).

        When :meth:`_may_reply` says no, nothing is queried. A matching failure (say, the
        embedding model lost its credentials) only means no annotation answers: the model
        still does."""
        if not self._may_reply(config, settings):
            return False
        try:
            match = await match_annotation(
                session,
                self.engine.models,
                self.engine.secret_key,
                self.app,
                self.args.query,
                ahead=self._query_vector,
            )
        except OreError as error:
            logger.warning("annotation reply skipped for app %s: %s", self.app.id, error)
            return False
        if match is None:
            return False
        annotation, _ = match
        account = (
            await session.get(Account, annotation.account_id) if annotation.account_id else None
        )
        self._reply = annotation.content
        self._annotation = {
            "id": str(annotation.id),
            "account": {
                "id": str(annotation.account_id) if annotation.account_id else None,
                "name": account.name if account is not None else "",
            },
        }
        return True

    async def _bind(
        self,
        session: AsyncSession,
        conversation: Conversation,
        settings: dict[str, Any],
        end_user: EndUser,
        model: tuple[str, str],
    ) -> None:
        provider, name = model
        ahead = self._bound_ahead
        if ahead is not None and ahead[0] == model:
            bound = ahead[1]  # bound by prepare(), a moment ago
        else:
            bound = await bind_recent(
                session,
                self.engine.models,
                self.engine.secret_key,
                self.app.tenant_id,
                provider,
                name,
            )
        parameters = dict((settings.get("model") or {}).get("completion_params") or {})
        messages = await self._messages(session, conversation, settings, bound, parameters)
        self._call = ModelCall(
            bound=bound,
            request=ChatRequest(
                model=name, messages=messages, parameters=parameters, user=str(end_user.id)
            ),
            features=settings,
            user_http=self.engine.user_http,
        )

    async def _conversation(self, session: AsyncSession, end_user: EndUser) -> Conversation:
        if self.args.conversation_id is None:
            self._new_conversation = True
            return Conversation(
                id=uuid.uuid4(),
                tenant_id=self.app.tenant_id,
                app_id=self.app.id,
                mode=self.app.mode,
                name=NEW_CONVERSATION_NAME,
                from_source=FROM_SOURCE,
                invoke_from=INVOKE_FROM,
                from_end_user_id=end_user.id,
            )
        found: Conversation | None = await session.scalar(
            select(Conversation).where(*self._own_conversation(end_user))
        )
        if found is None:
            raise ConversationNotExists()
        return found

    def _own_conversation(self, end_user: EndUser) -> list[ColumnElement[bool]]:
        """The request's conversation, when it is this end user's, of this app, not deleted."""
        return [
            Conversation.id == self.args.conversation_id,
            Conversation.app_id == self.app.id,
            Conversation.tenant_id == self.app.tenant_id,
            Conversation.from_source == FROM_SOURCE,
            Conversation.from_end_user_id == end_user.id,
            Conversation.is_deleted.is_(False),
        ]

    async def _config(self, session: AsyncSession, conversation: Conversation) -> AppModelConfig:
        """matches Dify: a conversation keeps the config version it started with."""
        config_id = conversation.app_model_config_id or self.app.app_model_config_id
        config: AppModelConfig | None = None
        if self._config_ahead_row is not None and self._config_ahead_row.id == config_id:
            return self._config_ahead_row  # read by prepare(), a moment ago
        if config_id is not None:
            config = await self._config_row(session, config_id)
        if config is None:
            raise AppUnavailable()
        return config

    async def _messages(
        self,
        session: AsyncSession,
        conversation: Conversation,
        settings: dict[str, Any],
        bound: BoundModel,
        parameters: dict[str, Any],
    ) -> list[Any]:
        pre_prompt = settings.get("pre_prompt") or ""
        images = await self._images(bound)
        if self.app.mode == AppMode.COMPLETION:
            return prompt.completion_messages(
                pre_prompt, conversation.inputs, self.args.query, images
            )
        turns = (
            list(self.args.history)
            if self._new_conversation
            else await self._history(session, conversation.id)
        )
        max_tokens = parameters.get("max_tokens")
        descriptor = bound.descriptor
        return prompt.chat_messages(
            pre_prompt,
            conversation.inputs,
            self.args.query,
            turns,
            context_size=descriptor.context_size if descriptor else None,
            max_tokens=max_tokens if isinstance(max_tokens, int) else 0,
            images=images,
        )

    async def _images(self, bound: BoundModel) -> list[ImagePart]:
        """The images sent along, for a model the catalogue says can see; other models
        get the text alone (the files are still recorded with the message)."""
        descriptor = bound.descriptor
        if not self._files or descriptor is None or "vision" not in descriptor.features:
            return []
        return await image_parts(self.engine.files.storage, self._files, self._image_detail)

    async def _history(
        self, session: AsyncSession, conversation_id: uuid.UUID
    ) -> list[prompt.Turn]:
        rows = (
            await session.execute(
                select(Message.query, Message.answer)
                .where(
                    Message.conversation_id == conversation_id,
                    Message.answer != "",
                    Message.status != MessageStatus.ERROR,
                )
                .order_by(Message.created_at.desc())
                .limit(HISTORY_LIMIT)
            )
        ).all()
        return [prompt.Turn(query=query, answer=answer) for query, answer in reversed(rows)]

    def _message_row(
        self,
        conversation: Conversation,
        config: AppModelConfig,
        end_user: EndUser,
        provider: str,
        model: str,
    ) -> Message:
        return Message(
            id=self.message_id,
            tenant_id=self.app.tenant_id,
            app_id=self.app.id,
            conversation_id=conversation.id,
            app_model_config_id=config.id,
            model_provider=provider,
            model_id=model,
            inputs=conversation.inputs,
            query=self.args.query,
            answer="",
            from_source=FROM_SOURCE,
            invoke_from=INVOKE_FROM,
            from_end_user_id=end_user.id,
            agent_based=self.app.mode == AppMode.AGENT_CHAT,
            created_at=self.created_at,
            updated_at=self.created_at,
        )

    # --- producer -----------------------------------------------------------------------

    async def source(self) -> AsyncIterator[GenerationEvent]:
        """The producer's events, timed, with a listener for stop requests beside it."""
        stopped = self._call.stopped if self._call is not None else asyncio.Event()
        watcher = asyncio.create_task(control.watch_stop(self.engine.kv, self.task_id, stopped))
        self._started = time.monotonic()
        try:
            async for event in self._produce():
                self._take(event)
                yield event
        finally:
            self._ended = time.monotonic()
            self._stopped = stopped.is_set()
            watcher.cancel()
            with suppress(asyncio.CancelledError):
                await watcher

    async def _produce(self) -> AsyncIterator[GenerationEvent]:
        if self._reply is not None:
            yield AnswerDelta(self._reply)
            return
        assert self._call is not None
        async for event in self.producer(self._call):
            yield event

    # --- progress and finish units ------------------------------------------------------

    def _take(self, event: GenerationEvent) -> None:
        """Fold one event into the state the units store. Done here, once per event, not
        in ``record``: a unit that fails is retried with the same batch."""
        if isinstance(event, AnswerDelta):
            if self._first_token is None:
                self._first_token = time.monotonic()
            self._answer.append(event.text)
        elif isinstance(event, UsageReport):
            self._usage = event.usage
        elif isinstance(event, ThoughtReport):
            self._thoughts.append(event.stored())

    async def record(self, session: AsyncSession, batch: Sequence[GenerationEvent]) -> None:
        """Store the answer so far (the events are already folded in by :meth:`source`)."""
        if session.info.get(FINISHING):  # _save stores the answer in this same unit
            return
        await session.execute(
            update(Message).where(Message.id == self.message_id).values(answer=self.answer)
        )

    @property
    def answer(self) -> str:
        return "".join(self._answer)

    def _final_usage(self) -> Usage:
        latency = max(0.0, self._ended - self._started)
        if self._usage is not None:
            return self._usage
        if self._call is None:  # answered by an annotation: no model was called
            return Usage(latency=round(latency, 3))
        descriptor = self._call.bound.descriptor
        return price_usage(
            estimate_messages(self._call.request.messages),
            estimate_tokens(self.answer),
            descriptor.pricing if descriptor else None,
            latency=latency,
            estimated=True,
        )

    def _status(self, error: BaseException | None) -> tuple[MessageStatus, str | None]:
        if error is not None:
            return MessageStatus.ERROR, events.error_fields(error)[2]
        if self._stopped:
            return MessageStatus.STOPPED, None
        return MessageStatus.NORMAL, None

    async def finish(self, session: AsyncSession, error: BaseException | None) -> None:
        try:
            await self._save(session, error)
        finally:
            await self.release()

    async def _save(self, session: AsyncSession, error: BaseException | None) -> None:
        latency = max(0.0, self._ended - self._started)
        usage = self._final_usage()
        ttft = None if self._first_token is None else self._first_token - self._started
        self.metadata = {
            "usage": events.usage_dict(usage, time_to_first_token=ttft, latency=latency)
        }
        if self._citations:
            self.metadata["retriever_resources"] = []
        if self._annotation is not None:
            self.metadata["annotation_reply"] = self._annotation
        status, message = self._status(error)
        await session.execute(
            update(Message)
            .where(Message.id == self.message_id)
            .values(
                answer=self.answer,
                message_tokens=usage.prompt_tokens,
                message_unit_price=_decimal(usage.prompt_unit_price),
                message_price_unit=_decimal(usage.prompt_price_unit),
                answer_tokens=usage.completion_tokens,
                answer_unit_price=_decimal(usage.completion_unit_price),
                answer_price_unit=_decimal(usage.completion_price_unit),
                total_price=_decimal(usage.total_price),
                currency=usage.currency,
                provider_response_latency=latency,
                status=status,
                error=message,
                message_metadata=self._stored_metadata(),
                updated_at=utcnow(),
            )
        )
        await session.execute(
            update(Conversation)
            .where(Conversation.id == self.conversation_id)
            .values(dialogue_count=Conversation.dialogue_count + 1, updated_at=utcnow())
        )
        if self._names_conversation(error):
            enqueue(
                session,
                NAME_TASK,
                {"conversation_id": str(self.conversation_id)},
                tenant_id=self.app.tenant_id,
            )

    def _stored_metadata(self) -> dict[str, Any]:
        """The response metadata, plus an agent's thoughts (which message_end does not
        carry, and GET /v1/messages shows as ``agent_thoughts``)."""
        if not self._thoughts:
            return self.metadata
        return {**self.metadata, "agent_thoughts": self._thoughts}

    def _names_conversation(self, error: BaseException | None) -> bool:
        """After the first answer of a new conversation, in the background, once the
        naming task exists (a failed first answer leaves the default name)."""
        wanted = self._new_conversation and self.args.auto_generate_name and error is None
        return wanted and get_task(NAME_TASK) is not None

    async def release(self) -> None:
        """Give back the active slot and forget the task (also when the start unit failed)."""
        try:
            await control.release_slot(self.engine.kv, self.slot, self.task_id)
            await control.forget_task(self.engine.kv, self.task_id)
        except Exception as error:  # the slot key expires on its own
            logger.warning("generation %s could not release its slot: %s", self.task_id, error)

    def message_end(self) -> dict[str, Any]:
        """The closing event, built once the finish unit has stored the message."""
        return events.message_end(self.envelope, self.metadata)


@dataclass(frozen=True, slots=True)
class Started:
    run: StagedRun[GenerationEvent]
    work: Generation


def _limit(engine: Engine, app: App) -> int:
    """The app's own limit when set, else the process default (0: unlimited)."""
    return (
        app.max_active_requests
        if app.max_active_requests is not None
        else engine.default_max_active
    )


async def start_generation(engine: Engine, app: App, args: GenerationArgs) -> Started:
    """Take a slot, commit the start unit and let the producer run. Errors before the first
    event (bad inputs, unknown conversation, no credentials, 429) raise here."""
    producer = PRODUCERS.get(app.mode)
    if producer is None:
        raise AppUnavailable()
    work = Generation(engine, app, args, producer)
    work.slot = await control.acquire_slot(engine.kv, app.id, _limit(engine, app), work.task_id)
    run: StagedRun[GenerationEvent] = StagedRun(engine.db, work, work.source)
    try:
        await control.register_task(engine.kv, work.task_id, app.id, args.user)
        await work.prepare()
        await run.start()
    except BaseException:
        await work.release()
        raise
    return Started(run=run, work=work)


async def stop_generation(kv: KV, task_id: str, app: App, user: str) -> None:
    """Stop the task if ``user`` of ``app`` started it; otherwise nothing (spec §1)."""
    await control.request_stop(kv, task_id, app.id, user)
