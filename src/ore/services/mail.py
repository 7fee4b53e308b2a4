"""Outgoing mail over SMTP (MAIL_TYPE=smtp, SMTP_* settings).

smtplib is blocking, so a message is sent in a worker thread. Callers are tasks (mail goes
out after the unit of work that asked for it has committed), never request handlers.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from ore.config import Settings
from ore.core.errors import OreError

_SMTP_TIMEOUT = 30.0


class MailNotConfigured(OreError):
    code = "mail_not_configured"
    status = 500
    default_message = "Mail is not configured."


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str | None = None


def check_mail_settings(settings: Settings) -> None:
    """Raise :class:`MailNotConfigured` naming what is missing."""
    if settings.MAIL_TYPE != "smtp":
        raise MailNotConfigured(
            f"MAIL_TYPE is {settings.MAIL_TYPE!r}; set MAIL_TYPE=smtp to send mail."
        )
    missing = [
        name
        for name in ("SMTP_SERVER", "MAIL_DEFAULT_SEND_FROM")
        if not getattr(settings, name).strip()
    ]
    if missing:
        raise MailNotConfigured(f"MAIL_TYPE=smtp needs {' and '.join(missing)} to be set.")
    if settings.SMTP_USERNAME and not settings.SMTP_PASSWORD:
        raise MailNotConfigured("SMTP_USERNAME is set but SMTP_PASSWORD is empty.")


async def send_mail(settings: Settings, mail: Mail) -> str:
    """Send ``mail``; returns its Message-ID. Raises on a refused or failed delivery."""
    check_mail_settings(settings)
    message = EmailMessage()
    message["From"] = settings.MAIL_DEFAULT_SEND_FROM
    message["To"] = mail.to
    message["Subject"] = mail.subject
    sender_domain = parseaddr(settings.MAIL_DEFAULT_SEND_FROM)[1].rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=sender_domain or None)
    message.set_content(mail.text)
    if mail.html is not None:
        message.add_alternative(mail.html, subtype="html")
    await asyncio.to_thread(_deliver, settings, message)
    return str(message["Message-ID"])


def _deliver(settings: Settings, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.SMTP_USE_TLS:
        smtp = smtplib.SMTP_SSL(
            settings.SMTP_SERVER, settings.SMTP_PORT, timeout=_SMTP_TIMEOUT, context=context
        )
    else:
        smtp = smtplib.SMTP(settings.SMTP_SERVER, settings.SMTP_PORT, timeout=_SMTP_TIMEOUT)
    with smtp:
        if not settings.SMTP_USE_TLS and settings.SMTP_OPPORTUNISTIC_TLS:
            smtp.starttls(context=context)
        if settings.SMTP_USERNAME:
            smtp.login(settings.SMTP_USERNAME, settings.SMTP_PASSWORD)
        refused = smtp.send_message(message)
    if refused:
        raise smtplib.SMTPRecipientsRefused(refused)


def invitation_mail(
    *, to: str, workspace_name: str, inviter_name: str, role: str, url: str
) -> Mail:
    """The invitation to join a workspace, with its activation link."""
    subject = f"{inviter_name} invited you to join {workspace_name}"
    text = (
        f"Hello,\n\n"
        f'{inviter_name} has invited you to join the workspace "{workspace_name}" '
        f"as {role}.\n\n"
        f"Open this link to accept the invitation and set up your account:\n{url}\n\n"
        f"The link expires; if it has, ask {inviter_name} to invite you again.\n"
        f"If you did not expect this invitation, you can ignore this mail.\n"
    )
    return Mail(to=to, subject=subject, text=text)
