"""Which CRL OpenSSL takes for a certificate, and whether it covers it, when CRL distribution points and issuing
distribution points meet: cert_chain_verify with the load balancer's CRLs (`crl_content`, `crl_check`) against the
real `openssl verify -crl_check` (leaf) and `-crl_check_all` (chain) on the same certificates and CRLs, every one
generated here.

A leaf of INT under ROOT gets 0-3 CRL distribution points (a full name of URIs or directory names, a relative name, or
none; some revocation reasons or all; a cRLIssuer naming INT, INT spelled otherwise, or another CA, or none), INT one
or two CRLs of different lastUpdate (with or without an issuing distribution point, revoking the leaf or not), ROOT a
CRL; sometimes INT has distribution points of its own and ROOT's CRLs issuing distribution points. Those are the
inputs of OpenSSL 3.0's crl_crldp_check, crldp_check_crlissuer, idp_check_dp and get_crl_score (which CRL scores
best, the newest of equals) and of check_cert's loop (a point naming some reasons only has OpenSSL look for a CRL for
the others). Seeded random cases and the minimal cases the campaign of 2026-12-07 found the collection wrong on
(below); for each, in both modes, the collection's verdict under both profiles must be OpenSSL's, and an OpenSSL
refusal must carry the code its error stands for (23 REVOKED, 3 CRL_MISSING, 44 different CRL scope CRL_INVALID).
"""

from __future__ import annotations

import random

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from ansible_collections.certops.backend_tls.plugins.module_utils import _verify
from testlib import pki

ROOT = pki.issue("Revocation Root", ca=True, days=3650)
INT = pki.issue("Revocation Intermediate", issuer=ROOT, ca=True, days=1825)
LEAF_KEY = pki.new_key()  # every case's leaf (and INT's namesakes with distribution points) reuse a key

OPENSSL_CODES = {23: "REVOKED", 3: "CRL_MISSING", 44: "CRL_INVALID"}
SEED, CASES = 20261208, 120


def _rdn(*attributes):
    return x509.RelativeDistinguishedName([x509.NameAttribute(oid, value) for oid, value in attributes])


RDNS = {
    "crl1": _rdn((NameOID.COMMON_NAME, "CRL 1")),
    "crl1_case": _rdn((NameOID.COMMON_NAME, "crl  1")),  # CRL 1 as X509_NAME_cmp compares names
    "crl2": _rdn((NameOID.COMMON_NAME, "CRL 2")),
    "ops": _rdn((NameOID.ORGANIZATION_NAME, "Ops")),
    "multi": _rdn((NameOID.COMMON_NAME, "CRL 1"), (NameOID.ORGANIZATION_NAME, "Ops")),  # a multi-valued RDN
}
ISSUERS = {
    "int": INT.cert.subject,
    "intv": x509.Name([_rdn((NameOID.COMMON_NAME, "revocation  INTERMEDIATE"))]),  # INT's name, spelled otherwise
    "other": x509.Name([_rdn((NameOID.COMMON_NAME, "Other CA"))]),
}
URIS = {"a": "http://a.test/x.crl", "b": "http://b.test/x.crl", "A": "http://A.test/x.crl"}
REASONS = sorted(r.name for r in x509.ReasonFlags
                 if r not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl))


# ------------------------------------------------------------------ cases: plain data, built into certificates and CRLs
# A name: None, ["full", [general name tokens]] or ["rel", an RDNS key]. A token: "uri:a" (URIS), "dn:int+crl1" (an
# ISSUERS name and RDNS appended). A point: {"name", "reasons" (None or ReasonFlags names), "crl_issuer" (None or
# ISSUERS keys)}. A CRL: {"idp": None or {"name", "user", "ca"}, "revoke", "last" (days)}. A case: {"leaf_dps",
# "int_dps", "crls" (INT's), "root_crls" (ROOT's; one plain CRL when absent)}.

def _general_name(token):
    kind, value = token.split(":", 1)
    if kind == "uri":
        return x509.UniformResourceIdentifier(URIS[value])
    base, *rdns = value.split("+")
    return x509.DirectoryName(x509.Name(list(ISSUERS[base].rdns) + [RDNS[r] for r in rdns]))


def _names(name):
    """(full_name, relative_name)"""
    if name is None:
        return None, None
    if name[0] == "full":
        return [_general_name(token) for token in name[1]], None
    return None, RDNS[name[1]]


def _distribution_points(points):
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        *_names(point["name"]),
        frozenset(x509.ReasonFlags[r] for r in point["reasons"]) if point["reasons"] else None,
        [x509.DirectoryName(ISSUERS[i]) for i in point["crl_issuer"]] if point["crl_issuer"] else None)
        for point in points])


def _crl(issuer, revoked, item):
    idp = item.get("idp")
    extensions = [(x509.IssuingDistributionPoint(*_names(idp["name"]), idp.get("user", False), idp.get("ca", False),
                                                 None, False, False), True)] if idp else []
    return pki.crl_pem(pki.crl(issuer, revoked if item.get("revoke") else [], last=item.get("last", -1),
                               extensions=extensions))


def build(case):
    """(served chain, CRLs) of a case."""
    inter = INT
    if case.get("int_dps"):  # INT's namesake with INT's key: the same CA, with distribution points
        inter = pki.issue("Revocation Intermediate", issuer=ROOT, ca=True, days=1825, key=INT.key,
                          extensions=[(_distribution_points(case["int_dps"]), False)])
    leaf = pki.issue("leaf.points.test", issuer=inter, key=LEAF_KEY, serial=0x5EED, extensions=[
        (_distribution_points(case["leaf_dps"]), False)] if case.get("leaf_dps") else [])
    crls = "".join(_crl(inter, [leaf], item) for item in case["crls"])
    crls += "".join(_crl(ROOT, [inter], item) for item in case.get("root_crls", [{"last": -2}]))
    return leaf.pem + inter.pem, crls


def _random_name(rng):
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.7:
        tokens = []
        for _count in range(rng.choice((1, 1, 2))):
            if rng.random() < 0.55:
                tokens.append("uri:" + rng.choice("aabbA"))
            else:
                tokens.append("dn:" + rng.choice(("int", "int+crl1", "int+crl1_case", "int+crl2", "intv+crl1",
                                                  "other+crl1", "other", "int+multi", "int+ops+crl1")))
        return ["full", sorted(set(tokens), key=tokens.index)]
    return ["rel", rng.choice(("crl1", "crl1", "crl1_case", "crl2", "multi"))]


def _random_point(rng):
    name = _random_name(rng)
    reasons = sorted(rng.sample(REASONS, rng.randint(1, len(REASONS)))) if rng.random() < 0.35 else None
    roll = rng.random()
    crl_issuer = (["int"] if roll < 0.15 else ["intv"] if roll < 0.25 else ["other"] if roll < 0.32 else
                  rng.choice((["other", "int"], ["int", "other"], ["other", "intv"])) if roll < 0.36 else None)
    if name is None and crl_issuer is None:  # a point has a name or a cRLIssuer
        crl_issuer = [rng.choice(("int", "intv", "other"))]
    return {"name": name, "reasons": reasons, "crl_issuer": crl_issuer}


def _random_idp(rng):
    if rng.random() < 0.35:
        return None
    roll = rng.random()
    idp = {"name": _random_name(rng), "user": roll < 0.08, "ca": 0.08 <= roll < 0.14}
    if idp["name"] is None and not (idp["user"] or idp["ca"]):  # an issuing distribution point says something
        idp["user"] = True
    return idp


def random_case(seed):
    rng = random.Random(seed)
    case = {"leaf_dps": [_random_point(rng) for _count in range(rng.choice((0, 1, 1, 2, 2, 3)))],
            "crls": [{"idp": _random_idp(rng), "revoke": rng.random() < 0.4, "last": last}
                     for last in rng.sample([-1, -3, -5], rng.choice((1, 2, 2)))]}
    if rng.random() < 0.3:
        case["int_dps"] = [_random_point(rng) for _count in range(rng.choice((1, 2)))]
    if rng.random() < 0.25:
        case["root_crls"] = [{"idp": _random_idp(rng), "revoke": rng.random() < 0.2, "last": last}
                             for last in rng.sample([-2, -4, -6], rng.choice((1, 2)))]
    return case


# ------------------------------------------------------------------ the two judges

def openssl_says(tmp_path, chain, crls, mode):
    """(accepted, [error numbers]) of `openssl verify` as a load balancer's OpenSSL would check (as in
    test_revocation): ROOT in its CA file, the served intermediate untrusted, the CRLs, -crl_check or -crl_check_all."""
    return pki.openssl_crl_verdict(tmp_path, chain, crls, mode, ROOT.pem)


def judged(chain, crls, mode, profile):
    return _verify.verify_single({"chain": chain}, checks={"crl_check": mode}, ca_content=ROOT.pem, crl_content=crls,
                                 profile=profile)


def errors(result):
    return {f["code"] for f in result["findings"] if f["severity"] == "error"}


def assert_as_openssl(tmp_path, case):
    chain, crls = build(case)
    for mode in ("leaf", "chain"):
        accepted, numbers = openssl_says(tmp_path, chain, crls, mode)
        if set(numbers) - set(OPENSSL_CODES):
            pytest.fail("OpenSSL refused for a reason outside revocation: %s (%s)" % (numbers, case))
        for profile in ("openssl", "webpki"):
            result = judged(chain, crls, mode, profile)
            assert result["valid"] == accepted, (mode, profile, numbers, result["findings"], case)
            expected = {OPENSSL_CODES[n] for n in numbers}
            assert expected <= errors(result), (mode, profile, numbers, result["findings"], case)


@pytest.mark.parametrize("index", range(CASES))
def test_random_points_are_judged_as_openssl_judges_them(tmp_path, index):
    assert_as_openssl(tmp_path, random_case(SEED + index))


def test_the_random_cases_are_not_vacuous(tmp_path):
    """OpenSSL accepts some and refuses others, for each reason (no CRL, revoked, different CRL scope), in each mode;
    and the cases use what they are about: reasons, cRLIssuers, relative names, INT's own points, newer CRLs."""
    seen = {"leaf": set(), "chain": set()}
    for index in range(CASES):
        chain, crls = build(random_case(SEED + index))
        for mode, said in seen.items():
            accepted, numbers = openssl_says(tmp_path, chain, crls, mode)
            said.update(numbers if not accepted else ["accepted"])
    for mode, said in seen.items():
        assert {"accepted", 3, 23, 44} <= said, (mode, said)
    cases = [random_case(SEED + index) for index in range(CASES)]
    points = [p for case in cases for p in case["leaf_dps"] + case.get("int_dps", [])]
    assert sum(p["reasons"] is not None for p in points) >= 20
    assert sum(p["crl_issuer"] is not None for p in points) >= 20
    assert sum((p["name"] or [None])[0] == "rel" for p in points) >= 20
    assert sum(len(c["leaf_dps"]) > 1 for c in cases) >= 20 and sum("int_dps" in c for c in cases) >= 20
    assert sum(len(c["crls"]) > 1 for c in cases) >= 40 and sum("root_crls" in c for c in cases) >= 15


# ------------------------------------------------------------------ minimal cases of the campaign's disagreements

def _point(name, reasons=None, crl_issuer=None):
    return {"name": name, "reasons": reasons, "crl_issuer": crl_issuer}


def _full(*tokens):
    return ["full", list(tokens)]


def _int_crl(idp_name=None, revoke=False, last=-1, **flags):
    return {"idp": dict({"name": idp_name}, **flags) if idp_name or flags else None, "revoke": revoke, "last": last}


KEY_COMPROMISE = ["key_compromise"]
# name -> (case, OpenSSL's verdict in leaf mode and in chain mode: True or the error number)
MINIMAL = {
    # check_cert asks for CRLs until every reason is covered: the first CRL (the newer) covers the point that names
    # keyCompromise only; get_crl_score then takes a CRL for the reasons left (the other point's), or, none adding a
    # reason, any other CRL of the issuer, which is out of scope (different CRL scope, 44); with none, no CRL (3)
    "reasons_rest_in_second_crl": ({"leaf_dps": [_point(_full("uri:a"), KEY_COMPROMISE), _point(_full("uri:b"))],
                                    "crls": [_int_crl(_full("uri:a")), _int_crl(_full("uri:b"), last=-3)]},
                                   True, True),
    "reasons_rest_in_second_crl_revoked": ({"leaf_dps": [_point(_full("uri:a"), KEY_COMPROMISE),
                                                         _point(_full("uri:b"))],
                                            "crls": [_int_crl(_full("uri:a")),
                                                     _int_crl(_full("uri:b"), revoke=True, last=-3)]}, 23, 23),
    "reasons_then_out_of_scope": ({"leaf_dps": [_point(_full("uri:a"), KEY_COMPROMISE)],
                                   "crls": [_int_crl(_full("uri:a")), _int_crl(ca=True, last=-3)]}, 44, 44),
    "reasons_then_other_point": ({"leaf_dps": [_point(_full("uri:a"), KEY_COMPROMISE)],
                                  "crls": [_int_crl(_full("uri:a")), _int_crl(_full("uri:b"), last=-3)]}, 44, 44),
    "reasons_then_nothing": ({"leaf_dps": [_point(_full("uri:a"), KEY_COMPROMISE)],
                              "crls": [_int_crl(_full("uri:a"))]}, 3, 3),  # control: the collection agrees
    # the same for INT's points and ROOT's CRLs (chain mode); ROOT's plain CRL, the oldest, is ROOT's own
    "int_reasons_rest_in_second_crl": ({"leaf_dps": [], "crls": [_int_crl()], "int_dps": [
        _point(_full("uri:a"), KEY_COMPROMISE), _point(_full("uri:b"))], "root_crls": [
        {"idp": {"name": _full("uri:a")}, "last": -2}, {"idp": {"name": _full("uri:b")}, "last": -4},
        {"idp": None, "last": -6}]}, True, True),
    # DIST_POINT_set_dpname appends a relative name's attributes to the issuer's name one RDN each
    # (X509_NAME_add_entry(.., -1, i ? 0 : 1)): CN=CRL 1+O=Ops relative to INT is INT/O=Ops/CN=CRL 1 (DER order),
    # not the directory name INT/CN=CRL 1+O=Ops
    "multi_rdn_full_vs_relative": ({"leaf_dps": [_point(_full("dn:int+multi"))],
                                    "crls": [_int_crl(["rel", "multi"])]}, 44, 44),
    "multi_rdn_relative_vs_full": ({"leaf_dps": [_point(["rel", "multi"])],
                                    "crls": [_int_crl(_full("dn:int+multi"))]}, 44, 44),
    "multi_rdn_as_two_rdns": ({"leaf_dps": [_point(_full("dn:int+ops+crl1"))],
                               "crls": [_int_crl(["rel", "multi"])]}, True, True),
    "multi_rdn_both_relative": ({"leaf_dps": [_point(["rel", "multi"])],
                                 "crls": [_int_crl(["rel", "multi"])]}, True, True),  # control
    # setup_dp: a point's relative name is relative to the first directory name of its cRLIssuer (the certificate's
    # issuer only without one), while crldp_check_crlissuer takes the point for any of its cRLIssuer names
    "crl_issuer_other_first": ({"leaf_dps": [_point(["rel", "crl1"], crl_issuer=["other", "int"])],
                                "crls": [_int_crl(["rel", "crl1"])]}, 44, 44),
    "crl_issuer_other_first_revoked": ({"leaf_dps": [_point(["rel", "crl1"], crl_issuer=["other", "int"])],
                                        "crls": [_int_crl(["rel", "crl1"], revoke=True)]}, 44, 44),
    "crl_issuer_other_first_its_name": ({"leaf_dps": [_point(["rel", "crl1"], crl_issuer=["other", "int"])],
                                         "crls": [_int_crl(_full("dn:other+crl1"))]}, True, True),
    "crl_issuer_int_first": ({"leaf_dps": [_point(["rel", "crl1"], crl_issuer=["int", "other"])],
                              "crls": [_int_crl(["rel", "crl1"])]}, True, True),  # control
}


@pytest.mark.parametrize("name", sorted(MINIMAL))
def test_minimal_cases_are_judged_as_openssl_judges_them(tmp_path, name):
    assert_as_openssl(tmp_path, MINIMAL[name][0])


def test_the_minimal_cases_show_what_they_stand_for(tmp_path):
    said = {}
    for name, (case, _leaf, _chain) in MINIMAL.items():
        chain, crls = build(case)
        said[name] = tuple(accepted or numbers[0] for accepted, numbers in (
            openssl_says(tmp_path, chain, crls, mode) for mode in ("leaf", "chain")))
    assert said == {name: (leaf, chain) for name, (_case, leaf, chain) in MINIMAL.items()}
