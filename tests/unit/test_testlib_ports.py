"""The test worlds' port picker: a world's ports, picked before any is bound, are distinct, and each is free."""

from __future__ import annotations

import socket

from testlib.servers import free_port, free_ports


def test_ports_picked_for_one_world_are_distinct_and_free():
    # The kernel offers a just-released port again now and then: 2,000 free_port() calls in a row repeat a port
    # about 70 times (birthday odds over the ephemeral range); a world binding them later got two listeners on one
    # port (tests/integration/test_lb_backend_info.py failed that way once in CI, 2026-12-04).
    ports = free_ports(2000)
    assert len(ports) == 2000
    assert len(set(ports)) == len(ports)
    for port in ports[-5:]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # nothing holds it


def test_ports_picked_one_call_at_a_time_are_distinct():
    # pebble's fixture picks its ACME, management and DNS ports with one free_port() call each; CI (2026-12-05) once
    # got 35903 for both the ACME and the DNS server, and pebble failed to bind.
    ports = [free_port() for _index in range(2000)]
    assert len(set(ports)) == len(ports)
