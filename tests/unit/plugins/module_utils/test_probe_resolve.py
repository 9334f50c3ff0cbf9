"""How the probe finds an endpoint's addresses: an address as it is, a name in a thread bounded by the deadline."""

from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _probe
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError


@pytest.fixture
def started(monkeypatch):
    """The names of the threads _probe starts (real threads, recorded as they start)."""
    names = []

    class Recorded(threading.Thread):
        def start(self):
            names.append(self.name)
            super().start()

    monkeypatch.setattr(_probe.threading, "Thread", Recorded)
    return names


def test_an_address_is_used_as_it_is_without_a_thread(started):
    """Probing 200 backends by address started 200 resolver threads for nothing (about 0.3 ms each)."""
    deadline = time.monotonic() + 5
    assert [a[4][:2] for a in _probe._resolve("127.0.0.1", 8443, deadline)] == [("127.0.0.1", 8443)]
    assert [a[4][:2] for a in _probe._resolve("::1", 8443, deadline)] == [("::1", 8443)]
    assert started == []


def test_a_name_is_looked_up_in_a_thread(started):
    addresses = _probe._resolve("localhost", 8443, time.monotonic() + 5)
    assert ("127.0.0.1", 8443) in [a[4][:2] for a in addresses]
    assert started == ["resolve-localhost"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_deadline_already_past_is_a_timeout_either_way(host):
    with pytest.raises(CertError) as caught:
        _probe._resolve(host, 8443, time.monotonic() - 1)
    assert caught.value.code == "TIMEOUT"


def test_a_name_that_does_not_resolve_is_a_dns_failure():
    with pytest.raises(CertError) as caught:
        _probe._resolve("no-such-host.invalid", 8443, time.monotonic() + 10)
    assert caught.value.code == "DNS_FAILURE" and "no-such-host.invalid" in caught.value.message
