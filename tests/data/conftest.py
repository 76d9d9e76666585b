"""A local HTTP server for the download tests (127.0.0.1 only; never the internet)."""
from __future__ import annotations

import http.server
import socket
import threading
from dataclasses import dataclass, field

import pytest


@dataclass
class Route:
    """What the server answers for one path.

    mode: "ok" (supports Range), "no-range" (ignores Range, always 200 with the whole body),
          "truncate" (announces the full Content-Length, sends half, closes), "404".
    """

    body: bytes = b""
    mode: str = "ok"


@dataclass
class LocalServer:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)   # (path, Range)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def serve(self, path: str, body: bytes = b"", mode: str = "ok") -> str:
        self.routes["/" + path.lstrip("/")] = Route(body, mode)
        return self.url(path)


def _handler(server: LocalServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            range_header = self.headers.get("Range")
            server.requests.append((self.path, range_header))
            route = server.routes.get(self.path)
            if route is None or route.mode == "404":
                self.send_error(404, "Not Found")
                return
            body = route.body
            if route.mode == "ok" and range_header:
                start = int(range_header.removeprefix("bytes=").rstrip("-"))
                if start >= len(body):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if route.mode == "truncate":
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:      # keep test output clean
            pass

    return Handler


@pytest.fixture
def http_server():
    """Yield a LocalServer; register files with ``server.serve(path, body, mode)``."""
    state = LocalServer(base="")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def refused_url() -> str:
    """A URL on a local port nobody listens on (connection refused, like being offline)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/file.bin"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the real ~/.cache/minicnn from tests."""
    monkeypatch.setenv("MINICNN_HOME", str(tmp_path / "minicnn_home"))
