"""`ore apps export` and `ore apps import`: the DSL flow from the command line, on both
databases (each command runs in a thread, as it starts its own event loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from ore.cli import app as cli
from ore.config import Settings
from tests.conftest import make_settings
from tests.controllers.console.test_app_imports import as_yaml, basic_dsl
from tests.factories import create_member

runner = CliRunner()


@pytest.fixture
def cli_settings(
    database_url: str, tmp_path: Path, _clean_tables: None, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    settings = make_settings(database_url, tmp_path)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    for name in ("SQLALCHEMY_DATABASE_URI", "DATA_DIR", "SECRET_KEY", "LOG_LEVEL"):
        monkeypatch.setenv(name, str(getattr(settings, name)))
    monkeypatch.setenv("MIGRATION_ENABLED", "false")
    return settings


async def ore(*args: str) -> Result:
    return await anyio.to_thread.run_sync(lambda: runner.invoke(cli, list(args)))


def result_of(output: str) -> dict[str, Any]:
    start = output.index("{")
    parsed: dict[str, Any] = json.loads(output[start : output.rindex("}") + 1])
    return parsed


async def test_import_then_export_round_trips(cli_settings: Settings, tmp_path: Path) -> None:
    await create_member(cli_settings)
    source = tmp_path / "helper.yml"
    source.write_text(as_yaml(basic_dsl("completion")), encoding="utf-8")

    imported = await ore("apps", "import", str(source), "--name", "From the shell")
    assert imported.exit_code == 0, imported.output
    result = result_of(imported.output)
    assert (result["status"], result["app_mode"]) == ("completed", "completion")

    out = tmp_path / "exported.yml"
    exported = await ore("apps", "export", result["app_id"], "--out", str(out))
    assert exported.exit_code == 0, exported.output
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert document["app"]["name"] == "From the shell"
    assert document["app"]["mode"] == "completion"
    assert document["model_config"]["pre_prompt"] == "Answer as {{persona}}."
    assert document["model_config"]["model"]["name"] == "gpt-4o-mini"

    to_stdout = await ore("apps", "export", result["app_id"])
    assert to_stdout.exit_code == 0
    assert yaml.safe_load(to_stdout.stdout) == document


async def test_pending_needs_force_and_failures_exit_1(
    cli_settings: Settings, tmp_path: Path
) -> None:
    first = await create_member(cli_settings)
    newer = tmp_path / "newer.yml"
    newer.write_text(as_yaml(basic_dsl(version="0.8.0")), encoding="utf-8")

    pending = await ore("apps", "import", str(newer))
    assert pending.exit_code == 1
    assert result_of(pending.output)["status"] == "pending"
    forced = await ore("apps", "import", str(newer), "--force")
    assert forced.exit_code == 0, forced.output
    assert result_of(forced.output)["status"] == "completed"

    broken = tmp_path / "broken.yml"
    broken.write_text("- not\n- a mapping\n", encoding="utf-8")
    failed = await ore("apps", "import", str(broken))
    assert failed.exit_code == 1
    assert result_of(failed.output)["error"] == "Invalid YAML format: content must be a mapping"

    # With two workspaces the command must be told which one.
    await create_member(cli_settings)
    ambiguous = await ore("apps", "import", str(newer), "--force")
    assert ambiguous.exit_code == 1
    assert "several workspaces" in ambiguous.output
    chosen = await ore("apps", "import", str(newer), "--force", "--workspace", str(first.tenant.id))
    assert chosen.exit_code == 0, chosen.output

    missing = await ore("apps", "export", "00000000-0000-0000-0000-000000000000")
    assert missing.exit_code == 1
    assert "app_not_found" in missing.output


def test_the_commands_have_help() -> None:
    for args in (["apps"], ["apps", "export"], ["apps", "import"]):
        result = runner.invoke(cli, [*args, "--help"])
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.output
