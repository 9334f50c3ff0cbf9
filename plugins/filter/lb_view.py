# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""From lb_backend_info results to cert_chain_verify calls and to the inventory hosts behind each backend."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.certops.backend_tls.plugins.module_utils import _lbmap
from ansible_collections.certops.backend_tls.plugins.plugin_utils._filter_input import takes


def _result(value, name):
    if not isinstance(value, dict) or not isinstance(value.get("lb_backends"), list):
        got = "a dict without an lb_backends list" if isinstance(value, dict) else "a list" \
            if isinstance(value, (list, tuple)) else "a string" if isinstance(value, str) else type(value).__name__
        raise AnsibleFilterError("%s: expects an lb_backends result of certops.backend_tls.lb_backend_info (run it "
                                 "without query), not %s" % (name, got))
    return value


@takes("an lb_backend_info result (a dict with lb_backends)")
def lb_verify_items(result):
    """lb_backend_info result -> [{ca_content, crl_content, chains, backends}]: one cert_chain_verify call per set
    of trust anchors and CRLs."""
    return _lbmap.verify_groups(_result(result, "lb_verify_items"))


@takes("a list of {lb_host, result} and a list of {host, addresses, claims, endpoints}")
def lb_backend_map(views, hosts, match=_lbmap.MATCH_RULES):
    """[{lb_host, result}] + [{host, addresses, claims, endpoints}] -> {backends, unclaimed, ambiguous}."""
    if not isinstance(views, list) or not all(isinstance(v, dict) and "lb_host" in v for v in views):
        raise AnsibleFilterError("lb_backend_map: expects a list of {lb_host, result}")
    for view in views:
        _result(view.get("result"), "lb_backend_map (%s)" % view["lb_host"])
    if not isinstance(hosts, list) or not all(isinstance(h, dict) and "host" in h for h in hosts):
        raise AnsibleFilterError("lb_backend_map: hosts must be a list of {host, addresses, claims, endpoints}")
    try:
        return _lbmap.map_backends(views, hosts, [match] if isinstance(match, str) else list(match))
    except ValueError as exc:
        raise AnsibleFilterError("lb_backend_map: %s" % exc)


class FilterModule:
    def filters(self):
        return {"lb_verify_items": lb_verify_items, "lb_backend_map": lb_backend_map}
