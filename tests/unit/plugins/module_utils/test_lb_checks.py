"""cert_chain_verify's load balancer check options: verify_depth, check_chain/check_expiry and name_rule.

Every chain is generated here; the openssl profile runs the machine's real `openssl verify` (with -verify_depth), so
the depth rule is checked against OpenSSL's own count.
"""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError
from testlib import pki

ROOT = pki.issue("Checks Root CA", ca=True, days=3650)
INT1 = pki.issue("Checks Intermediate 1", issuer=ROOT, ca=True, days=1000)
INT2 = pki.issue("Checks Intermediate 2", issuer=INT1, ca=True, days=1000)
DEEP = pki.issue("deep.c.test", issuer=INT2)  # two intermediates to the root
SHALLOW = pki.issue("shallow.c.test", issuer=INT1)  # one
DIRECT = pki.issue("direct.c.test", issuer=ROOT)  # none
OTHER_ROOT = pki.issue("Unknown Root CA", ca=True, days=3650)
UNKNOWN = pki.issue("unknown.c.test", issuer=OTHER_ROOT)
EXPIRED_UNKNOWN = pki.issue("old.c.test", issuer=OTHER_ROOT, days=5, start_days=-30)
# A DNS SAN for one name and a CN for another: HAProxy and Apache match the CN as well, OpenSSL does not.
SPLIT = pki.issue("cn.c.test", issuer=INT1, names=["san.c.test"])


def verify(chain, profile="openssl", **checks):
    return _verify.verify_single({"chain": chain}, checks=checks, ca_content=ROOT.pem, profile=profile)


def codes(result, severity="error"):
    return sorted({f["code"] for f in result["findings"] if f["severity"] == severity})


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
@pytest.mark.parametrize("leaf, chain, needed", [
    (DEEP, [INT2, INT1], 2), (SHALLOW, [INT1], 1), (DIRECT, [], 0)])
def test_verify_depth_counts_intermediates_as_openssl_does(profile, leaf, chain, needed):
    pem = leaf.pem + "".join(c.pem for c in chain)
    for depth in range(0, 4):
        result = verify(pem, profile, verify_depth=depth)
        if depth >= needed:
            assert result["valid"], (depth, result["findings"])
        else:
            assert codes(result) == ["CHAIN_TOO_LONG"], (depth, result["findings"])
            finding = next(f for f in result["findings"] if f["code"] == "CHAIN_TOO_LONG")
            assert "%d intermediate" % needed in finding["message"] and "allows %d" % depth in finding["message"]
    assert verify(pem, profile)["valid"]  # no depth: no limit


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_depth_minus_one_takes_only_a_leaf_that_is_itself_an_anchor(profile):
    """Apache's SSLProxyVerifyDepth 0 (measured against real Apache, tests/integration/test_lb_verify_depth.py):
    OpenSSL alone accepts a leaf issued by an anchor at its depth 0; Apache's own check refuses anything above the
    leaf. The self-signed leaf its CA file holds passes."""
    own = pki.issue("own.c.test")
    for pem, between in ((DIRECT.pem, 1), (SHALLOW.pem + INT1.pem, 2), (DEEP.pem + INT2.pem + INT1.pem, 3)):
        result = verify(pem, profile, verify_depth=-1)
        assert codes(result) == ["CHAIN_TOO_LONG"], result["findings"]
        finding = next(f for f in result["findings"] if f["code"] == "CHAIN_TOO_LONG")
        assert "SSLProxyVerifyDepth 0" in finding["message"] and "%d certificate" % between in finding["message"]
        assert verify(pem, profile, verify_depth=max(between - 1, 0))["valid"]  # one more level is enough
    pinned = _verify.verify_single({"chain": own.pem}, checks={"verify_depth": -1}, ca_content=ROOT.pem + own.pem,
                                   profile=profile)
    assert pinned["valid"], pinned["findings"]
    # a CA-issued leaf the CA file holds itself: OpenSSL still builds it up to its root, and Apache counts that
    # chain (AH02040 "Certificate Chain too long", measured in review): only a self-signed one passes depth 0
    held = pki.issue("held.c.test", issuer=INT1)
    result = _verify.verify_single({"chain": held.pem + INT1.pem}, checks={"verify_depth": -1},
                                   ca_content=ROOT.pem + held.pem, profile=profile)
    assert codes(result) == ["CHAIN_TOO_LONG"], result["findings"]


def test_without_chain_verification_only_names_key_and_leaf_dates_count():
    # an unknown CA: what a pool that does not verify accepts
    result = verify(UNKNOWN.pem, check_chain=False)
    assert result["valid"], result["findings"]
    assert codes(result, "info") and all(
        f["message"].startswith("not checked by the load balancer") for f in result["findings"]
        if f["severity"] == "info" and f["code"] != "ROOT_INCLUDED")
    assert not verify(UNKNOWN.pem)["valid"]  # the same chain where it is verified
    # Apache checks the leaf's dates and its name even without verification
    assert codes(verify(EXPIRED_UNKNOWN.pem, check_chain=False)) == ["EXPIRED"]
    assert verify(EXPIRED_UNKNOWN.pem, check_chain=False, check_expiry=False)["valid"]
    mismatch = _verify.verify_single({"chain": UNKNOWN.pem, "server_names": ["other.c.test"]},
                                     checks={"check_chain": False}, ca_content=ROOT.pem, profile="openssl")
    assert codes(mismatch) == ["HOSTNAME_MISMATCH"]
    # the leaf's days are reported (the only dates that may count)
    assert verify(UNKNOWN.pem, check_chain=False)["days_remaining"] is not None


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_name_rules_decide_names_as_each_load_balancer_does(profile):
    chain = SPLIT.pem + INT1.pem

    def named(name, rule):
        return _verify.verify_single({"chain": chain, "server_names": [name]}, checks={"name_rule": rule},
                                     ca_content=ROOT.pem, profile=profile)

    for rule in ("haproxy", "apache"):
        accepted = named("cn.c.test", rule)
        assert accepted["valid"], (rule, accepted["findings"])
        warning = next(f for f in accepted["findings"] if f["code"] == "HOSTNAME_MISMATCH")
        assert warning["severity"] == "warning" and "(%s)" % rule in warning["message"]
    assert codes(named("cn.c.test", "openssl")) == ["HOSTNAME_MISMATCH"]
    assert codes(named("cn.c.test", None)) == ["HOSTNAME_MISMATCH"]
    assert codes(named("nothing.c.test", "haproxy")) == ["HOSTNAME_MISMATCH"]
    assert named("san.c.test", "apache_cn")["valid"] is False  # the legacy rule reads the first CN only
    assert named("cn.c.test", "apache_cn")["valid"] is True


def test_item_options_override_the_calls_and_bad_values_are_item_errors():
    items = [{"name": "deep", "chain": DEEP.pem + INT2.pem + INT1.pem},
             {"name": "deep-allowed", "chain": DEEP.pem + INT2.pem + INT1.pem, "verify_depth": 2},
             {"name": "negative", "chain": DIRECT.pem, "verify_depth": -2},  # -1 has a meaning (below)
             {"name": "rule", "chain": DIRECT.pem, "name_rule": "traefik"}]
    result = _verify.verify_batch(items, checks={"verify_depth": 1}, ca_content=ROOT.pem, profile="openssl")
    by_name = {r["name"]: r for r in result["results"]}
    assert codes(by_name["deep"]) == ["CHAIN_TOO_LONG"]
    assert by_name["deep-allowed"]["valid"]
    for name in ("negative", "rule"):
        assert by_name[name]["error"]["code"] == "INVALID_ARGUMENT", by_name[name]
    with pytest.raises(CertError) as raised:
        _verify.verify_batch(items[:1], checks={"check_chain": "no"}, ca_content=ROOT.pem)
    assert raised.value.code == "INVALID_ARGUMENT"


def test_a_name_rule_compares_the_name_as_configured():
    """All three load balancers refuse "a.test." for a SAN "a.test" (measured, tests/integration/
    test_lb_name_rules.py); without a rule, the name is normalised as a client would send it."""
    chain = SHALLOW.pem + INT1.pem
    for rule in ("openssl", "haproxy", "apache"):
        result = _verify.verify_single({"chain": chain, "server_names": ["shallow.c.test."]},
                                       checks={"name_rule": rule}, ca_content=ROOT.pem, profile="openssl")
        assert codes(result) == ["HOSTNAME_MISMATCH"], (rule, result["findings"])
    plain = _verify.verify_single({"chain": chain, "server_names": ["shallow.c.test."]}, ca_content=ROOT.pem,
                                  profile="openssl")
    assert plain["valid"], plain["findings"]


def test_without_chain_verification_a_name_still_needs_a_match_under_webpki():
    """Names given still count when the chain is not verified: under WebPKI rules a leaf without subjectAltName
    matches none (NO_SAN stays an error), with no name it is only information."""
    no_san = pki.issue("nosan.c.test", issuer=OTHER_ROOT, names=[])
    named = _verify.verify_single({"chain": no_san.pem, "server_names": ["other.c.test"]},
                                  checks={"check_chain": False}, ca_content=ROOT.pem, profile="webpki")
    assert not named["valid"] and "NO_SAN" in codes(named), named["findings"]
    unnamed = _verify.verify_single({"chain": no_san.pem}, checks={"check_chain": False}, ca_content=ROOT.pem,
                                    profile="webpki")
    assert unnamed["valid"], unnamed["findings"]


@pytest.mark.parametrize("profile", ["openssl", "webpki"])
def test_a_name_no_client_could_send_is_the_name_rules_alone(profile):
    """HAProxy's `verifyhost *.test` is text to HAProxy (a leaf naming `*.test` passes), and OpenSSL's
    X509_check_host compares it exactly too: under a load balancer's name rule such a name is decided by the rule,
    a WebPKI client's refusal a warning. Without a rule it stays the item's error, as it was."""
    one_label = pki.issue("w", issuer=INT1, names=["*.test"])
    chain = one_label.pem + INT1.pem
    for rule in ("haproxy", "openssl"):
        result = _verify.verify_single({"chain": chain, "server_names": ["*.test"]}, checks={"name_rule": rule},
                                       ca_content=ROOT.pem, profile=profile)
        assert result["valid"], (rule, result["findings"])
        assert codes(result, "warning") == ["HOSTNAME_MISMATCH"], (rule, result["findings"])
        refused = _verify.verify_single({"chain": SHALLOW.pem + INT1.pem, "server_names": ["*.test"]},
                                        checks={"name_rule": rule}, ca_content=ROOT.pem, profile=profile)
        assert codes(refused) == ["HOSTNAME_MISMATCH"], (rule, refused["findings"])
    plain = _verify.verify_batch([{"name": "x", "chain": chain, "server_names": ["*.test"]}], ca_content=ROOT.pem,
                                 profile=profile)["results"][0]
    assert plain["valid"] is False and "wildcard" in plain["error"]["message"], plain


def test_a_leading_dot_stays_the_items_error_under_a_name_rule():
    """OpenSSL reads `.c.test` as any name under c.test (X509_check_host), which no WebPKI client asks for: the
    item's error without a rule, and under HAProxy's, as before (from a review)."""
    for rule in ("haproxy", None):
        (result,) = _verify.verify_batch([{"name": "dot", "chain": SHALLOW.pem + INT1.pem, "server_names": [".c.test"],
                                           "name_rule": rule}], ca_content=ROOT.pem)["results"]
        assert result["valid"] is False and "starts with a dot" in result["error"]["message"], (rule, result)


def test_a_leading_dot_under_nginxs_rule_is_any_name_under_it():
    """nginx hands proxy_ssl_name to X509_check_host as written, and OpenSSL reads `.c.test` as any name under c.test
    (nginx answered 200 for a leaf of www.a.test verified as `.a.test`, 2026-12-07; the name table of
    tests/integration/test_lb_name_rules.py holds such names against the real nginx): under the openssl rule the name
    is checked so, and the WebPKI client's refusal is only a warning. Until 2026-12-07 it was the item's error."""
    def verified(name):
        (result,) = _verify.verify_batch([{"name": "dot", "chain": SHALLOW.pem + INT1.pem, "server_names": [name],
                                           "name_rule": "openssl"}], ca_content=ROOT.pem)["results"]
        return result
    under = verified(".c.test")
    assert under["valid"] is True and codes(under, "warning") == ["HOSTNAME_MISMATCH"], under
    for name in (".shallow.c.test", ".other.test", ".C.TEST.x"):  # the name itself is not under itself
        assert codes(verified(name)) == ["HOSTNAME_MISMATCH"], (name, verified(name))
    assert verified(".C.Test")["valid"] is True  # ASCII case-insensitive
