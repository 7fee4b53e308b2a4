from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from ore.config import ConfigError, Settings, load_settings
from ore.config import settings as settings_module
from ore.config.docs import _GROUPS, render_configuration_markdown
from ore.config.settings import setting_sources

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_mode(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, DATA_DIR=str(tmp_path))
    assert settings.DB_TYPE == "sqlite"
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'ore.db'}"
    assert not settings.redis_enabled
    assert not settings.celery_enabled
    assert not settings.is_distributed
    assert settings.PORT == 5001


def test_environment_beats_dotenv_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\nREDIS_PORT=6380\n")
    monkeypatch.setenv("REDIS_PORT", "6390")
    settings = load_settings(_env_file=str(env_file), DATA_DIR=str(tmp_path))
    assert settings.REDIS_PORT == 6390  # environment
    assert settings.LOG_LEVEL == "DEBUG"  # .env
    assert settings.REDIS_DB == 0  # default


def test_a_wrong_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DB_PORT", "not-a-port")
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, DATA_DIR=str(tmp_path))
    assert "DB_PORT" in str(caught.value)
    assert "not-a-port" in str(caught.value)


def test_an_unknown_choice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="DB_TYPE"):
        load_settings(_env_file=None, DATA_DIR=str(tmp_path), DB_TYPE="oracle")


def test_embedded_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = load_settings(_env_file=None, DATA_DIR=str(tmp_path))
    second = load_settings(_env_file=None, DATA_DIR=str(tmp_path))
    assert len(first.SECRET_KEY) >= 32
    assert first.SECRET_KEY == second.SECRET_KEY
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600


@pytest.mark.parametrize("secret", ["", "sk-9f73s3ljTXVcMT3Blb3ljTqtsKiGHXVcMT3BlbkFJLK7U"])
def test_production_refuses_an_empty_or_default_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(
            _env_file=None, DATA_DIR=str(tmp_path), DEPLOY_ENV="PRODUCTION", SECRET_KEY=secret
        )
    assert not (tmp_path / "secret_key").exists()


def test_production_accepts_a_real_secret(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None, DATA_DIR=str(tmp_path), DEPLOY_ENV="PRODUCTION", SECRET_KEY="x" * 48
    )
    assert settings.is_production


def test_postgresql_url_from_dify_variables(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        DATA_DIR=str(tmp_path),
        DB_TYPE="postgresql",
        DB_HOST="db.internal",
        DB_PORT=5433,
        DB_USERNAME="ore",
        DB_PASSWORD="p@ss/word",
        DB_DATABASE="ore_prod",
    )
    assert (
        settings.database_url == "postgresql+asyncpg://ore:p%40ss%2Fword@db.internal:5433/ore_prod"
    )
    assert not settings.is_sqlite


def test_a_sync_uri_gets_the_async_driver(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        DATA_DIR=str(tmp_path),
        SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:5432/ore",
    )
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/ore"


def test_distributed_needs_every_shared_service(tmp_path: Path) -> None:
    common: dict[str, Any] = {"_env_file": None, "DATA_DIR": str(tmp_path)}
    partial = load_settings(**common, REDIS_HOST="127.0.0.1", DB_TYPE="postgresql")
    assert not partial.is_distributed
    full = load_settings(
        **common,
        REDIS_HOST="127.0.0.1",
        DB_TYPE="postgresql",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/1",
    )
    assert full.is_distributed


class _FixedSource(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def test_remote_sources_sit_between_environment_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\nREDIS_DB=3\n")
    monkeypatch.setenv("REDIS_PORT", "6390")
    monkeypatch.setattr(
        settings_module,
        "REMOTE_SOURCES",
        [lambda cls: _FixedSource(cls, {"REDIS_PORT": 7000, "LOG_LEVEL": "ERROR"})],
    )
    settings = load_settings(_env_file=str(env_file), DATA_DIR=str(tmp_path))
    assert settings.REDIS_PORT == 6390  # environment beats remote
    assert settings.LOG_LEVEL == "ERROR"  # remote beats .env
    assert settings.REDIS_DB == 3  # .env beats default


def test_sources_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\n")
    monkeypatch.setenv("REDIS_PORT", "6390")
    settings = load_settings(_env_file=str(env_file), DATA_DIR=str(tmp_path))
    sources = setting_sources(settings, env_file=str(env_file))
    assert sources["REDIS_PORT"] == "environment"
    assert sources["LOG_LEVEL"] == ".env"
    assert sources["REDIS_DB"] == "default"
    assert sources["SECRET_KEY"] == "generated"


def test_every_setting_is_documented() -> None:
    grouped = {name for _, group, _ in _GROUPS for name in group.model_fields}
    assert grouped == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
    page = (ROOT / "docs" / "configuration.md").read_text()
    assert page == render_configuration_markdown(), "run `ore config docs > docs/configuration.md`"
