"""The probe's client context: how it watches the handshake's messages.

The message callback is set on the C-level context underneath ssl.SSLContext, whose own setter would wrap it in a
function turning three arguments into enums on each of the handshake's twenty-odd calls (a sixth of a probe's CPU).
What the callback sees on real handshakes, on every target Python, is tested in test_probe_mtls and
test_target_pythons."""

from __future__ import annotations

import _ssl
import socket

from ansible_collections.certops.backend_tls.plugins.module_utils import _base, _probe, _probe_lb


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
    assert _probe._asked(seen) is True and _probe._last_alert(seen) == 40
    assert _probe_lb._served_version(seen) == "TLSv1.2"


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


def test_an_encrypted_client_key_opened_by_a_password_file_is_presented_by_python_and_by_s_client(tmp_path):
    """nginx's proxy_ssl_password_file: the probe decrypts the client key with the password of the file that opens
    it, as nginx does, and presents the certificate both from Python's ssl (a name it can send) and from openssl
    s_client (an IP-address SNI), which reads the password from its stdin. The server refuses a handshake without a
    client certificate of its CA. Real TLS on loopback."""
    import ssl

    from cryptography.x509.oid import ExtendedKeyUsageOID

    from testlib import faultpeers, pki

    ca = pki.CA("Password unit")
    leaf = ca.leaf("127.0.0.1", names=["backend.test"], ips=["127.0.0.1"])
    client_ca = pki.issue("Password unit client CA", ca=True)
    client = pki.issue("lb-client", issuer=client_ca, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    cert = pki.write(tmp_path / "client.crt", client.pem)
    key = pki.write(tmp_path / "client.key", client.key_pem(b"pass word 2"), 0o600)
    right = pki.write(tmp_path / "right.pass", "pass word 1\n\npass word 2\r\n", 0o600)
    wrong = pki.write(tmp_path / "wrong.pass", "pass word 1\n", 0o600)
    settings = {"min_version": None, "max_version": None, "ciphers": None, "ciphersuites": None}
    with faultpeers.TLSServer(ca.chain_pem(leaf), leaf.key_pem()) as server:
        server.context.verify_mode = ssl.CERT_REQUIRED
        server.context.load_verify_locations(cadata=client_ca.pem)
        targets = [dict({"host": "127.0.0.1", "port": server.port, "server_name": name, "lb_settings": settings,
                         "client_cert": str(cert), "client_key": str(key)}, **extra)
                   for name in ("backend.test", "127.0.0.1")
                   for extra in ({"client_key_passwords": str(right)}, {"client_key_passwords": str(wrong)}, {})]
        results = _probe.probe_many(targets, timeout=10, concurrency=1)
    by_python, by_python_wrong, by_python_none, by_s_client, by_s_client_wrong, by_s_client_none = results
    for result in (by_python, by_s_client):
        assert result["ok"] and result["chain_der"][0] == leaf.der, result
    for result in (by_python_wrong, by_s_client_wrong):
        assert result["error"]["code"] == "ENCRYPTED" and "1 password(s) in %s" % wrong in result["error"]["message"]
    for result in (by_python_none, by_s_client_none):
        assert result["error"]["code"] == "ENCRYPTED", result
    assert "pass word" not in repr(results)


def test_a_password_file_is_read_as_nginx_reads_it(tmp_path):
    def read(data):
        path = tmp_path / "p"
        path.write_bytes(data)
        return _probe_lb.read_password_file(str(path))

    assert read(b"one\r\n\n\ntwo \nthree") == [b"one", b"two ", b"three"]  # a CR dropped, a space kept
    assert read(b"") == [b""] and read(b"\n\r\n") == [b""]  # no password: one empty one, as nginx
    assert read(b"a\r\r\n") == [b"a\r"]  # nginx drops one CR before the line end
    assert read(b"x" * 4095 + b"\n") == [b"x" * 4095]
    try:
        read(b"x" * 4096 + b"\n")
    except _base.CertError as exc:
        assert exc.code == "INVALID_CONFIG" and "x" * 8 not in exc.message
    else:
        raise AssertionError("a line nginx refuses was read")
    try:
        _probe_lb.read_password_file(str(tmp_path / "missing"))
    except _base.CertError as exc:
        assert exc.code == "NOT_FOUND" and "password file" in exc.message
    else:
        raise AssertionError("a missing file was read")


def test_a_key_type_asked_of_a_peer_that_speaks_no_tls_is_not_tls():
    """Ed25519 is asked for with openssl s_client alone (its signature algorithms): a plain HTTP server answering
    it was TLS_HANDSHAKE_FAILED, where every other probe of it says NOT_TLS (a hunt of 2026-12-07)."""
    from testlib import faultpeers

    with faultpeers.PlainHTTP() as server:
        results = _probe.probe_many([{"host": "127.0.0.1", "port": server.port, "server_name": "a.test",
                                      "key_type": key_type} for key_type in ("Ed25519", "EC")], timeout=10,
                                    concurrency=1)
    assert [r["error"]["code"] for r in results] == ["NOT_TLS", "NOT_TLS"], results


def test_the_ca_names_of_a_certificate_request_and_the_certificate_apache_picks_by_them():
    """ca_names reads TLS 1.2's list and TLS 1.3's certificate_authorities extension; what cannot be read is None.
    apache_choice compares names as X509_NAME_cmp does (OpenSSL's canonical encoding: case and blanks aside)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]).public_bytes()

    def vector(items, width=2):
        body = b"".join(len(i).to_bytes(2, "big") + i for i in items)
        return len(body).to_bytes(width, "big") + body

    def message(body):
        return bytes([13]) + len(body).to_bytes(3, "big") + body

    names = [name("Client CA One"), name("Client CA Two")]
    tls12 = message(b"\x01\x40" + b"\x00\x02\x04\x03" + vector(names))  # types, signature algorithms, names
    extension = (47).to_bytes(2, "big") + len(vector(names)).to_bytes(2, "big") + vector(names)
    other = (13).to_bytes(2, "big") + b"\x00\x04\x00\x02\x04\x03"
    tls13 = message(b"\x00" + (len(other + extension)).to_bytes(2, "big") + other + extension)
    assert _probe.ca_names((0x0303, tls12)) == names
    assert _probe.ca_names((0x0304, tls13)) == names
    assert _probe.ca_names((0x0304, message(b"\x00\x00\x08" + other))) == []  # no certificate_authorities
    assert _probe.ca_names((0x0303, tls12[:-3])) is None and _probe.ca_names(None) is None
    identities = [{"issuer": _probe._certs().canonical_name_der(name("client ca  one"))},
                  {"issuer": _probe._certs().canonical_name_der(name("Client CA Two"))}]
    assert _probe_lb.apache_choice(identities, []) == 0
    assert _probe_lb.apache_choice(identities, [name("Client CA Two")]) == 1
    assert _probe_lb.apache_choice(identities, [name("Other"), name("CLIENT CA ONE")]) == 0
    assert _probe_lb.apache_choice(identities, [name("Other"), b"\x30\x01"]) is None


def test_a_password_file_opens_what_openssl_opens_as_nginx_tries_it(tmp_path):
    """The passwords are tried by OpenSSL, as nginx tries them (a review of 2026-12-07 found cryptography trying them
    instead): an empty password, a Camellia-encrypted key and a password line cut to the 1,024 bytes nginx hands
    OpenSSL all open a key nginx opens; a password s_client cannot read (a NUL byte in it) is not judged where only
    s_client can ask, never blamed on the backend. Keys encrypted by the openssl command; real TLS on loopback."""
    import ssl
    import subprocess

    from cryptography.x509.oid import ExtendedKeyUsageOID

    from testlib import faultpeers, pki

    client_ca = pki.issue("Password trial client CA", ca=True)
    client = pki.issue("lb-client", issuer=client_ca, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
    cert = pki.write(tmp_path / "client.crt", client.pem)
    plain = pki.write(tmp_path / "plain.key", client.key_pem(), 0o600)

    def encrypted(name, cipher, password):
        out = tmp_path / name
        subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", cipher, "-in", str(plain), "-out", str(out),
                        "-passout", "pass:" + password], check=True)
        return str(out)

    def passwords(name, text):
        return str(pki.write(tmp_path / name, text, 0o600))

    cases = {  # key, password file, the password that opens it
        "empty": (encrypted("empty.key", "aes-256-cbc", ""), passwords("empty.pass", "\n\n"), b""),
        "camellia": (encrypted("camellia.key", "camellia-256-cbc", "pw1"), passwords("c.pass", "no\npw1\n"), b"pw1"),
        "cut": (encrypted("cut.key", "aes-256-cbc", "a" * 1024), passwords("cut.pass", "a" * 1500 + "\n"),
                b"a" * 1024),
    }
    for case, (key, password_file, password) in cases.items():
        identity = _probe_lb.load_client_identity(str(cert), key, password_file=password_file)
        assert identity["_password"] == password, case
    nul = pki.write(tmp_path / "nul.key", client.key_pem(b"a\0b"), 0o600)
    nul_passwords = pki.write(tmp_path / "nul.pass", b"a\0b\n", 0o600)
    assert _probe_lb.load_client_identity(str(cert), str(nul), password_file=str(nul_passwords))["_password"] == b"a\0b"
    ca = pki.CA("Password trial")
    leaf = ca.leaf("127.0.0.1", names=["backend.test"], ips=["127.0.0.1"])
    settings = {"min_version": None, "max_version": None, "ciphers": None, "ciphersuites": None}
    with faultpeers.TLSServer(ca.chain_pem(leaf), leaf.key_pem()) as server:
        server.context.verify_mode = ssl.CERT_REQUIRED
        server.context.load_verify_locations(cadata=client_ca.pem)
        by_python, by_s_client = _probe.probe_many([
            {"host": "127.0.0.1", "port": server.port, "server_name": name, "lb_settings": settings,
             "client_cert": str(cert), "client_key": str(nul), "client_key_passwords": str(nul_passwords)}
            for name in ("backend.test", "127.0.0.1")], timeout=10, concurrency=1)
    assert by_python["ok"], by_python
    assert by_s_client["error"]["code"] == "UNSUPPORTED_SETTING" and "NUL" in by_s_client["error"]["message"]


def test_pem_pipes_hand_over_texts_larger_than_a_pipes_buffer():
    """A client certificate of 112 KB (thousands of names) blocked the pipe's writer forever (a review of
    2026-12-07): each text is written from a thread of its own."""
    big, small = b"A" * 300000, b"key"
    with _probe_lb._pem_pipes(big, small) as paths:
        with open(paths[1], "rb") as key, open(paths[0], "rb") as cert:  # read in the other order than written
            assert key.read() == small and cert.read() == big


def test_line_start_pem_reads_begin_lines_as_openssl_does():
    """A BEGIN line counts at the start of a line only; a UTF-8 byte order mark is skipped at the start of the file
    and on the line after an END line (two files saved with one, joined: OpenSSL 3 reads both)."""
    bom = b"\xef\xbb\xbf"
    text = bom + b"-----BEGIN A-----\nx\n-----END A-----\n" + bom + b"-----BEGIN B-----\ny\n-----END B-----\n" \
        + b"  -----BEGIN C-----\nz\n  -----END C-----\n" + b"x" + bom + b"-----BEGIN D-----\n"
    blocks = _base.pem_blocks(_base.line_start_pem(text))[0]
    assert [label for label, _body in blocks] == [b"A", b"B"]
    assert _base.line_start_pem(b"no pem") == b"no pem"
