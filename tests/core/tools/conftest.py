"""A real HTTP server on loopback for the web scraper, recording what reached it."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

PAGE = """<!doctype html>
<html><head><title>Ore  tide tables</title><style>body { color: red }</style>
<script>var secret = "do not show";</script></head>
<body><h1>High tide</h1><p>Brest: 06:42 &amp; 19:03</p>
<noscript>enable scripts</noscript><div>Low   tide
at 13:00</div></body></html>"""


@dataclass
class PageServer:
    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.pages.seen.append((self.path, headers))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/page":
            self._send(200, PAGE.encode(), "text/html; charset=utf-8")
        elif url.path == "/plain":
            self._send(200, "naïve café\n".encode("latin-1"), "text/plain; charset=latin-1")
        elif url.path == "/big":
            self._send(200, b"x" * int(query["n"]), "text/plain")
        elif url.path == "/image":
            self._send(200, b"\x89PNG\r\n", "image/png")
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query["to"])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(404, b"not here", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    pages: PageServer

    def handle_error(self, request: object, client_address: object) -> None:
        # The client hangs up on purpose when a body passes its size cap.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.pages = PageServer(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.pages
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
