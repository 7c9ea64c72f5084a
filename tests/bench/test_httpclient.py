"""The load generator's HTTP/1.1 response parsing."""

from __future__ import annotations

import asyncio

import pytest
from bench.httpclient import read_response


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_content_length_body_and_the_next_response_on_the_same_connection() -> None:
    reader = _reader(
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-type: application/json\r\n\r\nhello"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"
    )

    assert await read_response(reader) == (200, True, b"hello")
    assert await read_response(reader) == (404, True, b"{}")


async def test_chunked_body_is_reassembled() -> None:
    reader = _reader(
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n"
    )

    assert await read_response(reader) == (201, True, b"Wikipedia")


async def test_connection_close_is_reported() -> None:
    reader = _reader(b"HTTP/1.1 503 Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    assert await read_response(reader) == (503, False, b"")


async def test_a_cut_off_body_raises() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await read_response(_reader(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))


async def test_a_non_http_reply_raises() -> None:
    with pytest.raises(ValueError, match="status line"):
        await read_response(_reader(b"SSH-2.0-OpenSSH\r\n\r\n"))
