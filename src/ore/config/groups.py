"""Settings grouped by concern. Environment names follow Dify's where Dify has the setting.

Each group is a mixin of :class:`ore.config.settings.Settings`; fields keep their flat
environment names (``settings.DB_HOST``) so a Dify ``.env`` file works unchanged.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class DeploymentSettings(BaseSettings):
    DEPLOY_ENV: Literal["DEVELOPMENT", "PRODUCTION", "TESTING"] = Field(
        default="DEVELOPMENT",
        description="PRODUCTION refuses an empty or known-default SECRET_KEY.",
    )
    EDITION: Literal["SELF_HOSTED", "CLOUD"] = Field(
        default="SELF_HOSTED", description="Edition reported in tokens and headers."
    )
    DATA_DIR: str = Field(
        default="./data",
        description="Where embedded mode keeps the SQLite file, the generated secret and files.",
    )
    DEBUG: bool = Field(default=False, description="Verbose errors in logs (never in bodies).")


class SecuritySettings(BaseSettings):
    SECRET_KEY: str = Field(
        default="",
        description="Signs tokens and derives encryption keys. Empty: generated once under "
        "DATA_DIR (refused when DEPLOY_ENV=PRODUCTION).",
        json_schema_extra={"secret": True},
    )
    ACCESS_TOKEN_EXPIRE_MINUTES: int = Field(
        default=60, gt=0, description="Lifetime of a console access token."
    )
    REFRESH_TOKEN_EXPIRE_DAYS: float = Field(
        default=30, gt=0, description="Lifetime of a console refresh token."
    )
    LOGIN_MAX_FAILURES_PER_EMAIL: int = Field(
        default=5, gt=0, description="Failed logins allowed per email in the lockout window."
    )
    LOGIN_MAX_FAILURES_PER_IP: int = Field(
        default=20, gt=0, description="Failed logins allowed per client IP in the lockout window."
    )
    LOGIN_LOCKOUT_SECONDS: int = Field(
        default=900, gt=0, description="Window and lockout time for failed logins."
    )
    INVITE_EXPIRY_HOURS: float = Field(
        default=72, gt=0, description="How long a workspace invitation link is valid."
    )
    ADMIN_API_KEY_ENABLE: bool = Field(
        default=False, description="Accept ADMIN_API_KEY with X-WORKSPACE-ID on console routes."
    )
    ADMIN_API_KEY: str = Field(
        default="", description="Admin API key (see above).", json_schema_extra={"secret": True}
    )


class DatabaseSettings(BaseSettings):
    DB_TYPE: Literal["sqlite", "postgresql"] = Field(
        default="sqlite", description="sqlite (embedded) or postgresql (distributed)."
    )
    DB_HOST: str = Field(default="localhost", description="PostgreSQL host.")
    DB_PORT: int = Field(default=5432, gt=0, lt=65536, description="PostgreSQL port.")
    DB_USERNAME: str = Field(default="postgres", description="PostgreSQL user.")
    DB_PASSWORD: str = Field(
        default="", description="PostgreSQL password.", json_schema_extra={"secret": True}
    )
    DB_DATABASE: str = Field(default="ore", description="PostgreSQL database name.")
    SQLITE_PATH: str = Field(default="", description="SQLite file; empty means DATA_DIR/ore.db.")
    SQLALCHEMY_DATABASE_URI: str = Field(
        default="",
        description="Full SQLAlchemy URL; overrides DB_* when set (async drivers are filled in).",
        json_schema_extra={"secret": True},
    )
    SQLALCHEMY_POOL_SIZE: int = Field(default=30, gt=0, description="Connection pool size.")
    SQLALCHEMY_MAX_OVERFLOW: int = Field(default=10, ge=0, description="Pool overflow.")
    SQLALCHEMY_POOL_RECYCLE: int = Field(default=3600, gt=0, description="Recycle after seconds.")
    SQLALCHEMY_POOL_PRE_PING: bool = Field(
        default=True, description="Check connections before use (survives database restarts)."
    )
    SQLALCHEMY_ECHO: bool = Field(default=False, description="Log every SQL statement.")
    DB_DEFERRED_UNITS: int = Field(
        default=1,
        gt=0,
        description=(
            "Progress and finish units of streamed answers one process commits at a time; "
            "they wait behind the units somebody is waiting on, so first tokens stay fast "
            "under load. Raise it (PostgreSQL) when the database is far away and finishing "
            "answers lags behind; SQLite commits one unit at a time whatever it says."
        ),
    )
    MIGRATION_ENABLED: bool = Field(
        default=True, description="Run Alembic upgrade to head at startup."
    )


class RedisSettings(BaseSettings):
    REDIS_HOST: str = Field(
        default="", description="Redis host. Redis is used if and only if this is set."
    )
    REDIS_PORT: int = Field(default=6379, gt=0, lt=65536, description="Redis port.")
    REDIS_USERNAME: str = Field(default="", description="Redis ACL user.")
    REDIS_PASSWORD: str = Field(
        default="", description="Redis password.", json_schema_extra={"secret": True}
    )
    REDIS_DB: int = Field(default=0, ge=0, description="Redis database number.")
    REDIS_USE_SSL: bool = Field(default=False, description="Connect to Redis over TLS.")
    REDIS_KEY_PREFIX: str = Field(
        default="ore:", description="Prefix of every key ore writes to Redis."
    )


class TaskSettings(BaseSettings):
    CELERY_BROKER_URL: str = Field(
        default="",
        description="Celery broker (redis:// or amqp://). Set: Celery; empty: in-process runner.",
        json_schema_extra={"secret": True},
    )
    CELERY_WORKER_CONCURRENCY: int = Field(default=2, gt=0, description="ore worker processes.")
    TASK_RUNNER_CONCURRENCY: int = Field(
        default=4, gt=0, description="In-process runner: tasks run at the same time."
    )
    TASK_POLL_INTERVAL: float = Field(
        default=2.0, gt=0, description="In-process runner: seconds between looks for new tasks."
    )
    TASK_MAX_ATTEMPTS: int = Field(
        default=3, gt=0, description="Attempts before an interrupted task ends in error."
    )
    CELERY_QUEUE_PREFIX: str = Field(
        default="",
        description="Celery: prefix of every queue name, to share one broker between deployments.",
    )


class StorageSettings(BaseSettings):
    STORAGE_TYPE: Literal["local"] = Field(
        default="local", description="local (files under STORAGE_LOCAL_PATH)."
    )
    STORAGE_LOCAL_PATH: str = Field(
        default="", description="Directory of stored files; empty means DATA_DIR/storage."
    )


class LoggingSettings(BaseSettings):
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Root log level."
    )
    LOG_OUTPUT_FORMAT: Literal["text", "json"] = Field(
        default="text", description="text for people, json for log collectors."
    )
    LOG_FILE: str = Field(default="", description="Also write logs to this file.")


class HttpSettings(BaseSettings):
    CONSOLE_API_URL: str = Field(default="", description="Public URL of the console API.")
    CONSOLE_WEB_URL: str = Field(
        default="", description="Public URL of the console UI (used in invitation links)."
    )
    COOKIE_DOMAIN: str = Field(default="", description="Domain of console auth cookies.")
    CONSOLE_CORS_ALLOW_ORIGINS: str = Field(
        default="*", description="Comma-separated origins allowed on /console/api."
    )
    WEB_API_CORS_ALLOW_ORIGINS: str = Field(
        default="*", description="Comma-separated origins allowed on /api and /v1."
    )
    MAX_REQUEST_BODY_SIZE: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest request body in bytes (413 above); upload routes allow the "
        "largest UPLOAD_*_SIZE_LIMIT instead.",
    )
    GZIP_MINIMUM_SIZE: int = Field(
        default=1024, gt=0, description="Compress responses larger than this many bytes."
    )
    CUSTOM_MIDDLEWARE_ENABLED: bool = Field(
        default=False, description="Load CUSTOM_MIDDLEWARE_MODULE at startup."
    )
    CUSTOM_MIDDLEWARE_MODULE: str = Field(
        default="",
        description="'package.module:factory'; the factory takes the ASGI app and returns one.",
    )


class OutboundHttpSettings(BaseSettings):
    SSRF_PROXY_HTTP_URL: str = Field(default="", description="Proxy for outbound http://.")
    SSRF_PROXY_HTTPS_URL: str = Field(default="", description="Proxy for outbound https://.")
    SSRF_ALLOWED_HOSTS: str = Field(
        default="",
        description="Comma-separated hosts or CIDRs that user-supplied URLs may reach "
        "even though they are internal.",
    )
    PROVIDER_ALLOWED_HOSTS: str = Field(
        default="",
        description="Comma-separated hosts or CIDRs that model-provider base URLs may reach "
        "in distributed mode (embedded mode allows loopback and private addresses).",
    )
    HTTP_HOST_OVERRIDES: str = Field(
        default="",
        description="Comma-separated host=ip pairs resolved without DNS (for tests and "
        "split-horizon setups); the SSRF policy applies to the mapped address.",
    )
    HTTP_REQUEST_MAX_CONNECT_TIMEOUT: float = Field(default=10, gt=0, description="Seconds.")
    HTTP_REQUEST_MAX_READ_TIMEOUT: float = Field(default=60, gt=0, description="Seconds.")
    HTTP_REQUEST_MAX_WRITE_TIMEOUT: float = Field(default=20, gt=0, description="Seconds.")
    HTTP_REQUEST_NODE_MAX_BINARY_SIZE: int = Field(
        default=10 * 1024 * 1024, gt=0, description="Largest response body read, in bytes."
    )
    HTTP_MAX_REDIRECTS: int = Field(default=5, ge=0, description="Redirects followed.")


class ModelRuntimeSettings(BaseSettings):
    PROVIDER_PLUGINS_DIR: str = Field(
        default="",
        description="A directory of model-provider modules loaded after the `ore.providers` "
        "entry points (a module that fails to load is logged and skipped).",
    )
    LOCAL_MODELS_ENABLED: bool = Field(
        default=True,
        description="In embedded mode, configure the built-in `local` provider in every new "
        "workspace and make its models the defaults.",
    )
    MODEL_REQUEST_MAX_RETRIES: int = Field(
        default=2, ge=0, description="Retries of a model call on 429, 5xx and timeouts."
    )
    MODEL_FIRST_TOKEN_TIMEOUT: float = Field(
        default=60, gt=0, description="Seconds to wait for a model's first chunk."
    )
    MODEL_CHUNK_TIMEOUT: float = Field(
        default=60, gt=0, description="Seconds to wait between two chunks of a stream."
    )
    MODEL_REQUEST_DEADLINE: float = Field(
        default=300, gt=0, description="Seconds a whole model call may take, retries included."
    )
    MODEL_CREDENTIAL_COOLDOWN: float = Field(
        default=60,
        gt=0,
        description="Seconds a credential rests after a 429, 5xx or timeout before it is "
        "used again (load balancing).",
    )


class AppSettings(BaseSettings):
    SERVICE_API_URL: str = Field(
        default="",
        description="Public base URL of the Service API shown in the console "
        "(empty: the request's own host).",
    )
    APP_MAX_ACTIVE_REQUESTS: int = Field(
        default=0,
        ge=0,
        description="Concurrent generations per app (0: unlimited); an app's own "
        "max_active_requests wins when set. Over the limit: 429 too_many_requests.",
    )
    APP_API_RATE_LIMIT: int = Field(
        default=0,
        ge=0,
        description="Requests per minute per app API key on the Service API (0: unlimited).",
    )
    SSE_PING_INTERVAL: float = Field(
        default=10,
        gt=0,
        description="Seconds of model silence after which a stream sends `event: ping`.",
    )
    UPLOAD_FILE_SIZE_LIMIT: int = Field(
        default=15, gt=0, description="Largest uploaded document, in MB."
    )
    UPLOAD_IMAGE_FILE_SIZE_LIMIT: int = Field(
        default=10, gt=0, description="Largest uploaded image, in MB."
    )
    UPLOAD_VIDEO_FILE_SIZE_LIMIT: int = Field(
        default=100, gt=0, description="Largest uploaded video, in MB."
    )
    UPLOAD_AUDIO_FILE_SIZE_LIMIT: int = Field(
        default=50, gt=0, description="Largest uploaded audio file, in MB."
    )
    WORKFLOW_FILE_UPLOAD_LIMIT: int = Field(
        default=10, gt=0, description="Files one workflow run may take."
    )
    UPLOAD_FILE_EXTENSION_BLACKLIST: str = Field(
        default="",
        description="Comma-separated file extensions refused on upload (415), e.g. exe,bat.",
    )


class MailSettings(BaseSettings):
    MAIL_TYPE: Literal["", "smtp"] = Field(
        default="", description="smtp to send mail; empty: links are only returned by the API."
    )
    MAIL_DEFAULT_SEND_FROM: str = Field(default="", description="From address.")
    SMTP_SERVER: str = Field(default="", description="SMTP host.")
    SMTP_PORT: int = Field(default=465, gt=0, lt=65536, description="SMTP port.")
    SMTP_USERNAME: str = Field(default="", description="SMTP user.")
    SMTP_PASSWORD: str = Field(
        default="", description="SMTP password.", json_schema_extra={"secret": True}
    )
    SMTP_USE_TLS: bool = Field(default=True, description="Implicit TLS (SMTPS).")
    SMTP_OPPORTUNISTIC_TLS: bool = Field(default=False, description="STARTTLS.")


class ServerSettings(BaseSettings):
    HOST: str = Field(default="127.0.0.1", description="Address `ore serve` binds.")
    PORT: int = Field(default=5001, gt=0, lt=65536, description="Port `ore serve` binds.")
    SERVER_WORKERS: int = Field(
        default=1, gt=0, description="uvicorn workers (more than 1 needs distributed mode)."
    )
