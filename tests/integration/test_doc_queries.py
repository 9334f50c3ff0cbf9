"""The JMESPath query of the cert_chain_verify and json_query examples, taken from their documentation, over a real
backend_cert_info result: an endpoint probed by IP address (the examples' 127.0.0.1:443) has no server_name.

The query once wrote `server_names: [server_name]`, which is [null] for such an endpoint, and every item came back
invalid with INVALID_ARGUMENT although the chain was valid (a review of the documentation's examples, 2026-12-03).
"""

from __future__ import annotations

import ast

import pytest
import yaml

from ansible_collections.certops.backend_tls.plugins.filter.json_query import json_query
from ansible_collections.certops.backend_tls.plugins.modules import backend_cert_info, cert_chain_verify
from testlib import pki
from testlib.ansible_run import ROOT
from testlib.module_runner import run_main
from testlib.servers import Nginx, free_port


def example_query(path):
    """The `endpoints_query` variable of the plugin's EXAMPLES, as documented."""
    tree = ast.parse(path.read_text())
    examples = next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", None) == "EXAMPLES")
    return next(task["vars"]["endpoints_query"] for task in yaml.safe_load(examples)
                if "endpoints_query" in task.get("vars", {}))


@pytest.mark.parametrize("plugin", ["modules/cert_chain_verify.py", "filter/json_query.py"])
def test_the_documented_query_verifies_an_endpoint_probed_by_address(tmp_path, plugin):
    ca = pki.CA("Query")
    leaf = ca.leaf("query.a.test", ips=["127.0.0.1"])
    cert = pki.write(tmp_path / "site.crt", leaf.pem + ca.intermediate.pem)
    key = pki.write(tmp_path / "site.key", leaf.key_pem(), 0o600)
    by_name, by_address = free_port(), free_port()
    with Nginx(tmp_path / "srv", [{"name": "site%d" % port, "port": port, "server_names": ["query.a.test"],
                                   "cert": cert, "key": key} for port in (by_name, by_address)]):
        named = {"host": "127.0.0.1", "port": by_name, "server_name": "query.a.test"}
        backend = run_main(backend_cert_info.main, {"endpoints": ["127.0.0.1:%d" % by_address, named],
                                                    "chain_pem": True})
    items = json_query(backend, example_query(ROOT / "plugins" / plugin))
    assert [item["server_names"] for item in items] == [[], ["query.a.test"]]
    result = run_main(cert_chain_verify.main, {"items": items, "ca_content": ca.root.pem})
    assert [r["valid"] for r in result["results"]] == [True, True], result["results"]
