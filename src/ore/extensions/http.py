"""The outbound HTTP clients: one for user-supplied URLs, one for model-provider base URLs."""

from __future__ import annotations

from dataclasses import dataclass

from ore.config import Settings


@dataclass
class HttpClients:
    async def aclose(self) -> None:
        return None


def create_http_clients(settings: Settings) -> HttpClients:
    return HttpClients()
