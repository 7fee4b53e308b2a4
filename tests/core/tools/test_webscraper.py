"""``webscraper``/``webscraper`` over real HTTP through the SSRF-guarded client.

The client admits loopback only because its allow-list names 127.0.0.1, as an operator
would with SSRF_ALLOWED_HOSTS; a strict client refuses the same server and nothing arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ore.core.http import AddressPolicy, AllowList, OutboundHttpClient
from ore.core.tools import (
    CurrentTimeTool,
    HttpGetter,
    ToolNotFound,
    WebScraperTool,
    builtin_tools,
)
from tests.core.tools.conftest import PageServer


def guarded_client(allow: str) -> OutboundHttpClient:
    policy = AddressPolicy(
        allow_list=AllowList.parse(allow),
        purpose="user-supplied URLs",
        allow_setting="SSRF_ALLOWED_HOSTS",
    )
    return OutboundHttpClient(policy)


@pytest.fixture
async def client() -> AsyncIterator[OutboundHttpClient]:
    outbound = guarded_client("127.0.0.1")
    yield outbound
    await outbound.aclose()


async def test_html_page_becomes_its_visible_text(
    client: OutboundHttpClient, pages: PageServer
) -> None:
    tool = WebScraperTool(client)
    result = await tool.invoke({"url": pages.url("/page")})
    assert not result.is_error
    assert result.text == "Ore tide tables\n\nHigh tide\nBrest: 06:42 & 19:03\nLow tide\nat 13:00"
    [(path, headers)] = pages.seen
    assert path == "/page"
    assert headers["user-agent"].startswith("Mozilla/5.0 (compatible; ore-webscraper")


async def test_text_is_decoded_with_its_charset_and_user_agent_is_sent(
    client: OutboundHttpClient, pages: PageServer
) -> None:
    tool = WebScraperTool(client)
    result = await tool.invoke({"url": pages.url("/plain"), "user_agent": "tide-bot/2"})
    assert result.text == "naïve café\n"
    assert pages.seen[0][1]["user-agent"] == "tide-bot/2"


async def test_long_text_is_cut_for_the_model(
    client: OutboundHttpClient, pages: PageServer
) -> None:
    tool = WebScraperTool(client, max_chars=100)
    result = await tool.invoke({"url": pages.url("/big?n=5000")})
    assert not result.is_error
    assert result.text == "x" * 100 + "\n[truncated: 4900 more characters]"


async def test_oversized_download_is_an_error_result(
    client: OutboundHttpClient, pages: PageServer
) -> None:
    result = await WebScraperTool(client).invoke({"url": pages.url("/big?n=3000000")})
    assert result.is_error
    assert "larger than 2097152 bytes" in result.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/missing", "answered HTTP 404"),
        ("/image", "returned image/png, which is not text"),
    ],
)
async def test_http_failures_are_error_results(
    client: OutboundHttpClient, pages: PageServer, path: str, message: str
) -> None:
    result = await WebScraperTool(client).invoke({"url": pages.url(path)})
    assert result.is_error
    assert message in result.text


@pytest.mark.parametrize(
    "arguments",
    [{}, {"url": "file:///etc/passwd"}, {"url": "ftp://127.0.0.1/"}, {"url": ["x"]}],
)
async def test_bad_urls_are_refused_before_any_request(
    client: OutboundHttpClient, pages: PageServer, arguments: dict[str, object]
) -> None:
    result = await WebScraperTool(client).invoke(arguments)
    assert result.is_error
    assert result.text.startswith("Invalid arguments for webscraper:")
    assert pages.seen == []


async def test_strict_client_refuses_loopback_and_nothing_arrives(pages: PageServer) -> None:
    strict = guarded_client("")
    try:
        result = await WebScraperTool(strict).invoke({"url": pages.url("/page")})
    finally:
        await strict.aclose()
    assert result.is_error
    assert "loopback" in result.text and "SSRF_ALLOWED_HOSTS" in result.text
    assert pages.seen == []


async def test_redirect_to_a_refused_address_is_an_error_result(pages: PageServer) -> None:
    # Admits the name "localhost" only; the redirect goes to 127.0.0.1 by address.
    outbound = guarded_client("localhost")
    try:
        target = pages.url("/page")
        url = pages.url(f"/redirect?to={target}", host="localhost")
        result = await WebScraperTool(outbound).invoke({"url": url})
    finally:
        await outbound.aclose()
    assert result.is_error and "127.0.0.1" in result.text
    assert [path for path, _ in pages.seen] == [f"/redirect?to={target}"]


async def test_builtin_registry_finds_each_tool_by_difys_ids(
    client: OutboundHttpClient, pages: PageServer
) -> None:
    getter: HttpGetter = client
    registry = builtin_tools(http_client=getter)
    assert [tool.identity.key for tool in registry] == [
        ("time", "current_time"),
        ("maths", "eval_expression"),
        ("webscraper", "webscraper"),
    ]
    assert registry.providers() == ["time", "maths", "webscraper"]
    page = await registry.get("webscraper", "webscraper").invoke({"url": pages.url("/page")})
    assert "High tide" in page.text
    assert (
        await registry.get("maths", "eval_expression").invoke({"expression": "6*7"})
    ).text == "42"


async def test_registry_refuses_unknown_ids_and_duplicates(client: OutboundHttpClient) -> None:
    registry = builtin_tools(http_client=client)
    with pytest.raises(ToolNotFound) as caught:
        registry.get("time", "no_such_tool")
    assert caught.value.status == 404 and "time/no_such_tool" in caught.value.message
    assert registry.find("maths", "current_time") is None
    with pytest.raises(ValueError, match="time/current_time"):
        registry.register(CurrentTimeTool())
