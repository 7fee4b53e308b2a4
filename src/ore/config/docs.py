"""Renders docs/configuration.md from the settings classes, so the page cannot drift."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from ore.config import groups

_GROUPS: list[tuple[str, type[BaseSettings], str]] = [
    ("Deployment", groups.DeploymentSettings, "Where ore runs and keeps its data."),
    ("Security", groups.SecuritySettings, "Secrets, token lifetimes, login throttling."),
    ("Database", groups.DatabaseSettings, "SQLite (embedded) or PostgreSQL (distributed)."),
    ("Redis", groups.RedisSettings, "Cache, locks, rate limits and pub/sub across processes."),
    ("Background tasks", groups.TaskSettings, "In-process runner or Celery."),
    ("Storage", groups.StorageSettings, "Uploaded and generated files."),
    ("Logging", groups.LoggingSettings, "Log level, format and destination."),
    ("HTTP server", groups.HttpSettings, "CORS, cookies, request limits, custom middleware."),
    ("Outbound HTTP", groups.OutboundHttpSettings, "The SSRF-guarded client for outside URLs."),
    (
        "Model runtime",
        groups.ModelRuntimeSettings,
        "Provider plugins, the local models, timeouts, retries and failover.",
    ),
    (
        "Apps and Service API",
        groups.AppSettings,
        "Generation limits, streaming keep-alive, uploads.",
    ),
    ("Mail", groups.MailSettings, "Invitation mail; without it links are only returned."),
    ("Server", groups.ServerSettings, "What `ore serve` binds."),
]


def _default(value: object) -> str:
    if value == "" or value is None:
        return "(empty)"
    return f"`{value}`"


def render_configuration_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "ore reads settings from, in order of precedence: the environment, a remote source",
        "(Apollo or Nacos, when configured), a `.env` file in the working directory, and the",
        "defaults below. Names follow Dify's, so a Dify `.env` works unchanged.",
        "A wrong value stops startup with a message naming the variable.",
        "`ore config show` prints the effective values (secrets masked) and where each came from.",
        "",
        "This page is generated from `src/ore/config/groups.py` by `ore config docs`;",
        "a test fails when the two disagree.",
        "",
    ]
    for title, group, summary in _GROUPS:
        lines += [f"## {title}", "", summary, ""]
        lines += ["| variable | default | meaning |", "|---|---|---|"]
        for name, field in group.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_default(field.default)} | {description} |")
        lines.append("")
    return "\n".join(lines)
