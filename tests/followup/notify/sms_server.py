"""A tiny SMS gateway on a real loopback socket (http.server in a thread)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class SmsServer:
    """Answers each POST with the next queued status (200 when none); records what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The gateway's message endpoint."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1/messages"

    def __enter__(self) -> "SmsServer":
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _answer(self, path: str, authorization: str, body: dict[str, Any]) -> int:
        with self._lock:
            self.received.append((path, authorization, body))
            return self.statuses.pop(0) if self.statuses else 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = server._answer(self.path, self.headers["Authorization"], body)
                payload = json.dumps({"status": "ok" if status < 300 else "error"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler
