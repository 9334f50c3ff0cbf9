"""A list where a string or a path belongs, in a list option: ansible-core turns it into its text without a word, so
`paths: ["{{ files }}"]` (files a list, templated to a native list in 2.19) was the one path "['a', 'b']", a glob
matching nothing: no file read, no error, no warning (found on 2026-12-07). Each module, and each action plugin's
check on the controller, now refuses it with INVALID_ARGUMENT naming the option and the item, never its value."""

from __future__ import annotations

import pytest

from ansible_collections.certops.backend_tls.plugins.module_utils._gather import ARGUMENT_SPEC as INFO_SPEC
from ansible_collections.certops.backend_tls.plugins.module_utils._gather import REQUIRED_ONE_OF
from ansible_collections.certops.backend_tls.plugins.module_utils._secrets import list_element_problem
from ansible_collections.certops.backend_tls.plugins.modules import (
    backend_cert_info,
    backend_cert_material,
    cert_chain_verify,
    lb_backend_info,
)
from ansible_collections.certops.backend_tls.plugins.plugin_utils._task_args import validate
from testlib import pki
from testlib.module_runner import run_main

ROOT = pki.issue("Nested Root", ca=True)


@pytest.mark.parametrize("main,args,where", [
    (backend_cert_info.main, {"paths": [["/etc/ssl/a.pem", "/etc/ssl/b.pem"]]}, "paths[0] is a list, where a path"),
    (backend_cert_material.main, {"paths": ["/etc/ssl/a.pem", {"x": 1}]}, "paths[1] is a dict, where a path"),
    (backend_cert_info.main, {"sites": [{"name": "s", "cert_path": "/etc/ssl/s.pem", "server_names": [["a.test"]]}]},
     "sites[0].server_names[0] is a list, where a string"),
    (cert_chain_verify.main, {"items": [{"name": "a", "chain": ROOT.pem, "server_names": [["a.test", "b.test"]]}],
                              "ca_content": ROOT.pem}, "items[0].server_names[0] is a list"),
    (cert_chain_verify.main, {"chain": ROOT.pem, "intermediates": [[ROOT.pem]], "ca_content": ROOT.pem},
     "intermediates[0] is a list"),
    (lb_backend_info.main, {"lb_type": ["haproxy"], "backends": [["be_app"]]}, "backends[0] is a list"),
])
def test_a_list_inside_a_list_of_strings_is_an_argument_error(main, args, where):
    result = run_main(main, args, expect="fail")
    assert result["error"]["code"] == "INVALID_ARGUMENT" and where in result["msg"], result
    assert "BEGIN CERTIFICATE" not in result["msg"] and "a.test" not in result["msg"]


def test_the_action_plugins_check_says_the_same_on_the_controller():
    args = {"paths": ["/etc/ssl/a.pem", ["/etc/ssl/b.pem"]]}
    params, masked, failed = validate("certops.backend_tls.backend_cert_info", args, INFO_SPEC, secrets=(),
                                      required_one_of=REQUIRED_ONE_OF)
    assert params is None and masked is None
    assert failed["error"]["code"] == "INVALID_ARGUMENT" and failed["msg"].startswith("paths[1] is a list"), failed
    params, _masked, failed = validate("certops.backend_tls.backend_cert_info", {"paths": ["/etc/ssl/a.pem"]},
                                       INFO_SPEC, secrets=(), required_one_of=REQUIRED_ONE_OF)
    assert failed is None and params["paths"] == ["/etc/ssl/a.pem"]


def test_what_is_no_such_list_passes():
    spec = {"names": {"type": "list", "elements": "str", "aliases": ["n"]},
            "items": {"type": "list", "elements": "dict", "options": {"tags": {"type": "list", "elements": "str"}}},
            "one": {"type": "dict", "options": {"tags": {"type": "list", "elements": "str"}}},
            "raw": {"type": "list", "elements": "raw"}}
    assert list_element_problem(spec, {"names": ["a", 1, None], "raw": [[1]], "items": [{"tags": ["x"]}, "bad"],
                                       "one": {"tags": []}}) is None
    assert list_element_problem(spec, {"n": [["a"]]}).startswith("n[0] is a list")  # by its alias, as given
    assert list_element_problem(spec, {"one": {"tags": [{}]}}).startswith("one.tags[0] is a dict")
    assert list_element_problem(spec, "not a dict") is None
