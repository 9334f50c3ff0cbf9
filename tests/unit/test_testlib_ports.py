"""The test worlds' port picker: ports picked in a row are distinct, and each is free when picked."""

from __future__ import annotations

import socket

from testlib.servers import free_port


def test_ports_picked_in_a_row_are_distinct_and_free():
    # The kernel offers a just-released port again now and then: 2,000 picks of the old free_port() repeated a
    # port about 70 times (birthday odds over the ephemeral range); a test world binding them later got two
    # listeners on one port (tests/integration/test_lb_backend_info.py failed that way once in CI, 2026-12-04).
    ports = [free_port() for _pick in range(2000)]
    assert len(set(ports)) == len(ports)
    for port in ports[-5:]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing holds it
