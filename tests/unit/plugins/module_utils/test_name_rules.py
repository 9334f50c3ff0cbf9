"""How each load balancer matches the name it verifies: `_names.rule_matches`, one row per (leaf, name) with the
verdict of every rule.

The certificates are built here and their names read back as the verifier reads them. Where a row's (leaf, name)
also runs on the real HAProxy, nginx and Apache (tests/integration/test_lb_name_rules.py), those servers said the
same; the other rows follow the servers' sources (HAProxy 2.6 ssl_sock_srv_hostcheck, mod_ssl 2.4
modssl_X509_match_name and its SSLProxyCheckPeerCN compare, nginx 1.22 ngx_http_upstream_ssl_name + OpenSSL 3.0
X509_check_host). Each row states, for all four rules, which accept: a rule that accepts one name too many or too
few fails that row.
"""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _names
from ansible_collections.certops.backend_tls.plugins.module_utils._base import CertError
from testlib import pki

CA = pki.CA("Name rules")

# leaf -> (subject CNs in order, DNS SANs, IP SANs); no subjectAltName at all when both lists are empty
LEAVES = {
    "exact": (["app.rules.test"], ["app.rules.test"], []),
    "upper_san": (["w"], ["APP.Rules.Test"], []),
    "non_ascii_cn": (["bÜcher.rules.test"], [], []),
    "cn_only": (["cn-only.rules.test"], [], []),
    "cn_and_sans": (["cn.rules.test"], ["san.rules.test"], []),
    "two_cns": (["first.rules.test", "second.rules.test"], [], []),
    "no_cn": ([], ["no-cn.rules.test"], []),
    "cn_wild_sans": (["*.cnwild.rules.test"], ["other.rules.test"], []),
    "ip_san": (["ip-leaf"], [], ["127.0.0.1", "::1"]),
    "ip_text_san": (["ip-text-leaf"], ["127.0.0.1", "::1"], []),
    "ip_text_cn": (["127.0.0.1"], [], []),
    "ip_cn_and_ip_san": (["127.0.0.1"], [], ["127.0.0.1"]),
    "ip_wildcard_san": (["w"], ["*.0.0.1"], []),
    "wild": (["w"], ["*.wild.rules.test"], []),
    "partial_prefix": (["w"], ["w*.rules.test"], []),
    "partial_suffix": (["w"], ["*x.rules.test"], []),
    "partial_middle": (["w"], ["a*b.rules.test"], []),
    "idna_partial": (["w"], ["xn--*.rules.test"], []),
    "partial_x": (["w"], ["x*.rules.test"], []),
    "two_stars": (["w"], ["**.rules.test", "*.*.rules.test"], []),
    "one_label": (["*.test"], ["*.test"], []),
    "trailing_dot_san": (["w"], ["dot.rules.test."], []),
}

OPENSSL, HAPROXY, APACHE, APACHE_CN = "openssl", "haproxy", "apache", "apache_cn"
ALL, NONE = (OPENSSL, HAPROXY, APACHE, APACHE_CN), ()

# (leaf, name the load balancer verifies, the rules that accept it); the others refuse it
ROWS = [
    ("exact", "app.rules.test", ALL),
    ("exact", "APP.Rules.TEST", ALL),  # exact match ignores ASCII case
    ("upper_san", "app.rules.test", (OPENSSL, HAPROXY, APACHE)),  # ... on the certificate's side too
    ("non_ascii_cn", "bücher.rules.test", NONE),  # only ASCII letters are folded (strcasecmp, OpenSSL)
    ("non_ascii_cn", "bÜcher.rules.test", ALL),
    ("exact", "app.rules.test.", NONE),  # no rule drops the root label
    ("trailing_dot_san", "dot.rules.test", NONE),
    ("trailing_dot_san", "dot.rules.test.", (OPENSSL, HAPROXY, APACHE)),
    ("exact", "other.rules.test", NONE),
    ("exact", "app.rules.test:443", (OPENSSL,)),  # nginx cuts a port off its name
    ("cn_only", "cn-only.rules.test", ALL),  # no SAN: every rule reads the CN
    ("cn_only", "CN-Only.Rules.test", ALL),
    ("cn_and_sans", "cn.rules.test", (HAPROXY, APACHE, APACHE_CN)),  # OpenSSL ignores the CN once DNS SANs exist
    ("cn_and_sans", "san.rules.test", (OPENSSL, HAPROXY, APACHE)),  # the CN-only check ignores SANs
    ("two_cns", "first.rules.test", ALL),
    ("two_cns", "second.rules.test", (OPENSSL, HAPROXY, APACHE)),  # the CN-only check reads the first CN
    ("no_cn", "no-cn.rules.test", (OPENSSL, HAPROXY, APACHE)),
    ("cn_wild_sans", "a.cnwild.rules.test", (HAPROXY, APACHE, APACHE_CN)),  # a `*.` CN is a wildcard there
    ("cn_wild_sans", "cnwild.rules.test", NONE),
    ("ip_san", "127.0.0.1", NONE),  # no load balancer here matches an IP name against IP SANs
    ("ip_san", "::1", NONE),
    ("ip_san", "[::1]", NONE),
    ("ip_text_san", "127.0.0.1", (OPENSSL, HAPROXY, APACHE)),  # an IP name is text compared with DNS SANs
    ("ip_text_san", "::1", (HAPROXY, APACHE)),  # nginx cuts "::1" at its first ':': nothing is left to match
    ("ip_text_cn", "127.0.0.1", ALL),  # ... and with CNs
    ("ip_cn_and_ip_san", "127.0.0.1", ALL),
    ("ip_wildcard_san", "127.0.0.1", (OPENSSL, HAPROXY, APACHE)),  # even a wildcard stands for IP text
    ("wild", "a.wild.rules.test", (OPENSSL, HAPROXY, APACHE)),
    ("wild", "A.Wild.RULES.test", (OPENSSL, HAPROXY, APACHE)),
    ("wild", "a.b.wild.rules.test", NONE),  # one label only
    ("wild", "wild.rules.test", NONE),  # not no label
    ("wild", "xn--bcher-kva.wild.rules.test", (OPENSSL, HAPROXY, APACHE)),  # a whole-label wildcard, an A-label
    ("wild", "bücher.wild.rules.test", (HAPROXY, APACHE)),  # a U-label: OpenSSL's '*' only stands for LDH text
    ("partial_prefix", "www.rules.test", (OPENSSL, HAPROXY)),  # partial wildcards: not Apache
    ("partial_prefix", "WWW.Rules.TEST", (OPENSSL, HAPROXY)),
    ("partial_prefix", "w.rules.test", (OPENSSL, HAPROXY)),  # the '*' may stand for nothing
    ("partial_prefix", "a.www.rules.test", NONE),
    ("partial_suffix", "box.rules.test", (OPENSSL, HAPROXY)),
    ("partial_middle", "a-to-b.rules.test", (HAPROXY,)),  # OpenSSL: a '*' inside a label is no wildcard
    ("partial_middle", "ab.rules.test", (HAPROXY,)),
    ("partial_middle", "ba.rules.test", NONE),
    ("idna_partial", "xn--bcher-kva.rules.test", (HAPROXY,)),  # OpenSSL: no wildcard in an A-label pattern
    ("partial_x", "xn--bcher-kva.rules.test", (HAPROXY,)),  # OpenSSL: an A-label name matches no partial wildcard
    ("two_stars", "a.rules.test", NONE),  # two '*' in the label: no wildcard at all
    ("two_stars", "a.b.rules.test", NONE),  # a '*' past the left-most label is text
    ("two_stars", "*.*.rules.test", (OPENSSL, HAPROXY, APACHE)),  # ... which an identical name matches
    ("one_label", "a.test", (HAPROXY, APACHE, APACHE_CN)),  # OpenSSL wants two labels after the '*'
    ("one_label", "test", NONE),
]


def _leaf(cns, dns, ips):
    """A leaf as tests/testlib/pki.py builds them, with any number of CNs (none included)."""
    key = pki.new_key()
    start = pki.now() - datetime.timedelta(days=1)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns]))
               .issuer_name(CA.intermediate.cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    sans = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(CA.intermediate.key, hashes.SHA256())


def leaf_names(cert):
    """(DNS SANs, IP SANs, CNs) of a certificate, as the verifier hands them to rule_matches."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns, ips = san.get_values_for_type(x509.DNSName), san.get_values_for_type(x509.IPAddress)
    except x509.ExtensionNotFound:
        dns, ips = [], []
    return dns, ips, [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


CERTS = {kind: _leaf(*spec) for kind, spec in LEAVES.items()}


def test_the_leaves_carry_the_names_they_were_built_with():
    """The table reads these names: a builder that dropped a CN or a SAN would make rows pass for nothing."""
    for kind, (cns, dns, ips) in LEAVES.items():
        assert leaf_names(CERTS[kind]) == (dns, [ipaddress.ip_address(i) for i in ips], cns), kind


@pytest.mark.parametrize("rule", _names.NAME_RULES)
@pytest.mark.parametrize("leaf,name,accepting", ROWS, ids=["%s-%s" % (r[0], r[1]) for r in ROWS])
def test_rule_matches(rule, leaf, name, accepting):
    dns, ips, cns = leaf_names(CERTS[leaf])
    assert _names.rule_matches(rule, name, dns, ips, cns) is (rule in accepting)


def test_every_rule_accepts_and_refuses_and_each_has_names_only_it_decides_so():
    """The table is no constant: each rule accepts some rows and refuses others, and for every two rules a row
    where they disagree."""
    for rule in _names.NAME_RULES:
        verdicts = {rule in accepting for _leaf, _name, accepting in ROWS}
        assert verdicts == {True, False}, rule
        for other in _names.NAME_RULES:
            assert rule == other or any((rule in a) != (other in a) for _l, _n, a in ROWS), (rule, other)


def _is_ip(name):
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("leaf,name", [(r[0], r[1]) for r in ROWS if ":" not in r[1] and not _is_ip(r[1])])
def test_openssl_rule_is_openssl_matches_for_dns_names(leaf, name):
    """For a DNS name nginx's rule is X509_check_host, as `openssl_matches` (table-tested against `openssl verify`
    in test_names.py); only IP literals and names with a ':' differ."""
    dns, ips, cns = leaf_names(CERTS[leaf])
    assert _names.rule_matches(OPENSSL, name, dns, ips, cns) is _names.openssl_matches(name, dns, ips, cns)


@pytest.mark.parametrize("leaf,name,rule_says,openssl_matches_says", [
    ("ip_san", "127.0.0.1", False, True),  # openssl_matches is X509_check_ip: nginx never calls it
    ("ip_text_cn", "127.0.0.1", True, False),
])
def test_openssl_rule_differs_from_openssl_matches_for_ip_names(leaf, name, rule_says, openssl_matches_says):
    dns, ips, cns = leaf_names(CERTS[leaf])
    assert _names.rule_matches(OPENSSL, name, dns, ips, cns) is rule_says
    assert _names.openssl_matches(name, dns, ips, cns) is openssl_matches_says


@pytest.mark.parametrize("rule", _names.NAME_RULES)
def test_values_that_are_no_names_are_skipped(rule):
    """None or bytes among the certificate's names are no candidates (and no crash)."""
    assert _names.rule_matches(rule, "app.rules.test", [None, "other.rules.test"], [], ["app.rules.test", None]) is (
        rule != OPENSSL)  # nginx: a DNS SAN exists, so the CN is not read
    assert _names.rule_matches(rule, "app.rules.test", [b"app.rules.test"], [], [b"app.rules.test"]) is False
    assert _names.rule_matches(rule, "app.rules.test", [], [], []) is False


def test_name_rules_are_the_four_the_load_balancer_view_reports():
    assert _names.NAME_RULES == ("openssl", "haproxy", "apache", "apache_cn")


@pytest.mark.parametrize("rule", ["nginx", "", None, "OPENSSL", "webpki"])
def test_an_unknown_rule_is_an_argument_error(rule):
    with pytest.raises(CertError) as info:
        _names.rule_matches(rule, "app.rules.test", ["app.rules.test"], [], ["app.rules.test"])
    assert info.value.code == "INVALID_ARGUMENT" and repr(rule) in info.value.message


@pytest.mark.parametrize("name", [None, 7, b"app.rules.test"])
def test_a_name_that_is_not_a_string_is_an_argument_error(name):
    with pytest.raises(CertError) as info:
        _names.rule_matches("haproxy", name, ["app.rules.test"], [], [])
    assert info.value.code == "INVALID_ARGUMENT"
