"""Length-prefixed frames between the server and its inference worker, over one stream socket.

Each frame is an 8-byte big-endian length and a pickled tuple; every call and every answer carries the call's
id, so an answer can only ever be handed to the call that asked for it. The worker side reads and writes a
blocking socket; the server side reads only through asyncio streams, which keep their own buffer: a large
answer that arrives in pieces is assembled there, never taken for a closed pipe (reading a
``multiprocessing.Connection`` synchronously from the loop did exactly that once uvloop had made its socket
non-blocking, and every later answer went to the request after the one that asked).

Pickle is the process boundary's own format here (what ``multiprocessing`` sends); nothing is read from disk.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from multiprocessing.reduction import ForkingPickler
from typing import Any

_HEADER = struct.Struct("!Q")


def encode(message: tuple[Any, ...]) -> bytes:
    payload = bytes(ForkingPickler.dumps(message))
    return _HEADER.pack(len(payload)) + payload


def decode(payload: bytes) -> tuple[Any, ...]:
    message = ForkingPickler.loads(payload)
    if not isinstance(message, tuple):
        raise ValueError(f"expected a tuple frame, got {type(message).__name__}")
    return message


def crosses(obj: Any) -> bool:
    """True when ``obj`` survives the trip through a frame (it pickles and unpickles)."""
    try:
        ForkingPickler.loads(ForkingPickler.dumps(obj))
    except Exception:
        return False
    return True


def send(sock: socket.socket, message: tuple[Any, ...]) -> None:
    """Write one frame on a blocking socket (``sendall`` writes all of it or raises)."""
    sock.sendall(encode(message))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError(f"the peer closed the socket after {got} of {n} bytes")
        got += k
    return bytes(buf)


def recv(sock: socket.socket) -> tuple[Any, ...]:
    """Read one whole frame from a blocking socket; EOFError when the peer has gone."""
    (n,) = _HEADER.unpack(_recv_exactly(sock, _HEADER.size))
    return decode(_recv_exactly(sock, n))


async def read(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """Read one whole frame from a stream; ``asyncio.IncompleteReadError`` when the peer has gone."""
    (n,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    return decode(await reader.readexactly(n))
