"""A real HTTP(S) fixture server on loopback, and a TLS certificate made for a test name.

The server runs in a thread (``http.server``) on 127.0.0.1 with a random port and records
every request it receives, so tests can prove that a refused request never arrived.
"""

from __future__ import annotations

import datetime
import gzip
import json
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TLS_NAME = "api.example.test"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FixtureServer:
    port: int
    scheme: str = "http"
    requests: list[Seen] = field(default_factory=list)

    def url(self, path: str = "/ok", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.fixture.requests.append(Seen(self.command, self.path, headers, body))
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = url.path
        if route == "/redirect":
            self._send(int(query.get("status", "302")), b"", location=query["to"])
        elif route.startswith("/loop/"):
            hop = int(route.rsplit("/", 1)[1])
            self._send(302, b"", location=f"/loop/{hop + 1}")
        elif route == "/big":
            self._send(200, b"x" * int(query["n"]))
        elif route == "/chunked":
            self._send_chunked(int(query["n"]))
        elif route == "/gzip":
            self._send(200, gzip.compress(b"\0" * int(query["n"])), encoding="gzip")
        elif route == "/slow":
            time.sleep(float(query["s"]))
            self._send(200, b"late")
        else:
            echo = {"method": self.command, "path": self.path, "headers": headers}
            echo["body"] = body.decode("utf-8", "replace")
            self._send(200, json.dumps(echo).encode(), content_type="application/json")

    do_GET = do_POST = do_PUT = do_HEAD = _handle

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        location: str | None = None,
        encoding: str | None = None,
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if location is not None:
            self.send_header("Location", location)
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, size: int) -> None:
        # No Content-Length: the cap must be enforced while reading.
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        remaining = size
        while remaining:
            piece = min(remaining, 512)
            self.wfile.write(f"{piece:x}\r\n".encode() + b"y" * piece + b"\r\n")
            remaining -= piece
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fixture: FixtureServer

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients in these tests hang up on purpose (size caps, timeouts, bad certificates).
        if isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def _serve(ssl_context: ssl.SSLContext | None = None) -> Iterator[FixtureServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    server.fixture = FixtureServer(
        port=server.server_address[1], scheme="https" if ssl_context else "http"
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.fixture
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    yield from _serve()


@pytest.fixture
def proxy() -> Iterator[FixtureServer]:
    """A second server standing in for a forward proxy: it answers absolute-form requests."""
    yield from _serve()


@dataclass(frozen=True)
class Tls:
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A private CA and a certificate for TLS_NAME only (not for 127.0.0.1)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ore test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TLS_NAME)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_NAME)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory: Path = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    client_context = ssl.create_default_context(
        cadata=ca_cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    return Tls(server_context, client_context)


@pytest.fixture
def tls_server(tls: Tls) -> Iterator[FixtureServer]:
    yield from _serve(tls.server_context)
