"""configure_logging: formats, level, file, request ids, secrets, idempotence."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ore.config import Settings, load_settings
from ore.extensions.logging import (
    JsonFormatter,
    RequestIdFilter,
    configure_logging,
    request_id_var,
)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(
        _env_file=None,
        DATA_DIR=str(tmp_path),
        SECRET_KEY="test-secret-key-with-enough-entropy-0123456789",
        **overrides,
    )


def _ore_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, "_ore_handler", False)]


@pytest.fixture(autouse=True)
def _restore_logging(tmp_path: Path) -> Iterator[None]:
    yield
    configure_logging(_settings(tmp_path, LOG_LEVEL="WARNING"))


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_calling_it_again_replaces_its_handlers(tmp_path: Path) -> None:
    configure_logging(_settings(tmp_path, LOG_FILE=str(tmp_path / "a.log")))
    configure_logging(_settings(tmp_path, LOG_FILE=str(tmp_path / "b.log")))
    configure_logging(_settings(tmp_path, LOG_FILE=str(tmp_path / "b.log")))
    handlers = _ore_handlers()
    assert len(handlers) == 2  # stdout and one file
    logging.getLogger("ore.tests").warning("once")
    assert (tmp_path / "b.log").read_text(encoding="utf-8").count("once") == 1
    assert "once" not in (tmp_path / "a.log").read_text(encoding="utf-8")


def test_other_handlers_are_left_alone(tmp_path: Path) -> None:
    foreign = logging.NullHandler()
    logging.getLogger().addHandler(foreign)
    try:
        configure_logging(_settings(tmp_path))
        configure_logging(_settings(tmp_path))
        assert foreign in logging.getLogger().handlers
    finally:
        logging.getLogger().removeHandler(foreign)


def test_log_level_is_honoured(tmp_path: Path) -> None:
    log_file = tmp_path / "ore.log"
    configure_logging(_settings(tmp_path, LOG_LEVEL="ERROR", LOG_FILE=str(log_file)))
    logger = logging.getLogger("ore.tests")
    logger.warning("quiet")
    logger.error("loud")
    text = log_file.read_text(encoding="utf-8")
    assert "loud" in text
    assert "quiet" not in text
    assert logging.getLogger().level == logging.ERROR


def test_json_lines_carry_the_request_id_and_mask_secrets(tmp_path: Path) -> None:
    log_file = tmp_path / "ore.log"
    configure_logging(
        _settings(tmp_path, LOG_OUTPUT_FORMAT="json", LOG_LEVEL="INFO", LOG_FILE=str(log_file))
    )
    logger = logging.getLogger("ore.tests")
    token = request_id_var.set("req-7")
    try:
        logger.info("signed in %s", "ada", extra={"account": "ada", "access_token": "abc.def"})
    finally:
        request_id_var.reset(token)
    logger.info("outside")
    inside, outside = _json_lines(log_file)
    assert inside["message"] == "signed in ada"
    assert inside["request_id"] == "req-7"
    assert inside["level"] == "INFO"
    assert inside["logger"] == "ore.tests"
    assert inside["account"] == "ada"
    assert inside["access_token"] == "******"
    assert "abc.def" not in log_file.read_text(encoding="utf-8")
    assert inside["ts"].endswith("+00:00")
    assert outside["request_id"] == "-"


def test_exceptions_are_one_json_line(tmp_path: Path) -> None:
    log_file = tmp_path / "ore.log"
    configure_logging(_settings(tmp_path, LOG_OUTPUT_FORMAT="json", LOG_FILE=str(log_file)))
    try:
        raise ValueError("broken")
    except ValueError:
        logging.getLogger("ore.tests").exception("it failed")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert "ValueError: broken" in entry["exception"]


def test_text_format_shows_the_request_id(tmp_path: Path) -> None:
    log_file = tmp_path / "ore.log"
    configure_logging(_settings(tmp_path, LOG_FILE=str(log_file)))
    token = request_id_var.set("req-text")
    try:
        logging.getLogger("ore.tests").warning("hello")
    finally:
        request_id_var.reset(token)
    assert "[req-text] hello" in log_file.read_text(encoding="utf-8")


def test_formatter_and_filter_work_on_their_own() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m %s", ("a",), None)
    token = request_id_var.set("r1")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["request_id"] == "r1"
    assert entry["message"] == "m a"
