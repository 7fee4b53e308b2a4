"""member_invited → task mail.send_invitation → a real SMTP server on loopback.

The SMTP server is aiosmtpd in a thread: the edge of the world, nothing of ore is mocked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from ore.app_factory import create_app
from ore.config import Settings
from ore.extensions.context import OreContext
from ore.models import TaskRun, TaskStatus
from ore.services import signals
from tests.conftest import make_settings
from tests.extensions.tasks.helpers import wait_for_run
from tests.factories import Member, create_member


class Inbox:
    """Collects every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def messages(self) -> list[Message]:
        return [message_from_bytes(envelope.original_content or b"") for envelope in self.envelopes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@asynccontextmanager
async def _start(settings: Settings) -> AsyncIterator[FastAPI]:
    app: FastAPI = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        yield app


@asynccontextmanager
async def _serve(settings: Settings) -> AsyncIterator[OreContext]:
    async with _start(settings) as app:
        yield app.state.ore


def _smtp_settings(database_url: str, tmp_path: Path, port: int, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        tmp_path,
        MAIL_TYPE="smtp",
        SMTP_SERVER="127.0.0.1",
        SMTP_PORT=port,
        SMTP_USE_TLS=False,
        MAIL_DEFAULT_SEND_FROM="ore <no-reply@ore.example>",
        **overrides,
    )


def _invite(session: Any, member: Member, email: str, url: str) -> None:
    signals.member_invited.send(
        member.tenant,
        session=session,
        tenant=member.tenant,
        email=email,
        role="editor",
        url=url,
        inviter=member.account,
    )


async def _mail_runs(context: OreContext) -> list[TaskRun]:
    async with context.db.unit_of_work() as session:
        runs = await session.scalars(select(TaskRun).where(TaskRun.name == "mail.send_invitation"))
        return list(runs)


async def test_invitation_mail_is_delivered_after_commit_only(
    database_url: str, tmp_path: Path, _clean_tables: None, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    settings = _smtp_settings(database_url, tmp_path, port)
    member = await create_member(settings, name="Ada", workspace_name="Engines")
    async with _serve(settings) as context:
        with pytest.raises(RuntimeError, match="request failed"):
            async with context.db.unit_of_work() as session:
                _invite(session, member, "gone@example.com", "http://ore.test/activate?t=gone")
                raise RuntimeError("request failed")

        async with context.db.unit_of_work() as session:
            _invite(session, member, "new@example.com", "http://ore.test/activate?t=s3cret")
            # Not committed yet: the runner looks several times and finds nothing to send.
            await asyncio.sleep(3 * settings.TASK_POLL_INTERVAL)
            assert inbox.envelopes == []

        runs = await _mail_runs(context)
        assert len(runs) == 1  # the rolled-back invitation queued nothing
        run = await wait_for_run(context.db, runs[0].id)

    assert run.status == TaskStatus.COMPLETED, run.error
    assert run.tenant_id == member.tenant.id
    assert run.args["url"] == "[redacted]"  # the activation link is not kept
    assert run.args["email"] == "new@example.com"
    assert [envelope.rcpt_tos for envelope in inbox.envelopes] == [["new@example.com"]]
    message = inbox.messages()[0]
    assert message["To"] == "new@example.com"
    assert message["From"] == "ore <no-reply@ore.example>"
    assert message["Subject"] == "Ada invited you to join Engines"
    assert message["Message-ID"] == run.result["message_id"]  # type: ignore[index]
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "http://ore.test/activate?t=s3cret" in body
    assert "editor" in body


async def test_inviting_through_the_console_api_mails_the_activation_link(
    database_url: str, tmp_path: Path, _clean_tables: None, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    settings = _smtp_settings(database_url, tmp_path, port, CONSOLE_WEB_URL="http://ore.test")
    member = await create_member(settings, name="Grace", workspace_name="Compilers")
    async with _start(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.post(
                "/console/api/workspaces/current/members/invite-email",
                json={"emails": ["Newcomer@Example.com"], "role": "editor", "language": "en-US"},
                headers=member.headers,
            )
        assert response.status_code == 201, response.text
        (result,) = response.json()["invitation_results"]
        runs = await _mail_runs(app.state.ore)
        assert len(runs) == 1
        run = await wait_for_run(app.state.ore.db, runs[0].id)

    assert run.status == TaskStatus.COMPLETED, run.error
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == [run.args["email"]]
    message = inbox.messages()[0]
    assert message["Subject"] == "Grace invited you to join Compilers"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert result["url"] in body


async def test_no_mail_task_when_mail_is_off(settings: Settings) -> None:
    member = await create_member(settings)
    async with _serve(settings) as context:
        async with context.db.unit_of_work() as session:
            _invite(session, member, "new@example.com", "http://ore.test/activate?t=x")
        assert await _mail_runs(context) == []


async def test_misconfigured_smtp_ends_the_task_in_error_naming_the_setting(
    database_url: str, tmp_path: Path, _clean_tables: None
) -> None:
    settings = make_settings(database_url, tmp_path, MAIL_TYPE="smtp", SMTP_SERVER="")
    member = await create_member(settings)
    async with _serve(settings) as context:
        async with context.db.unit_of_work() as session:
            _invite(session, member, "new@example.com", "http://ore.test/activate?t=x")
        runs = await _mail_runs(context)
        assert len(runs) == 1
        run = await wait_for_run(context.db, runs[0].id)
    assert run.status == TaskStatus.ERROR
    assert run.error == (
        "MailNotConfigured: MAIL_TYPE=smtp needs SMTP_SERVER and MAIL_DEFAULT_SEND_FROM to be set."
    )
    assert run.args["url"] == "[redacted]"


def test_register_handlers_is_idempotent() -> None:
    from ore.events import register_handlers
    from ore.events.handlers import on_member_invited

    register_handlers()
    register_handlers()
    receivers = [
        receiver
        for receiver in signals.member_invited.receivers.values()
        if receiver is on_member_invited
    ]
    assert receivers == [on_member_invited]
