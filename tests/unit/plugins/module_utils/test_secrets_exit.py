"""KeySafeModule's exit: the result is masked whenever there is anything to mask, and not copied when there is not.

AnsibleModule passes every result through remove_values(), which rebuilds it whole, also with no no_log value to look
for: a quarter of the CPU of backend_cert_info's main() over 1,000 files. KeySafeModule skips that copy
only when nothing is to be masked; these tests watch the real remove_values (wrapped, still doing its work) to show
which results went through it, and that what a result must not show it does not show.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic

from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, cert_chain_verify
from testlib import pki
from testlib.module_runner import run_main


@pytest.fixture
def masking_calls(monkeypatch):
    """The no_log strings of every remove_values() call made on a module result, the real function still doing it."""
    real, calls = basic.remove_values, []

    def watched(value, no_log_strings):
        if isinstance(value, dict) and "invocation" in value:
            calls.append(sorted(no_log_strings))
        return real(value, no_log_strings)

    monkeypatch.setattr(basic, "remove_values", watched)
    yield calls
    assert basic.remove_values is watched  # what the module swapped for its exit is put back


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    ca = pki.CA("Exit")
    leaf = ca.leaf("exit.test")
    directory = tmp_path_factory.mktemp("exit")
    return {"ca": ca, "leaf": leaf, "cert": pki.write(directory / "exit.pem", ca.chain_pem(leaf)),
            "root": pki.write(directory / "root.pem", ca.root.pem)}


def test_a_result_with_nothing_to_mask_is_not_copied(masking_calls, material):
    result = run_main(backend_cert_info.main, {"paths": [material["cert"]]})
    assert result["files"][0]["leaf"] == result["certificates"][0]["fingerprint_sha256"]
    assert result["certificates"][0]["subject_cn"] == "exit.test"
    assert masking_calls == []


def test_a_no_log_value_is_still_masked_in_the_result(masking_calls, material):
    key = material["leaf"].key_pem()
    result = run_main(cert_chain_verify.main, {"items": [{
        "name": "with-key", "path": material["cert"], "key_content": key, "server_names": ["exit.test"]}],
        "ca_path": material["root"]})
    assert result["results"][0]["valid"] is True, result["results"][0]["findings"]
    assert len(masking_calls) == 1 and masking_calls[0], "the result went through remove_values with the key"
    assert key in masking_calls[0]
    lines = [line for line in key.splitlines() if "-----" not in line and len(line) >= 16]
    text = json.dumps(result)
    assert lines and not [line for line in lines if line in text]


def test_key_text_in_an_option_that_is_not_secret_is_masked_on_success(masking_calls, material):
    # chain is no no_log option: KeySafeModule adds key text found in any option to no_log_values before exit, so the
    # exit must take the masking path although the argument spec declared nothing secret for it.
    key = material["leaf"].key_pem()
    result = run_main(cert_chain_verify.main, {"items": [{
        "name": "key-in-chain", "chain": [material["ca"].chain_pem(material["leaf"]), key],
        "server_names": ["exit.test"]}],
        "ca_path": material["root"]})
    assert len(masking_calls) == 1 and key in masking_calls[0]
    text = json.dumps(result)
    lines = [line for line in key.splitlines() if "-----" not in line and len(line) >= 16]
    assert not [line for line in lines if line in text]
