"""The `ore` command line, run in-process against a temporary SQLite database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ore.cli import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return tmp_path / "data"


def test_every_command_has_help() -> None:
    for args in (
        [],
        ["serve"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["init"],
        ["config"],
        ["config", "show"],
        ["config", "docs"],
        ["worker"],
        ["tasks"],
        ["tasks", "list"],
        ["secrets"],
        ["secrets", "rewrap"],
    ):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output


def test_db_upgrade_then_current(data_dir: Path) -> None:
    before = runner.invoke(app, ["db", "current"])
    assert "empty database" in before.output
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["db", "upgrade"])  # idempotent
    assert second.exit_code == 0, second.output
    current = runner.invoke(app, ["db", "current"])
    lines = current.output.splitlines()
    assert lines[0].split()[-1] == lines[1].split()[-1]


def test_init_creates_the_admin_once(data_dir: Path) -> None:
    args = ["init", "--email", "Ops@Example.com", "--name", "Ops", "--password", "s3cret-pass"]
    created = runner.invoke(app, args)
    assert created.exit_code == 0, created.output
    assert "ops@example.com" in created.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "already_setup" in again.output


def test_init_gives_the_workspace_the_local_models(data_dir: Path) -> None:
    args = ["init", "--email", "ops@example.com", "--name", "Ops", "--password", "s3cret-pass"]
    assert runner.invoke(app, args).exit_code == 0
    with sqlite3.connect(data_dir / "ore.db") as db:
        providers = db.execute("SELECT provider FROM provider_configs").fetchall()
        defaults = db.execute("SELECT model_type, provider FROM default_models").fetchall()
    assert providers == [("local",)]
    assert sorted(defaults) == [
        ("llm", "local"),
        ("rerank", "local"),
        ("text-embedding", "local"),
    ]


def test_init_rejects_a_weak_password(data_dir: Path) -> None:
    result = runner.invoke(app, ["init", "--email", "a@b.co", "--name", "A", "--password", "short"])
    assert result.exit_code == 1
    assert "invalid_param" in result.output


def test_config_show_masks_secrets_and_names_sources(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRET_KEY", "a-very-long-secret-value-1234567890")
    monkeypatch.setenv("REDIS_PORT", "6390")
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["SECRET_KEY"]["value"] == "a-******"
    assert rows["SECRET_KEY"]["source"] == "environment"
    assert rows["REDIS_PORT"] == {"name": "REDIS_PORT", "value": 6390, "source": "environment"}
    assert rows["DB_TYPE"]["source"] == "default"
    assert "a-very-long-secret" not in result.output


def test_config_show_reports_a_bad_value(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_PORT", "many")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "REDIS_PORT" in result.output


def test_serve_refuses_workers_without_distributed_mode(data_dir: Path) -> None:
    result = runner.invoke(app, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "distributed mode" in result.output
