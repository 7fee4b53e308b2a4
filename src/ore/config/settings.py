"""The effective settings of one ore process.

Precedence, as in Dify: environment > remote source (Apollo or Nacos, when configured) >
``.env`` file > defaults. Remote sources plug into :data:`REMOTE_SOURCES`.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ore.config.groups import (
    AppSettings,
    DatabaseSettings,
    DeploymentSettings,
    HttpSettings,
    LoggingSettings,
    MailSettings,
    ModelRuntimeSettings,
    OutboundHttpSettings,
    RedisSettings,
    SecuritySettings,
    ServerSettings,
    StorageSettings,
    TaskSettings,
)

# Values that ship in public examples; a production deployment must never run with them.
KNOWN_DEFAULT_SECRETS = frozenset(
    {
        "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U",
        "changeme",
        "change-me",
        "secret",
        "your-secret-key",
    }
)

Source = Literal["environment", "remote", ".env", "default", "generated"]

# A remote source is a factory taking the settings class and returning a pydantic-settings
# source; the remote-config issue registers Apollo and Nacos here.
RemoteSourceFactory = Callable[[type[BaseSettings]], PydanticBaseSettingsSource]
REMOTE_SOURCES: list[RemoteSourceFactory] = []


class ConfigError(Exception):
    """A setting is wrong; the message names the variable and what to do."""


class Settings(
    DeploymentSettings,
    SecuritySettings,
    DatabaseSettings,
    RedisSettings,
    TaskSettings,
    StorageSettings,
    LoggingSettings,
    HttpSettings,
    OutboundHttpSettings,
    ModelRuntimeSettings,
    AppSettings,
    MailSettings,
    ServerSettings,
):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        remote = tuple(factory(settings_cls) for factory in REMOTE_SOURCES)
        return (init_settings, env_settings, *remote, dotenv_settings, file_secret_settings)

    # Derived values: the mode switches of DESIGN.md section 2.

    @property
    def data_dir(self) -> Path:
        return Path(self.DATA_DIR).expanduser()

    @property
    def sqlite_path(self) -> Path:
        return Path(self.SQLITE_PATH) if self.SQLITE_PATH else self.data_dir / "ore.db"

    @property
    def storage_path(self) -> Path:
        if self.STORAGE_LOCAL_PATH:
            return Path(self.STORAGE_LOCAL_PATH)
        return self.data_dir / "storage"

    @property
    def database_url(self) -> str:
        if self.SQLALCHEMY_DATABASE_URI:
            return async_database_url(self.SQLALCHEMY_DATABASE_URI)
        if self.DB_TYPE == "sqlite":
            return f"sqlite+aiosqlite:///{self.sqlite_path}"
        from sqlalchemy.engine import URL

        url = URL.create(
            "postgresql+asyncpg",
            username=self.DB_USERNAME,
            password=self.DB_PASSWORD or None,
            host=self.DB_HOST,
            port=self.DB_PORT,
            database=self.DB_DATABASE,
        )
        return url.render_as_string(hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def redis_enabled(self) -> bool:
        return bool(self.REDIS_HOST)

    @property
    def celery_enabled(self) -> bool:
        return bool(self.CELERY_BROKER_URL)

    @property
    def is_distributed(self) -> bool:
        """True when every piece that crosses processes is a shared service."""
        return self.redis_enabled and self.celery_enabled and not self.is_sqlite

    @property
    def is_production(self) -> bool:
        return self.DEPLOY_ENV == "PRODUCTION"


def async_database_url(url: str) -> str:
    """Fill in the async driver for a plain SQLAlchemy URL (Dify-style URIs are sync)."""
    for plain, async_ in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg2://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain) :]
    return url


def _describe_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"{name}: {item['msg']} (got {item.get('input')!r})")
    return "Invalid configuration. Fix these environment variables or .env entries:\n  " + (
        "\n  ".join(lines)
    )


def _ensure_secret_key(settings: Settings) -> Settings:
    key = settings.SECRET_KEY
    if settings.is_production:
        if not key or key in KNOWN_DEFAULT_SECRETS:
            raise ConfigError(
                "SECRET_KEY is empty or a published default while DEPLOY_ENV=PRODUCTION. "
                "Set SECRET_KEY to a long random value, e.g. `openssl rand -base64 42`."
            )
        return settings
    if key:
        return settings
    path = settings.data_dir / "secret_key"
    if path.exists():
        generated = path.read_text(encoding="utf-8").strip()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        generated = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(generated + "\n")
    return settings.model_copy(update={"SECRET_KEY": generated})


def load_settings(**overrides: Any) -> Settings:
    """Read settings from every source; raise :class:`ConfigError` naming what is wrong."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe_validation_error(error)) from error
    return _ensure_secret_key(settings)


def is_secret(field: FieldInfo) -> bool:
    extra = field.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def mask(value: object) -> str:
    text = str(value)
    if not text:
        return ""
    return text[:2] + "******" if len(text) > 8 else "******"


def setting_sources(settings: Settings, env_file: str = ".env") -> dict[str, Source]:
    """Where each effective value came from, for `ore config show`."""
    dotenv = dotenv_values(env_file) if Path(env_file).exists() else {}
    remote: set[str] = set()
    for factory in REMOTE_SOURCES:
        remote.update(factory(Settings)().keys())
    sources: dict[str, Source] = {}
    for name in Settings.model_fields:
        if name in os.environ:
            sources[name] = "environment"
        elif name in remote:
            sources[name] = "remote"
        elif name in dotenv:
            sources[name] = ".env"
        elif name == "SECRET_KEY" and settings.SECRET_KEY:
            sources[name] = "generated"
        else:
            sources[name] = "default"
    return sources
