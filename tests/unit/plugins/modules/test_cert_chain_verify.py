"""cert_chain_verify's main(): single and batch forms, secrets, fail_on_invalid, bad arguments."""

from __future__ import annotations

import json

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _deps
from ansible_collections.certops.backend_tls.plugins.modules import cert_chain_verify
from testlib import pki
from testlib.module_runner import run_main

CA = pki.CA("ModVerify")
LEAF = CA.leaf("app.mv.test")
OTHER_KEY = CA.leaf("x.mv.test").key_pem()


def run(args, expect="exit"):
    return run_main(cert_chain_verify.main, args, expect)


def test_single_form_accepts_served_chain_list():
    result = run({"chain": [LEAF.pem, CA.intermediate.pem], "ca_content": CA.root.pem,
                  "server_names": ["app.mv.test"], "key_content": LEAF.key_pem()})
    assert result["valid"] is True and result["findings"] == [] and result["changed"] is False
    assert len(result["verified_chain"]) == 3 and result["leaf"]["subject"] == "CN=app.mv.test"


def test_batch_masks_every_key_content_and_reports_each_item():
    result = run({"ca_content": CA.root.pem, "items": [
        {"name": "good", "chain": LEAF.pem + CA.intermediate.pem, "server_names": ["app.mv.test"],
         "key_content": LEAF.key_pem()},
        {"name": "wrong-key", "chain": LEAF.pem + CA.intermediate.pem, "key_content": OTHER_KEY},
        {"name": "incomplete", "chain": [LEAF.pem]},
    ]})
    assert [(r["name"], r["valid"]) for r in result["results"]] == [
        ("good", True), ("wrong-key", False), ("incomplete", False)]
    assert [f["code"] for f in result["results"][1]["findings"]] == ["KEY_MISMATCH"]
    assert result["summary"]["codes"] == {"KEY_MISMATCH": 1, "INCOMPLETE_CHAIN": 1}
    text = json.dumps(result)
    for key in (LEAF.key_pem(), OTHER_KEY):
        assert key not in text and key.splitlines()[1] not in text
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in text  # the invocation shows the keys masked


def test_fail_on_invalid_fails_with_the_reasons_and_results():
    result = run({"chain": LEAF.pem, "ca_content": CA.root.pem, "fail_on_invalid": True}, expect="fail")
    assert result["msg"].startswith("chain not valid: INCOMPLETE_CHAIN: missing intermediate")
    assert result["findings"][0]["code"] == "INCOMPLETE_CHAIN"


@pytest.mark.parametrize("args,needle", [
    ({}, "one of the following is required"),
    ({"chain": "x", "path": "/x"}, "mutually exclusive"),
    ({"items": [{"name": "a", "chian": "x"}]}, "unknown keys chian"),
    ({"chain": LEAF.pem, "at": "tomorrow-ish"}, "neither ISO 8601 nor relative"),
    ({"chain": LEAF.pem, "ca_content": "no certificates"}, "no trust anchors"),
    ({"chain": LEAF.pem, "min_rsa_bits": 100}, "min_rsa_bits"),
])
def test_bad_arguments(args, needle):
    result = run(args, expect="fail")
    assert needle in result["msg"]


def test_old_cryptography_is_refused_with_advice(monkeypatch):
    monkeypatch.setattr(_deps, "CRYPTOGRAPHY_VERSION", "41.0.7")
    result = run({"chain": LEAF.pem}, expect="fail")
    assert "cryptography >= 42.0" in result["msg"] and "41.0.7" in result["msg"]
    assert "delegate_to: localhost" in result["msg"]
