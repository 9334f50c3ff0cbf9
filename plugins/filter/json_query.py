# -*- coding: utf-8 -*-
# Copyright: certops.backend_tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""JMESPath queries for the role and reports, so users need no other collection for json_query."""

from __future__ import annotations

DOCUMENTATION = r"""
name: json_query
short_description: Select data from a structure with a JMESPath expression
version_added: 0.1.0
description:
  - Applies a JMESPath expression to data, for example to turn a
    M(certops.backend_tls.backend_cert_info) result into O(certops.backend_tls.cert_chain_verify#module:items).
  - The same expressions work in the modules' own C(query) option.
author:
  - certops maintainers (@certops)
requirements:
  - jmespath
positional: expr
options:
  _input:
    description: The data to query.
    type: raw
    required: true
  expr:
    description: The JMESPath expression.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The served chain of every endpoint that answered, as cert_chain_verify items
  ansible.builtin.set_fact:
    verify_items: "{{ backend | certops.backend_tls.json_query(endpoints_query) }}"
  vars:
    # an endpoint probed by IP address has no server_name: its item then checks no name ([], not [null])
    endpoints_query: >-
      endpoints[?ok].{name: join(':', [host, to_string(port)]), chain: chain_pem,
                      server_names: server_name && [server_name] || `[]`}
"""

RETURN = r"""
_value:
  description: The result of the expression; null when nothing matches.
  type: raw
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native


def json_query(data, expr):
    # Imported here, not with the file: Ansible imports every filter file of the collection in each forked worker
    # that uses any of its filters, and most of those never run a query.
    try:
        import jmespath
    except ImportError:
        raise AnsibleFilterError("the json_query filter needs jmespath: pip install jmespath") from None
    if not isinstance(expr, str):
        raise AnsibleFilterError("json_query: expects a JMESPath expression (a string), not %s" % type(expr).__name__)
    try:
        return jmespath.search(expr, _plain(data))
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleFilterError("json_query: invalid expression %r: %s" % (expr, to_native(exc)))
    except TypeError as exc:
        raise AnsibleFilterError("json_query: %s" % to_native(exc))
    except RecursionError:  # jmespath parses and evaluates recursively: "((((...))))" thousands deep
        raise AnsibleFilterError("json_query: the expression is nested too deeply to evaluate") from None


def _plain(data):
    """Ansible wraps values (lazy containers, tagged strings); JMESPath wants plain JSON-like types."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, bool) or data is None:
        return data
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    if isinstance(data, str):
        return str(data)
    return data


class FilterModule:
    def filters(self):
        return {"json_query": json_query}
