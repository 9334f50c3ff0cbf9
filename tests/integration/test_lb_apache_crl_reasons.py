"""Revocation reasons a CRL distribution point names, against a real Apache (`SSLProxyCARevocationCheck chain`, with
and without `no_crl_for_cert_ok`), from the differential campaign of 2026-12-07 against `openssl verify`.

OpenSSL's check_cert takes CRLs until every revocation reason is covered. A leaf whose distribution point names
keyCompromise alone gets that point's CRL for that reason, and OpenSSL then looks for one that adds the others: a CRL
of another point of the leaf decides them (revoked there, revoked); with none in scope, it takes any other CRL of the
issuer and refuses it as out of scope (error 44, different CRL scope); with none at all, it has no CRL (error 3).
Apache's `no_crl_for_cert_ok` forgives error 3 only. The collection said CRL_MISSING at once: it refused a backend
Apache proxies to, and under `no_crl_for_cert_ok` it passed two Apache refuses. Each case here is a ProxyPass with
a `<Proxy>` section of its own (its CRL file, its mode); the collection's verdict must be Apache's, under both
profiles, each refusal with its code.
"""

from __future__ import annotations

import contextlib

import pytest
from cryptography import x509

from testlib import lbjudge, pki
from testlib.servers import ApacheLB, KindBackends, free_ports, http_status

ROOT = pki.issue("Apache CRL Reasons Root CA", ca=True, days=3650)
INT = pki.issue("Apache CRL Reasons Intermediate CA", issuer=ROOT, ca=True, days=1825)
URI_A, URI_B = "http://a.reasons.test/int.crl", "http://b.reasons.test/int.crl"


def _point(uri, reasons=None):
    return x509.DistributionPoint([x509.UniformResourceIdentifier(uri)], None, reasons, None)


KEY_COMPROMISE = frozenset([x509.ReasonFlags.key_compromise])
LEAVES = {  # kind -> a leaf of INT with these distribution points
    "a_only": pki.issue("reasons.test", issuer=INT, extensions=[
        (x509.CRLDistributionPoints([_point(URI_A, KEY_COMPROMISE)]), False)]),
    "a_and_b": pki.issue("reasons.test", issuer=INT, extensions=[
        (x509.CRLDistributionPoints([_point(URI_A, KEY_COMPROMISE), _point(URI_B)]), False)]),
}


def _idp(**values):
    fields = dict({"full_name": None, "relative_name": None, "only_contains_user_certs": False,
                   "only_contains_ca_certs": False, "only_some_reasons": None, "indirect_crl": False,
                   "only_contains_attribute_certs": False}, **values)
    return [(x509.IssuingDistributionPoint(**fields), True)]


def _crls(*int_crls):
    return "".join(pki.crl_pem(crl) for crl in int_crls) + pki.crl_pem(pki.crl(ROOT))


def _cases():
    """case -> (leaf kind, CRL file text)"""
    point_a = _idp(full_name=[x509.UniformResourceIdentifier(URI_A)])
    point_b = _idp(full_name=[x509.UniformResourceIdentifier(URI_B)])
    leaf = LEAVES["a_and_b"]
    return {
        "then_nothing": ("a_only", _crls(pki.crl(INT, extensions=point_a))),
        "then_other_scope": ("a_only", _crls(pki.crl(INT, extensions=point_a),
                                             pki.crl(INT, last=-3, extensions=_idp(only_contains_ca_certs=True)))),
        "rest_in_second": ("a_and_b", _crls(pki.crl(INT, extensions=point_a),
                                            pki.crl(INT, last=-3, extensions=point_b))),
        "rest_in_second_revoked": ("a_and_b", _crls(pki.crl(INT, extensions=point_a),
                                                    pki.crl(INT, [leaf], last=-3, extensions=point_b))),
    }


MODES = {"chain": "chain", "chainok": "chain no_crl_for_cert_ok"}
# (case, mode) -> Apache's answer (measured, Apache 2.4 with OpenSSL 3.0): True, or the collection's code for OpenSSL's
# error (3 CRL_MISSING, 44 CRL_INVALID, 23 REVOKED)
SAID = {("then_nothing", "chain"): "CRL_MISSING", ("then_nothing", "chainok"): True,
        ("then_other_scope", "chain"): "CRL_INVALID", ("then_other_scope", "chainok"): "CRL_INVALID",
        ("rest_in_second", "chain"): True, ("rest_in_second", "chainok"): True,
        ("rest_in_second_revoked", "chain"): "REVOKED", ("rest_in_second_revoked", "chainok"): "REVOKED"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = lbjudge.workdir(tmp_path_factory, "apache-crl-reasons")
    cases = _cases()
    pairs = sorted(SAID)
    *backend_ports, lb_port = free_ports(len(pairs) + 1)
    ports = dict(zip(pairs, backend_ports))
    served = {kind: (pki.write(base / ("%s.crt" % kind), leaf.pem + INT.pem),
                     pki.write(base / ("%s.key" % kind), leaf.key_pem(), 0o600)) for kind, leaf in LEAVES.items()}
    by_kind = {kind: [ports[pair] for pair in pairs if cases[pair[0]][0] == kind] for kind in LEAVES}
    passes = []
    for (case, mode), port in ports.items():
        crl_file = pki.write(base / ("%s.crl.pem" % case), cases[case][1])
        url = "https://127.0.0.1:%d/" % port
        passes.append("    ProxyPass /%s-%s/ %s\n    <Proxy %s>\n        SSLProxyCARevocationCheck %s\n"
                      "        SSLProxyCARevocationFile %s\n    </Proxy>\n" % (
                          case, mode, url, url, MODES[mode], crl_file))
    config = ("<VirtualHost 127.0.0.1:%d>\n    ServerName reasons.lb.test\n    SSLProxyEngine on\n"
              "    SSLProxyVerify require\n    SSLProxyVerifyDepth 2\n    SSLProxyCheckPeerName off\n"
              "    SSLProxyCheckPeerCN off\n    SSLProxyCACertificateFile %s\n%s</VirtualHost>\n" % (
                  lb_port, pki.write(base / "root.pem", ROOT.pem), "".join(passes)))
    apache = ApacheLB(base / "apache", [lb_port], config)
    with contextlib.ExitStack() as running:  # stopped in reverse order, by their pids, whatever happens
        for server in (KindBackends(base / "backends", by_kind, served), apache):
            running.enter_context(server)
        yield {"apache": apache, "lb_port": lb_port}


def _pair_of(item):
    case, mode = item["location"].split()[-1].strip("/").rsplit("-", 1)
    return case, mode


def test_apache_forgives_no_crl_only(world):
    said = {pair: http_status("http://127.0.0.1:%d/%s-%s/" % (world["lb_port"], *pair)) for pair in SAID}
    assert said == {pair: 200 if answer is True else 500 for pair, answer in SAID.items()}, said


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_the_collection_takes_crls_for_every_reason_as_apache_does(world, profile):
    result = lbjudge.read({"apache": world["apache"]})
    verdicts = lbjudge.judged(result, profile)
    seen, wrong = set(), {}
    for index, item in enumerate(result["lb_backends"]):
        pair = _pair_of(item)
        seen.add(pair)
        verdict = verdicts.get(index)
        answer = True if lbjudge.accepted(item, verdict) else lbjudge.error_codes(verdict) if verdict else item
        if answer != (True if SAID[pair] is True else [SAID[pair]]):
            wrong[pair] = answer
    assert seen == set(SAID) and not wrong, (profile, wrong)
