"""An Apache load balancer whose SSLProxyMachineCertificateFile holds several client certificates, against the REAL
Apache: mod_ssl presents the one whose issuer the backend names in its CertificateRequest (the first CA named that
issued any of them), the first when the backend names none, and none when none was issued by a CA it names
(ssl_callback_proxy_cert). The backends are HAProxy TLS listeners that require a client certificate of their
`ca-file` (whose CAs they name): a proxied request is 200 when Apache presented one they take, 502 when not.

The collection (lb_backend_info through the real module runner) presented the file's first certificate to every
backend: CLIENT_CERT_REJECTED where Apache got 200, and a certificate where Apache sent none (a review of
2026-12-07). It must now present what Apache presents, and agree with each proxied status.
"""

from __future__ import annotations

import contextlib

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, HAProxyLB, free_ports, http_status

ROOT = pki.issue("Identities Root CA", ca=True, days=3650)
LEAF = pki.issue("backend.test", issuer=ROOT, names=["backend.test"])
CAS = {name: pki.issue("Identities Client CA %s" % name, ca=True, days=3650) for name in ("one", "two", "three")}
CLIENTS = {name: pki.issue("lb-client-%s" % name, issuer=CAS[name], eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))
           for name in ("one", "two")}
# backend -> (the CAs it names and takes, in its ca-file; Apache's answer: 200 when it presents one of theirs)
BACKENDS = {"takes_one": (["one"], 200), "takes_two": (["two"], 200), "takes_three": (["three"], 502),
            "takes_three_then_two": (["three", "two"], 200), "takes_two_tls12": (["two"], 200)}
BIND_EXTRA = {"takes_two_tls12": " ssl-max-ver TLSv1.2"}  # the CA names in the message itself, not an extension


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "apache-identities")
    *ports, lb_port = free_ports(len(BACKENDS) + 1)
    ports = dict(zip(BACKENDS, ports))
    served = pki.write(base / "backend.pem", LEAF.pem + LEAF.key_pem(), 0o600)
    frontends = ""
    for name, (cas, _answer) in BACKENDS.items():
        ca_file = pki.write(base / ("%s-cas.pem" % name), "".join(CAS[ca].pem for ca in cas))
        frontends += ("frontend fe_%s\n    bind 127.0.0.1:%d ssl crt %s ca-file %s verify required%s\n"
                      "    http-request return status 200 content-type text/plain string %s\n"
                      % (name, ports[name], served, ca_file, BIND_EXTRA.get(name, ""), name))
    backends = HAProxyLB(base / "backends", lbjudge.haproxy_head() + frontends)
    identities = pki.write(base / "identities.pem", "".join(
        CLIENTS[name].pem + CLIENTS[name].key_pem() for name in ("one", "two")), 0o600)
    apache = ApacheLB(base / "apache", [lb_port], (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerExpire off\n"
        "SSLProxyMachineCertificateFile %s\n<VirtualHost 127.0.0.1:%d>\n%s</VirtualHost>\n" % (
            identities, lb_port, "".join("    ProxyPass /%s/ https://127.0.0.1:%d/\n" % (name, port)
                                         for name, port in ports.items()))))
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (backends, apache):
            running.enter_context(server)
        yield {"apache": apache, "lb_port": lb_port, "ports": ports, "base": base}


def test_apache_presents_the_certificate_the_backend_names_and_the_collection_presents_it_too(world):
    said = {name: http_status("http://127.0.0.1:%d/%s/" % (world["lb_port"], name)) for name in BACKENDS}
    assert said == {name: answer for name, (_cas, answer) in BACKENDS.items()}, said
    view = lbjudge.read({"apache": world["apache"]})
    items = {item["location"].split()[-1].strip("/"): item for item in view["lb_backends"]}
    assert set(items) == set(BACKENDS), items
    reached = {name: (items[name]["endpoint"]["ok"], (items[name]["endpoint"]["error"] or {}).get("code"))
               for name in BACKENDS}
    assert reached == {"takes_one": (True, None), "takes_two": (True, None),
                       "takes_three": (False, "CLIENT_CERT_REQUIRED"), "takes_three_then_two": (True, None),
                       "takes_two_tls12": (True, None)}, reached
    assert items["takes_two_tls12"]["endpoint"]["tls_version"] == "TLSv1.2"
    for name, (_cas, answer) in BACKENDS.items():
        assert (items[name]["endpoint"]["ok"] and not items[name]["error"]) is (answer == 200), items[name]
    # the file's first certificate is what the entry names (the one the backend takes is the probe's choice)
    assert items["takes_two"]["client_cert"]["fingerprint_sha256"] == CLIENTS["one"].fingerprint


OTHER_KEY = pki.new_key()


def _layout(name):
    """An SSLProxyMachineCertificateFile's text in other layouts (a review of 2026-12-07): a key before its
    certificate (OpenSSL pairs them all the same; not reproduced here), the second pair indented (OpenSSL reads no
    BEGIN line that does not start its line: Apache has the first alone), the second key not its certificate's
    (Apache refuses to start, AH02326)."""
    one, two = CLIENTS["one"], CLIENTS["two"]
    return {
        "key_first": one.key_pem() + one.pem + two.key_pem() + two.pem,
        "indented": one.pem + one.key_pem() + "".join("  %s\n" % line
                                                      for line in (two.pem + two.key_pem()).splitlines()),
        "mismatch": one.pem + one.key_pem() + two.pem + pki.Issued(two.cert, OTHER_KEY).key_pem(),
    }[name]


# layout -> (Apache's answer to the backend taking TWO: a status, or None when it does not start; the collection's
# error code for that backend)
LAYOUTS = {"key_first": (200, "UNSUPPORTED_SETTING"), "indented": (502, "CLIENT_CERT_REQUIRED"),
           "mismatch": (None, "INVALID_CONFIG")}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_file_of_another_layout_is_read_as_apache_reads_it_or_not_judged(world, tmp_path, layout):
    answer, code = LAYOUTS[layout]
    identities = pki.write(tmp_path / "identities.pem", _layout(layout), 0o600)
    lb_port, = free_ports(1)
    apache = ApacheLB(tmp_path / "apache", [lb_port], (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerExpire off\n"
        "SSLProxyMachineCertificateFile %s\n<VirtualHost 127.0.0.1:%d>\n    ProxyPass /takes_two/ https://127.0.0.1:%d/\n"
        "</VirtualHost>\n" % (identities, lb_port, world["ports"]["takes_two"])))
    if answer is None:
        with pytest.raises(RuntimeError, match="apache2"):
            with apache:
                pass
        assert "AH02326" in (apache.dir / "error.log").read_text()
    else:
        with apache:
            assert http_status("http://127.0.0.1:%d/takes_two/" % lb_port) == answer
    (item,) = lbjudge.read({"apache": apache})["lb_backends"]
    assert (item["endpoint"]["error"] or {}).get("code") == code, item["endpoint"]


def test_blocks_openssl_skips_are_skipped_and_the_pair_the_backend_names_is_presented(world, tmp_path):
    """`openssl ecparam -genkey` writes EC PARAMETERS before the key: OpenSSL's reader skips such blocks, and so does
    the collection now (it was UNSUPPORTED_SETTING for a while, a review of 2026-12-07). The backend naming TWO gets
    the second pair."""
    one, two = CLIENTS["one"], CLIENTS["two"]
    params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    identities = pki.write(tmp_path / "identities.pem", one.pem + params + one.key_pem() + two.pem + params
                           + two.key_pem(), 0o600)
    lb_port, = free_ports(1)
    apache = ApacheLB(tmp_path / "apache", [lb_port], (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerExpire off\n"
        "SSLProxyMachineCertificateFile %s\n<VirtualHost 127.0.0.1:%d>\n    ProxyPass /takes_two/ https://127.0.0.1:%d/\n"
        "</VirtualHost>\n" % (identities, lb_port, world["ports"]["takes_two"])))
    with apache:
        assert http_status("http://127.0.0.1:%d/takes_two/" % lb_port) == 200
    (item,) = lbjudge.read({"apache": apache})["lb_backends"]
    assert item["endpoint"]["ok"] and item["endpoint"]["error"] is None, item["endpoint"]


@pytest.mark.parametrize("directive", ["SSLProxyMachineCertificatePath", "SSLProxyMachineCertificateChainFile"])
def test_client_certificates_from_a_directory_or_a_chain_file_are_not_judged(world, tmp_path, directive):
    """Apache presents a certificate of SSLProxyMachineCertificatePath (200 from the backend taking TWO); the probe,
    which does not read it, presented none: CLIENT_CERT_REQUIRED where Apache got 200 (a review of 2026-12-07). Both
    directives are UNSUPPORTED_SETTING now, as the chain file's certificates take part in Apache's choice too."""
    two = CLIENTS["two"]
    if directive == "SSLProxyMachineCertificatePath":
        (tmp_path / "machine").mkdir()
        pki.write(tmp_path / "machine" / "two.pem", two.pem + two.key_pem(), 0o600)
        lines = "SSLProxyMachineCertificatePath %s\n" % (tmp_path / "machine")
    else:
        lines = "SSLProxyMachineCertificateFile %s\nSSLProxyMachineCertificateChainFile %s\n" % (
            pki.write(tmp_path / "two.pem", two.pem + two.key_pem(), 0o600),
            pki.write(tmp_path / "chain.pem", CAS["two"].pem))
    lb_port, = free_ports(1)
    apache = ApacheLB(tmp_path / "apache", [lb_port], (
        "SSLProxyEngine on\nSSLProxyVerify none\nSSLProxyCheckPeerName off\nSSLProxyCheckPeerExpire off\n%s"
        "<VirtualHost 127.0.0.1:%d>\n    ProxyPass /takes_two/ https://127.0.0.1:%d/\n</VirtualHost>\n"
        % (lines, lb_port, world["ports"]["takes_two"])))
    with apache:
        assert http_status("http://127.0.0.1:%d/takes_two/" % lb_port) == 200
    (item,) = lbjudge.read({"apache": apache})["lb_backends"]
    assert item["error"]["code"] == "UNSUPPORTED_SETTING" and directive in item["error"]["message"], item
