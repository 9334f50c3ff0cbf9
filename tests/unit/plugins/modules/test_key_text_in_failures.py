"""A private key pasted into an option the module then refuses never comes back in the failure; a query too deep
to evaluate is an argument error like any other bad query.

A message that quotes the value with %r writes the key's newlines as \\n, so Ansible's no_log masking (the text as
given) did not match it: the key's base64 lines came back in `msg` and `error.message` (a review of 2026-12-03).
A key pasted where an option takes a name (lb_backend_info `config: {<key>: path}`) also came back as a dict key of
`invocation.module_args`, which Ansible never masks.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils import _secrets
from ansible_collections.certops.backend_tls.plugins.modules import (
    backend_cert_info,
    cert_chain_verify,
    lb_backend_info,
)
from testlib import pki
from testlib.module_runner import run_main

KEY = pki.CA("Failures").leaf("fail.test").key_pem()
KEY_LINES = [line for line in KEY.splitlines() if "-----" not in line and len(line) >= 16]

CASES = [
    (backend_cert_info, {"endpoints": [KEY], "timeout": 1}),
    (backend_cert_info, {"endpoints": [{"host": KEY, "port": 443}], "timeout": 1}),
    (backend_cert_info, {"discover": [KEY]}),
    (backend_cert_info, {"discover": [{"type": KEY}]}),
    (backend_cert_info, {"sites": [{"name": "s", "cert_path": "/nonexistent", "endpoint": KEY}]}),
    (cert_chain_verify, {"chain": "x", "profile": KEY}),
    (lb_backend_info, {"lb_type": [KEY]}),
    (lb_backend_info, {"config": {KEY: "/nonexistent"}}),
]


@pytest.mark.parametrize("module,args", CASES, ids=[
    "endpoint", "endpoint-host", "discover", "discover-type", "site-endpoint", "profile", "lb-type", "config-name"])
def test_a_refused_option_holding_a_key_is_not_echoed(module, args):
    result = run_main(module.main, args, expect="fail")
    text = json.dumps(result)
    assert KEY_LINES and not [line for line in KEY_LINES if line in text], result["msg"]
    assert result["error"]["code"] == "INVALID_ARGUMENT"


def test_redact_all_masks_key_blocks_as_written_and_as_repr_writes_them():
    value = {"msg": "endpoint %r: bad" % KEY, KEY: [KEY, 3], "n": None}
    masked = json.dumps(_secrets.redact_all(value))
    assert not [line for line in KEY_LINES if line in masked]
    assert _secrets.redact_all({"a": ["b", 1]}) == {"a": ["b", 1]}


def test_a_query_nested_too_deeply_is_an_argument_error_not_a_traceback(tmp_path):
    from ansible.errors import AnsibleFilterError

    from ansible_collections.certops.backend_tls.plugins.filter.json_query import json_query

    deep = "(" * 3000 + "summary" + ")" * 3000
    for module, args in ((backend_cert_info, {"paths": [str(tmp_path)]}),
                         (lb_backend_info, {"lb_type": ["haproxy"], "config": {"haproxy": str(tmp_path / "x.cfg")}})):
        result = run_main(module.main, dict(args, query=deep), expect="fail")
        assert result["error"]["code"] == "INVALID_ARGUMENT" and "nested too deeply" in result["msg"]
    with pytest.raises(AnsibleFilterError, match="nested too deeply"):
        json_query({"summary": 1}, deep)
