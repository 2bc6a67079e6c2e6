"""Group robots' webhooks (政务微信/企业微信) on a local server, for the staff notices' tests."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Robots:
    """Group robots' webhooks on one local server: what each path was sent."""

    def __init__(self) -> None:
        self.posted: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with robots.lock:
                    robots.posted.append((self.path, body["text"]["content"]))
                answer = b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)  # any free port
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def sent(self) -> list[tuple[str, str]]:
        with self.lock:
            return list(self.posted)


@contextmanager
def serving() -> Iterator[Robots]:
    """Robots answering on loopback until the block ends."""
    made = Robots()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield made
    finally:
        made.server.shutdown()
        made.server.server_close()
