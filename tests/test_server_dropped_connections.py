"""LocalModelServer under dropped connections: a client's reset prints no traceback."""

from __future__ import annotations

import socket
import struct
import time

import pytest

from agentkit.testing.server import LocalModelServer


def _reset_after_one_request(server: LocalModelServer) -> None:
    """Send one keep-alive request, read the answer, then reset the connection (RST)."""
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
        received = b""
        while b"local-model" not in received:
            received += sock.recv(4096)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_a_client_resetting_a_keep_alive_connection_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A client dropping its keep-alive connection (a reset) leaves stderr empty."""
    with LocalModelServer() as server:
        for _ in range(3):
            _reset_after_one_request(server)
        deadline = time.monotonic() + 30  # wait for the handlers to see the resets
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err, err
