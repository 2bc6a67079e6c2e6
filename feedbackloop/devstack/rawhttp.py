"""HTTP/1.1 over a raw socket, for requests httpx will not send: header values of arbitrary
bytes (uvicorn hands them to the app as Latin-1 text), a Content-Length that is never sent,
bodies streamed in chunks while the answer is watched for. Used by tests/security and
bench/attacks.py."""

import json
import select
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """What the server answered, and how long it took to answer."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    sent: int  # body bytes the client got to send before the answer came

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    chunks: Iterable[bytes] = (),
    chunked: bool = False,
    timeout: float = 30,
) -> Reply:
    """Send one request to 127.0.0.1:`port`; stop sending the body once an answer arrives."""
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    head += [name + b": " + value for name, value in headers]
    if chunked:
        head.append(b"Transfer-Encoding: chunked")
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered already: the rest would not be read
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                sent += len(chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed; its answer is still to be read
        raw = _read_all(sock, deadline=started + timeout)
    seconds = time.monotonic() - started
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    parsed = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return Reply(status=status, headers=parsed, body=body, seconds=seconds, sent=sent)


def _read_all(sock: socket.socket, *, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            piece = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not piece:
            break
        data += piece
    if not data:
        raise ConnectionError("no answer at all")
    return data


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return out
