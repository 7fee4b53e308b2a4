"""Apps and what runs through them: model configs, sites, API keys, end users,
conversations, messages, feedback, annotations and uploaded files.

Shapes follow Dify's app tables (console spec section 8, service API spec sections 1 and
4) with ore's conventions: UUID keys, ``tenant_id`` on every row so each query can filter
on the workspace, aware UTC timestamps. App API keys are kept as SHA-256 digests only
(DESIGN.md section 5), unlike Dify's plain-text tokens.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ore.models.base import Base, Timestamps, UUIDPrimaryKey, utcnow

# Prices are per-token products of small unit prices: seven decimal places, as Dify.
Price = Numeric(16, 7)


class AppMode(enum.StrEnum):
    """App modes with Dify's wire spelling."""

    COMPLETION = "completion"
    CHAT = "chat"
    AGENT_CHAT = "agent-chat"
    ADVANCED_CHAT = "advanced-chat"
    WORKFLOW = "workflow"


class AppStatus(enum.StrEnum):
    NORMAL = "normal"


class MessageStatus(enum.StrEnum):
    NORMAL = "normal"
    ERROR = "error"
    STOPPED = "stopped"


class CreatorRole(enum.StrEnum):
    """Who made a row that either an account or an end user can make (files, messages)."""

    ACCOUNT = "account"
    END_USER = "end_user"


def _tenant_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))


def _app_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))


def _account_ref() -> Mapped[uuid.UUID | None]:
    return mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), default=None)


class App(UUIDPrimaryKey, Timestamps, Base):
    """An app of a workspace. ``app_model_config_id`` points at the current config version
    of a basic app (chat, agent-chat, completion); graph apps have none."""

    __tablename__ = "apps"
    __table_args__ = (Index("ix_apps_tenant_created", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[str] = mapped_column(String(32))
    icon_type: Mapped[str | None] = mapped_column(String(16), default=None)
    icon: Mapped[str | None] = mapped_column(String(255), default=None)
    icon_background: Mapped[str | None] = mapped_column(String(255), default=None)
    # No foreign key: configs point back at their app, and a cycle would complicate deletes.
    app_model_config_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    workflow_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default=AppStatus.NORMAL)
    enable_site: Mapped[bool] = mapped_column(default=True)
    enable_api: Mapped[bool] = mapped_column(default=True)
    max_active_requests: Mapped[int | None] = mapped_column(default=None)
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(default=False)
    tracing: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[uuid.UUID | None] = _account_ref()
    updated_by: Mapped[uuid.UUID | None] = _account_ref()


class AppModelConfig(UUIDPrimaryKey, Timestamps, Base):
    """One saved version of a basic app's model config; one JSON column per Dify key."""

    __tablename__ = "app_model_configs"
    __table_args__ = (Index("ix_app_model_configs_app_created", "app_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    provider: Mapped[str | None] = mapped_column(String(255), default=None)
    model_id: Mapped[str | None] = mapped_column(String(255), default=None)
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    pre_prompt: Mapped[str] = mapped_column(Text, default="")
    prompt_type: Mapped[str] = mapped_column(String(32), default="simple")
    chat_prompt_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    completion_prompt_config: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    user_input_form: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    dataset_query_variable: Mapped[str | None] = mapped_column(String(255), default=None)
    dataset_configs: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    agent_mode: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    opening_statement: Mapped[str | None] = mapped_column(Text, default=None)
    suggested_questions: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    suggested_questions_after_answer: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, default=None
    )
    speech_to_text: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    text_to_speech: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    retriever_resource: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    annotation_reply: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    more_like_this: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    sensitive_word_avoidance: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    external_data_tools: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    file_upload: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by: Mapped[uuid.UUID | None] = _account_ref()
    updated_by: Mapped[uuid.UUID | None] = _account_ref()


class Site(UUIDPrimaryKey, Timestamps, Base):
    """The public web app of an app; ``code`` is the 16-character access token in its URL."""

    __tablename__ = "sites"

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("apps.id", ondelete="CASCADE"), unique=True
    )
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    icon_type: Mapped[str | None] = mapped_column(String(16), default=None)
    icon: Mapped[str | None] = mapped_column(String(255), default=None)
    icon_background: Mapped[str | None] = mapped_column(String(255), default=None)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    default_language: Mapped[str] = mapped_column(String(32), default="en-US")
    chat_color_theme: Mapped[str | None] = mapped_column(String(255), default=None)
    chat_color_theme_inverted: Mapped[bool] = mapped_column(default=False)
    customize_domain: Mapped[str | None] = mapped_column(String(255), default=None)
    copyright: Mapped[str | None] = mapped_column(String(255), default=None)
    privacy_policy: Mapped[str | None] = mapped_column(String(255), default=None)
    custom_disclaimer: Mapped[str] = mapped_column(Text, default="")
    customize_token_strategy: Mapped[str] = mapped_column(String(32), default="not_allow")
    prompt_public: Mapped[bool] = mapped_column(default=False)
    show_workflow_steps: Mapped[bool] = mapped_column(default=True)
    use_icon_as_answer_icon: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[uuid.UUID | None] = _account_ref()
    updated_by: Mapped[uuid.UUID | None] = _account_ref()


class AppApiKey(UUIDPrimaryKey, Base):
    """A Service API key of one app (``app-`` + 24 alphanumerics); only its SHA-256 digest
    is kept, with a short prefix and suffix for a masked list."""

    __tablename__ = "app_api_keys"
    __table_args__ = (Index("ix_app_api_keys_app_id", "app_id"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    suffix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = _account_ref()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)


class EndUser(UUIDPrimaryKey, Timestamps, Base):
    """One caller of an app as the Service API or web app sees it: ``session_id`` is the
    caller's ``user`` string. Unique per app and type so get-or-create cannot duplicate."""

    __tablename__ = "end_users"
    __table_args__ = (UniqueConstraint("app_id", "type", "session_id"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    type: Mapped[str] = mapped_column(String(32))
    session_id: Mapped[str] = mapped_column(String(255))
    external_user_id: Mapped[str | None] = mapped_column(String(255), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    is_anonymous: Mapped[bool] = mapped_column(default=False)


class Conversation(UUIDPrimaryKey, Timestamps, Base):
    """A chat thread. ``inputs`` are fixed by the first message, as in Dify."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_app_end_user", "app_id", "from_end_user_id", "updated_at"),
        Index("ix_conversations_app_created", "app_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    app_model_config_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    model_provider: Mapped[str | None] = mapped_column(String(255), default=None)
    model_id: Mapped[str | None] = mapped_column(String(255), default=None)
    mode: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255), default="")
    summary: Mapped[str | None] = mapped_column(Text, default=None)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    introduction: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="normal")
    # "api" (Service API), "console" (debugger, logs), "web" (web app).
    from_source: Mapped[str] = mapped_column(String(32))
    invoke_from: Mapped[str | None] = mapped_column(String(32), default=None)
    from_end_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), default=None
    )
    from_account_id: Mapped[uuid.UUID | None] = _account_ref()
    dialogue_count: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    is_deleted: Mapped[bool] = mapped_column(default=False)


class Message(UUIDPrimaryKey, Timestamps, Base):
    """One turn: the query, the answer, what it cost and how it ended.

    ``message_metadata`` holds Dify's response ``metadata`` (usage, retriever_resources,
    annotation_reply). Completion apps also get a conversation, as in Dify.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),
        Index("ix_messages_app_created", "app_id", "created_at"),
        Index("ix_messages_app_end_user", "app_id", "from_source", "from_end_user_id"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    parent_message_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    app_model_config_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    model_provider: Mapped[str | None] = mapped_column(String(255), default=None)
    model_id: Mapped[str | None] = mapped_column(String(255), default=None)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    query: Mapped[str] = mapped_column(Text, default="")
    answer: Mapped[str] = mapped_column(Text, default="")
    message_tokens: Mapped[int] = mapped_column(default=0)
    message_unit_price: Mapped[Decimal] = mapped_column(Price, default=Decimal(0))
    message_price_unit: Mapped[Decimal] = mapped_column(Price, default=Decimal("0.001"))
    answer_tokens: Mapped[int] = mapped_column(default=0)
    answer_unit_price: Mapped[Decimal] = mapped_column(Price, default=Decimal(0))
    answer_price_unit: Mapped[Decimal] = mapped_column(Price, default=Decimal("0.001"))
    total_price: Mapped[Decimal] = mapped_column(Price, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(16), default="USD")
    provider_response_latency: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.NORMAL)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    from_source: Mapped[str] = mapped_column(String(32))
    invoke_from: Mapped[str | None] = mapped_column(String(32), default=None)
    from_end_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), default=None
    )
    from_account_id: Mapped[uuid.UUID | None] = _account_ref()
    agent_based: Mapped[bool] = mapped_column(default=False)
    workflow_run_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    message_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The prompt messages sent to the model (the console logs' ``message``).
    message: Mapped[list[Any] | None] = mapped_column(JSON, default=None)


class MessageFeedback(UUIDPrimaryKey, Timestamps, Base):
    """A like or dislike on a message; one per message and source (user or admin)."""

    __tablename__ = "message_feedbacks"
    __table_args__ = (
        UniqueConstraint("message_id", "from_source"),
        Index("ix_message_feedbacks_app_created", "app_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    rating: Mapped[str] = mapped_column(String(16))
    content: Mapped[str | None] = mapped_column(Text, default=None)
    from_source: Mapped[str] = mapped_column(String(16))
    from_end_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("end_users.id", ondelete="SET NULL"), default=None
    )
    from_account_id: Mapped[uuid.UUID | None] = _account_ref()


class MessageAnnotation(UUIDPrimaryKey, Timestamps, Base):
    """A curated question and answer of an app, replayed instead of calling the model when
    annotation reply is on and a query is close enough."""

    __tablename__ = "message_annotations"
    __table_args__ = (Index("ix_message_annotations_app_created", "app_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    app_id: Mapped[uuid.UUID] = _app_fk()
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL"), default=None
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), default=None
    )
    question: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    hit_count: Mapped[int] = mapped_column(default=0)
    account_id: Mapped[uuid.UUID | None] = _account_ref()
    # The question's vector and the "provider/model" that made it; a match embeds only the
    # query when every row holds a vector of the reply's current model.
    question_embedding: Mapped[list[float] | None] = mapped_column(JSON, default=None)
    embedding_model: Mapped[str | None] = mapped_column(String(255), default=None)


class UploadFile(UUIDPrimaryKey, Base):
    """A file in storage. ``created_by`` is an account or an end user, per
    ``created_by_role``; ``hash`` is the SHA-256 of the content."""

    __tablename__ = "upload_files"
    __table_args__ = (Index("ix_upload_files_tenant_id", "tenant_id"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    storage_type: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    extension: Mapped[str] = mapped_column(String(32))
    mime_type: Mapped[str | None] = mapped_column(String(255), default=None)
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used: Mapped[bool] = mapped_column(default=False)
    used_by: Mapped[uuid.UUID | None] = mapped_column(default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    hash: Mapped[str | None] = mapped_column(String(64), default=None)
    source_url: Mapped[str] = mapped_column(Text, default="")


class MessageFile(UUIDPrimaryKey, Base):
    """A file attached to a message, uploaded (``upload_file_id``) or by URL."""

    __tablename__ = "message_files"
    __table_args__ = (Index("ix_message_files_message_id", "message_id"),)

    tenant_id: Mapped[uuid.UUID] = _tenant_fk()
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    transfer_method: Mapped[str] = mapped_column(String(32))
    url: Mapped[str | None] = mapped_column(Text, default=None)
    belongs_to: Mapped[str | None] = mapped_column(String(16), default=None)
    upload_file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("upload_files.id", ondelete="SET NULL"), default=None
    )
    created_by_role: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
