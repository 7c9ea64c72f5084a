"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the load generator.

httpx costs more CPU per request than the server under test spends on a cache hit; on two
shared cores that would measure the client. This one does only what the load needs:
one request at a time per connection, Content-Length or chunked bodies.
"""

from __future__ import annotations

import asyncio


class HttpError(Exception):
    """The connection broke or the response was not HTTP/1.1 we understand."""


class HttpConnection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        """Send one request and read its response: (status, body). Raises HttpError."""
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            head.extend(f"{k}: {v}" for k, v in headers.items())
            if body is not None:
                head.append("Content-Type: application/json")
                head.append(f"Content-Length: {len(body)}")
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
            status, keep_alive, payload = await read_response(self._reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            self.close()
            raise HttpError(repr(e)) from e
        if not keep_alive:
            self.close()
        return status, payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """(status, keep_alive, body) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x status line: {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close"
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))  # chunk + CRLF
            if size == 0:
                break
        return status, keep_alive, b"".join(c[:-2] for c in chunks)
    length = int(headers.get("content-length", "0"))
    return status, keep_alive, await reader.readexactly(length)
