"""The probe's client context: how it watches the handshake's messages.

The message callback is set on the C-level context underneath ssl.SSLContext, whose own setter would wrap it in a
function turning three arguments into enums on each of the handshake's twenty-odd calls (a sixth of a probe's CPU).
What the callback sees on real handshakes, on every target Python, is tested in test_probe_mtls and
test_target_pythons."""

from __future__ import annotations

import _ssl
import socket

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _probe


def test_the_callback_is_set_underneath_ssl_contexts_wrapper():
    for settings in (None, {"min_version": "TLSv1.2", "max_version": None, "ciphers": None}):
        ctx = _probe.client_context(lb_settings=settings)
        assert ctx.watching is True
        assert _ssl._SSLContext._msg_callback.__get__(ctx) is _probe._record_message
        assert ctx._msg_callback is _probe._record_message  # ssl.SSLContext's property reads it back


class _Connection:
    pass


def test_the_callback_takes_the_plain_integers_openssl_gives():
    conn = _Connection()
    setattr(conn, _probe._SEEN, {"messages": []})
    certificate = b"\x0b\x00\x00\x03\x00\x00\x00"
    for args in (("read", 0x0303, 256, 22, b"\x16\x03\x03\x00\x04"),  # a record header: not kept
                 ("read", 0x0303, 22, 11, certificate), ("read", 0x0303, 22, 13, b"\x0d"),
                 ("read", 0x0303, 21, 40, b"\x02\x28")):
        _probe._record_message(conn, *args)
    seen = getattr(conn, _probe._SEEN)
    assert seen["messages"] == [("read", 22, 11, 0x0303), ("read", 22, 13, 0x0303), ("read", 21, 40, 0x0303)]
    assert seen["certificate"] == (0x0303, certificate)
    assert _probe._asked(seen) is True and _probe._last_alert(seen) == 40 and _probe._served_version(seen) == "TLSv1.2"


def test_a_key_type_behind_a_proxy_header_on_a_server_that_is_down_says_it_is_down():
    """An Ed25519 certificate is asked for by signature algorithm, which only openssl s_client sets, and s_client
    sends no PROXY protocol header: behind one the probe takes the server's own choice when it is of that type, else
    says UNSUPPORTED_SETTING (tests/integration/test_discovery_key_types.py); a server that is not there is that
    (CONNECTION_REFUSED), not hidden behind what s_client cannot do."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: refused
        result = _probe.probe_many([{"host": "127.0.0.1", "port": port, "server_name": "a.test",
                                     "key_type": "Ed25519", "proxy_protocol": "v1"}], timeout=2, concurrency=1)[0]
    assert result["ok"] is False and result["chain_der"] == []
    assert result["error"]["code"] == "CONNECTION_REFUSED", result["error"]


def test_a_key_types_context_offers_only_that_types_suites_below_tls_1_3():
    contexts = {}
    for key_type in ("RSA", "EC"):
        ctx = _probe.client_context(lb_settings={"min_version": None, "max_version": "TLSv1.2",
                                                 "ciphers": _probe.KEY_TYPES[key_type][0]})
        contexts[key_type] = {c["name"] for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"}
    assert contexts["RSA"] and contexts["EC"] and not contexts["RSA"] & contexts["EC"]
    assert all("ECDSA" in name for name in contexts["EC"]) and not any("ECDSA" in n for n in contexts["RSA"])


def test_an_endpoints_key_types_are_those_a_probe_can_ask_for():
    """parse_endpoint takes a key_type from _base.KEY_TYPES (so that parsing an endpoint imports no prober), and the
    prober says how it asks for each in _probe.KEY_TYPES: one list of names, in one order (messages list them)."""
    assert tuple(_probe.KEY_TYPES) == _base.KEY_TYPES


def test_which_sni_python_can_send():
    """Python's ssl sends no IP address as SNI and refuses a name IDNA cannot encode: those a load balancer sends
    (HAProxy's check-sni 127.0.0.1) are read with openssl s_client instead (_with_openssl_sni)."""
    assert [name for name in ("backend.test", "xn--bcher-kva.test", "bücher.test", None, "")
            if not _probe.sendable_sni(name)] == []
    assert [name for name in ("127.0.0.1", "::1", "2001:db8::1", ".backend.test", "a..b", "x" * 64 + ".test")
            if _probe.sendable_sni(name)] == []


def test_an_unusable_client_certificate_stays_the_error_when_the_sni_needs_openssl(tmp_path):
    """A load balancer target whose SNI Python cannot send (an IP address) and whose client certificate cannot be
    used: that error, not a handshake s_client made without the certificate (for a while on 2026-12-07 the second
    came back ok from a server that asks for no certificate, a review of that change). Real TLS on loopback."""
    from testlib import faultpeers, pki

    ca = pki.CA("SNI unit")
    leaf = ca.leaf("127.0.0.1")
    missing = str(tmp_path / "no-such-client.pem")
    settings = {"min_version": None, "max_version": None, "ciphers": None, "ciphersuites": None}
    with faultpeers.TLSServer(ca.chain_pem(leaf), leaf.key_pem()) as server:
        (unusable, usable) = _probe.probe_many([
            {"host": "127.0.0.1", "port": server.port, "server_name": "127.0.0.1", "lb_settings": settings,
             "client_cert": missing},
            {"host": "127.0.0.1", "port": server.port, "server_name": "127.0.0.1", "lb_settings": settings},
        ], timeout=10, concurrency=1)
    assert not unusable["ok"] and unusable["error"]["code"] == "NOT_FOUND", unusable
    assert usable["ok"] and usable["chain_der"][0] == leaf.der, usable  # read with s_client -servername
