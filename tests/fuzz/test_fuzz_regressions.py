"""Minimal reproducers of what the fuzz tests found in files this suite does not own.

Each failed before its fix (a hang, a TypeError or ValueError traceback) and stays as a regression test.
"""

from __future__ import annotations

import pytest
from fuzz.fuzzlib import time_limit

from ansible_collections.certops.backend_tls.plugins.module_utils import _certs, _verify
from ansible_collections.certops.backend_tls.plugins.module_utils._certs import CertError

# 8,000 unterminated BEGIN lines = 224 KB, a fifth of the default max_file_size. A linear scan takes
# milliseconds; the lazy `.*?-----END` regex rescans to the end from every BEGIN (~20 s here, ~8 min at 1 MB).
BEGIN_STORM = b"-----BEGIN CERTIFICATE-----\n" * 8000
HANG_BOUND = 5  # seconds: a hang guard, 1000x what a linear parse needs


def test_parse_material_begin_storm_does_not_hang():
    """Found by the fuzz (quadratic _PEM_BLOCK regex); fixed in _certs.py by linear PEM splitting."""
    with time_limit(HANG_BOUND), pytest.raises(CertError):
        _certs.parse_material(BEGIN_STORM)


def test_split_pem_certificates_begin_storm_does_not_hang():
    with time_limit(HANG_BOUND), pytest.raises(CertError):
        _verify.split_pem_certificates(BEGIN_STORM.decode(), what="chain")


@pytest.mark.parametrize("args", [{"chain": 1.0}, {"items": [{"chain": {"a": 1}}]}])
def test_cert_chain_verify_chain_of_another_type(args):
    from fuzz.fuzzlib import run_module

    from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify

    result, failed = run_module(cert_chain_verify.main, args)
    assert not failed  # one chain of the wrong type is that chain's error, not a failed task
    (item,) = result.get("results") or [result]
    assert item["valid"] is False and item["error"]["code"] == "INVALID_ARGUMENT"
    assert "must be PEM text or a list of PEM texts" in item["error"]["message"]


def test_certificate_with_a_malformed_issuer_is_an_item_error(tmp_path):
    from ansible_collections.certops.backend_tls.plugins.module_utils import _collect
    from testlib import pki

    ca = pki.CA("Malformed")
    der = ca.leaf("bad-name.test").der
    at = der.index(b"Malformed Intermediate CA")  # the issuer Name comes first in the TBS
    bad = der[:at] + b"\xff" + der[at + 1:]  # same length: the DER framing stays valid, the UTF8String does not
    (tmp_path / "bad.der").write_bytes(bad)
    entry = _collect.Collector().add_file(str(tmp_path / "bad.der"))
    assert entry["error"]["code"] == "NOT_A_CERTIFICATE"


@pytest.mark.parametrize("reader", ["file", "chain"])
def test_a_name_value_of_a_type_its_attribute_cannot_have_is_an_item_error(tmp_path, reader):
    """Found by test_lenient_certificate_reading (2026-12-04): a common name tagged BIT STRING loads, and cryptography
    raises TypeError (not ValueError) on first reading the name -- a traceback out of backend_cert_info."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _collect
    from testlib import pki

    der = pki.issue("bitstring.test").der  # self-signed: subject and issuer both carry the name
    at = der.index(b"\x0c\x0ebitstring.test")
    bad = der[:at] + b"\x03" + der[at + 1:]  # UTF8String -> BIT STRING, same length
    if reader == "file":
        (tmp_path / "bad.der").write_bytes(bad)
        entry = _collect.Collector().add_file(str(tmp_path / "bad.der"))
        assert entry["error"]["code"] == "NOT_A_CERTIFICATE"
        assert "malformed subject or issuer" in entry["error"]["message"]
    else:
        result = _verify.verify_single({"chain": _certs.der_to_pem(bad)})
        assert result["valid"] is False and result["error"]["code"] == "PARSE_ERROR"


def _bad_version(der):
    """der with its version field (the [0] EXPLICIT INTEGER at the start of the TBS) set to 10."""
    at = der.index(b"\xa0\x03\x02\x01\x02")  # v3 is encoded as 2
    return der[:at + 4] + b"\x0a" + der[at + 5:]


def test_certificate_with_an_invalid_version_is_an_item_error(tmp_path):
    """Found by `make fuzz`: cryptography raises InvalidVersion (no ValueError) for version 10."""
    from ansible_collections.certops.backend_tls.plugins.module_utils import _collect
    from testlib import pki

    ca = pki.CA("BadVersion")
    bad = _bad_version(ca.leaf("bad-version.test").der)
    (tmp_path / "bad.der").write_bytes(bad)
    entry = _collect.Collector().add_file(str(tmp_path / "bad.der"))
    assert entry["error"]["code"] == "NOT_A_CERTIFICATE"
    pem = _certs.der_to_pem(bad)
    result = _verify.verify_single({"chain": pem}, ca_content=ca.root.pem)
    assert result["valid"] is False and result["error"]["code"] == "PARSE_ERROR"
    with pytest.raises(CertError) as info:
        _verify.load_anchors(ca_content=pem)  # skipped like any other unreadable block: none left
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("module,option", [("backend_cert_info", "max_file_size"), ("backend_cert_info", "concurrency"),
                                           ("cert_chain_verify", "min_rsa_bits")])
@pytest.mark.parametrize("value", ["INF", "-inf", "Infinity", float("inf")])
def test_an_infinite_integer_option_is_an_argument_error(module, option, value):
    """Found by `make fuzz`: ansible-core's int conversion raises OverflowError for "inf"."""
    import importlib

    from fuzz.fuzzlib import run_module

    main = importlib.import_module("ansible_collections.certops.backend_tls.plugins.modules." + module).main
    args = {"paths": []} if module == "backend_cert_info" else {"chain": "x"}
    result, failed = run_module(main, dict(args, **{option: value}))
    assert failed and result["error"]["code"] == "INVALID_ARGUMENT"
    assert result["msg"] == "%s: not an integer (infinite or out of range)" % option


def test_leaf_with_an_unknown_key_type_is_a_key_mismatch_not_a_traceback():
    """Found by `make fuzz`: a leaf whose key algorithm OID is unknown, checked against a key, raised
    UnsupportedAlgorithm out of verify_item."""
    from testlib import pki

    ca = pki.CA("UnknownKeyType")
    leaf = ca.leaf("unknown-key.test")
    ec_public_key_oid = b"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"  # 1.2.840.10045.2.1
    assert leaf.der.count(ec_public_key_oid) == 1
    bad = leaf.der.replace(ec_public_key_oid, b"\x06\x07\x29\x86\x48\xce\x3d\x02\x01")  # 1.1.840.10045.2.1
    result = _verify.verify_single({"chain": _certs.der_to_pem(bad) + ca.intermediate.pem,
                                    "key_content": leaf.key_pem()}, ca_content=ca.root.pem)
    assert result["valid"] is False
    mismatch = [f for f in result["findings"] if f["code"] == "KEY_MISMATCH"]
    assert [f["message"] for f in mismatch] == [
        "the leaf's public key cannot be read, so the private key cannot be paired with it"]


def test_chain_with_a_malformed_issuer_is_a_parse_error():
    """Found by `make fuzz`: cert_chain_verify parsed the issuer lazily and raised ValueError mid-verification."""
    from testlib import pki

    ca = pki.CA("Malformed Chain")
    der = ca.leaf("bad-name.test").der
    at = der.index(b"Malformed Chain Intermediate CA")
    bad = der[:at] + b"\xff" + der[at + 1:]
    result = _verify.verify_single({"chain": _certs.der_to_pem(bad)}, ca_content=ca.root.pem)
    assert result["valid"] is False and result["error"]["code"] == "PARSE_ERROR"
    with pytest.raises(CertError):
        _verify.load_anchors(ca_content=_certs.der_to_pem(bad))  # skipped: no anchor left
