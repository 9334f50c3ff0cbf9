"""Server names as users write them, and OpenSSL's name matching checked against the real `openssl verify`."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _names, _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from testlib import pki

CA = pki.CA("Names")


@pytest.mark.parametrize("written,normal", [
    ("shop.example", "shop.example"),
    ("SHOP.Example.", "shop.example"),  # case and the root label
    ("bücher.example", "xn--bcher-kva.example"),  # IDN to its A-label
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),  # an A-label as given
    ("BÜCHER.example", "xn--bcher-kva.example"),
    ("*.shop.example", "*.shop.example"),  # a wildcard server_name, checked as a pattern
    ("a_b.example", "a_b.example"),  # underscores: OpenSSL accepts them
    ("127.0.0.1", "127.0.0.1"),
    ("[::1]", "::1"),
    ("2001:DB8::1", "2001:db8::1"),
    (" shop.example ", "shop.example"),
])
def test_normalize(written, normal):
    assert _names.normalize(written) == normal


@pytest.mark.parametrize("written,says", [
    ("", "empty server name"),
    ("   ", "empty server name"),
    (".example", "starts with a dot"),
    ("a..example", "is not a DNS name"),
    ("shop example", "is not a DNS name"),
    ("shop.example..", "is not a DNS name"),
    ("-shop.example", "is not a DNS name"),
    ("a" * 64 + ".example", "is not a DNS name"),
    ("*", "wildcard"),
    ("*.example", "wildcard"),
    ("f*.shop.example", "wildcard"),
    ("a.*.example", "wildcard"),
])
def test_names_no_load_balancer_asks_for_are_argument_errors(written, says):
    with pytest.raises(CertError) as info:
        _names.normalize(written)
    assert info.value.code == "INVALID_ARGUMENT" and says in info.value.message
    assert repr(written) in info.value.message or not written.strip()


def test_a_non_string_name_is_an_argument_error():
    with pytest.raises(CertError) as info:
        _names.normalize(7)
    assert info.value.code == "INVALID_ARGUMENT"


# (leaf SANs, leaf CN, IP SANs, name asked for): OpenSSL's verdict is what `openssl verify` says.
MATCH_CASES = [
    (["app.test"], "app.test", [], "app.test"),
    (["app.test"], "app.test", [], "APP.TEST"),
    (["APP.test"], "app.test", [], "app.test"),
    (["*.app.test"], "w", [], "foo.app.test"),
    (["*.app.test"], "w", [], "app.test"),  # the wildcard must match a label
    (["*.app.test"], "w", [], "a.b.app.test"),  # one label only
    (["*.app.test"], "w", [], "*.app.test"),  # a wildcard name, covered by the same wildcard
    (["x.app.test"], "w", [], "*.app.test"),  # ... and by nothing else
    (["f*.app.test"], "w", [], "foo.app.test"),  # partial wildcards: OpenSSL allows them
    (["*o.app.test"], "w", [], "foo.app.test"),
    (["f*o.app.test"], "w", [], "foo.app.test"),  # but not in the middle of a label
    (["*.test"], "w", [], "app.test"),  # not in the last two labels
    (["xn--*.app.test"], "w", [], "xn--bcher-kva.app.test"),  # no wildcards in IDNA labels
    (["*.app.test"], "w", [], "xn--bcher-kva.app.test"),  # a whole-label wildcard matches an A-label
    (["f*.app.test"], "w", [], "xn--bcher-kva.app.test"),
    (["a_b.test"], "w", [], "a_b.test"),
    (["*.a_b.test"], "w", [], "x.a_b.test"),  # an underscore makes the pattern literal
    (["app.test."], "w", [], "app.test"),  # OpenSSL 3.0 does not drop the root label
    ([], "cn-only.test", [], "cn-only.test"),  # no SAN at all: the CN is used
    ([], "CN-Only.test", [], "cn-only.test"),
    (["other.test"], "cn-only.test", [], "cn-only.test"),  # a DNS SAN present: the CN is not used
    ([], "cn-only.test", ["127.0.0.1"], "cn-only.test"),  # only an IP SAN: the CN is used for names
    (["127.0.0.1"], "w", [], "127.0.0.1"),  # an address asked for matches IP SANs only
    ([], "w", ["127.0.0.1"], "127.0.0.1"),
    ([], "w", ["::1"], "::1"),
    ([], "w", ["::ffff:127.0.0.1"], "127.0.0.1"),
    ([], "127.0.0.1", [], "127.0.0.1"),
]


def _openssl_says(leaf, name, tmp_path):
    ca_file, leaf_file = tmp_path / "ca.pem", tmp_path / "leaf.pem"
    ca_file.write_text(CA.root.pem)
    leaf_file.write_text(leaf.pem)
    (tmp_path / "untrusted.pem").write_text(CA.intermediate.pem)
    flag = "-verify_ip" if _is_ip(name) else "-verify_hostname"
    proc = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-no-CApath", "-no-CAstore", "-CAfile",
                           str(ca_file), "-untrusted", str(tmp_path / "untrusted.pem"), flag, name, str(leaf_file)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 or "error 62 " in proc.stderr or "error 64 " in proc.stderr, proc.stderr
    return proc.returncode == 0


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("sans,cn,ips,name", MATCH_CASES)
def test_openssl_matches_is_what_openssl_verify_says(sans, cn, ips, name, tmp_path):
    leaf = CA.leaf(cn, names=sans, ips=ips)
    dns, ip_sans = _verify._sans(leaf.cert)
    expected = _openssl_says(leaf, name, tmp_path)
    assert _names.openssl_matches(name, dns, ip_sans, _verify._common_names(leaf.cert)) is expected


@pytest.mark.parametrize("written,checked", [
    (["a.test", "b.test"], ["a.test", "b.test"]),  # every name, not the first
    (["a.test", "A.TEST.", "b.test"], ["a.test", "b.test"]),
    (["*.a.test"], ["*.a.test"]),  # a wildcard server_name is checked as a pattern
    ([".a.test"], ["a.test", "*.a.test"]),  # nginx: the name and every name under it
    (["_", "", "~^www\\d+\\.a\\.test$", "www.a.*", "$hostname", "a.test"], ["a.test"]),  # nothing to check in those
    (["bücher.test"], ["xn--bcher-kva.test"]),
    ([], []),
])
def test_checkable_names(written, checked):
    assert _names.checkable_names(written) == checked
