"""How a run finds its Ray: a local one unless an address is given, and a given address must answer in time."""

import socket
import threading
import time

import pytest

from operators.execution.executor import RayUnreachableError, start_ray
from tests.conftest import free_port


def test_an_address_nobody_listens_on_fails_in_one_line_within_the_timeout(monkeypatch):
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("RAY_ADDRESS", address)  # the address may come from the environment
    t0 = time.monotonic()
    with pytest.raises(RayUnreachableError) as e:
        start_ray(timeout=1.5)
    assert time.monotonic() - t0 < 10
    assert str(e.value) == (f"Ray cluster at {address} did not answer within 1.5 s; "
                            "is it running (`ray status`)?")


def test_a_listener_that_is_not_a_ray_head_does_not_answer():
    """A port that accepts connections but speaks no gRPC (a stale port reused by something else) is not a cluster."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        accepted = []
        threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
        host, port = server.getsockname()
        address = f"{host}:{port}"
        with pytest.raises(RayUnreachableError, match=f"Ray cluster at {address} did not answer"):
            start_ray(address, timeout=1.5)
        assert accepted  # it did connect: the handshake, not the TCP port, decides
