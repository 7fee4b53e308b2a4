"""Dify's ``webscraper``/``webscraper``: HTTP GET of a URL, its readable text for the model.

Dify has no plain "HTTP GET" built-in tool; ``webscraper`` (parameters ``url`` and
``user_agent``) is the one that fetches a URL and hands its text to the model, so ore's
HTTP GET tool carries its ids. The request goes through an injected :class:`HttpGetter`
(in ore, the SSRF-guarded :class:`~ore.core.http.OutboundHttpClient` for user-supplied
URLs), so this module stays free of configuration. HTML is reduced to its visible text and
whatever is returned is cut at ``max_chars``: a page must not flood the model's context.
"""

from __future__ import annotations

from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any, Protocol

from ore.core.tools.base import Tool, ToolIdentity, ToolInputError, ToolResult, string_argument

DEFAULT_USER_AGENT = "Mozilla/5.0 (compatible; ore-webscraper/1.0)"
MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_CHARS = 8000
DEFAULT_TIMEOUT = 10.0

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"}
)


class HttpPage(Protocol):
    """What the tool reads of a response (:class:`~ore.core.http.OutboundResponse` fits)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...


class HttpGetter(Protocol):
    """The client the tool fetches with (:class:`~ore.core.http.OutboundHttpClient` fits):
    it must refuse addresses users may not reach and raise an ``OreError`` on failure."""

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        max_size: int | None = None,
    ) -> HttpPage: ...


class _VisibleText(HTMLParser):
    """The title and visible text of an HTML page, one block per line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self._parts: list[str] = []
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._hidden:
            self._parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self._parts).splitlines())
        body = "\n".join(line for line in lines if line)
        title = " ".join(self.title.split())
        return f"{title}\n\n{body}" if title else body


def html_to_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return parser.text()


def truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}\n[truncated: {len(text) - max_chars} more characters]"


class WebScraperTool(Tool):
    identity = ToolIdentity(
        provider="webscraper",
        name="webscraper",
        label={"en_US": "Web Scraper", "zh_Hans": "网页爬虫"},
        provider_label={"en_US": "WebScraper", "zh_Hans": "网页抓取"},
    )
    description = (
        "Fetch a web page or text document with HTTP GET and return its readable text. "
        "Input: an absolute http(s) URL."
    )
    parameters: dict[str, Any] = {  # noqa: RUF012 - read-only schema
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "The absolute http:// or https:// URL."},
            "user_agent": {"type": "string", "description": "User-Agent header to send."},
        },
        "required": ["url"],
    }

    def __init__(
        self,
        client: HttpGetter,
        *,
        max_chars: int = DEFAULT_MAX_CHARS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._client = client
        self._max_chars = max_chars
        self._timeout = timeout

    async def run(self, arguments: Mapping[str, Any]) -> ToolResult:
        url = string_argument(arguments, "url", max_length=4096).strip()
        if not url.lower().startswith(("http://", "https://")):
            raise ToolInputError("url must be an absolute http:// or https:// URL.")
        agent = string_argument(arguments, "user_agent", DEFAULT_USER_AGENT, max_length=512)
        page = await self._client.request(
            "GET",
            url,
            headers={"User-Agent": agent, "Accept": "text/html, text/plain, */*;q=0.5"},
            timeout=self._timeout,
            max_size=MAX_DOWNLOAD_BYTES,
        )
        if not 200 <= page.status_code < 300:
            return ToolResult.failure(f"GET {url} answered HTTP {page.status_code}.")
        content_type = page.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and not content_type.startswith(_TEXT_TYPES):
            return ToolResult.failure(f"GET {url} returned {content_type}, which is not text.")
        text = page.text
        if content_type in ("text/html", "application/xhtml+xml"):
            text = html_to_text(text)
        return ToolResult(truncate(text, self._max_chars))
